"""Every evaluation number, computed from logits, labels and the training class counts.

Plain numpy in and plain dicts out, so the engine, `ltcli test` and the tests share one code path.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.metrics import top_k_accuracy_score

MANY_SHOT_MIN = 100  # more than this many training images: many-shot
FEW_SHOT_MAX = 20  # fewer than this many: few-shot; in between: medium-shot


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of samples whose label is among the k highest scores (k capped at K)."""
    num_classes = logits.shape[1]
    k = min(k, num_classes)
    if k == num_classes:
        return 1.0
    return float(top_k_accuracy_score(labels, logits, k=k, labels=np.arange(num_classes)))


def confusion(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    return sk_confusion_matrix(labels, preds, labels=np.arange(num_classes))


def per_class_recall(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """Recall of each class; NaN for a class with no evaluation sample (undefined, not zero)."""
    matrix = confusion(labels, preds, num_classes)
    support = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(matrix) / np.maximum(support, 1), np.nan)


def shot_groups(class_counts: Sequence[int], many_min: int = MANY_SHOT_MIN, few_max: int = FEW_SHOT_MAX) -> list[str]:
    """'many' (> many_min training images), 'few' (< few_max) or 'medium' for each class."""
    return ["many" if n > many_min else "few" if n < few_max else "medium" for n in class_counts]


def worst_class_summary(recalls: np.ndarray) -> dict[str, float]:
    """Geometric mean, harmonic mean and lowest of the defined per-class recalls (GML paper, Du et al. 2023).

    A zero recall makes both means zero: the class is wholly failed, and the means say so.
    """
    defined = recalls[~np.isnan(recalls)]
    if defined.size == 0:
        return {"gmean_recall": float("nan"), "hmean_recall": float("nan"), "lowest_recall": float("nan")}
    if (defined == 0).any():
        gmean = hmean = 0.0
    else:
        gmean = float(np.exp(np.log(defined).mean()))
        hmean = float(defined.size / (1.0 / defined).sum())
    return {"gmean_recall": gmean, "hmean_recall": hmean, "lowest_recall": float(defined.min())}


def evaluate_logits(
    logits: np.ndarray,
    labels: np.ndarray,
    class_counts: Sequence[int] | None = None,
    many_min: int = MANY_SHOT_MIN,
    few_max: int = FEW_SHOT_MAX,
) -> dict:
    """The metrics dict written by `ltcli test` and logged each epoch.

    Scalars are floats; `per_class_recall` is a list (None where undefined). Shot-group accuracy
    is the mean recall over the group's classes, None when the group has no class.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    num_classes = logits.shape[1]
    preds = logits.argmax(axis=1)
    recalls = per_class_recall(labels, preds, num_classes)
    log_probs = logits - logits.max(axis=1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(axis=1, keepdims=True))
    result: dict = {
        "num_samples": int(labels.size),
        "acc": float((preds == labels).mean()),
        "top5acc": topk_accuracy(logits, labels, 5),
        "balanced_acc": float(np.nanmean(recalls)) if not np.isnan(recalls).all() else float("nan"),
        "nll": float(-log_probs[np.arange(labels.size), labels].mean()),
        **worst_class_summary(recalls),
        "per_class_recall": [None if np.isnan(r) else float(r) for r in recalls],
    }
    if class_counts is not None:
        groups = shot_groups(class_counts, many_min, few_max)
        for group in ("many", "medium", "few"):
            members = [recalls[i] for i, g in enumerate(groups) if g == group and not np.isnan(recalls[i])]
            result[f"{group}_shot_acc"] = float(np.mean(members)) if members else None
    return result
