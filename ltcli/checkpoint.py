"""The checkpoint file: what an ltcli run saves each epoch, written and read in this one place.

Saved atomically; loaded with `weights_only=True`, so a checkpoint cannot run code on load.
Everything stored is therefore plain data: tensors, numbers, strings, lists and dicts. The keys
are the dataclass's field names, so checkpoints of earlier ltcli versions load unchanged.
"""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ltcli.atomic import atomic_torch_save
from ltcli.errors import LtcliError

REQUIRED = ("model", "epoch", "class_names", "config")


def safe_torch_load(path: Path, map_location: str | torch.device = "cpu") -> Any:
    """torch.load with weights_only=True, every failure as one line. torch's own message for a file
    holding Python objects suggests retrying with weights_only=False: that would run whatever code the
    file carries, so it is never passed on."""
    path = Path(path)
    if not path.is_file():
        raise LtcliError(f"file not found: {path}")
    check_torch_format(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights_only" in str(error) or "Weights only" in str(error):
            raise LtcliError(f"cannot load {path}: it holds Python objects besides tensors, which ltcli does not "
                             "load (loading them could run code from the file)") from None
        raise LtcliError(f"cannot load {path}: not a PyTorch file ({str(error).splitlines()[0]})") from None
    except Exception as error:  # noqa: BLE001  torch's loaders raise many types on foreign bytes
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise LtcliError(f"cannot load {path}: truncated or not a PyTorch file ({type(error).__name__}: "
                         f"{reason})") from None


def check_torch_format(path: Path) -> None:
    """A PyTorch file is a zip archive (torch.save) or, in the legacy format, a pickle (protocol 2+,
    so it starts with the PROTO byte). Anything else, text above all, is refused here: a text file
    whose first letter happens to be a pickle opcode would otherwise be reported as holding Python objects."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head.startswith(b"PK") or head.startswith(b"\x80"):
        return
    try:
        head.decode("utf-8")
        what = "a text file"
    except UnicodeDecodeError as error:
        what = "a text file" if error.start >= len(head) - 3 else "neither a zip archive nor a pickle"
    kind = "empty" if not head else what
    raise LtcliError(f"cannot load {path}: not a PyTorch file (it is {kind}; torch.save writes a zip archive)")


@dataclass
class Checkpoint:
    """One epoch of a run: the weights (and their EMA), what resuming needs, and what testing needs
    without the training data (class names, training counts, the run's config)."""

    model: dict[str, torch.Tensor]
    epoch: int  # the last finished epoch (-1: saved before the first)
    class_names: list[str]
    config: dict[str, Any]
    class_counts: list[int] | None = None
    select_metric: str = "acc"
    best_value: float | None = None  # of select_metric, over epochs 0..epoch
    best_epoch: int | None = None  # the epoch checkpoint_best.pt holds
    model_ema: dict[str, torch.Tensor] | None = None
    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    scaler: dict[str, Any] | None = None
    rng: Any = None  # one state, or a list with one per process of a torchrun run
    valid_metrics: dict[str, float] | None = None
    pretext: dict[str, torch.Tensor] | None = None  # `ltcli pretrain`: the pretext head(s) beside the backbone

    @property
    def evaluated_weights(self) -> dict[str, torch.Tensor]:
        """The weights the run validated and chose its best epoch by: the EMA of the weights when
        the run kept one (--ema-decay), else the trained weights."""
        return self.model_ema or self.model

    @property
    def world_size(self) -> int:
        return int(self.config.get("world_size", 1))

    def save(self, path: Path) -> None:
        atomic_torch_save({f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, path)

    @classmethod
    def is_checkpoint(cls, obj: Any) -> bool:
        """Whether a loaded object is an ltcli checkpoint (and not, say, a plain state dict)."""
        return isinstance(obj, dict) and all(key in obj for key in REQUIRED) and isinstance(obj["model"], dict)

    @classmethod
    def from_dict(cls, obj: Any, source: Path) -> Checkpoint:
        if not cls.is_checkpoint(obj):
            what = "a state dict" if isinstance(obj, dict) else f"a {type(obj).__name__}"
            raise LtcliError(f"{source} is not an ltcli checkpoint ({what}, without class names and config): "
                             "to start training from its weights use `ltcli train --weights FILE`")
        known = {f.name for f in dataclasses.fields(cls)}
        checkpoint = cls(**{k: v for k, v in obj.items() if k in known})
        problem = checkpoint.damage()
        if problem:
            raise LtcliError(f"{source} is damaged: {problem}")
        return checkpoint

    def damage(self) -> str | None:
        """What makes the contents unusable (None when nothing does): the parts test/predict rely on."""
        names = self.class_names
        if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) for n in names):
            return "its class names are not a list of at least two names"
        if isinstance(self.epoch, bool) or not isinstance(self.epoch, int):
            return f"its epoch is {self.epoch!r}, not a whole number"
        for name in ("model", "model_ema"):
            weights = getattr(self, name)
            if weights is not None and (not isinstance(weights, dict)
                                        or not all(isinstance(v, torch.Tensor) for v in weights.values())):
                return f"its {name} is not a state dict (tensors by name)"
        counts = self.class_counts
        if counts is not None and (not isinstance(counts, list) or len(counts) != len(names)
                                   or not all(isinstance(c, int) and not isinstance(c, bool) for c in counts)):
            return f"its class counts do not give one whole number for each of its {len(names)} classes"
        config = self.config
        if not isinstance(config, dict) or not isinstance(config.get("model"), str):
            return "its config names no model"
        outputs = config.get("num_outputs", len(names))
        if isinstance(outputs, bool) or not isinstance(outputs, int) or outputs < 1:
            return f"its config's num_outputs is {outputs!r}"
        return None

    @classmethod
    def load(cls, path: Path, map_location: str | torch.device = "cpu") -> Checkpoint:
        path = Path(path)
        if not path.is_file():
            raise LtcliError(f"checkpoint not found: {path}")
        return cls.from_dict(safe_torch_load(path, map_location), path)
