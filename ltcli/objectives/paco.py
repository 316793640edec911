"""PaCo: Cui, Zhong, Liu, Yu & Jia, "Parametric Contrastive Learning", ICCV 2021 (Sec. 3.2-3.3,
Eq. 8-9), with the settings of the authors' CIFAR-LT scripts (PaCoLoss, paco_cifar.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ltcli.bounds import MAX_FEATURE_DIM, MAX_QUEUE
from ltcli.models.contrastive import PaCoNet
from ltcli.objectives.base import Objective
from ltcli.objectives.registry import register_objective


@register_objective("PaCo")
class PaCo(Objective):
    """PaCo (ICCV 2021): supervised contrast with learnable class centres (the classifier, logit-adjusted).

    Two views per image: the query view through the backbone gives the classifier's logits z and the
    unit query q; the key view through a momentum encoder gives the unit key k, and a queue holds
    `queue` earlier keys with their labels (`ltcli.models.contrastive.PaCoNet`). For anchor q_i the
    candidates are the K class centres, scored (z_i + log π)/`supt` (the parametric centres: the
    classifier's logits with logit adjustment), and every contrast sample j of
    {q_1..q_B, k_1..k_B, queue} except q_i itself, scored q_i·f_j/T:

        L_i = − Σ_j w⁺_ij [s_ij − log(Σ_c e^(s_ic) + γ Σ_(j≠i) e^(s_ij))] / Σ_j w⁺_ij

    with positive weights w⁺ = β on the true class's centre and α on each same-class contrast sample
    (α small, β = 1: the rebalance of Sec. 3.3 that keeps the head classes from dominating). Loss =
    mean over the batch. At test time the classifier predicts from z alone (logit adjustment's
    balanced prediction). With no contrast samples (validation) L = CE(z + log π, y), the formula with
    an empty contrast set. Defaults: the authors' CIFAR-100-LT scripts (α 0.01, T 0.05, queue 1024,
    dim 32, momentum 0.999).
    """

    corrects_prior = True  # the classifier is trained on z + log π
    train_views = 2

    @classmethod
    def check_options(cls, alpha: float = 0.01, beta: float = 1.0, gamma: float = 1.0, temperature: float = 0.05,
                      supt: float = 1.0, queue: int = 1024, dim: int = 32, **others: Any) -> None:
        if not (1 <= queue <= MAX_QUEUE and 1 <= dim <= MAX_FEATURE_DIM):  # the queue is queue x dim features
            raise ValueError(f"queue must be in [1, {MAX_QUEUE}] and dim in [1, {MAX_FEATURE_DIM}], "
                             f"got {queue} and {dim}")
        if temperature <= 0 or supt <= 0:
            raise ValueError("temperature and supt must be positive")
        if alpha < 0 or beta < 0 or gamma < 0 or alpha + beta == 0:
            raise ValueError("alpha, beta and gamma must be non-negative, alpha or beta positive")

    def __init__(
        self,
        class_counts: Sequence[int | float],
        alpha: float = 0.01,
        beta: float = 1.0,
        gamma: float = 1.0,
        temperature: float = 0.05,
        supt: float = 1.0,
        queue: int = 1024,
        dim: int = 32,
        momentum: float = 0.999,
    ) -> None:
        super().__init__(class_counts)
        self.check_options(alpha=alpha, beta=beta, gamma=gamma, temperature=temperature, supt=supt, queue=queue,
                           dim=dim)
        self.alpha, self.beta, self.gamma, self.temperature, self.supt = alpha, beta, gamma, temperature, supt
        self.queue_size, self.dim, self.momentum = queue, dim, momentum

    @classmethod
    def network(cls, model: nn.Module, queue: int = 1024, dim: int = 32, momentum: float = 0.999,
                **loss_options: Any) -> nn.Module:
        return PaCoNet(model, dim, queue, momentum)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, queries: torch.Tensor | None = None,
                keys: torch.Tensor | None = None, queue: torch.Tensor | None = None,
                queue_labels: torch.Tensor | None = None) -> torch.Tensor:
        centres = (logits + self.log_prior(logits)) / self.supt
        if queries is None:
            return F.cross_entropy(centres, targets)
        batch = queries.shape[0]
        contrast = torch.cat([queries, keys.to(queries), queue.to(queries)])
        contrast_labels = torch.cat([targets, targets, queue_labels.to(targets)])
        similarities = queries @ contrast.T / self.temperature
        not_self = torch.ones_like(similarities, dtype=torch.bool)
        not_self[torch.arange(batch), torch.arange(batch)] = False
        scores = torch.cat([centres, similarities], dim=1)
        # log of each candidate's weight in the denominator: 1 for the centres, gamma for contrast samples but self
        log_gamma = math.log(self.gamma) if self.gamma > 0 else float("-inf")
        log_weights = torch.cat([torch.zeros_like(centres),
                                 torch.where(not_self, log_gamma, float("-inf")).to(scores)], dim=1)
        log_prob = scores - torch.logsumexp(scores + log_weights, dim=1, keepdim=True)
        positives = torch.cat([self.beta * F.one_hot(targets, logits.shape[1]).to(scores),
                               self.alpha * ((targets[:, None] == contrast_labels[None, :]) & not_self).to(scores)],
                              dim=1)
        return (-(positives * log_prob).sum(1) / positives.sum(1)).mean()
