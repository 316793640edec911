"""GML: geometric mean loss, aimed at the worst classes."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ltcli.objectives.base import Objective
from ltcli.objectives.registry import register_objective


@register_objective("GML")
class GeometricMeanLoss(Objective):
    """Geometric mean loss (Du et al., CVPR 2023, "No One Left Behind", Sec. 4).

    -log of the geometric mean, over the classes present in the batch, of each class's mean
    balanced-softmax probability of its own label: -(1/|C_B|) sum_c log mean_{i: y_i = c} softmax(z_i + log n)_c.
    Maximising the geometric mean of per-class recall surrogates favours the worst classes.
    """

    corrects_prior = True

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        k = logits.shape[1]
        log_p = F.log_softmax(logits + torch.log(self.class_counts).to(logits), dim=1)
        log_p_true = log_p.gather(1, targets[:, None]).squeeze(1)
        member = F.one_hot(targets, k).bool()
        count = member.sum(dim=0)
        present = count > 0
        # log of each class's mean probability, in log space: a mean of tiny probabilities must not
        # underflow to log(0) (it did in float32 on CIFAR-10-LT in the first epoch).
        masked = torch.where(member, log_p_true[:, None], torch.full_like(log_p, -torch.inf))
        log_mean = torch.logsumexp(masked[:, present], dim=0) - torch.log(count[present].to(logits))
        return -log_mean.mean()
