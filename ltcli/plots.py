"""Matplotlib figures saved as SVG (text kept as text, so names stay searchable) or PNG."""

from __future__ import annotations

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
    fmt = path.suffix.lstrip(".").lower()
    # dpi only sizes the raster parts; an SVG's heat maps need no more than 72 (and encode faster).
    fig.savefig(buffer, format=fmt, bbox_inches="tight", dpi=72 if fmt == "svg" else 150)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _tick_font(num_classes: int, cell_inches: float) -> float:
    """Tick labels as large as a cell allows (a cell is one text line high), within 4-9 pt."""
    return float(np.clip(cell_inches * 72 * 0.6, 4.0, 9.0))


def _matrix_panel(ax, shade: np.ndarray, labels: np.ndarray, class_names: Sequence[str], title: str,
                  font: float) -> None:
    """One heat map, coloured by `shade`, cells annotated with `labels` (empty strings stay blank)."""
    k = len(class_names)
    image = ax.imshow(shade, cmap="Blues", interpolation="nearest", vmin=0)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
    ax.set_xticks(range(k), labels=class_names, rotation=90, fontsize=font)
    ax.set_yticks(range(k), labels=class_names, fontsize=font)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    if k <= ANNOTATE_MAX_CLASSES:
        threshold = np.nanmax(shade) / 2 if shade.size else 0
        for (i, j), text in np.ndenumerate(labels):
            if text:
                ax.text(j, i, text, ha="center", va="center", fontsize=font * 0.8,
                        color="white" if shade[i, j] > threshold else "black")


def _percent_labels(normalised: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Row percentages as short integers, '<1' for a non-empty cell that rounds to 0, blank for an
    empty cell: zeros would drown the few mistakes worth seeing."""
    rounded = np.rint(normalised * 100).astype(int)
    labels = np.where(rounded > 0, rounded.astype(str), "<1")
    return np.where(matrix > 0, labels, "")


def row_normalise(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its total (so the diagonal is the recall); an empty row stays 0."""
    support = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, support, out=np.zeros_like(matrix, dtype=float), where=support > 0)


def plot_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], path: Path, title: str = "") -> None:
    """Raw counts and row-normalised percentages (the diagonal is each class's recall) side by side;
    cells and names sized to stay readable up to 100 classes, cells annotated up to 30, empty cells
    left blank."""
    k = len(class_names)
    side = max(5.0, 0.18 * k + 2.5)
    font = _tick_font(k, side * 0.75 / max(k, 1))
    fig, axes = plt.subplots(1, 2, figsize=(2 * side + 1.0, side + 0.6))
    counts = np.where(matrix > 0, matrix.astype(str), "")
    _matrix_panel(axes[0], matrix, counts, class_names, "counts", font)
    normalised = row_normalise(matrix)
    _matrix_panel(axes[1], normalised, _percent_labels(normalised, matrix), class_names,
                  "row-normalised (% of the true class; diagonal = recall)", font)
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def order_by_count(class_counts: Sequence[int]) -> list[int]:
    """Class indices from the most to the fewest training images (ties keep class order): the
    head-to-tail order of every long-tail figure."""
    return sorted(range(len(class_counts)), key=lambda i: (-class_counts[i], i))


def _bar_axes(num_classes: int, groups_per_class: int = 1) -> tuple[plt.Figure, plt.Axes]:
    width = min(60.0, max(6.0, 0.16 * num_classes * max(1.0, groups_per_class * 0.6) + 2.5))
    return plt.subplots(figsize=(width, 4.8))


SHOT_COLORS = {"many": "#4C72B0", "medium": "#DD8452", "few": "#C44E52"}


def _count_axis(ax, counts: Sequence[int]):
    """Training counts on a twin axis (log scale for a real long tail), drawn as a line over the bars."""
    twin = ax.twinx()
    twin.plot(range(len(counts)), counts, "o-", color="black", markersize=3, linewidth=1, label="training images")
    if min(counts) > 0 and max(counts) / min(counts) >= 20:
        twin.set_yscale("log")
    twin.set_ylabel("training images")
    return twin


def _outside_legend(ax, twin, handles: list | None = None, labels: list | None = None) -> None:
    """One legend for the bars and the count line, right of the plot, where no bar can hide it."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    line_handles, line_labels = twin.get_legend_handles_labels()
    clear_of_twin_axis = 1 + 0.8 / ax.get_position().width / ax.figure.get_figwidth()  # 0.8 inch right
    ax.legend(handles + line_handles, labels + line_labels, fontsize=8, loc="upper left",
              bbox_to_anchor=(clear_of_twin_axis, 1.0), borderaxespad=0.0)


def _class_ticks(ax, names: Sequence[str]) -> None:
    k = len(names)
    ax.set_xticks(range(k), labels=names, rotation=90, fontsize=_tick_font(k, 0.16))
    ax.set_xlim(-0.6, k - 0.4)


def _mark_unscored(ax, x: float, recall: float | None) -> None:
    """A zero recall has no visible bar and a missing one none at all: say which it is."""
    if recall is None:
        ax.text(x, 0.01, "n/a", ha="center", va="bottom", rotation=90, fontsize=7, color="grey")
    elif recall == 0:
        ax.text(x, 0.01, "0", ha="center", va="bottom", fontsize=7, color="#C44E52")


def _recall_axes_labels(ax, title: str) -> None:
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("recall")
    ax.set_xlabel("class (most to fewest training images)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title)


def plot_per_class_recall(
    class_names: Sequence[str],
    recalls: Sequence[float | None],
    class_counts: Sequence[int],
    groups: Sequence[str],
    path: Path,
    title: str = "",
) -> None:
    """Recall of each class as bars ordered by training count (head to tail), coloured by shot
    group, with the training counts drawn alongside on a twin axis: the standard long-tail figure.
    A zero recall is marked '0'; a class with no evaluation sample gets 'n/a'."""
    from matplotlib.patches import Patch

    order = order_by_count(class_counts)
    fig, ax = _bar_axes(len(order))
    for x, i in enumerate(order):
        if recalls[i] is not None:
            ax.bar(x, recalls[i], color=SHOT_COLORS[groups[i]], width=0.8)
        _mark_unscored(ax, x, recalls[i])
    _class_ticks(ax, [class_names[i] for i in order])
    _recall_axes_labels(ax, title or "per-class recall")
    twin = _count_axis(ax, [class_counts[i] for i in order])
    present = [g for g in SHOT_COLORS if g in groups]
    _outside_legend(ax, twin, [Patch(color=SHOT_COLORS[g]) for g in present], [f"{g}-shot" for g in present])
    save_figure(fig, path)


def plot_recall_comparison(
    class_names: Sequence[str],
    class_counts: Sequence[int],
    series: Sequence[tuple[str, Sequence[float | None]]],
    path: Path,
    title: str = "",
) -> None:
    """Per-class recall of several runs side by side (one bar per run in each class group), classes
    ordered by training count, with the counts on a twin axis."""
    order = order_by_count(class_counts)
    fig, ax = _bar_axes(len(order), len(series))
    width = 0.8 / len(series)
    for index, (label, recalls) in enumerate(series):
        xs = [x - 0.4 + width * (index + 0.5) for x in range(len(order))]
        heights = [np.nan if recalls[i] is None else recalls[i] for i in order]
        ax.bar(xs, heights, width=width, label=label, color=f"C{index}")
        for x, i in zip(xs, order, strict=True):
            _mark_unscored(ax, x, recalls[i])
    _class_ticks(ax, [class_names[i] for i in order])
    _recall_axes_labels(ax, title or "per-class recall")
    _outside_legend(ax, _count_axis(ax, [class_counts[i] for i in order]))
    save_figure(fig, path)


def plot_shot_comparison(
    series: Sequence[tuple[str, dict[str, float | None]]],
    groups: Sequence[tuple[str, str]],
    path: Path,
    title: str = "",
) -> None:
    """Grouped bars: for each (key, caption) in `groups` (e.g. many/medium/few-shot accuracy), one bar
    per run, value written on top; a group a run cannot score (None) is marked 'n/a', not drawn as 0."""
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(groups) * max(1, len(series)) * 0.6 + 3), 4.5))
    width = 0.8 / len(series)
    for index, (_, values) in enumerate(series):
        for g, (key, _) in enumerate(groups):
            x = g - 0.4 + width * (index + 0.5)
            value = values.get(key)
            if value is None:
                ax.text(x, 0.02, "n/a", ha="center", va="bottom", fontsize=8)
                continue
            ax.bar(x, value, width=width, color=f"C{index}")
            ax.text(x, value + 0.01, f"{value:.2f}", ha="center", va="bottom", fontsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=f"C{i}") for i in range(len(series))]
    ax.legend(handles, [label for label, _ in series], fontsize=8, loc="upper right")
    ax.set_xticks(range(len(groups)), labels=[caption for _, caption in groups])
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("accuracy (mean recall of the group's classes)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title or "many / medium / few-shot accuracy")
    save_figure(fig, path)


def plot_roc_curves(
    curves: Sequence[tuple[str, np.ndarray, np.ndarray, float | None]],
    path: Path,
    tpauc_region: tuple[float, float] | None = None,
    title: str = "",
) -> None:
    """ROC curves (label, false positive rates, true positive rates, AUROC) of a binary task, with the
    chance diagonal and, if given, the TPAUC(alpha, beta) region FPR <= beta, TPR >= 1 - alpha shaded."""
    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    if tpauc_region is not None:
        alpha, beta = tpauc_region
        ax.fill_between([0, beta], 1 - alpha, 1, color="gold", alpha=0.25,
                        label=f"TPAUC region (alpha={alpha:g}, beta={beta:g})")
    for label, fpr, tpr, auc in curves:
        ax.plot(fpr, tpr, label=label if auc is None else f"{label} (AUROC {auc:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    ax.set_title(title or "ROC curve")
    save_figure(fig, path)
