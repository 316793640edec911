"""Mixup and CutMix for every objective, through timm's `Mixup`.

timm mixes a batch with its reverse (image i with image n-1-i) by one factor lam per batch and
returns soft targets lam * onehot(y) + (1 - lam) * onehot(y reversed). ltcli's objectives take class
indices (margins, priors, pairwise AUC terms depend on the class), so the mixed loss is written as
the mixup paper does it, lam * L(x_mixed, y) + (1 - lam) * L(x_mixed, y reversed): for cross-entropy
this equals the soft-target loss, and it is defined for every objective. lam is read back from
timm's soft targets, on the device (no host sync).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from timm.data import Mixup

from ltcli.errors import LtcliError


@dataclass
class MixedTargets:
    """The two targets of a mixed batch and the weight of the first."""

    partner: torch.Tensor
    lam: torch.Tensor  # 0-d, on the batch's device

    def combine(self, loss: Callable[[torch.Tensor], torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
        return self.lam * loss(targets) + (1 - self.lam) * loss(self.partner)


class BatchMix:
    """Applies timm's Mixup/CutMix (one lam per batch) and returns what the loss needs."""

    def __init__(self, mixup: float, cutmix: float, prob: float, switch_prob: float, num_classes: int) -> None:
        if mixup < 0 or cutmix < 0:
            raise LtcliError("--mixup and --cutmix take alpha >= 0 (0 turns each off)")
        if not 0 <= prob <= 1 or not 0 <= switch_prob <= 1:
            raise LtcliError("--mix-prob and --mix-switch-prob are probabilities in [0, 1]")
        self.mixup = Mixup(
            mixup_alpha=mixup, cutmix_alpha=cutmix, prob=prob, switch_prob=switch_prob, mode="batch",
            label_smoothing=0.0, num_classes=num_classes,
        )

    def __call__(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, MixedTargets | None]:
        """Mixed images (in place) and targets; a batch of odd size (the epoch's last) stays unmixed."""
        if len(images) % 2:
            return images, None
        images, soft = self.mixup(images, targets)
        partner = targets.flip(0)
        # lam is the first target's weight in any row whose two targets differ; when none differ
        # both losses are the same and lam does not matter (row 0 then reads 1).
        row = (targets != partner).int().argmax()
        return images, MixedTargets(partner, soft[row, targets[row]])


def create_batch_mix(
    mixup: float, cutmix: float, prob: float, switch_prob: float, num_classes: int, per_process_batch: int
) -> BatchMix | None:
    """None when both alphas are 0; timm mixes pairs, so each process's batch must be even."""
    if mixup == 0 and cutmix == 0:
        return None
    if per_process_batch % 2:
        raise LtcliError(
            f"--mixup/--cutmix mix each image with another of its batch: the batch per process "
            f"({per_process_batch}) must be even"
        )
    return BatchMix(mixup, cutmix, prob, switch_prob, num_classes)
