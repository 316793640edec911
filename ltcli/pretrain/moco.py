"""MoCo (He, Fan, Wu, Xie & Girshick, "Momentum Contrast for Unsupervised Visual Representation
Learning", CVPR 2020), with MoCo v2's MLP projection head and augmentation (Chen et al. 2020), built
from lightly's parts: `MoCoProjectionHead`, `deactivate_requires_grad` / `update_momentum` and
`NTXentLoss` with a memory bank (the queue of keys).

Two views of each image: the query encoder (backbone + projection head, trained by SGD) embeds one,
the key encoder (a copy that follows it as a moving average, Eq. 2: theta_k <- m theta_k + (1-m) theta_q)
the other; the InfoNCE loss (Eq. 1) asks each query to pick its own key among the queued keys of
earlier batches. Yang & Xu (NeurIPS 2020, Sec. 4) use it as self-supervised pre-training on ImageNet-LT.

lightly is an optional dependency (`pip install "ltcli[ssl]"`): it is imported only here, and only
when a MoCo run is configured.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

from ltcli.errors import LtcliError
from ltcli.pretrain.parts import PretextParts, feature_size
from ltcli.pretrain.views import TwoViews

INSTALL = 'pip install "ltcli[ssl]"'


def import_lightly() -> SimpleNamespace:
    """lightly's MoCo parts; a one-line error naming the install command when lightly is missing."""
    try:
        import lightly  # noqa: F401
        from lightly.loss import NTXentLoss
        from lightly.models.modules import MoCoProjectionHead
        from lightly.models.utils import deactivate_requires_grad, update_momentum
    except ImportError:
        raise LtcliError(f"--method moco needs the lightly package (MoCo's projection head, momentum update and "
                         f"contrastive loss), which is not installed: {INSTALL}") from None
    return SimpleNamespace(NTXentLoss=NTXentLoss, MoCoProjectionHead=MoCoProjectionHead,
                           deactivate_requires_grad=deactivate_requires_grad, update_momentum=update_momentum)


class MoCoNet(nn.Module):
    """Query encoder, key encoder and the contrastive loss with its queue.

    `forward(views)` takes the query views of B images followed by their key views ([2B, C, H, W]) and
    returns the logits of each query against its key (column 0) and the queue (for the accuracy the
    loop counts), and the stacked [query, key] projections the loss reads.
    """

    def __init__(self, backbone: nn.Module, dim: int, queue: int, momentum: float, temperature: float) -> None:
        super().__init__()
        lightly = import_lightly()
        width = feature_size(backbone)
        self.backbone = backbone
        self.projection = lightly.MoCoProjectionHead(width, width, dim)
        self.key_backbone = copy.deepcopy(backbone)
        self.key_projection = copy.deepcopy(self.projection)
        lightly.deactivate_requires_grad(self.key_backbone)
        lightly.deactivate_requires_grad(self.key_projection)
        self.contrastive = lightly.NTXentLoss(temperature=temperature, memory_bank_size=(queue, dim))
        self.momentum = momentum
        self._update_momentum = lightly.update_momentum

    def forward(self, views: torch.Tensor, targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        query_view, key_view = views.chunk(2)
        if self.training:
            # The key encoder follows the query encoder before every training forward, i.e. right after the
            # previous optimizer step (as in lightly's MoCo examples; the first update moves nothing).
            self._update_momentum(self.backbone, self.key_backbone, self.momentum)
            self._update_momentum(self.projection, self.key_projection, self.momentum)
        query = self.projection(self.backbone(query_view))
        # The loop's train_mode() leaves BatchNorm layers without trainable parameters in eval mode (frozen
        # backbones); the key encoder's are untrainable by design but normalise with batch statistics, as MoCo's.
        self.key_backbone.train(self.training)
        self.key_projection.train(self.training)
        with torch.no_grad():
            key = self.key_projection(self.key_backbone(key_view))
        return self.queue_logits(query.detach(), key), torch.stack([query, key])

    @torch.no_grad()
    def queue_logits(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """[q.k+, q.queue] / tau of unit vectors: the logits NTXentLoss takes its cross-entropy of, read
        before the loss puts this batch's keys into the queue."""
        query, key = F.normalize(query.float(), dim=1), F.normalize(key.float(), dim=1)
        queue = self.contrastive.memory_bank.bank  # (size, dim), unit rows
        positive = (query * key).sum(1, keepdim=True)
        return torch.cat([positive, query @ queue.T], 1) / self.contrastive.temperature


class ContrastiveLoss(nn.Module):
    """InfoNCE (He et al., Eq. 1) through lightly's NTXentLoss with a memory bank: each query against
    its key and the queue. The batch's keys enter the queue when the query carries gradients (training),
    not in validation."""

    has_second_step = False  # what the engine's loop asks of an objective
    needs_features = True

    def __init__(self, contrastive: nn.Module) -> None:
        super().__init__()
        self.contrastive = contrastive

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        query, key = features
        return self.contrastive(query, key)


class MoCoPretext:
    name = "moco"
    paper = "He et al., CVPR 2020 (MoCo v2 head and augmentation): tell each image's second view from queued others"

    @staticmethod
    def check(config) -> None:
        import_lightly()

    @staticmethod
    def augment(config) -> str:
        """The pipeline only resizes; the two views are drawn per batch on the device (views.TwoViews)."""
        return "none"

    @staticmethod
    def build(backbone: nn.Module, config, mean, std) -> PretextParts:
        network = MoCoNet(backbone, config.moco_dim, config.moco_queue, config.moco_momentum, config.temperature)
        return PretextParts(network, ContrastiveLoss(network.contrastive), TwoViews(tuple(mean), tuple(std),
                                                                                   config.hflip))
