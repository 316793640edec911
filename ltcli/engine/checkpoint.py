"""Checkpoints: everything needed to test or resume a run without its training data.

Saved atomically; loaded with `weights_only=True`, so a checkpoint cannot run code on load.
Everything stored is therefore plain data: tensors, numbers, strings, lists and dicts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ltcli.atomic import atomic_torch_save
from ltcli.errors import LtcliError


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_torch_save(state, path)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    if not Path(path).is_file():
        raise LtcliError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001  a corrupt or foreign file: one line, not a traceback
        raise LtcliError(f"cannot load checkpoint {path}: {str(error).splitlines()[0]}") from None

