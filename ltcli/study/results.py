"""A study's summary: results.csv (one row per finished point), a markdown table of mean ± sd over
seeds, and a figure of a metric against a swept grid value, all written atomically.

The table groups rows by the grid values other than `seed`; sd is the sample standard deviation
(numpy's ddof=1) over the group's seeds, left out when a group has one row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ltcli.metrics import SHOT_ACC_KEYS
from ltcli.run_folder import ResultsFolder
from ltcli.study.spec import SEED_KEY, Study

METRICS = ("acc", "balanced_acc", *SHOT_ACC_KEYS, "lowest_recall")  # of metrics.SUMMARY_KEYS: results.csv's
GROUPS = SHOT_ACC_KEYS
TABLE_CLASSES_MAX = 10  # per-class recall columns in the table up to this many classes


def point_row(study: Study, values: dict[str, Any], run: str, final_run: str, tag: str) -> dict[str, Any]:
    """One results.csv row: the grid values, the run folders, the final run's test metrics."""
    metrics = ResultsFolder(Path(final_run)).corrected(tag).read_metrics("test")
    row: dict[str, Any] = {**{key: _cell(values[key]) for key in study.grid}, "run": run}
    if final_run != run:
        row["second_stage_run"] = final_run
    row.update({key: metrics.get(key) for key in METRICS})
    for name, recall in zip(metrics.get("class_names", []), metrics.get("per_class_recall", []), strict=True):
        row[f"recall_{name}"] = recall
    return row


def _cell(value: Any) -> Any:
    return ",".join(map(str, value)) if isinstance(value, list) else value


def as_float(value: Any) -> float:
    """A results.csv cell as a float, nan for an empty one (a metric undefined for that point)."""
    if value is None or value == "":
        return math.nan
    return float(value)


def group_rows(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[tuple, list[dict[str, Any]]]:
    """Rows by their values of `keys`, in first-seen order."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[key] for key in keys), []).append(row)
    return groups


def table_metrics(rows: Sequence[dict[str, Any]]) -> list[str]:
    recalls = [key for key in (rows[0] if rows else {}) if key.startswith("recall_")]
    return [*METRICS, *(recalls if len(recalls) <= TABLE_CLASSES_MAX else [])]


def mean_sd(values: Sequence[float]) -> str:
    data = np.array([v for v in values if not math.isnan(v)], dtype=float)
    if data.size == 0:
        return "n/a"
    if data.size == 1:
        return f"{data[0]:.4f}"
    return f"{data.mean():.4f} ± {data.std(ddof=1):.4f}"


def markdown_table(study: Study, rows: Sequence[dict[str, Any]]) -> str:
    keys = [key for key in study.grid if key != SEED_KEY]
    metrics = table_metrics(rows)
    header = [*keys, "runs", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group, members in group_rows(rows, keys).items():
        cells = [str(v) for v in group] + [str(len(members))]
        cells += [mean_sd([as_float(row.get(metric)) for row in members]) for metric in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    seeds = f" over {SEED_KEY}s (mean ± sample sd)" if SEED_KEY in study.grid else ""
    return f"# {study.name}: test metrics{seeds}\n\n" + "\n".join(lines) + "\n"


def figure_x(study: Study) -> str | None:
    if study.figure.get("x"):
        return str(study.figure["x"])
    keys = [key for key in study.grid if key != SEED_KEY]
    numeric = [key for key in keys if all(isinstance(v, int | float) for v in study.grid[key])]
    return (numeric or keys or [None])[0]


def plot_study(study: Study, rows: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """Mean (error bars: sd over seeds) of the chosen lines against the x grid key."""
    from ltcli.plots import plt, save_figure

    x_key = figure_x(study)
    if x_key is None or not rows:
        return None
    lines_kind = study.figure.get("lines", "classes")
    if lines_kind == "classes":
        metrics = [key for key in rows[0] if key.startswith("recall_")]
    elif lines_kind == "groups":
        metrics = list(GROUPS)
    else:
        metrics = [str(study.figure.get("metric", "balanced_acc"))]
    others = [key for key in study.grid if key not in (SEED_KEY, x_key)]
    x_values = study.grid[x_key]
    numeric = all(isinstance(v, int | float) for v in x_values)
    positions = {_cell(v): (v if numeric else i) for i, v in enumerate(x_values)}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for combo, members in group_rows(rows, others).items():
        for metric in metrics:
            xs, means, sds = [], [], []
            for x in positions:
                values = [as_float(r.get(metric)) for r in members if r[x_key] == x]
                values = [v for v in values if not math.isnan(v)]
                if values:
                    xs.append(positions[x])
                    means.append(float(np.mean(values)))
                    sds.append(float(np.std(values, ddof=1)) if len(values) > 1 else 0.0)
            label = metric.removeprefix("recall_") if lines_kind == "classes" else metric
            if combo:
                label += " (" + ", ".join(f"{k}={v}" for k, v in zip(others, combo, strict=True)) + ")"
            ax.errorbar(xs, means, yerr=sds, marker="o", markersize=3, capsize=2, label=label)
    if not numeric:
        ax.set_xticks(list(positions.values()), labels=[str(v) for v in positions], rotation=30)
    elif len(positions) <= 12:
        ax.set_xticks(list(positions.values()))
    if lines_kind in ("classes", "groups"):
        ax.set_ylim(-0.02, 1.02)  # recalls and accuracies: an sd bar never suggests values outside [0, 1]
    ax.set_xlabel(x_key)
    ax.set_ylabel({"classes": "test recall per class", "groups": "test accuracy per class group"}
                  .get(lines_kind, metrics[0]))
    ax.set_title(f"{study.name}")
    ax.legend(fontsize=7, ncol=2)
    save_figure(fig, path)
    return path
