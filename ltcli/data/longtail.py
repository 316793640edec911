"""Per-class image counts of the standard long-tailed benchmark profiles."""

from __future__ import annotations

from ltcli.errors import LtcliError

PROFILES = ("exp", "step")


def long_tail_counts(n_max: int, num_classes: int, imbalance_factor: float, profile: str = "exp") -> list[int]:
    """Counts for class index 0..C-1, head first.

    exp (Cao et al. 2019): n_i = int(n_max * (1/F)^(i/(C-1))).
    step (Buda et al. 2018): the first half of the classes keep n_max, the rest int(n_max/F).
    """
    if num_classes < 1:
        raise LtcliError("a long tail needs at least one class")
    if imbalance_factor < 1:
        raise LtcliError(f"imbalance factor must be >= 1, got {imbalance_factor}")
    if profile == "exp":
        if num_classes == 1:
            return [n_max]
        return [int(n_max * (1.0 / imbalance_factor) ** (i / (num_classes - 1))) for i in range(num_classes)]
    if profile == "step":
        head = num_classes // 2
        return [n_max if i < head else int(n_max / imbalance_factor) for i in range(num_classes)]
    raise LtcliError(f"unknown long-tail profile {profile!r}: choose one of {', '.join(PROFILES)}")
