"""Figures: open the written SVGs and check the text in them (SVG text stays text)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from ltcli.metrics import confusion, shot_groups
from ltcli.plots import (
    order_by_count,
    plot_confusion_matrix,
    plot_per_class_recall,
    plot_recall_comparison,
    plot_roc_curves,
    plot_shot_comparison,
    row_normalise,
)


def svg_texts(path: Path) -> list[str]:
    """Every <text> element's content, in drawing order."""
    root = ET.parse(path).getroot()
    return ["".join(e.itertext()) for e in root.iter() if e.tag.endswith("}text")]


def names(k: int) -> list[str]:
    return [f"cls{i:03d}" for i in range(k)]


@pytest.mark.parametrize("k", [3, 30, 100])
def test_confusion_matrix_names_every_class_and_annotates_up_to_30(tmp_path, k):
    rng = np.random.default_rng(k)
    labels = rng.integers(0, k, 20 * k)
    preds = np.where(rng.random(20 * k) < 0.7, labels, rng.integers(0, k, 20 * k))
    matrix = confusion(labels, preds, k)
    path = tmp_path / "cm.svg"
    plot_confusion_matrix(matrix, names(k), path, title="a title")
    texts = svg_texts(path)
    for name in names(k):
        assert texts.count(name) == 4  # x and y axis of both panels
    assert "a title" in texts and any(t.startswith("row-normalised") for t in texts)
    cell_texts = [t for t in texts if t.isdigit() or t == "<1"]
    if k <= 30:
        nonzero = int((matrix > 0).sum())  # one count and one percentage each; empty cells stay blank
        assert 2 * nonzero <= len(cell_texts) <= 2 * nonzero + 15  # + the count colour bar's ticks
        percent = np.rint(row_normalise(matrix)[0, 0] * 100).astype(int)
        assert str(matrix[0, 0]) in texts and str(percent) in texts
    else:
        assert len(cell_texts) < 30  # only colour-bar ticks: 10,000 numbers would be unreadable


def test_row_normalise_leaves_an_empty_row_at_zero():
    matrix = np.array([[3, 1], [0, 0]])
    assert row_normalise(matrix).tolist() == [[0.75, 0.25], [0.0, 0.0]]


def test_per_class_recall_is_ordered_head_to_tail_with_counts(tmp_path):
    class_names = ["rare", "common", "middle", "unseen"]
    counts = [5, 300, 40, 12]
    recalls = [0.0, 0.9, 0.6, None]
    path = tmp_path / "recall.svg"
    plot_per_class_recall(class_names, recalls, counts, shot_groups(counts), path, title="per-class recall: run")
    texts = svg_texts(path)
    ticks = [t for t in texts if t in class_names]
    assert ticks == ["common", "middle", "unseen", "rare"]  # most to fewest training images
    assert order_by_count(counts) == [1, 2, 3, 0]
    for text in ("training images", "many-shot", "medium-shot", "few-shot", "n/a", "0", "per-class recall: run"):
        assert text in texts


def test_recall_comparison_shows_every_run(tmp_path):
    path = tmp_path / "cmp.svg"
    series = [("ERM run1", [0.5, 0.7, 0.1]), ("CCE run2", [0.6, None, 0.2])]
    plot_recall_comparison(["a", "b", "c"], [10, 30, 20], series, path)
    texts = svg_texts(path)
    assert [t for t in texts if t in {"a", "b", "c"}] == ["b", "c", "a"]
    assert {"ERM run1", "CCE run2", "training images", "n/a"} <= set(texts)


def test_shot_comparison_marks_an_empty_group(tmp_path):
    path = tmp_path / "shots.png"
    series = [("ERM", {"many_shot_acc": 0.9, "few_shot_acc": None}),
              ("CCE", {"many_shot_acc": 0.8, "few_shot_acc": 0.3})]
    groups = [("many_shot_acc", "many-shot"), ("few_shot_acc", "few-shot")]
    plot_shot_comparison(series, groups, path)
    assert path.read_bytes().startswith(b"\x89PNG")
    plot_shot_comparison(series, groups, path.with_suffix(".svg"))
    texts = svg_texts(path.with_suffix(".svg"))
    assert {"ERM", "CCE", "many-shot", "few-shot", "n/a", "0.90", "0.30"} <= set(texts)


def test_roc_curves_with_auroc_and_tpauc_region(tmp_path):
    path = tmp_path / "roc.svg"
    curves = [("run", np.array([0, 0.5, 1]), np.array([0, 1, 1]), 0.875), ("member", np.array([0, 1]),
                                                                         np.array([0, 1]), None)]
    plot_roc_curves(curves, path, tpauc_region=(0.5, 0.3), title="ROC: run")
    texts = svg_texts(path)
    assert {"run (AUROC 0.875)", "member", "chance", "TPAUC region (alpha=0.5, beta=0.3)", "ROC: run"} <= set(texts)
    assert "false positive rate" in texts and "true positive rate" in texts
