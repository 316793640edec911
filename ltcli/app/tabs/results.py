"""Test results as the Compare and Runs tabs read them: `ltcli test` on a run from the page, the
headline metrics of a results folder, and the dataset a run was trained on (inside the root)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ltcli.app.context import AppContext
from ltcli.app.paths import PathRefused
from ltcli.errors import LtcliError
from ltcli.run_folder import ResultsFolder, RunFolder

if TYPE_CHECKING:
    from ltcli.data.source import DataSource

HEADLINE = ("acc", "balanced_acc", "many_shot_acc", "medium_shot_acc", "few_shot_acc", "gmean_recall",
            "hmean_recall", "lowest_recall", "auroc")


def dataset_root(context: AppContext, run: RunFolder) -> DataSource:
    """The dataset `run` was trained on (config.json's dataset_root, and a lists dataset's data_root),
    refused outside the root; recorded lists are checked against their hashes."""
    from ltcli.data.source import source_of_run

    config = run.read_config()
    recorded = config.get("dataset_root")
    if not recorded:
        raise LtcliError(f"{context.root.relative(run.path)} does not record its dataset (dataset_root)")
    for folder in (recorded, config.get("data_root") or recorded):
        if not Path(str(folder)).resolve().is_relative_to(context.root.path):
            raise PathRefused(f"{context.root.relative(run.path)} was trained on {folder}, outside the app's root: "
                              "test it with `ltcli test`")
    return source_of_run(config)


def test_run(context: AppContext, run: RunFolder, split: str = "test") -> dict[str, Any]:
    """`ltcli test` on one run: its best checkpoint on its dataset's `split`, results into the run."""
    from ltcli.engine.scoring import test_runs

    if split not in ("test", "valid"):
        raise LtcliError(f"split must be test or valid, got {split!r}")
    return test_runs([run], dataset_root(context, run), split, context.device).metrics


def headline_row(label: str, metrics: dict[str, Any]) -> list[Any]:
    return [label, *(None if metrics.get(k) is None else round(float(metrics[k]), 4) for k in HEADLINE)]


def read_tested(folder: ResultsFolder, split: str, label: str) -> dict[str, Any]:
    metrics = folder.read_metrics(split)
    if not metrics:
        raise LtcliError(f"{label} has no {split} results: test it first (Runs tab, or `ltcli test --run ...`)")
    return metrics
