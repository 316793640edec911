"""PaCo's network (Cui, Zhong, Liu, Yu & Jia, "Parametric Contrastive Learning", ICCV 2021, Sec. 3.3,
and the MoCo builder of the authors' code), built around a backbone ltcli created.

- The backbone with its linear classifier: `forward(images)` is the backbone's logits, so `ltcli test`,
  `predict` and the post-hoc corrections see an ordinary classifier.
- A projection head on the pooled features (Linear, BatchNorm, ReLU, Linear, as the authors' `mlp`),
  whose L2-normalised output is the query q.
- A key encoder (backbone and head) following the query encoder as a moving average
  (k <- m k + (1 - m) q before each training forward: `ltcli.models.momentum`, MoCo's too) and a
  queue of earlier keys with their labels, a buffer of the module, so checkpoints keep it.

lightly is an optional dependency (`pip install "ltcli[ssl]"`), imported only when PaCo builds its network.
"""

from __future__ import annotations

import torch
import torch.distributed as torch_dist
import torch.nn.functional as F
from torch import nn

from ltcli.errors import LtcliError
from ltcli.models.heads import forward_with_features
from ltcli.models.momentum import MomentumEncoder


def gather_from_processes(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` of every process of a torchrun run, concatenated in rank order (shares may differ in
    size: the last batch of an epoch), so every process queues the same keys; itself otherwise."""
    if not (torch_dist.is_available() and torch_dist.is_initialized()) or torch_dist.get_world_size() == 1:
        return tensor
    world = torch_dist.get_world_size()
    size = torch.tensor([tensor.shape[0]], device=tensor.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    torch_dist.all_gather(sizes, size)
    largest = int(max(s.item() for s in sizes))
    padded = torch.zeros((largest, *tensor.shape[1:]), dtype=tensor.dtype, device=tensor.device)
    padded[: tensor.shape[0]] = tensor
    parts = [torch.zeros_like(padded) for _ in range(world)]
    torch_dist.all_gather(parts, padded)
    return torch.cat([part[: int(s.item())] for part, s in zip(parts, sizes, strict=True)])


class PaCoNet(MomentumEncoder):
    """`forward_train(key_view, query_view, targets)` -> {"logits": the classifier's logits of the query
    view, "queries": q [B, dim], "keys": k [B, dim], "queue": [K, dim], "queue_labels": [K]} (queue read
    before this batch's keys enter it), for the PaCo objective.

    The views come in the order `ltcli.data.views` draws them, the ordinary one first: as in the
    authors' code, the query (and so the classifier) gets the strongly augmented view (RandAugment here;
    AutoAugment with Cutout in their CIFAR runs, RandAugment in their ImageNet-LT ones), the key encoder
    the other."""

    def __init__(self, backbone: nn.Module, dim: int, queue_size: int, momentum: float) -> None:
        if dim < 1 or queue_size < 1 or not 0 <= momentum <= 1:
            raise LtcliError(f"PaCo needs dim >= 1, queue >= 1 and 0 <= momentum <= 1 (got {dim}, {queue_size}, "
                             f"{momentum})")
        classifier = backbone.get_classifier()
        width, num_classes = classifier.in_features, classifier.out_features
        projection = nn.Sequential(nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Linear(width, dim))
        super().__init__(backbone, projection, momentum, needed_by="objective PaCo")
        # As the authors' builder: random unit keys with random labels until real keys replace them.
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, dim), dim=1))
        self.register_buffer("queue_labels", torch.randint(0, num_classes, (queue_size,)))
        self.register_buffer("queue_pointer", torch.zeros((), dtype=torch.long))

    def features(self, backbone: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """The penultimate features of a backbone with its classifier."""
        return forward_with_features(backbone, images)[1]

    def get_classifier(self) -> nn.Module:
        return self.backbone.get_classifier()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images)

    def inference_network(self) -> nn.Module:
        """What predicts: the classifier encoder (`ltcli export` leaves the key encoder and queue out)."""
        return self.backbone

    # timm's split of forward(), so test-time corrections that need the penultimate features
    # (--tau-norm) see the backbone's own linear classifier, as for any run.
    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_features(images)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.backbone.forward_head(features, pre_logits=pre_logits)

    def forward_train(self, key_view: torch.Tensor, query_view: torch.Tensor, targets: torch.Tensor
                      ) -> dict[str, torch.Tensor]:
        self.update_key_encoder()
        logits, features = forward_with_features(self.backbone, query_view)
        queries = F.normalize(self.projection(features), dim=1)
        keys = F.normalize(self.encode_keys(key_view), dim=1)
        queue, queue_labels = self.queue.clone(), self.queue_labels.clone()
        if self.training:
            self.enqueue(keys, targets)
        return {"logits": logits, "queries": queries, "keys": keys, "queue": queue, "queue_labels": queue_labels}

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor, labels: torch.Tensor) -> None:
        """The batch's keys and labels (every process's) replace the oldest entries of the queue."""
        keys, labels = gather_from_processes(keys.float()), gather_from_processes(labels)
        size = self.queue.shape[0]
        keys, labels = keys[-size:], labels[-size:]
        slots = (self.queue_pointer + torch.arange(len(keys), device=keys.device)) % size
        self.queue[slots] = keys.to(self.queue.dtype)
        self.queue_labels[slots] = labels.to(self.queue_labels.dtype)
        self.queue_pointer.copy_((self.queue_pointer + len(keys)) % size)
