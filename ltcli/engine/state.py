"""Random-number state of a run, captured with every checkpoint so a resumed run continues the
exact same sequence (data order, augmentation, sampling) as an uninterrupted one.

Stored as tensors, ints and lists only, so checkpoints still load with `weights_only=True`.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def _generators(loader: Any) -> list[torch.Generator]:
    """The generators a loader draws from (DataLoader: its own, for worker seeds; MemoryLoader: the
    device one, for augmentation; the batch sampler's: for the sample order), each once."""
    found = [getattr(loader, name, None) for name in ("generator", "device_generator")]
    found += [getattr(getattr(loader, name, None), "generator", None) for name in ("sampler", "batch_sampler")]
    unique: list[torch.Generator] = []
    for generator in found:
        if isinstance(generator, torch.Generator) and all(generator is not g for g in unique):
            unique.append(generator)
    return unique


def capture_rng(loaders: dict[str, Any]) -> dict[str, Any]:
    numpy_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]],
        "torch": torch.get_rng_state(),
        "loaders": {name: [g.get_state() for g in _generators(loader)] for name, loader in loaders.items()},
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
        for generator, saved in zip(_generators(loader), state["loaders"].get(name, []), strict=False):
            generator.set_state(saved)
