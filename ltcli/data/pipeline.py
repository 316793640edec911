"""Choose and build the input pipeline of a run: the in-memory fast path or streaming DataLoaders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from torch.utils.data import Sampler, WeightedRandomSampler

from ltcli.data.loaders import TrainData, make_loader
from ltcli.data.memory import CACHE_MODES, BatchAugment, MemoryLoader, decode_images, use_memory_cache
from ltcli.errors import LtcliError


@dataclass
class Pipeline:
    train: object  # DataLoader or MemoryLoader: both iterate (images, targets) and have len()
    valid: object
    cache: str  # "memory" or "none": what `--data-cache` resolved to


def weighted_sampler(weights: Sequence[float], num_samples: int, seed: int) -> WeightedRandomSampler:
    generator = torch.Generator()
    generator.manual_seed(seed)
    return WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.double), num_samples, True, generator=generator)


def _decode(dataset, height: int, width: int, console: Console, what: str) -> torch.Tensor:
    paths = [path for path, _ in dataset.samples]
    with Progress(TextColumn(f"decoding {what}"), BarColumn(), MofNCompleteColumn(), console=console,
                  transient=True) as progress:
        task = progress.add_task(what, total=len(paths))
        return decode_images(paths, height, width, on_image=lambda: progress.advance(task))


def build_pipeline(
    data: TrainData, train_targets: Sequence[int], valid_targets: Sequence[int], *, cache_mode: str,
    augment: str, height: int, width: int, hflip: float, mean: Sequence[float], std: Sequence[float],
    batch_size: int, workers: int, device: torch.device, seed: int, sample_weights: Sequence[float] | None,
    batch_sampler: Sampler | None, console: Console,
) -> Pipeline:
    """Both paths see the same samplers and the same augmentation recipe."""
    if cache_mode not in CACHE_MODES:
        raise LtcliError(f"unknown --data-cache {cache_mode!r}: choose one of {', '.join(CACHE_MODES)}")
    if cache_mode == "memory" and augment not in ("cifar", "none"):
        raise LtcliError(f"--data-cache memory supports the cifar/none augmentations, not {augment!r}")
    total = len(data.train) + len(data.valid)
    if not use_memory_cache(cache_mode, augment, total, height, width):
        train = make_loader(data.train, batch_size, True, workers, device, seed,
                            sample_weights=sample_weights, batch_sampler=batch_sampler)
        valid = make_loader(data.valid, batch_size, False, workers, device, seed)
        return Pipeline(train, valid, "none")
    padding = max(1, height // 8) if augment == "cifar" else 0
    train_images = _decode(data.train, height, width, console, "train").to(device)
    valid_images = _decode(data.valid, height, width, console, data.valid_split).to(device)
    train_y = torch.as_tensor(list(train_targets), dtype=torch.long, device=device)
    valid_y = torch.as_tensor(list(valid_targets), dtype=torch.long, device=device)
    sampler = weighted_sampler(sample_weights, len(train_y), seed) if sample_weights is not None else None
    train = MemoryLoader(
        train_images, train_y, batch_size, BatchAugment(padding, hflip if augment == "cifar" else 0.0, mean, std),
        shuffle=True, seed=seed, sampler=sampler, batch_sampler=batch_sampler,
        drop_last=len(train_y) % batch_size == 1,
    )
    valid = MemoryLoader(valid_images, valid_y, batch_size, BatchAugment(0, 0.0, mean, std, train=False),
                         shuffle=False, seed=seed)
    megabytes = (train_images.numel() + valid_images.numel()) / 2**20
    console.print(f"data: {total} images decoded once into memory ({megabytes:.0f} MB on {device})")
    return Pipeline(train, valid, "memory")
