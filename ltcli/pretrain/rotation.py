"""Rotation prediction (Gidaris, Singh & Komodakis, "Unsupervised Representation Learning by
Predicting Image Rotations", ICLR 2018): every image is shown at 0, 90, 180 and 270 degrees and a
linear head on the backbone's features names the rotation. Recognising which way is up takes knowing
what the objects are, so the backbone learns them without a label. Yang & Xu (NeurIPS 2020, Sec. 4)
use it as self-supervised pre-training on imbalanced CIFAR.
"""

from __future__ import annotations

import torch
from torch import nn

from ltcli.errors import LtcliError
from ltcli.method import Method
from ltcli.pretrain.parts import PRETEXT_STATE, feature_size

ROTATIONS = 4  # 0, 90, 180, 270 degrees


def rotate_batch(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image at the four rotations, rotation-major, with its label: rows [k*B, (k+1)*B) hold
    the B images turned k*90 degrees counter-clockwise (torch.rot90 in the height x width plane) and
    have label k. All four rotations of each image in the same batch, as Gidaris et al. (Sec. 2.2) found best."""
    rotated = torch.cat([torch.rot90(images, k, dims=(-2, -1)) for k in range(ROTATIONS)])
    labels = torch.arange(ROTATIONS, device=images.device).repeat_interleave(images.shape[0])
    return rotated, labels


class RotationNet(nn.Module):
    """The backbone's pooled features -> a linear 4-way rotation classifier."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(feature_size(backbone), ROTATIONS)

    def forward(self, images: torch.Tensor, targets: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
        return self.head(self.backbone(images)), None


class RotationPretext:
    name = "rotation"
    paper = "Gidaris et al., ICLR 2018: predict which of 4 rotations an image was turned by"

    @staticmethod
    def check(config) -> None:
        if config.height != config.width:
            raise LtcliError(f"--method rotation turns images by 90 degrees: it needs square inputs, got --height "
                             f"{config.height} --width {config.width}")

    @staticmethod
    def augment(config) -> str:
        """The usual training augmentation (`auto`: pad-crop and flip for small images) before rotating."""
        return "auto"

    @classmethod
    def method(cls, config, mean, std) -> Method:
        from ltcli.objectives import get_objective_entry

        # Cross-entropy over the 4 rotations: the registry's ERM (which computes in float32 under autocast).
        objective = get_objective_entry("ERM").create([1] * ROTATIONS)
        return Method(cls.name, objective, wrap=RotationNet, make_batch=rotate_batch, state=PRETEXT_STATE,
                      paper=cls.paper)
