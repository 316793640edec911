"""Every evaluation number, computed from logits (or log-probabilities), labels and the training class counts.

Plain numpy in and plain dicts out, so the engine, `ltcli test` and the tests share one code path.
scikit-learn computes what it has (top-k, confusion matrix, AUROC); the rest follows the definitions
below, which docs/evaluate.md's "Metrics" section repeats.

- Binary runs have one logit z per sample ([N] or [N, 1]): p(positive) = sigmoid(z), and the classes
  are [negative, positive], i.e. the run's first and second class names.
- The predicted class is the argmax of the probabilities; a tie goes to the lower class index (for a
  binary run, z = 0 predicts the negative class).
- A class absent from the labels has an undefined recall (None) and is left out of every average over
  classes (balanced accuracy, macro-F1, shot groups, GM, HM, lowest recall, macro AUROC/TPAUC): the
  model cannot be scored on a class it was not shown. A class never predicted has an undefined
  precision (None); its F1 = 2TP / (2TP + FP + FN) is still defined, and 0, when it is in the labels.
- Many/medium/few-shot accuracy: the mean recall over the classes with more than `many_min`,
  `few_max` to `many_min`, and fewer than `few_max` training images (Liu et al. 2019, OLTR); a group
  with no class (or none in the labels) is None, not 0.
- GM and HM are the geometric and harmonic mean of the per-class recalls (Du et al. 2023, GML); one
  zero recall makes both 0 (the limit of both means as that recall goes to 0).
- TPAUC(alpha, beta): defined in ltcli.tpauc.
- ECE: confidence = the top probability, 15 equal-width bins (m/15, (m+1)/15] (the first also holds
  0), ECE = sum over bins of |bin| / N * |accuracy(bin) - mean confidence(bin)| (Guo et al. 2017).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.metrics import roc_auc_score, roc_curve, top_k_accuracy_score

from ltcli.errors import LtcliError
from ltcli.tpauc import TPAUC_DEFAULT, tpauc_key, two_way_partial_auc

MANY_SHOT_MIN = 100  # more than this many training images: many-shot
FEW_SHOT_MAX = 20  # fewer than this many: few-shot; in between: medium-shot
ECE_BINS = 15
SHOT_GROUPS = ("many", "medium", "few")
# Metrics where lower is better; every other metric picks the best checkpoint by its maximum.
LOWER_IS_BETTER = frozenset({"loss", "nll", "ece"})
# Validation columns logged each epoch besides the loss (the lowest-recall column is named so it
# cannot be read as the learning rate); any of them, or the loss, can pick the best checkpoint.
VALID_COLUMNS = (
    "acc", "top5acc", "balanced_acc", "macro_f1", "nll", "ece", "gmean_recall", "hmean_recall", "lowest_recall",
)
SELECT_METRICS = ("loss", *VALID_COLUMNS)
# Binary tasks (--positive-classes) also log these each epoch, with one tpauc_A_B column per --tpauc pair;
# they can pick the best checkpoint there (highest wins).
BINARY_VALID_COLUMNS = ("auroc",)
SHOT_ACC_KEYS = tuple(f"{group}_shot_acc" for group in SHOT_GROUPS)  # the mean recall of each shot group
# The scalars `ltcli test` prints and `ltcli runs --csv` lists, in order (TPAUC keys follow): every
# validation column, the shot groups and the binary columns (a test pins that they are exactly these).
SUMMARY_KEYS = (
    "acc", "top5acc", "balanced_acc", "macro_f1", *SHOT_ACC_KEYS, "gmean_recall", "hmean_recall", "lowest_recall",
    "nll", "ece", *BINARY_VALID_COLUMNS,
)
# The headline of a long-tailed result (the app's tables): accuracy, the class-balanced view, the
# shot groups, the worst classes (and AUROC on a binary task).
HEADLINE_KEYS = ("acc", "balanced_acc", *SHOT_ACC_KEYS, "gmean_recall", "hmean_recall", "lowest_recall",
                 *BINARY_VALID_COLUMNS)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def log_probabilities(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities [N, K] from logits [N, K], or [N, 2] = log[1 - sigmoid, sigmoid] from one
    binary logit per sample ([N] or [N, 1]). Computed in log space, so the NLL of a confidently wrong
    sample is large and finite instead of log(0)."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 1 or (logits.ndim == 2 and logits.shape[1] == 1):
        z = logits.reshape(-1)
        # log sigmoid(z) = -softplus(-z) and log(1 - sigmoid(z)) = -softplus(z)
        return np.stack([-np.logaddexp(0.0, z), -np.logaddexp(0.0, -z)], axis=1)
    if logits.ndim != 2:
        raise ValueError(f"logits must be [N], [N, 1] or [N, K], got shape {logits.shape}")
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def average_probabilities(log_probs: Sequence[np.ndarray]) -> np.ndarray:
    """Log of the mean of several models' probabilities (an ensemble), computed stably in log space."""
    stacked = np.stack([np.asarray(lp, dtype=np.float64) for lp in log_probs])
    top = stacked.max(axis=0)
    return top + np.log(np.exp(stacked - top).mean(axis=0))


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of samples whose label is among the k highest scores (1.0 when k >= K)."""
    num_classes = scores.shape[1]
    if k >= num_classes:
        return 1.0
    return float(top_k_accuracy_score(labels, scores, k=k, labels=np.arange(num_classes)))


def confusion(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    return sk_confusion_matrix(labels, preds, labels=np.arange(num_classes))


def class_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class support, recall, precision and F1 from a confusion matrix; NaN where undefined
    (recall: class absent from the labels; precision: class never predicted; F1: both)."""
    true_pos = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    f1_denominator = support + predicted  # 2TP + FP + FN
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "support": support,
            "recall": np.where(support > 0, true_pos / support, np.nan),
            "precision": np.where(predicted > 0, true_pos / predicted, np.nan),
            "f1": np.where(f1_denominator > 0, 2 * true_pos / f1_denominator, np.nan),
        }


def shot_groups(class_counts: Sequence[int], many_min: int = MANY_SHOT_MIN, few_max: int = FEW_SHOT_MAX) -> list[str]:
    """'many' (> many_min training images), 'few' (< few_max) or 'medium' for each class."""
    if few_max > many_min + 1:
        raise LtcliError(f"few-shot bound {few_max} is above the many-shot bound {many_min}: no medium group fits")
    return ["many" if n > many_min else "few" if n < few_max else "medium" for n in class_counts]


def shot_accuracy(recalls: np.ndarray, groups: Sequence[str]) -> dict[str, float | None]:
    """Mean recall of each shot group over its classes present in the labels; None for an empty group."""
    result: dict[str, float | None] = {}
    for group in SHOT_GROUPS:
        members = [r for r, g in zip(recalls, groups, strict=True) if g == group and not np.isnan(r)]
        result[f"{group}_shot_acc"] = float(np.mean(members)) if members else None
    return result


def worst_class_summary(recalls: np.ndarray) -> dict[str, float | None]:
    """Geometric mean, harmonic mean and lowest of the defined per-class recalls (GML paper, Du et al. 2023).

    A zero recall makes both means zero: the class is wholly failed, and the means say so.
    """
    defined = recalls[~np.isnan(recalls)]
    if defined.size == 0:
        return {"gmean_recall": None, "hmean_recall": None, "lowest_recall": None}
    if (defined == 0).any():
        gmean = hmean = 0.0
    else:
        gmean = float(np.exp(np.log(defined).mean()))
        hmean = float(defined.size / (1.0 / defined).sum())
    return {"gmean_recall": gmean, "hmean_recall": hmean, "lowest_recall": float(defined.min())}


def binary_auroc(scores: np.ndarray, positives: np.ndarray) -> float | None:
    """AUROC of `scores` for the boolean `positives` (ties count 1/2); None without both kinds."""
    positives = np.asarray(positives, dtype=bool)
    if positives.all() or not positives.any():
        return None
    return float(roc_auc_score(positives, scores))


def valid_columns(tpauc: Sequence[tuple[float, float]] | None = None) -> tuple[str, ...]:
    """The metric columns of valid.csv: VALID_COLUMNS, and for a binary task (`tpauc` not None) AUROC
    and one TPAUC column per (alpha, beta) pair."""
    if tpauc is None:
        return VALID_COLUMNS
    return (*VALID_COLUMNS, *BINARY_VALID_COLUMNS, *dict.fromkeys(tpauc_key(a, b) for a, b in tpauc))


def one_vs_rest(log_probs: np.ndarray, labels: np.ndarray, score_fn) -> list[float | None]:
    """score_fn(log-probability of class c, labels == c) for every class c. Ranking by the log keeps
    confident scores apart that float probabilities would round to the same 1.0 (a false tie)."""
    return [score_fn(log_probs[:, c], labels == c) for c in range(log_probs.shape[1])]


def summarise_ranking(per_class: list[float | None], binary: bool) -> float | None:
    """The positive class's value for a binary task, else the macro mean over the defined classes."""
    if binary:
        return per_class[1]
    defined = [v for v in per_class if v is not None]
    return float(np.mean(defined)) if defined else None


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE of the top-probability confidence over `bins` equal-width bins (Guo et al. 2017)."""
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    inner_edges = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    index = np.digitize(confidence, inner_edges, right=True)  # bin m holds (m/bins, (m+1)/bins]
    gap_sums = np.bincount(index, weights=correct - confidence, minlength=bins)
    return float(np.abs(gap_sums).sum() / labels.size)


def binary_roc(log_probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(false positive rates, true positive rates) of the positive class; None without both classes."""
    positives = np.asarray(labels) == 1
    if positives.all() or not positives.any():
        return None
    fpr, tpr, _ = roc_curve(positives, log_probs[:, 1])
    return fpr, tpr


def _defined(values: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in values]


def _mean_defined(values: np.ndarray) -> float | None:
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else None


def check_labels(labels: np.ndarray, num_samples: int, num_classes: int) -> None:
    if labels.shape != (num_samples,):
        raise ValueError(f"{labels.shape[0] if labels.ndim else 0} labels for {num_samples} samples")
    if num_samples == 0:
        raise LtcliError("no samples to evaluate")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got {labels.min()}..{labels.max()}")


def evaluate_log_probs(
    log_probs: np.ndarray,
    labels: np.ndarray,
    class_counts: Sequence[int] | None = None,
    many_min: int = MANY_SHOT_MIN,
    few_max: int = FEW_SHOT_MAX,
    tpauc: Sequence[tuple[float, float]] = TPAUC_DEFAULT,
    ece_bins: int = ECE_BINS,
) -> dict:
    """The metrics dict written by `ltcli test` and logged each epoch, from log-probabilities [N, K].

    Scalars are floats, or None where undefined; `per_class_*` are lists in class order.
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    num_samples, num_classes = log_probs.shape
    check_labels(labels, num_samples, num_classes)
    binary = num_classes == 2
    probs = np.exp(log_probs)
    preds = log_probs.argmax(axis=1)
    scores = class_scores(confusion(labels, preds, num_classes))
    recalls = scores["recall"]
    per_class_auroc = one_vs_rest(log_probs, labels, binary_auroc)
    result: dict = {
        "num_samples": int(num_samples),
        "num_classes": int(num_classes),
        "acc": float((preds == labels).mean()),
        "top5acc": topk_accuracy(log_probs, labels, 5),
        "balanced_acc": _mean_defined(recalls),
        "macro_f1": _mean_defined(np.where(scores["support"] > 0, scores["f1"], np.nan)),
        "nll": float(-log_probs[np.arange(num_samples), labels].mean()),
        "ece": expected_calibration_error(probs, labels, ece_bins),
        **worst_class_summary(recalls),
        "auroc": summarise_ranking(per_class_auroc, binary),
    }
    for alpha, beta in tpauc:
        per_class = one_vs_rest(log_probs, labels, lambda s, p, a=alpha, b=beta: two_way_partial_auc(s, p, a, b))
        result[tpauc_key(alpha, beta)] = summarise_ranking(per_class, binary)
    if class_counts is not None:
        if len(class_counts) != num_classes:
            raise ValueError(f"{len(class_counts)} class counts for {num_classes} classes")
        groups = shot_groups(class_counts, many_min, few_max)
        result.update(shot_accuracy(recalls, groups))
        result["shot_groups"] = {
            "many_min": many_min, "few_max": few_max,
            **{f"{g}_classes": groups.count(g) for g in SHOT_GROUPS},
        }
    result.update({
        "per_class_support": [int(s) for s in scores["support"]],
        "per_class_recall": _defined(recalls),
        "per_class_precision": _defined(scores["precision"]),
        "per_class_f1": _defined(scores["f1"]),
        "per_class_auroc": per_class_auroc,
    })
    return result


def evaluate_logits(
    logits: np.ndarray, labels: np.ndarray, class_counts: Sequence[int] | None = None, **options
) -> dict:
    """evaluate_log_probs on a model's raw outputs: [N, K] logits, or one binary logit ([N] or [N, 1])."""
    return evaluate_log_probs(log_probabilities(logits), labels, class_counts, **options)


def is_improvement(metric: str, value: float | None, best: float | None) -> bool:
    """Whether `value` of `metric` beats `best` (None: nothing yet); an undefined value never does."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best is None:
        return True
    return value < best if metric in LOWER_IS_BETTER else value > best
