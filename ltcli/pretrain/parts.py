"""What a pretext task gives the engine beside its `Method` record (`ltcli.method`): the loader of its
batches, and its own state (heads, key encoder, queue) for checkpoints.

The engine's loop (`engine.loop.train_one_epoch`) runs unchanged: it calls `network(inputs, targets)` for
`(logits, features or None)` and `objective(logits, targets[, features=...])` for the loss, and counts
top-1/top-5 hits of the logits against the targets. A pretext task fits that shape by making its own
inputs and targets from each batch of images (`PretextLoader`): the four rotations and their labels,
or two augmented views and the index of the positive key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from ltcli.errors import LtcliError
from ltcli.method import MakeBatch, MethodState

BACKBONE = "backbone"  # the pretext network's attribute holding the backbone (saved apart, as `model`)


class PretextLoader:
    """A training or validation loader whose batches become the pretext task's (inputs, targets) on
    the device. Everything else (length, batch sampler, the generators a checkpoint captures) is the
    wrapped loader's, so the engine sees an ordinary loader."""

    def __init__(self, loader: Any, make_batch: MakeBatch, device: torch.device) -> None:
        self.loader, self.make_batch, self.device = loader, make_batch, device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for images, _labels in self.loader:  # the class labels are never used
            yield self.make_batch(images.to(self.device, non_blocking=True))

    def __getattr__(self, name: str) -> Any:
        loader = self.__dict__.get("loader")
        if loader is None:
            raise AttributeError(name)
        return getattr(loader, name)


def feature_size(backbone: nn.Module) -> int:
    """Width of the pooled features a timm model without classifier (num_classes=0) returns."""
    size = getattr(backbone, "head_hidden_size", None) or getattr(backbone, "num_features", None)
    if not isinstance(size, int):
        raise LtcliError(f"cannot tell the feature size of {type(backbone).__name__} (timm's num_features)")
    return size


def _own_tensors(network: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and buffers (non-persistent ones too: MoCo's queue) outside the backbone."""
    tensors = {**dict(network.named_parameters()), **dict(network.named_buffers())}
    return {name: tensor for name, tensor in tensors.items() if not name.startswith(BACKBONE + ".")}


def pretext_state(network: nn.Module) -> dict[str, torch.Tensor]:
    """The task's state beside the backbone, as a checkpoint's `pretext` entry."""
    return {name: tensor.detach() for name, tensor in _own_tensors(network).items()}


@torch.no_grad()
def load_pretext_state(network: nn.Module, state: dict[str, torch.Tensor] | None, source: object) -> None:
    """Copy a checkpoint's `pretext` entry back into a freshly built network of the same task."""
    own = _own_tensors(network)
    if not isinstance(state, dict) or set(state) != set(own):
        raise LtcliError(f"{source} does not hold this pretext task's heads: it cannot be resumed")
    for name, tensor in own.items():
        if state[name].shape != tensor.shape:
            raise LtcliError(f"{source}: {name} has shape {tuple(state[name].shape)}, not {tuple(tensor.shape)}")
        tensor.copy_(state[name])


PRETEXT_STATE = MethodState(pretext_state, load_pretext_state)  # what a pretext task's checkpoints add
