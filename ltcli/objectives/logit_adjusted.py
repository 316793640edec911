"""Prior-corrected softmax losses: add the (scaled) log training prior to the logits in training.

At test time the plain logits are used, which removes the head-class bias the prior induced.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ltcli.objectives.base import Objective
from ltcli.objectives.registry import register_objective


@register_objective("BSCE")
class BalancedSoftmax(Objective):
    """Balanced softmax cross entropy (Ren et al., NeurIPS 2020, Eq. 4): CE(z + log n_c)."""

    corrects_prior = True

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits + torch.log(self.class_counts).to(logits), targets)


@register_objective("LA")
class LogitAdjusted(Objective):
    """Logit-adjusted loss (Menon et al., ICLR 2021, Eq. 10): CE(z + tau log pi_c), pi = n / sum n.

    tau = 1 equals balanced softmax.
    """

    corrects_prior = True

    def __init__(self, class_counts: Sequence[int], tau: float = 1.0) -> None:
        super().__init__(class_counts)
        self.tau = tau

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits + self.tau * self.log_prior(logits), targets)
