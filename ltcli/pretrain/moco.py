"""MoCo (He, Fan, Wu, Xie & Girshick, "Momentum Contrast for Unsupervised Visual Representation
Learning", CVPR 2020), with MoCo v2's MLP projection head and augmentation (Chen et al. 2020), built
from lightly's parts: `MoCoProjectionHead` and `NTXentLoss` with a memory bank (the queue of keys), on
the momentum encoder PaCo shares (`ltcli.models.momentum`, lightly's `update_momentum`).

Two views of each image: the query encoder (backbone + projection head, trained by SGD) embeds one,
the key encoder (a copy that follows it as a moving average, Eq. 2: theta_k <- m theta_k + (1-m) theta_q)
the other; the InfoNCE loss (Eq. 1) asks each query to pick its own key among the queued keys of
earlier batches. Yang & Xu (NeurIPS 2020, Sec. 4) use it as self-supervised pre-training on ImageNet-LT.

lightly is an optional dependency (`pip install "ltcli[ssl]"`): it is imported only here, and only
when a MoCo run is configured.
"""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

from ltcli.errors import LtcliError
from ltcli.method import Method
from ltcli.models.momentum import MomentumEncoder
from ltcli.pretrain.parts import PRETEXT_STATE, feature_size
from ltcli.pretrain.views import TwoViews

INSTALL = 'pip install "ltcli[ssl]"'


def import_lightly() -> SimpleNamespace:
    """lightly's MoCo parts; a one-line error naming the install command when lightly is missing."""
    try:
        import lightly  # noqa: F401
        from lightly.loss import NTXentLoss
        from lightly.models.modules import MoCoProjectionHead
        from lightly.models.utils import update_momentum  # noqa: F401  (the momentum encoder's)
    except ImportError:
        raise LtcliError(f"--method moco needs the lightly package (MoCo's projection head, momentum update and "
                         f"contrastive loss), which is not installed: {INSTALL}") from None
    return SimpleNamespace(NTXentLoss=NTXentLoss, MoCoProjectionHead=MoCoProjectionHead)


def contrastive_loss(queue: int, dim: int, temperature: float) -> nn.Module:
    """lightly's NTXentLoss with a memory bank of `queue` keys of size `dim`."""
    return import_lightly().NTXentLoss(temperature=temperature, memory_bank_size=(queue, dim))


class MoCoNet(MomentumEncoder):
    """Query encoder, key encoder and the contrastive loss with its queue.

    `forward(views)` takes the query views of B images followed by their key views ([2B, C, H, W]) and
    returns the logits of each query against its key (column 0) and the queue (for the accuracy the
    loop counts), and the stacked [query, key] projections the loss reads.
    """

    def __init__(self, backbone: nn.Module, dim: int, queue: int, momentum: float, temperature: float,
                 contrastive: nn.Module | None = None) -> None:
        lightly = import_lightly()
        width = feature_size(backbone)
        super().__init__(backbone, lightly.MoCoProjectionHead(width, width, dim), momentum, needed_by="--method moco")
        # the loss's queue: given when the loss is built first (the Method record), else made here
        self.contrastive = contrastive if contrastive is not None else contrastive_loss(queue, dim, temperature)

    def forward(self, views: torch.Tensor, targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        query_view, key_view = views.chunk(2)
        if self.training:  # as in lightly's MoCo examples
            self.update_key_encoder()
        query = self.projection(self.backbone(query_view))
        key = self.encode_keys(key_view)
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

    @classmethod
    def method(cls, config, mean, std) -> Method:
        contrastive = contrastive_loss(config.moco_queue, config.moco_dim, config.temperature)
        wrap = partial(MoCoNet, dim=config.moco_dim, queue=config.moco_queue, momentum=config.moco_momentum,
                       temperature=config.temperature, contrastive=contrastive)
        return Method(cls.name, ContrastiveLoss(contrastive), wrap=wrap, features=True,
                      make_batch=TwoViews(tuple(mean), tuple(std), config.hflip), state=PRETEXT_STATE, paper=cls.paper)
