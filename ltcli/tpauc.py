"""TPAUC, the two-way partial AUC of Yang et al. 2021 (binary tasks' valid.csv columns and --select-metric),
its column names `tpauc_ALPHA_BETA` and its --tpauc pairs.

TPAUC(alpha, beta): the AUC over the pairs formed by the n+_a lowest-scored positives and the n-_b
highest-scored negatives, n+_a = max(1, floor(alpha * n+)) and likewise n-_b (the floor of the authors'
released code; the minimum of one keeps it defined). A tied pair counts 1/2, as in AUROC; tied scores at
the cut are interchangeable, so the value is unique. TPAUC(1, 1) = AUROC. It is normalised to [0, 1]; the
ROC-region area of the paper is (n+_a n-_b) / (n+ n-) times it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ltcli.errors import LtcliError

TPAUC_DEFAULT = ((0.5, 0.5),)  # the pair a binary task logs when --tpauc is not given


def fraction_count(fraction: float, total: int) -> int:
    """max(1, floor(fraction * total)); the tiny tolerance keeps 0.29 * 100 from flooring to 28."""
    return max(1, math.floor(fraction * total + 1e-9))


def check_tpauc_bounds(alpha: float, beta: float) -> None:
    for name, value in (("alpha", alpha), ("beta", beta)):
        if not 0 < value <= 1:
            raise LtcliError(f"TPAUC {name} must be in (0, 1], got {value}")


def two_way_partial_auc(scores: np.ndarray, positives: np.ndarray, alpha: float, beta: float) -> float | None:
    """TPAUC(alpha, beta) of Yang et al. 2021 (definition and rounding above):
    how well the hardest positives (lowest scores) are ranked above the hardest negatives (highest
    scores). None without both positives and negatives."""
    check_tpauc_bounds(alpha, beta)
    scores = np.asarray(scores, dtype=np.float64)
    positives = np.asarray(positives, dtype=bool)
    if positives.all() or not positives.any():
        return None
    pos = np.sort(scores[positives])[: fraction_count(alpha, int(positives.sum()))]
    neg = np.sort(scores[~positives])[::-1][: fraction_count(beta, int((~positives).sum()))]
    neg = np.sort(neg)
    below = np.searchsorted(neg, pos, side="left")  # negatives scored strictly lower than each positive
    tied = np.searchsorted(neg, pos, side="right") - below
    return float((below.sum() + 0.5 * tied.sum()) / (pos.size * neg.size))


def tpauc_key(alpha: float, beta: float) -> str:
    return f"tpauc_{alpha:g}_{beta:g}"


def parse_tpauc_key(name: str) -> tuple[float, float] | None:
    """(alpha, beta) of a column name `tpauc_A_B` (bounds checked); None for any other name."""
    parts = name.split("_")
    if len(parts) != 3 or parts[0] != "tpauc":
        return None
    try:
        alpha, beta = float(parts[1]), float(parts[2])
    except ValueError:
        return None
    check_tpauc_bounds(alpha, beta)
    return alpha, beta


def parse_tpauc_pair(value: str | Sequence[float]) -> list[float]:
    """'0.3,0.5' or [0.3, 0.5] -> [0.3, 0.5], each in (0, 1] (one --tpauc pair)."""
    parts = value.split(",") if isinstance(value, str) else value
    try:
        alpha, beta = (float(part) for part in parts)
    except (TypeError, ValueError):
        raise LtcliError(f"--tpauc takes ALPHA,BETA (e.g. 0.5,0.5), got {value!r}") from None
    check_tpauc_bounds(alpha, beta)
    return [alpha, beta]
