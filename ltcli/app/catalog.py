"""What the page offers to pick from, read through the library: datasets under the root, runs
(with `summarize_run`, the numbers `ltcli runs` shows), and each run's logged curves."""

from __future__ import annotations

import math
from typing import Any

from ltcli.app.paths import DATASETS_AREA, EXPORTS_AREA, RAW_AREA, WEIGHTS_AREA, AppRoot
from ltcli.run_folder import RunFileError, RunFolder
from ltcli.runs import PRETRAIN_PREFIX, list_runs, summarize_run

WEIGHTS_SUFFIXES = (".pt", ".pth")
CURVE_METRICS = ("acc", "gmean_recall", "hmean_recall", "lowest_recall")
RUN_COLUMNS = ("stamp", "model", "dataset", "objective", "name", "epochs", "state", "valid", "test acc",
               "test bal", "test few", "run")


def dataset_choices(root: AppRoot) -> list[str]:
    """Split datasets (a_datasets/NAME) first, then raw folders (data_split/NAME) to split on the spot."""
    found = []
    for area, folder in ((DATASETS_AREA, root.datasets), (RAW_AREA, root.raw)):
        if folder.is_dir():
            found += [f"{area}/{p.name}" for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    return found


def run_summaries(root: AppRoot, dataset: str | None = None) -> list[dict[str, Any]]:
    """`summarize_run` of every run under logs/ (oldest first), with its root-relative path as `run`.
    `dataset` must be a name (one folder); a run reached through a symlink out of logs/ is left out,
    its config unread."""
    if dataset is not None:
        root.check_name(dataset, "dataset filter")
    if not root.logs.is_dir():
        return []
    logs = root.logs.resolve()
    inside = [run for run in list_runs(root.logs, dataset=dataset) if run.path.resolve().is_relative_to(logs)]
    return [{**summarize_run(run), "run": root.relative(run.path)} for run in inside]


def run_label(summary: dict[str, Any]) -> str:
    name = f" '{summary['name']}'" if summary.get("name") else ""
    return f"{summary['stamp']} {summary['model']}/{summary['dataset']}/{summary['objective']}{name}"


def is_pretraining(summary: dict[str, Any]) -> bool:
    """A run of `ltcli pretrain` (logs/<model>/<dataset>/pretrain-<method>/<stamp>/): a backbone to
    train from, not a classifier to infer with, test or tune."""
    return str(summary.get("objective") or "").startswith(PRETRAIN_PREFIX)


def run_choices(root: AppRoot, tested: bool = False, pretraining: bool = False) -> list[tuple[str, str]]:
    """(label, root-relative run folder) of every run, newest first; `tested`: only those with test
    results; `pretraining`: pre-training runs too (only a start point may be one)."""
    summaries = [s for s in run_summaries(root) if not s.get("error") and (s["test"] or not tested)
                 and (pretraining or not is_pretraining(s))]
    return [(run_label(s), s["run"]) for s in reversed(summaries)]


def weights_choices(root: AppRoot) -> list[tuple[str, str]]:
    """(path, path) of every weights file (.pt, .pth) under models/, where the course app keeps them."""
    found = sorted(p for p in root.area(WEIGHTS_AREA).rglob("*") if p.suffix in WEIGHTS_SUFFIXES and p.is_file())
    return [(root.relative(p), root.relative(p)) for p in found]


def export_choices(root: AppRoot) -> list[str]:
    """Root-relative folders under exports/ that hold an exported ONNX model (`ltcli export`)."""
    from ltcli.export import ONNX_NAME

    found = sorted(root.area(EXPORTS_AREA).rglob(ONNX_NAME))  # none when there is no exports/ folder
    return [root.relative(p.parent) for p in found if not p.parent.name.startswith(".")]


def run_state(summary: dict[str, Any], running: set[str]) -> str:
    if summary.get("error"):
        return "unreadable"
    if summary["run"] in running:
        return "training"
    done, total = summary["epochs_done"], summary["epochs"]
    if total is not None and done is not None and done < total:
        return "interrupted"
    return "tested" if summary["test"] else "finished"


def rounded(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 4)


def run_rows(summaries: list[dict[str, Any]], running: set[str]) -> list[list[Any]]:
    """The `ltcli runs` table as rows of RUN_COLUMNS, newest first."""
    rows = []
    for s in reversed(summaries):
        test = s["test"] or {}
        rows.append([s["stamp"], s["model"], s["dataset"], s["objective"], s.get("name", ""),
                     f"{s['epochs_done'] or 0}/{s['epochs'] or '?'}", run_state(s, running), rounded(s["best_valid"]),
                     rounded(test.get("acc")), rounded(test.get("balanced_acc")), rounded(test.get("few_shot_acc")),
                     s["run"]])
    return rows


def curve_frame(rows: list[dict[str, Any]]) -> Any:
    """curve_rows as the LinePlot's value: a frame (epoch, value, curve) with numeric axes, or None when
    there are no rows. Gradio 6's line plot never draws the curves of a frame sent after an empty one (its
    colour scale stays empty), and an empty frame's object columns would make the axes nominal."""
    import pandas as pd

    if not rows:
        return None
    return pd.DataFrame(rows, columns=["epoch", "value", "curve"]).astype({"epoch": "int64", "value": "float64"})


def curve_rows(run: RunFolder) -> list[dict[str, Any]]:
    """Long-format rows (epoch, value, curve) of the logged columns in CURVE_METRICS, train and valid:
    what the live plot draws. Unreadable or missing logs give no rows."""
    rows = []
    for split in ("train", "valid"):
        try:
            columns = run.read_log_columns(split)
        except (RunFileError, OSError):
            continue
        for metric in CURVE_METRICS:
            for epoch, value in zip(columns.get("epoch", []), columns.get(metric, []), strict=False):
                if not math.isnan(value):
                    rows.append({"epoch": int(epoch) + 1, "value": value, "curve": f"{split} {metric}"})
    return rows
