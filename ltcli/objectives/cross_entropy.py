"""ERM: plain cross entropy, the baseline every long-tail method is compared with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ltcli.objectives.base import Objective
from ltcli.objectives.registry import register_objective


@register_objective("ERM", other_names=("CE",))  # CE: the course app's name
class CrossEntropy(Objective):
    """Cross entropy (empirical risk minimisation), optional label smoothing (Szegedy et al. 2016)."""

    supports_class_weights = True

    @classmethod
    def check_options(cls, label_smoothing: float = 0.0, **others: Any) -> None:
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")

    def __init__(self, class_counts: Sequence[int], label_smoothing: float = 0.0) -> None:
        super().__init__(class_counts)
        self.check_options(label_smoothing=label_smoothing)
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        weight = None if self.class_weights is None else self.class_weights.to(logits)
        return F.cross_entropy(logits, targets, weight=weight, label_smoothing=self.label_smoothing)
