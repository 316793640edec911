"""Complement-entropy objectives: flatten the probabilities of the wrong classes.

The complement distribution of sample i with label y is q_ij = p_ij / (1 - p_iy) for j != y,
its entropy H(q_i) = -sum_{j != y} q_ij log q_ij (at most log(K-1), reached when the wrong
classes are equally likely). q is computed as a softmax over the K-1 wrong-class logits, which
is exact and avoids the 0*log 0 and 1/(1 - p_y) overflows of the direct formula.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ltcli.objectives.base import Objective
from ltcli.objectives.registry import register_objective


def complement_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """H(q_i) per sample, shape [N]."""
    n, k = logits.shape
    keep = torch.ones_like(logits, dtype=torch.bool)
    keep[torch.arange(n, device=logits.device), targets] = False
    wrong_logits = logits[keep].view(n, k - 1)
    log_q = F.log_softmax(wrong_logits, dim=1)
    return -(log_q.exp() * log_q).sum(dim=1)


@register_objective("CCE")
class ComplementCrossEntropy(Objective):
    """Complement cross entropy (Kim, Lee & Jeon, Pattern Recognition Letters 2021, Eq. 5).

    L = CE - gamma/(K-1) * mean_i H(q_i): with gamma > 0 minimising L maximises the complement
    entropy, i.e. flattens the wrong-class probabilities, which the paper shows suppresses the
    head classes' dominance of the wrong-class mass. The paper's default is gamma = 1.

    Differs from the older CCE code, which used gamma/K and summed q log q (a negated entropy),
    so its `--ccegamma 5` corresponds to gamma = 5 (K-1)/K here.
    """

    supports_class_weights = True
    option_aliases = {"ccegamma": "gamma"}  # the CCE tool's flag

    def __init__(self, class_counts: Sequence[int], gamma: float = 1.0) -> None:
        super().__init__(class_counts)
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        ce = self.weighted_mean(F.cross_entropy(logits, targets, reduction="none"), targets)
        if self.gamma == 0:
            return ce
        return ce - self.gamma / (self.num_classes - 1) * complement_entropy(logits, targets).mean()


@register_objective("COT")
class ComplementObjectiveTraining(Objective):
    """Complement objective training (Chen et al., ICLR 2019, Algorithm 1): two steps per batch.

    The first optimizer step minimises cross entropy (`forward`); the engine then recomputes the
    logits and takes a second step on `complement_loss` = -mean_i H(q_i) / (K-1), i.e. it maximises
    the normalised complement entropy. Differs from the authors' code, which divides by K and adds
    1e-7 / 1e-10 inside the logarithms: the softmax over wrong-class logits needs no epsilon, and
    K-1 (the number of complement classes) matches CCE's normaliser.
    """

    has_second_step = True

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, targets)

    def complement_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return -complement_entropy(logits, targets).mean() / (self.num_classes - 1)

    def second_step(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.complement_loss(logits, targets)
