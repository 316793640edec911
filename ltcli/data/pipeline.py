"""Choose and build the input pipeline of a run: the in-memory fast path or streaming DataLoaders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from torch.utils.data import Sampler

from ltcli.choices import CACHE_MODES
from ltcli.data.loaders import TrainData, make_loader
from ltcli.data.memory import BatchAugment, MemoryLoader, decode_images, use_memory_cache
from ltcli.data.samplers import EvalShard, step_batches
from ltcli.errors import LtcliError


@dataclass
class Pipeline:
    train: object  # DataLoader or MemoryLoader: both iterate (images, targets) and have len()
    valid: object
    cache: str  # "memory" or "none": what `--data-cache` resolved to


def _decode(
    dataset, targets: Sequence[int], height: int, width: int, device: torch.device, console: Console, what: str,
    indices: Sequence[int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and targets of `indices` on `device`; files that do not decode are flagged in
    `dataset.failed` (reported like the streaming path's) and left out."""
    paths = [dataset.samples[i][0] for i in indices]
    with Progress(TextColumn(f"decoding {what}"), BarColumn(), MofNCompleteColumn(), console=console,
                  transient=True) as progress:
        task = progress.add_task(what, total=len(paths))
        images, failed = decode_images(paths, height, width, on_image=lambda: progress.advance(task))
    keep = torch.ones(len(paths), dtype=torch.bool)
    keep[failed] = False
    dataset.failed[[indices[i] for i in failed]] = True
    labels = torch.as_tensor([targets[i] for i in indices], dtype=torch.long)[keep]
    return images.to(device), labels.to(device)


def build_pipeline(
    data: TrainData, train_targets: Sequence[int], valid_targets: Sequence[int], *, cache_mode: str,
    augment: str, height: int, width: int, hflip: float, mean: Sequence[float], std: Sequence[float],
    batch_size: int, workers: int, device: torch.device, seed: int, sample_weights: Sequence[float] | None,
    batch_sampler: Sampler | None, console: Console, rank: int = 0, world_size: int = 1, views: int = 1,
) -> Pipeline:
    """Both paths see the same samplers and the same augmentation recipe; under torchrun each
    process trains on its share of every step's batch and validates on its shard of valid/.
    With `views` > 1 (the training set's transform then yields them, `ltcli.data.views`) only the
    streaming path serves: the in-memory path draws one crop and flip per image."""
    if cache_mode not in CACHE_MODES:
        raise LtcliError(f"unknown --data-cache {cache_mode!r}: choose one of {', '.join(CACHE_MODES)}")
    if views > 1:
        if cache_mode == "memory":
            raise LtcliError(f"--data-cache memory draws one crop-and-flip view of each image on the device; this "
                             f"objective trains on {views} views, the extra ones RandAugment on PIL images: use "
                             "--data-cache none (or auto)")
        cache_mode = "none"
    if cache_mode == "memory" and augment not in ("cifar", "none"):
        raise LtcliError(f"--data-cache memory supports the cifar/none augmentations, not {augment!r}")
    total = len(data.train) + len(data.valid)
    shard = {"rank": rank, "world_size": world_size}
    if not use_memory_cache(cache_mode, augment, total, height, width):
        train = make_loader(data.train, batch_size, True, workers, device, seed,
                            sample_weights=sample_weights, batch_sampler=batch_sampler, **shard)
        valid = make_loader(data.valid, batch_size, False, workers, device, seed, **shard)
        return Pipeline(train, valid, "none")
    padding = max(1, height // 8) if augment == "cifar" else 0
    train_images, train_y = _decode(data.train, train_targets, height, width, device, console, "train",
                                    range(len(train_targets)))
    if len(train_y) == 0:
        raise LtcliError(
            f"none of the {len(data.train)} training files decode (first: {data.train.samples[0][0]}): "
            "`ltcli stats` lists the bad files"
        )
    valid_images, valid_y = _decode(data.valid, valid_targets, height, width, device, console, data.valid_split,
                                    EvalShard(len(valid_targets), rank, world_size).indices)
    if batch_sampler is not None or sample_weights is not None:
        failed = data.train.failed_paths()
        if failed:  # sampler indices refer to the full list of files
            raise LtcliError(
                f"{len(failed)} training file(s) do not decode (first: {failed[0]}): with --train-rule or "
                "--pos-neg-ratio, remove them or use --data-cache none"
            )
    batches = batch_sampler or step_batches(len(train_y), batch_size, seed, sample_weights, world_size)
    train = MemoryLoader(
        train_images, train_y, batch_size, BatchAugment(padding, hflip if augment == "cifar" else 0.0, mean, std),
        batches=batches, seed=seed, **shard,
    )
    valid = MemoryLoader(valid_images, valid_y, batch_size, BatchAugment(0, 0.0, mean, std, train=False))
    megabytes = (train_images.numel() + valid_images.numel()) / 2**20
    console.print(f"data: {total} images decoded once into memory ({megabytes:.0f} MB on {device})")
    return Pipeline(train, valid, "memory")
