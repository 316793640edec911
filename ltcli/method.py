"""A method, as the run loop sees it: what it brings to a run, whichever registry it comes from.

A training objective (`ltcli.objectives`, `--objective`) and a pre-training pretext task
(`ltcli.pretrain.methods`, `--method`) both become one `Method`: the loss, the network it trains
around the backbone (`wrap`: RIDE's experts, PaCo's and MoCo's momentum encoders, the rotation head),
how many augmented views of each image the data pipeline gives (`views`), how a batch of images
becomes the network's inputs and targets when the labels are not the targets (`make_batch`: the four
rotations, MoCo's two views), what checkpoints keep beside the backbone's weights (`state`), and what
the loop and the model factory must do for it: pass the backbone's features to the loss (`features`),
take a second optimizer step (`second_step`, COT), build a cosine classifier (`cosine_head`, LDAM),
give a binary task one logit (`single_logit`, the AUC losses). The losses themselves stay plain modules.

`engine.assemble`, `pretrain.assemble`, the shared run story (`engine.story`) and `ltcli test`'s model
rebuild read only this record, so a new method is its own files plus a registry line, and no loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

MakeBatch = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def unwrapped(backbone: nn.Module) -> nn.Module:
    """The default wrapper: the backbone is the network trained."""
    return backbone


@dataclass(frozen=True)
class MethodState:
    """What a method's checkpoints keep beside `model` (a checkpoint's `pretext` entry): `save(network)`
    gives the tensors, `load(network, state, source)` puts them back into a freshly built network
    (a one-line error naming `source` when they do not fit)."""

    save: Callable[[nn.Module], dict[str, torch.Tensor]]
    load: Callable[[nn.Module, Any, object], None]


@dataclass(frozen=True)
class Method:
    """What a method brings to a run (see the module docstring)."""

    name: str
    loss: nn.Module  # loss(logits, targets, **the network's extra outputs) -> batch mean
    wrap: Callable[[nn.Module], nn.Module] = unwrapped  # backbone -> the network trained
    views: int = 1  # augmented views of each image the pipeline gives the network (PaCo: 2)
    make_batch: MakeBatch | None = None  # images on the device -> (inputs, targets); None: the labels
    state: MethodState | None = None  # kept in checkpoints beside the backbone; None: nothing
    paper: str = ""
    features: bool = False  # the loss takes features=... (the backbone's pooled features: FeaBal, MoCo)
    second_step: Callable[..., torch.Tensor] | None = None  # (fresh logits, targets) -> the loss of a 2nd step
    cosine_head: bool = False  # the logits must be cosine similarities (LDAM)
    single_logit: bool = False  # a binary task trains one logit, scored sigmoid(z) (the AUC losses)

    @property
    def wraps_backbone(self) -> bool:
        """Whether the network trained is more than the backbone (`ltcli test` rebuilds it then)."""
        return self.wrap is not unwrapped

    def save_state(self, network: nn.Module) -> dict[str, torch.Tensor] | None:
        return None if self.state is None else self.state.save(network)

    def load_state(self, network: nn.Module, state: Any, source: object) -> None:
        if self.state is not None:
            self.state.load(network, state, source)


def from_objective(name: str, objective: Any) -> Method:
    """An `Objective` as a Method: its `network` (with the options it was built with) and `train_views`;
    its state lives in the network's own state_dict (PaCo's queue), so checkpoints need nothing beside it."""
    cls = type(objective)
    return Method(name, objective, wrap=objective.wrap_model if cls.wraps_backbone() else unwrapped,
                  views=cls.train_views, features=cls.needs_features,
                  second_step=objective.second_step if cls.has_second_step else None,
                  cosine_head=cls.needs_cosine_head, single_logit=cls.single_logit_binary)
