"""Test results as the Compare and Runs tabs read them: the headline metrics of a results folder,
and the dataset a run was trained on (inside the root), which `ltcli test` from the page reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ltcli import workflows
from ltcli.app.context import AppContext
from ltcli.app.paths import PathRefused
from ltcli.errors import LtcliError
from ltcli.metrics import HEADLINE_KEYS
from ltcli.run_folder import ResultsFolder, RunFolder

if TYPE_CHECKING:
    from ltcli.data.source import DataSource


def dataset_root(context: AppContext, run: RunFolder) -> DataSource:
    """The dataset `run` was trained on (`ltcli.workflows.dataset_of_run`), refused when a folder it
    records (the dataset, a lists dataset's image root) lies outside the app's root."""
    for folder in workflows.dataset_folders(run):
        if not folder.resolve().is_relative_to(context.root.path):
            raise PathRefused(f"{context.root.relative(run.path)} was trained on {folder}, outside the app's root: "
                              "test it with `ltcli test`")
    return workflows.dataset_of_run(run)


def headline_row(label: str, metrics: dict[str, Any]) -> list[Any]:
    return [label, *(None if metrics.get(k) is None else round(float(metrics[k]), 4) for k in HEADLINE_KEYS)]


def read_tested(folder: ResultsFolder, split: str, label: str) -> dict[str, Any]:
    metrics = folder.read_metrics(split)
    if not metrics:
        raise LtcliError(f"{label} has no {split} results: test it first (Runs tab, or `ltcli test --run ...`)")
    return metrics
