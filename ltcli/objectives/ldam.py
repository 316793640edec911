"""LDAM: label-distribution-aware margins, larger for rarer classes."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ltcli.objectives.base import Objective
from ltcli.objectives.registry import register_objective


@register_objective("LDAM")
class LDAMLoss(Objective):
    """LDAM (Cao et al., NeurIPS 2019, Eq. 13): CE(s * (z - m_y onehot(y))), m_c ∝ n_c^(-1/4).

    The margins are scaled so the largest is `max_margin`; `scale` is s. The logits must be cosine
    similarities, so the engine gives the model a normalised (cosine) classifier head, as the
    paper's code does (NormedLinear). Pair with `--train-rule DRW` for LDAM-DRW.
    """

    needs_cosine_head = True
    supports_class_weights = True

    def __init__(self, class_counts: Sequence[int], max_margin: float = 0.5, scale: float = 30.0) -> None:
        super().__init__(class_counts)
        margins = self.class_counts ** -0.25
        self.register_buffer("margins", margins * (max_margin / margins.max()), persistent=False)
        self.scale = scale

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        margin = self.margins.to(logits)[targets]
        adjusted = logits - F.one_hot(targets, logits.shape[1]).to(logits) * margin[:, None]
        per_sample = F.cross_entropy(self.scale * adjusted, targets, reduction="none")
        return self.weighted_mean(per_sample, targets)
