"""FeaBal: feature-balanced loss."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ltcli.objectives.base import Objective
from ltcli.objectives.registry import register_objective


@register_objective("FeaBal")
class FeatureBalancedLoss(Objective):
    """Feature-balanced loss (Li et al., ICME 2022, Eq. 6): CE(z_ic - a(t) * lam * beta_c / ||f_i||).

    beta_c = (log n_max - log n_c) / max_j (log n_max - log n_j) is 0 for the head and 1 for the
    rarest class; dividing by the feature norm pushes tail-class features to grow. The curriculum
    a(t) = (epoch / epochs)^2 ramps the term in. The authors' train.py uses (epoch/(epochs-10))^2,
    which exceeds 1 in the last ten epochs; ltcli keeps a(t) <= 1. Needs the penultimate features:
    the engine calls forward(logits, targets, features=...).
    """

    needs_features = True

    @classmethod
    def check_options(cls, epochs: int = 200, **others: Any) -> None:
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")

    def __init__(self, class_counts: Sequence[int], lam: float = 60.0, epochs: int = 200) -> None:
        super().__init__(class_counts)
        self.check_options(epochs=epochs)
        self.lam = lam
        self.epochs = epochs
        gap = torch.log(self.class_counts.max()) - torch.log(self.class_counts)
        beta = gap / gap.max() if gap.max() > 0 else torch.zeros_like(gap)
        self.register_buffer("beta", beta, persistent=False)

    def curriculum(self) -> float:
        return (self.epoch / self.epochs) ** 2

    def forward(
        self, logits: torch.Tensor, targets: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        if features is None:
            raise ValueError("FeaBal needs the penultimate features: call loss(logits, targets, features=...)")
        norm = features.flatten(1).norm(dim=1, keepdim=True)
        adjusted = logits - self.curriculum() * self.lam * self.beta.to(logits)[None, :] / norm
        return F.cross_entropy(adjusted, targets)
