"""Start from somewhere: load a local state dict or checkpoint into a model, and freeze parts of it.

Files come from many tools: a plain state dict, a timm/ltcli checkpoint ({"model": ...},
{"state_dict": ...}), keys prefixed by DataParallel (`module.`) or torch.compile (`_orig_mod.`).
A classifier whose shape differs (another number of classes) is left freshly initialised, and said so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ltcli.checkpoint import Checkpoint, safe_torch_load
from ltcli.errors import LtcliError
from ltcli.models.heads import classifier_path

PREFIXES = ("module.", "_orig_mod.", "model.")
FREEZE_MODES = ("none", "backbone", "all")


@dataclass
class WeightsReport:
    loaded: int
    reinitialised: list[str] = field(default_factory=list)  # shape differed: new head
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def summary(self, source: Path) -> str:
        text = f"loaded {self.loaded} tensors from {source}"
        if self.reinitialised:
            text += f"; re-initialised {', '.join(self.reinitialised)} (shape differs: a new classifier head)"
        if self.missing:
            text += f"; {len(self.missing)} not in the file kept their initialisation"
        if self.unexpected:
            text += f"; {len(self.unexpected)} in the file not used"
        return text


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise LtcliError(f"--weights file not found: {path}")
    obj = safe_torch_load(path)
    if Checkpoint.is_checkpoint(obj):
        obj = Checkpoint.from_dict(obj, path).evaluated_weights  # an ltcli run validated these
    for key in ("model", "state_dict", "model_state", "model_ema"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise LtcliError(f"{path} holds no state dict (tensors by name)")
    return obj


def strip_prefixes(state: dict[str, torch.Tensor], wanted: set[str]) -> dict[str, torch.Tensor]:
    """Peel wrapper prefixes off each key that the model does not know, until it does (or none is left)."""

    def normalise(key: str) -> str:
        while key not in wanted:
            prefix = next((p for p in PREFIXES if key.startswith(p)), None)
            if prefix is None:
                break
            key = key[len(prefix):]
        return key

    return {normalise(key): value for key, value in state.items()}


def load_weights(model: nn.Module, path: Path) -> WeightsReport:
    own = model.state_dict()
    state = strip_prefixes(read_state_dict(Path(path)), set(own))
    usable = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    if not usable:
        raise LtcliError(f"no tensor in {path} fits this model: is it the same architecture?")
    report = WeightsReport(
        loaded=len(usable),
        reinitialised=sorted(k for k, v in state.items() if k in own and v.shape != own[k].shape),
        missing=sorted(set(own) - set(usable)),
        unexpected=sorted(set(state) - set(own)),
    )
    model.load_state_dict(usable, strict=False)
    return report


def freeze(model: nn.Module, mode: str) -> int:
    """`backbone`: train only the classifier (classifier re-training, Kang et al. 2020); `all`: train
    nothing of the model. Returns the number of trainable parameters left."""
    if mode not in FREEZE_MODES:
        raise LtcliError(f"unknown --freeze {mode!r}: choose one of {', '.join(FREEZE_MODES)}")
    if mode != "none":
        head = classifier_path(model)
        for name, parameter in model.named_parameters():
            keep = mode == "backbone" and (name == head or name.startswith(head + "."))
            parameter.requires_grad_(keep)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if trainable == 0:
        raise LtcliError(f"--freeze {mode} leaves nothing to train (no ltcli objective adds parameters yet)")
    return trainable


def train_mode(model: nn.Module) -> None:
    """model.train(), except frozen normalisation layers, whose running statistics stay fixed too."""
    model.train()
    for module in model.modules():
        if isinstance(module, _BatchNorm) and not any(p.requires_grad for p in module.parameters(recurse=False)):
            module.eval()
