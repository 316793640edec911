"""Figures over epochs and over classes that are not test results: training curves of one or more runs
(`ltcli plot`) and a dataset's images per class (`ltcli stats`, the app's data tab); saved as ltcli.plots
saves every figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ltcli.plots import plt, save_figure


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
