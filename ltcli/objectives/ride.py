"""RIDE: Wang, Lian, Miao, Liu & Yu, "Long-tailed Recognition by Routing Diverse Distribution-Aware
Experts", ICLR 2021 (Sec. 3.1, Eq. 2-4), with the settings of the authors' code (RIDELoss and the
CIFAR-100-LT config)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ltcli.bounds import MAX_EXPERTS
from ltcli.models.experts import ride_experts
from ltcli.objectives.base import Objective
from ltcli.objectives.registry import register_objective

CB_BETA = 0.9999  # the effective-number beta of the late re-weighting (the authors' code, as DRW's)


@register_objective("RIDE")
class RIDE(Objective):
    """RIDE (ICLR 2021): per expert, LDAM-margin CE + KL diversity from the experts' mean; DRW from 80%.

    The model becomes `num_experts` experts on a shared early backbone (`ltcli.models.experts`), each
    with a cosine classifier scaled by `scale`; z_e are expert e's logits and z̄ = mean_e z_e is the
    prediction. The loss sums over the experts (Eq. 2-4 of the paper, as the authors' RIDELoss):

        L = Σ_e [ CE_w(z_e − s·m_y·1_y, y) + λ · T̄² · KL(softmax(z̄/T) ‖ softmax(z_e/T)) ]

    m_c ∝ n_c^(−1/4) with max m = `max_margin` (LDAM's margins), z̄ not differentiated (detached, as the
    authors'), λ = `diversity_factor` (negative: the experts are pushed apart). From epoch
    `reweight_epoch` on (default 80% of `epochs`, the authors' 160 of 200), CE_w weighs class c by the
    effective-number weight (1−β)/(1−β^n_c), β = 0.9999, normalised to sum K (DRW), and the temperature
    becomes per class, T_c = `diversity_temperature` · t_c / max t, t_c = K·π_c·r + 1 − r with
    r = `reweight_factor`; T̄ is the mean of T (plain T before). Without expert logits (validation on
    the prediction alone) the loss is CE(z̄, y), as the authors' loss without its extra inputs.
    """

    @classmethod
    def check_options(cls, num_experts: int = 3, scale: float = 30.0, diversity_temperature: float = 1.0,
                      **others: Any) -> None:
        if not 1 <= num_experts <= MAX_EXPERTS:  # each expert copies the later stages: 100 take minutes an epoch
            raise ValueError(f"num_experts must be in [1, {MAX_EXPERTS}], got {num_experts}")
        if scale <= 0 or diversity_temperature <= 0:
            raise ValueError("scale and diversity_temperature must be positive")

    def __init__(
        self,
        class_counts: Sequence[int | float],
        num_experts: int = 3,
        reduce_dimension: bool | None = None,
        max_margin: float = 0.5,
        scale: float = 30.0,
        diversity_factor: float = -0.45,
        diversity_temperature: float = 1.0,
        reweight_factor: float = 0.05,
        reweight_epoch: int | None = None,
        epochs: int = 200,
    ) -> None:
        super().__init__(class_counts)
        self.check_options(num_experts=num_experts, scale=scale, diversity_temperature=diversity_temperature)
        counts = self.class_counts.numpy()
        self.num_experts, self.reduce_dimension, self.scale = num_experts, reduce_dimension, scale
        self.diversity_factor, self.diversity_temperature = diversity_factor, diversity_temperature
        self.reweight_epoch = int(0.8 * epochs) if reweight_epoch is None else reweight_epoch
        margins = counts ** -0.25
        self.register_buffer("margins", torch.as_tensor(margins * (max_margin / margins.max())), persistent=False)
        raw = (1 - CB_BETA) / (1 - np.power(CB_BETA, counts))
        self.register_buffer("late_weights", torch.as_tensor(raw / raw.sum() * len(counts)), persistent=False)
        temperatures = len(counts) * counts / counts.sum() * reweight_factor + 1 - reweight_factor
        if not (temperatures > 0).all():
            raise ValueError(f"reweight_factor {reweight_factor} makes a class's diversity temperature non-positive")
        self.register_buffer("late_temperatures", torch.as_tensor(temperatures / temperatures.max()),
                             persistent=False)

    @classmethod
    def network(cls, model: nn.Module, num_experts: int = 3, reduce_dimension: bool | None = None,
                scale: float = 30.0, **loss_options: Any) -> nn.Module:
        return ride_experts(model, num_experts, reduce_dimension, scale)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, expert_logits: torch.Tensor | None = None
                ) -> torch.Tensor:
        if expert_logits is None:
            return F.cross_entropy(logits, targets)
        late = self.epoch >= self.reweight_epoch
        weight = self.late_weights.to(logits) if late else None
        temperature = self.diversity_temperature * (self.late_temperatures.to(logits) if late else
                                                    torch.ones(logits.shape[1], dtype=logits.dtype,
                                                               device=logits.device))
        mean_temperature = temperature.mean()
        target_distribution = F.softmax(logits.detach() / temperature, dim=1)
        margin = self.scale * self.margins.to(logits)[targets]
        one_hot = F.one_hot(targets, logits.shape[1]).to(logits)
        total = logits.new_zeros(())
        for expert in expert_logits:
            classification = F.cross_entropy(expert - margin[:, None] * one_hot, targets, weight=weight)
            diversity = F.kl_div(F.log_softmax(expert / temperature, dim=1), target_distribution,
                                 reduction="batchmean")
            total = total + classification + self.diversity_factor * mean_temperature**2 * diversity
        return total
