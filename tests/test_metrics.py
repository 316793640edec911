"""Every metric against hand-computed values on small inputs, against scikit-learn where it has the
metric, and TPAUC against a brute-force enumeration of pairs."""

from __future__ import annotations

import itertools
import json
import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    balanced_accuracy_score,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
    top_k_accuracy_score,
)

from ltcli.errors import LtcliError
from ltcli.metrics import (
    SUMMARY_KEYS,
    average_probabilities,
    binary_auroc,
    evaluate_log_probs,
    evaluate_logits,
    expected_calibration_error,
    is_improvement,
    log_probabilities,
    shot_groups,
    softmax,
    topk_accuracy,
    worst_class_summary,
)
from ltcli.tpauc import fraction_count, two_way_partial_auc

# Six samples, three classes. Sample 4 (true 1) ties classes 0 and 1 at the top: the lower index wins.
# Predictions: 0 0 1 | 1 0 | 0  -> confusion rows [2 1 0], [1 1 0], [1 0 0]; class 2 is never predicted.
SMALL_LOGITS = np.array([
    [3.0, 0.0, 0.0],
    [2.0, 1.0, 0.0],
    [0.0, 2.0, 1.0],
    [0.0, 3.0, 0.0],
    [2.0, 2.0, 0.0],
    [1.0, 0.0, 0.5],
])
SMALL_LABELS = np.array([0, 0, 0, 1, 1, 2])


def brute_force_tpauc(scores, positives, alpha: float, beta: float) -> float:
    """TPAUC by listing every (positive, negative) pair of the selected subsets."""
    pos = sorted(s for s, p in zip(scores, positives, strict=True) if p)
    neg = sorted((s for s, p in zip(scores, positives, strict=True) if not p), reverse=True)
    pos = pos[: max(1, math.floor(alpha * len(pos) + 1e-9))]
    neg = neg[: max(1, math.floor(beta * len(neg) + 1e-9))]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_small_example_by_hand():
    m = evaluate_logits(SMALL_LOGITS, SMALL_LABELS, [200, 50, 5])
    assert m["acc"] == pytest.approx(3 / 6)
    assert m["per_class_support"] == [3, 2, 1]
    assert m["per_class_recall"] == pytest.approx([2 / 3, 1 / 2, 0.0])
    assert m["per_class_precision"][:2] == pytest.approx([2 / 4, 1 / 2])
    assert m["per_class_precision"][2] is None  # never predicted: undefined, not 0
    assert m["per_class_f1"] == pytest.approx([4 / 7, 1 / 2, 0.0])  # 2TP / (2TP + FP + FN)
    assert m["balanced_acc"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert m["macro_f1"] == pytest.approx((4 / 7 + 1 / 2 + 0) / 3)
    assert (m["gmean_recall"], m["hmean_recall"], m["lowest_recall"]) == (0.0, 0.0, 0.0)
    assert (m["many_shot_acc"], m["medium_shot_acc"], m["few_shot_acc"]) == pytest.approx((2 / 3, 1 / 2, 0.0))
    assert m["shot_groups"] == {"many_min": 100, "few_max": 20, "many_classes": 1, "medium_classes": 1,
                                "few_classes": 1}
    assert m["top5acc"] == 1.0  # K = 3 <= 5


def test_small_example_matches_scikit_learn():
    m = evaluate_logits(SMALL_LOGITS, SMALL_LABELS)
    preds = SMALL_LOGITS.argmax(axis=1)
    assert m["balanced_acc"] == pytest.approx(balanced_accuracy_score(SMALL_LABELS, preds))
    assert m["macro_f1"] == pytest.approx(f1_score(SMALL_LABELS, preds, average="macro", zero_division=0))
    precision, recall, f1, support = precision_recall_fscore_support(
        SMALL_LABELS, preds, labels=[0, 1, 2], zero_division=np.nan
    )
    assert m["per_class_recall"] == pytest.approx(recall.tolist())
    assert m["per_class_f1"] == pytest.approx(f1.tolist())
    assert m["per_class_precision"][:2] == pytest.approx(precision[:2].tolist()) and np.isnan(precision[2])
    assert m["nll"] == pytest.approx(log_loss(SMALL_LABELS, softmax(SMALL_LOGITS)))
    torch_nll = torch.nn.functional.cross_entropy(torch.tensor(SMALL_LOGITS), torch.tensor(SMALL_LABELS))
    assert m["nll"] == pytest.approx(float(torch_nll))


def test_a_class_absent_from_the_labels_is_left_out_of_the_averages():
    # Four classes; class 3 never occurs in the labels but is predicted once (a false positive).
    logits = np.array([[5, 0, 0, 0], [0, 5, 0, 0], [0, 0, 0, 5], [0, 0, 5, 0], [5, 0, 0, 0.0]])
    labels = np.array([0, 1, 1, 2, 2])
    m = evaluate_logits(logits, labels, [300, 60, 30, 10])
    assert m["per_class_recall"] == pytest.approx([1.0, 0.5, 0.5, None])
    assert m["per_class_precision"] == pytest.approx([0.5, 1.0, 1.0, 0.0])
    assert m["balanced_acc"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx(f1_score(labels, logits.argmax(1), labels=[0, 1, 2], average="macro"))
    assert m["few_shot_acc"] is None  # its only class has no evaluation sample
    assert m["lowest_recall"] == 0.5 and m["gmean_recall"] == pytest.approx((1 * 0.5 * 0.5) ** (1 / 3))
    assert m["per_class_auroc"][3] is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns that class 3 is predicted but absent
        assert m["balanced_acc"] == pytest.approx(balanced_accuracy_score(labels, logits.argmax(1)))


@pytest.mark.parametrize(
    ("counts", "many_min", "few_max", "expected"),
    [
        ([101, 100, 20, 19], 100, 20, ["many", "medium", "medium", "few"]),
        ([500, 30, 5], 100, 20, ["many", "medium", "few"]),
        ([50, 12, 3], 40, 10, ["many", "medium", "few"]),
        ([24, 12, 6], 100, 20, ["medium", "few", "few"]),
    ],
)
def test_shot_groups_thresholds(counts, many_min, few_max, expected):
    assert shot_groups(counts, many_min, few_max) == expected


def test_an_empty_shot_group_is_none_not_zero():
    m = evaluate_logits(SMALL_LOGITS, SMALL_LABELS, [30, 40, 50])
    assert m["medium_shot_acc"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert m["many_shot_acc"] is None and m["few_shot_acc"] is None
    assert m["shot_groups"]["many_classes"] == 0
    custom = evaluate_logits(SMALL_LOGITS, SMALL_LABELS, [30, 40, 50], many_min=45, few_max=35)
    shots = (custom["many_shot_acc"], custom["medium_shot_acc"], custom["few_shot_acc"])
    assert shots == pytest.approx((0, 0.5, 2 / 3))
    with pytest.raises(LtcliError, match="few-shot bound 50 is above the many-shot bound 10"):
        shot_groups([5], many_min=10, few_max=50)


@pytest.mark.parametrize(
    ("recalls", "gmean", "hmean", "lowest"),
    [
        ([0.5, 1.0, 0.25], 0.5, 3 / 7, 0.25),
        ([1.0, 1.0], 1.0, 1.0, 1.0),
        ([0.9, 0.0, 0.6], 0.0, 0.0, 0.0),  # one failed class makes both means 0
        ([0.8, np.nan, 0.2], 0.4, 0.32, 0.2),  # NaN: class not in the labels, left out
    ],
)
def test_worst_class_summary(recalls, gmean, hmean, lowest):
    summary = worst_class_summary(np.array(recalls))
    assert summary == pytest.approx({"gmean_recall": gmean, "hmean_recall": hmean, "lowest_recall": lowest})


def test_topk_by_hand_and_against_scikit_learn():
    scores = np.array([
        [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3],  # label 4: 5th best -> in the top 5
        [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3],  # label 5: 6th best -> out
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],  # label 6: best
    ])
    labels = np.array([4, 5, 6])
    assert topk_accuracy(scores, labels, 5) == pytest.approx(2 / 3)
    assert topk_accuracy(scores, labels, 1) == pytest.approx(1 / 3)
    assert topk_accuracy(scores, labels, 5) == pytest.approx(top_k_accuracy_score(labels, scores, k=5, labels=range(7)))
    assert topk_accuracy(scores, labels, 7) == 1.0


def test_binary_auroc_counts_ties_as_half():
    # positives 0.9, 0.5; negatives 0.5, 0.1: pairs 1 + 1 + 1/2 + 1 out of 4
    scores, positives = np.array([0.9, 0.5, 0.5, 0.1]), np.array([True, True, False, False])
    assert binary_auroc(scores, positives) == pytest.approx(0.875)
    assert binary_auroc(scores, positives) == pytest.approx(roc_auc_score(positives, scores))
    assert binary_auroc(scores, np.ones(4, dtype=bool)) is None


@pytest.mark.parametrize("shape", ["flat", "column"])
def test_binary_runs_with_one_logit(shape):
    z = np.array([2.0, 0.0, 0.0, -2.0, 40.0, -1000.0])
    labels = np.array([1, 1, 0, 0, 1, 1])
    logits = z if shape == "flat" else z[:, None]
    m = evaluate_logits(logits, labels)
    assert m["num_classes"] == 2
    # z > 0 predicts the positive class; z = 0 is a tie and goes to the negative (lower) class.
    assert m["acc"] == pytest.approx(4 / 6)
    assert m["per_class_recall"] == pytest.approx([1.0, 2 / 4])
    assert m["auroc"] == pytest.approx(roc_auc_score(labels, z))
    sigmoid = 1 / (1 + np.exp(-z[:5]))
    nll_first5 = -(np.log(sigmoid[[0, 1, 4]]).sum() + np.log(1 - sigmoid[[2, 3]]).sum())
    assert m["nll"] == pytest.approx((nll_first5 + 1000.0) / 6)  # log space: a confident miss stays finite
    assert m["tpauc_0.5_0.5"] == pytest.approx(brute_force_tpauc(z, labels == 1, 0.5, 0.5))
    expected = np.stack([np.log1p(-1 / (1 + np.exp(-z[:4]))), np.log(1 / (1 + np.exp(-z[:4])))], axis=1)
    assert log_probabilities(logits)[:4] == pytest.approx(expected)


def test_confident_scores_are_ranked_not_tied():
    # sigmoid(50), sigmoid(60) and sigmoid(45) are all 1.0 in floating point; their logs still differ
    m = evaluate_logits(np.array([50.0, 60.0, 45.0, -3.0]), np.array([1, 1, 0, 0]))
    assert m["auroc"] == 1.0 and m["tpauc_0.5_0.5"] == 1.0


def test_multiclass_auroc_is_the_one_vs_rest_macro_of_scikit_learn():
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(60, 4)), np.tile(np.arange(4), 15)
    m = evaluate_logits(logits, labels)
    probs = softmax(logits)
    assert m["auroc"] == pytest.approx(roc_auc_score(labels, probs, multi_class="ovr", average="macro"))
    assert m["per_class_auroc"] == pytest.approx([roc_auc_score(labels == c, probs[:, c]) for c in range(4)])
    expected = np.mean([brute_force_tpauc(probs[:, c], labels == c, 0.5, 0.5) for c in range(4)])
    assert m["tpauc_0.5_0.5"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("alpha", "beta", "expected"),
    [
        (1.0, 1.0, 10 / 16),  # AUROC
        (0.5, 0.5, 0.0),  # the two weakest positives (0.2, 0.4) lose to the two strongest negatives
        (1.0, 0.5, 3 / 8),
        (0.5, 1.0, 3 / 8),
        (0.25, 1.0, 1 / 4),  # positive 0.2 against all four negatives: beats 0.1 only
    ],
)
def test_tpauc_by_hand(alpha, beta, expected):
    scores = np.array([0.2, 0.4, 0.6, 0.8, 0.1, 0.3, 0.5, 0.7])
    positives = np.array([True] * 4 + [False] * 4)
    assert two_way_partial_auc(scores, positives, alpha, beta) == pytest.approx(expected)


def test_tpauc_ties_count_half():
    assert two_way_partial_auc(np.array([0.5, 0.5]), np.array([True, False]), 1, 1) == 0.5
    # tied scores across the cut: whichever tied positive is taken, the value is the same
    scores = np.array([0.3, 0.3, 0.3, 0.9, 0.3, 0.1])
    positives = np.array([True, True, True, True, False, False])
    assert two_way_partial_auc(scores, positives, 0.5, 0.5) == pytest.approx(0.5)


@pytest.mark.parametrize(("alpha", "beta"), [(1, 1), (0.5, 0.5), (0.3, 0.7), (0.9, 0.1), (0.05, 1), (0.57, 0.29)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tpauc_against_brute_force(alpha, beta, seed):
    rng = np.random.default_rng(seed)
    scores = np.round(rng.random(100), 1)  # one decimal: plenty of ties
    positives = rng.random(100) < 0.3
    value = two_way_partial_auc(scores, positives, alpha, beta)
    assert value == pytest.approx(brute_force_tpauc(scores, positives, alpha, beta))
    if (alpha, beta) == (1, 1):
        assert value == pytest.approx(roc_auc_score(positives, scores))


@pytest.mark.parametrize(("fraction", "total", "count"), [(0.57, 100, 57), (0.29, 100, 29), (0.3, 10, 3),
                                                          (0.05, 10, 1), (1.0, 7, 7), (0.5, 7, 3)])
def test_fractional_counts_floor_with_a_minimum_of_one(fraction, total, count):
    assert fraction_count(fraction, total) == count


@pytest.mark.parametrize(("alpha", "beta", "name"), [(0, 0.5, "alpha"), (1.5, 0.5, "alpha"), (0.5, -1, "beta")])
def test_tpauc_bounds(alpha, beta, name):
    with pytest.raises(LtcliError, match=f"TPAUC {name} must be in \\(0, 1\\]"):
        two_way_partial_auc(np.array([0.1, 0.9]), np.array([False, True]), alpha, beta)


def test_ece_by_hand():
    # confidences 0.9 (right), 0.9 (wrong) share bin (13/15, 14/15]; 0.62 (right) is in (9/15, 10/15];
    # 0.55 (right) in (8/15, 9/15]: ECE = 2/4 * |0.5 - 0.9| + 1/4 * |1 - 0.62| + 1/4 * |1 - 0.55|
    probs = np.array([[0.9, 0.1], [0.1, 0.9], [0.62, 0.38], [0.45, 0.55]])
    labels = np.array([0, 0, 0, 1])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.2 + 0.095 + 0.1125)
    # same bin, opposite gaps: the bin's accuracy and confidence are averaged before the difference
    assert expected_calibration_error(np.array([[0.7, 0.3], [0.7, 0.3]]), np.array([0, 1])) == pytest.approx(0.2)
    assert expected_calibration_error(np.array([[1.0, 0.0]]), np.array([0])) == 0.0


@pytest.mark.parametrize(("low", "high"), [(0.53, 0.54), (0.92, 0.95)])  # either side of 8/15, of 14/15
def test_ece_bins_are_fifteenths(low, high):
    """Two samples either side of a bin edge: one right, one wrong; their gaps must not be pooled."""
    probs = np.array([[low, 1 - low], [high, 1 - high]])
    separate = 0.5 * (1 - low) + 0.5 * high
    assert expected_calibration_error(probs, np.array([0, 1])) == pytest.approx(separate)


def test_ece_against_a_loop_over_15_bins():
    rng = np.random.default_rng(3)
    probs = softmax(rng.normal(size=(500, 5)) * 2)
    labels = rng.integers(0, 5, 500)
    confidence, correct = probs.max(1), probs.argmax(1) == labels
    expected = 0.0
    for m in range(15):
        in_bin = (confidence > m / 15) & (confidence <= (m + 1) / 15)
        if in_bin.any():
            expected += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    assert expected_calibration_error(probs, labels) == pytest.approx(expected)
    assert evaluate_log_probs(np.log(probs), labels)["ece"] == pytest.approx(expected)


def test_ensemble_average_is_the_mean_probability():
    rng = np.random.default_rng(4)
    members = [log_probabilities(rng.normal(size=(8, 3)) * 3) for _ in range(3)]
    expected = np.log(np.mean([np.exp(m) for m in members], axis=0))
    assert average_probabilities(members) == pytest.approx(expected)
    assert np.exp(average_probabilities(members)).sum(axis=1) == pytest.approx(np.ones(8))


def test_metrics_are_strict_json_with_every_summary_key():
    rng = np.random.default_rng(5)
    m = evaluate_logits(rng.normal(size=(20, 6)), np.repeat(np.arange(5), 4), [500, 200, 50, 30, 10, 5],
                        tpauc=[(0.5, 0.5), (0.3, 0.7)])
    json.dumps(m, allow_nan=False)  # undefined values are null, never NaN
    assert set(SUMMARY_KEYS) <= set(m) and {"tpauc_0.5_0.5", "tpauc_0.3_0.7"} <= set(m)
    assert m["per_class_recall"][5] is None and m["per_class_auroc"][5] is None


@pytest.mark.parametrize(
    ("labels", "error", "message"),
    [
        (np.array([0, 3]), ValueError, "labels must lie in 0..2"),
        (np.array([0]), ValueError, "1 labels for 2 samples"),
    ],
)
def test_bad_labels(labels, error, message):
    with pytest.raises(error, match=message):
        evaluate_logits(np.zeros((2, 3)), labels)


def test_no_samples():
    with pytest.raises(LtcliError, match="no samples to evaluate"):
        evaluate_logits(np.zeros((0, 3)), np.zeros(0, dtype=int))


@pytest.mark.parametrize(
    ("metric", "value", "best", "expected"),
    [
        ("acc", 0.5, 0.4, True), ("acc", 0.4, 0.4, False), ("balanced_acc", 0.3, None, True),
        ("loss", 0.5, 0.4, False), ("nll", 0.3, 0.4, True), ("ece", 0.1, 0.2, True),
        ("acc", None, 0.4, False), ("acc", float("nan"), None, False),
    ],
)
def test_is_improvement(metric, value, best, expected):
    assert is_improvement(metric, value, best) is expected
