"""Matplotlib figures saved as SVG (text kept as text, so names stay searchable) or PNG."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ltcli.atomic import atomic_write_bytes  # noqa: E402

plt.rcParams["svg.fonttype"] = "none"
plt.rcParams["svg.hashsalt"] = "ltcli"  # stable element ids: the same figure gives the same file

ANNOTATE_MAX_CLASSES = 30


def save_figure(fig: plt.Figure, path: Path) -> None:
    """Save atomically in the format named by the suffix (.svg or .png)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lstrip(".").lower(), bbox_inches="tight", dpi=150)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _matrix_panel(ax, matrix: np.ndarray, class_names: Sequence[str], title: str, fmt: str) -> None:
    k = len(class_names)
    image = ax.imshow(matrix, cmap="Blues", interpolation="nearest", vmin=0)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    font = max(3.0, min(9.0, 300.0 / max(k, 1)))
    ax.set_xticks(range(k), labels=class_names, rotation=90, fontsize=font)
    ax.set_yticks(range(k), labels=class_names, fontsize=font)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    if k <= ANNOTATE_MAX_CLASSES:
        threshold = np.nanmax(matrix) / 2 if matrix.size else 0
        for i in range(k):
            for j in range(k):
                value = matrix[i, j]
                ax.text(j, i, format(value, fmt), ha="center", va="center", fontsize=font * 0.8,
                        color="white" if value > threshold else "black")


def plot_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], path: Path, title: str = "") -> None:
    """Raw counts and row-normalised (per-true-class recall) side by side; sized to stay readable
    up to 100 classes, annotated with numbers up to 30."""
    k = len(class_names)
    side = max(5.0, 0.18 * k + 2.0)
    support = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, support, out=np.zeros_like(matrix, dtype=float), where=support > 0)
    fig, axes = plt.subplots(1, 2, figsize=(2 * side + 1.5, side))
    _matrix_panel(axes[0], matrix, class_names, "counts", "d")
    _matrix_panel(axes[1], normalised, class_names, "row-normalised (recall)", ".2f")
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def read_csv_columns(path: Path) -> dict[str, list[float]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    columns: dict[str, list[float]] = {}
    for key in rows[0] if rows else []:
        columns[key] = [float(r[key]) if r[key] not in ("", None) else float("nan") for r in rows]
    return columns


def _symlog_if_spiky(ax) -> None:
    """Early-epoch loss spikes (BatchNorm statistics settling) flatten a linear axis: switch to symlog."""
    values = np.concatenate([line.get_ydata() for line in ax.get_lines()] or [np.zeros(1)]).astype(float)
    values = values[np.isfinite(values)]
    if values.size and np.ptp(values) > 100 * max(np.median(np.abs(values)), 1e-12):
        ax.set_yscale("symlog", linthresh=max(np.median(np.abs(values)), 1e-3))


def plot_curves(
    series: Sequence[tuple[str, dict[str, dict[str, list[float]]]]],
    metrics: Sequence[str],
    path: Path,
    splits: Sequence[str] = ("train", "valid"),
) -> None:
    """One panel per metric, one line per (run, split). `series` is [(label, {split: columns})]."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.2), squeeze=False)
    styles = {"train": "--", "valid": "-"}
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes[0], metrics, strict=True):
        for index, (label, by_split) in enumerate(series):
            for split in splits:
                columns = by_split.get(split, {})
                if metric in columns and "epoch" in columns:
                    epochs = [e + 1 for e in columns["epoch"]]
                    ax.plot(epochs, columns[metric], styles.get(split, "-"), color=colors[index % len(colors)],
                            label=f"{label} ({split})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        _symlog_if_spiky(ax)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    save_figure(fig, path)


def plot_class_histogram(
    counts: dict[str, dict[str, int]], class_order: Sequence[str], path: Path, log: bool = False, title: str = ""
) -> None:
    """Images per class, one bar per split side by side, classes in `class_order` (head first, so
    the tail's shape shows). A log axis keeps a 100x tail visible next to its head."""
    splits = list(counts)
    k = len(class_order)
    width = 0.8 / max(len(splits), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.22 * k * max(len(splits), 1) + 2.0), 4.5))
    positions = np.arange(k)
    for index, split in enumerate(splits):
        values = [counts[split].get(name, 0) for name in class_order]
        ax.bar(positions + (index - (len(splits) - 1) / 2) * width, values, width, label=split)
    font = max(3.0, min(9.0, 300.0 / max(k, 1)))
    ax.set_xticks(positions, labels=list(class_order), rotation=90, fontsize=font)
    ax.set_xlim(-0.5, k - 0.5)
    ax.set_ylabel("images (log scale)" if log else "images")
    if log:
        ax.set_yscale("log")
    ax.set_title(title or "images per class")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
