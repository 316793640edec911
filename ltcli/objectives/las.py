"""Label-aware smoothing: label smoothing whose strength grows with the class's training count."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ltcli.objectives.base import Objective
from ltcli.objectives.registry import register_objective

# How eps_c moves from smooth_tail (smallest class) to smooth_head (largest) as r_c goes from 0 to 1.
SHAPES = {
    "concave": lambda r, power: torch.sin(math.pi / 2 * r),
    "linear": lambda r, power: r,
    "convex": lambda r, power: 1 - torch.cos(math.pi / 2 * r),
    "exp": lambda r, power: r**power,
}


@register_objective("LAS")
class LabelAwareSmoothing(Objective):
    """Label-aware smoothing (MiSLAS, Zhong et al., CVPR 2021, Eq. 5-6): more smoothing for larger classes.

    "Improving Calibration for Long-Tailed Recognition", Sec. 3.2: a class-dependent smoothing eps_c,

        loss = (1 - eps_y) * (-log p_y) + eps_y * mean_c(-log p_c),

    i.e. cross entropy against the target (1 - eps_y) onehot(y) + eps_y / K. With
    r_c = (n_c - n_min) / (n_max - n_min) (1 for every class when all counts are equal),
    eps_c = smooth_tail + (smooth_head - smooth_tail) * g(r_c), g by `shape`:
    concave sin(pi/2 r), linear r, convex 1 - cos(pi/2 r), exp r**power.

    Shapes, the loss and the defaults follow the authors' code (MiSLAS `methods.py`
    `LabelAwareSmoothing`, whose convex form smooth_head + (smooth_head - smooth_tail) *
    sin(3pi/2 + pi/2 r) is the same function, and whose default shape is concave), and its
    CIFAR-10-LT imbalance-100 stage-two config: smooth_head 0.3, smooth_tail 0.0 (smooth_head 0.2
    at imbalance 50, 0.1 at 10; CIFAR-100-LT and the large datasets use 0.2-0.4 and 0.0-0.1). The mean over
    all K classes puts eps_y / K on every class, the true one included (as the authors' code).
    """

    supports_class_weights = True

    @classmethod
    def check_options(cls, smooth_head: float = 0.3, smooth_tail: float = 0.0, shape: str = "concave",
                      power: float | None = None, **others: Any) -> None:
        for name, value in (("smooth_head", smooth_head), ("smooth_tail", smooth_tail)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if shape not in SHAPES:
            raise ValueError(f"shape must be one of {', '.join(SHAPES)}, got {shape!r}")
        if (shape == "exp") != (power is not None) or (power is not None and power <= 0):
            raise ValueError("shape exp takes a power above 0 (power=P), and only it does")

    def __init__(self, class_counts: Sequence[int], smooth_head: float = 0.3, smooth_tail: float = 0.0,
                 shape: str = "concave", power: float | None = None) -> None:
        super().__init__(class_counts)
        self.check_options(smooth_head=smooth_head, smooth_tail=smooth_tail, shape=shape, power=power)
        self.smooth_head, self.smooth_tail, self.shape, self.power = smooth_head, smooth_tail, shape, power
        self.register_buffer("smoothing", self.class_smoothing(), persistent=False)

    def class_smoothing(self) -> torch.Tensor:
        """eps_c for every class (Eq. 6), float64."""
        counts = self.class_counts
        spread = counts.max() - counts.min()
        position = (counts - counts.min()) / spread if spread > 0 else torch.ones_like(counts)
        return self.smooth_tail + (self.smooth_head - self.smooth_tail) * SHAPES[self.shape](position, self.power)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        eps = self.smoothing.to(logits)[targets].unsqueeze(1)
        soft_targets = (1 - eps) * F.one_hot(targets, logits.shape[1]).to(logits) + eps / logits.shape[1]
        return self.weighted_mean(F.cross_entropy(logits, soft_targets, reduction="none"), targets)
