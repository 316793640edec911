"""Random-number state of a run, captured with every checkpoint so a resumed run continues the
exact same sequence (data order, augmentation, sampling) as an uninterrupted one.

Stored as tensors, ints and lists only, so checkpoints still load with `weights_only=True`.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def _generators(loader: Any) -> dict[str, torch.Generator]:
    """The generators a loader draws from, by role (DataLoader: its own, for worker seeds;
    MemoryLoader: the device one, for augmentation; the batch sampler's: for the sample order)."""
    found = {name: getattr(loader, name, None) for name in ("generator", "device_generator")}
    for name in ("sampler", "batch_sampler"):
        found[name] = getattr(getattr(loader, name, None), "generator", None)
    return {name: g for name, g in found.items() if isinstance(g, torch.Generator)}


def capture_rng(loaders: dict[str, Any]) -> dict[str, Any]:
    numpy_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]],
        "torch": torch.get_rng_state(),
        "loaders": {
            name: {role: g.get_state() for role, g in _generators(loader).items()} for name, loader in loaders.items()
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any], loaders: dict[str, Any]) -> None:
    random.setstate(tuple(v if not isinstance(v, list) else tuple(v) for v in state["python"]))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for name, loader in loaders.items():
        saved = state["loaders"].get(name)
        if not isinstance(saved, dict):  # a checkpoint of an older ltcli: its loader states do not map
            continue
        for role, generator in _generators(loader).items():
            if role in saved:
                generator.set_state(saved[role])
