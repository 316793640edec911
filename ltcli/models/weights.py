"""Start from somewhere: load a local state dict or checkpoint into a model, and freeze parts of it.

Files come from many tools: a plain state dict, a timm/ltcli checkpoint ({"model": ...},
{"state_dict": ...}), keys prefixed by DataParallel (`module.`) or torch.compile (`_orig_mod.`), and
layouts a model knows how to rename (`adapt_state_dict`: the CIFAR ResNets take the classic
`layer1.0.conv1.weight` / `linear.weight` files of LDAM-DRW and the course app).
A classifier whose shape differs (another number of classes) is left freshly initialised, and said so;
`reinit_head` leaves it fresh on purpose (classifier re-training, cRT). A file that fits fewer than
half of the backbone's tensors (everything outside the classifier) is an error: training would go on
from a mostly random network while looking like a fine-tuned one; `allow_partial` goes on anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ltcli.checkpoint import Checkpoint, safe_torch_load
from ltcli.choices import FREEZE_MODES
from ltcli.errors import LtcliError
from ltcli.models.heads import LearnableWeightScaling, classifier_path, find_classifier_path, match_head_keys

PREFIXES = ("module.", "_orig_mod.", "model.")

PART_NAMES = {"classifier": "the classifier", "scales": "an LWS head's scales (--head lws)",
              "bn": "BatchNorm layers", "rest": "the other layers"}


@dataclass
class WeightsReport:
    loaded: int
    reinitialised: list[str] = field(default_factory=list)  # shape differed: new head
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    fresh_head: list[str] = field(default_factory=list)  # left out on purpose (reinit_head)
    absent_head: list[str] = field(default_factory=list)  # the file has no classifier (a backbone, e.g. pretrained)
    backbone_loaded: int = 0  # tensors outside the classifier that the file filled
    backbone_total: int = 0  # tensors outside the classifier in the model

    @property
    def mostly_missing(self) -> bool:
        """Fewer than half of the backbone's tensors came from the file."""
        return 2 * self.backbone_loaded < self.backbone_total

    def summary(self, source: Path) -> str:
        text = f"loaded {self.loaded} tensors from {source}"
        if self.mostly_missing:
            text += (f" (only {self.backbone_loaded} of the backbone's {self.backbone_total}, "
                     "--allow-partial: the rest start freshly initialised)")
        if self.fresh_head:
            text += f"; classifier freshly initialised (--reinit-head): {', '.join(self.fresh_head)} not loaded"
        if self.absent_head:
            text += f"; classifier freshly initialised: {', '.join(self.absent_head)} not in the file"
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


def load_weights(model: nn.Module, path: Path, reinit_head: bool = False, allow_partial: bool = False
                 ) -> WeightsReport:
    """Copy the tensors of `path` that fit `model` into it. With `reinit_head` the classifier's are
    left out, so it keeps the initialisation it was created with (seeded like a fresh run's): the
    re-initialised classifier of cRT (Kang et al., ICLR 2020, Sec. 4). Fewer than half of the
    backbone's tensors fitting is an error unless `allow_partial`; then nothing is loaded."""
    own = model.state_dict()
    state = strip_prefixes(read_state_dict(Path(path)), set(own))
    adapt = getattr(model, "adapt_state_dict", None)
    state = match_head_keys(model, adapt(state) if callable(adapt) else state)
    head = classifier_path(model) + "." if reinit_head else None
    fresh = sorted(k for k in state if k in own and k.startswith(head)) if head else []
    state = {k: v for k, v in state.items() if k not in fresh}
    usable = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    if not usable:
        raise LtcliError(f"no tensor in {path} fits this model: is it the same architecture?")
    missing = sorted(set(own) - set(usable) - set(fresh))
    head_path = find_classifier_path(model)
    head_keys = [k for k in own if head_path is not None and k.startswith(head_path + ".")]
    # A file without any of the classifier's tensors holds a backbone (`ltcli pretrain`, timm's num_classes=0).
    absent = sorted(head_keys) if head_keys and not any(k in state for k in head_keys) and not fresh else []
    backbone = [k for k in own if k not in head_keys]
    report = WeightsReport(
        loaded=len(usable),
        reinitialised=sorted(k for k, v in state.items() if k in own and v.shape != own[k].shape),
        missing=[k for k in missing if k not in absent],
        unexpected=sorted(set(state) - set(own)),
        fresh_head=fresh,
        absent_head=absent,
        backbone_loaded=sum(k in usable for k in backbone),
        backbone_total=len(backbone),
    )
    if report.mostly_missing and not allow_partial:
        raise LtcliError(
            f"only {report.backbone_loaded} of the model's {report.backbone_total} backbone tensors are in {path} "
            f"with the same name and shape ({len(report.unexpected)} of its tensors fit nothing): is it the same "
            "architecture? --allow-partial trains anyway, the rest freshly initialised"
        )
    model.load_state_dict(usable, strict=False)
    return report


def parameter_parts(model: nn.Module) -> dict[str, str]:
    """Parameter name -> the part of FREEZE_MODES it belongs to: classifier, scales, bn or rest."""
    head = classifier_path(model)
    parts = {}
    for module_name, module in model.named_modules():
        in_head = module_name == head or module_name.startswith(head + ".")
        for name, _ in module.named_parameters(prefix=module_name, recurse=False):
            if isinstance(module, LearnableWeightScaling) and name.endswith(".scales"):
                parts[name] = "scales"
            elif in_head:
                parts[name] = "classifier"
            else:
                parts[name] = "bn" if isinstance(module, _BatchNorm) else "rest"
    return parts


def freeze(model: nn.Module, mode: str) -> int:
    """Fix every parameter outside the parts `mode` trains (FREEZE_MODES): `backbone` trains the
    classifier (cRT, Kang et al. 2020), `backbone-except-bn` the classifier and BatchNorm (MiSLAS
    stage two), `backbone+classifier` only an LWS head's scales, `all` only BatchNorm (shift learning,
    Zhong et al. 2021). Returns the number of trainable parameters left."""
    if mode not in FREEZE_MODES:
        raise LtcliError(f"unknown --freeze {mode!r}: choose one of {', '.join(FREEZE_MODES)}")
    if mode != "none":
        parts = parameter_parts(model)
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(parts[name] in FREEZE_MODES[mode])
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if trainable == 0:
        trains = " and ".join(PART_NAMES[part] for part in sorted(FREEZE_MODES[mode]))
        raise LtcliError(f"--freeze {mode} leaves nothing to train: it trains only {trains}, which this model lacks")
    return trainable


def train_mode(model: nn.Module) -> None:
    """model.train(), except frozen normalisation layers, whose running statistics stay fixed too:
    a BatchNorm layer whose affine parameters train (`--freeze all`, shift learning) updates its
    statistics, one whose parameters are fixed (`--freeze backbone`) keeps them."""
    model.train()
    for module in model.modules():
        if isinstance(module, _BatchNorm) and not any(p.requires_grad for p in module.parameters(recurse=False)):
            module.eval()
