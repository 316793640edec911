"""LADE: label distribution disentangling (Hong et al., CVPR 2021)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ltcli.objectives.base import Objective
from ltcli.objectives.registry import register_objective


@register_objective("LADE")
class LADELoss(Objective):
    """LADE (Hong et al., CVPR 2021, Eqs. 9-12): LADE-CE + alpha * LADER.

    LADE-CE is CE(z + log pi) with pi the dataset's own training prior (not a constant).
    LADER is the regularised ReMINE bound per class c, weighted by pi_c:
      LADER = -sum_c pi_c [ mean_{i: y_i = c} z_ic - S_c - lam * S_c^2 ],
      S_c = log( (1/N) sum_i exp(z_ic - log pi_c + log(1/K)) )  over the whole batch.
    As in the authors' code, a class absent from the batch has a zero first term but still
    contributes its -S_c - lam S_c^2 part.
    """

    corrects_prior = True

    def __init__(self, class_counts: Sequence[int], alpha: float = 0.1, lam: float = 0.1) -> None:
        super().__init__(class_counts)
        self.alpha = alpha
        self.lam = lam

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_prior = self.log_prior(logits)
        lade_ce = F.cross_entropy(logits + log_prior, targets)
        n, k = logits.shape
        onehot = F.one_hot(targets, k).to(logits)
        per_class = onehot.sum(dim=0)
        first = (logits * onehot).sum(dim=0) / per_class.clamp(min=1)
        second = torch.logsumexp(logits - log_prior - math.log(k), dim=0) - math.log(n)
        bound = first - second - self.lam * second**2
        lader = -(log_prior.exp() * bound).sum()
        return lade_ce + self.alpha * lader
