"""The momentum encoder MoCo (`ltcli pretrain --method moco`) and PaCo (`--objective PaCo`) share:
a query encoder (backbone + projection head, trained by SGD) and a key encoder, a copy of it that
follows it as a moving average, k <- m k + (1 - m) q (He et al., CVPR 2020, Eq. 2), through lightly's
`update_momentum`, never by gradients.

The four parts are attributes of the subclass itself (`backbone`, `projection`, `key_backbone`,
`key_projection`), so checkpoints keep them under those names. lightly is an optional dependency
(`pip install "ltcli[ssl]"`), imported only when such a network is built.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from ltcli.errors import LtcliError

INSTALL = 'pip install "ltcli[ssl]"'


def momentum_update(needed_by: str = "the momentum encoder") -> Callable[[nn.Module, nn.Module, float], None]:
    """lightly's update_momentum; a one-line error naming `needed_by` and the install command when
    lightly is missing."""
    try:
        from lightly.models.utils import update_momentum
    except ImportError:
        raise LtcliError(f"{needed_by} needs the lightly package (its momentum encoder update), which is not "
                         f"installed: {INSTALL}") from None
    return update_momentum


class MomentumEncoder(nn.Module):
    """A query encoder and its momentum key encoder. Subclasses say how a backbone gives pooled
    features (`features`) and call `update_key_encoder()` before a training forward (right after the
    previous optimizer step; the first update moves nothing) and `encode_keys(view)` for the keys."""

    def __init__(self, backbone: nn.Module, projection: nn.Module, momentum: float,
                 needed_by: str = "the momentum encoder") -> None:
        super().__init__()
        self._update_momentum = momentum_update(needed_by)
        if not 0 <= momentum <= 1:
            raise LtcliError(f"{needed_by} needs a momentum in [0, 1], got {momentum}")
        self.backbone = backbone
        self.projection = projection
        self.key_backbone = copy.deepcopy(backbone)
        self.key_projection = copy.deepcopy(projection)
        for key_part in (self.key_backbone, self.key_projection):
            key_part.requires_grad_(False)  # lightly's deactivate_requires_grad
        self.momentum = momentum

    def features(self, backbone: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """The pooled features of `images` by `backbone` (the query's or the key's)."""
        return backbone(images)

    def update_key_encoder(self) -> None:
        """k <- m k + (1 - m) q for every parameter of the key backbone and key head."""
        self._update_momentum(self.backbone, self.key_backbone, self.momentum)
        self._update_momentum(self.projection, self.key_projection, self.momentum)

    @torch.no_grad()
    def encode_keys(self, view: torch.Tensor) -> torch.Tensor:
        """The key encoder's projections of `view` (not normalised). The loop's train_mode() leaves
        BatchNorm layers without trainable parameters in eval mode (frozen backbones); the key
        encoder's are untrainable by design but normalise with batch statistics, as MoCo's."""
        self.key_backbone.train(self.training)
        self.key_projection.train(self.training)
        return self.key_projection(self.features(self.key_backbone, view))
