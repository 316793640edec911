"""The objective interface the engine relies on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn


class Objective(nn.Module):
    """A training loss that may depend on the training class counts and the epoch.

    Subclasses take `class_counts` plus their own keyword options and implement
    `forward(logits, targets) -> 0-dim batch mean`. Hooks the engine uses:
    `set_epoch` (called at the start of every epoch) and `second_step` (an extra optimizer
    step per batch, for methods such as COT).
    """

    needs_features: ClassVar[bool] = False
    has_second_step: ClassVar[bool] = False

    def __init__(self, class_counts: Sequence[int | float]) -> None:
        super().__init__()
        counts = torch.as_tensor(list(class_counts), dtype=torch.float64)
        if counts.ndim != 1 or len(counts) < 2:
            raise ValueError("class_counts needs one count per class, at least two classes")
        if (counts <= 0).any():
            raise ValueError("every class needs at least one training image (class_counts > 0)")
        self.register_buffer("class_counts", counts, persistent=False)
        self.epoch = 0

    @property
    def num_classes(self) -> int:
        return int(self.class_counts.numel())

    def log_prior(self, like: torch.Tensor) -> torch.Tensor:
        """log(n_c / sum n) in the dtype and device of `like`."""
        return torch.log(self.class_counts / self.class_counts.sum()).to(like)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def second_step(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no second step")
