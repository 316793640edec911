"""Focal loss: down-weight the easy (mostly head-class) examples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ltcli.objectives.base import Objective
from ltcli.objectives.registry import register_objective


@register_objective("FL", other_names=("Focal",))  # Focal: the course app's name
class FocalLoss(Objective):
    """Focal loss (Lin et al., ICCV 2017, Eq. 5), softmax form: alpha_y (1 - p_y)^gamma (-log p_y).

    `alpha` is None (1), a float multiplying every term, or one weight per class indexed by the
    target. Computed from log-probabilities on the input's own device and dtype; some older code
    applied alpha only on GPU (`torch.cuda.FloatTensor`) and silently dropped it on CPU.
    """

    supports_class_weights = True

    @classmethod
    def check_options(cls, gamma: float = 2.0, **others: Any) -> None:
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")

    def __init__(
        self, class_counts: Sequence[int], gamma: float = 2.0, alpha: float | Sequence[float] | None = None
    ) -> None:
        super().__init__(class_counts)
        self.check_options(gamma=gamma)
        self.gamma = gamma
        if alpha is None or isinstance(alpha, (int, float)):
            self.alpha: float | torch.Tensor = 1.0 if alpha is None else float(alpha)
        else:
            values = torch.as_tensor(list(alpha), dtype=torch.float64)
            if values.numel() != self.num_classes:
                raise ValueError(f"alpha needs one value per class ({self.num_classes}), got {values.numel()}")
            self.alpha = values

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1)
        per_sample = -((1 - log_p.exp()) ** self.gamma) * log_p
        if isinstance(self.alpha, torch.Tensor):
            per_sample = self.alpha.to(logits)[targets] * per_sample
        else:
            per_sample = self.alpha * per_sample
        return self.weighted_mean(per_sample, targets)
