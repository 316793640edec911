"""The in-memory fast path for small images: decode once, augment whole batches on the device.

CIFAR-sized long-tail benchmarks are bottlenecked by per-image PIL work in DataLoader workers, not
by the model. Here the split is decoded once into a uint8 tensor [N, 3, H, W] (about 3 KB per
32x32 image) that lives on the training device, and each batch is cropped, flipped and normalised
with a few tensor operations. The recipe is the CIFAR one of `ltcli.data.transforms` (resize to
H x W, zero-pad by H//8, random H x W crop, horizontal flip with probability `hflip`), so both
paths draw from the same augmentation distribution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Sampler

from ltcli.data.images import load_rgb
from ltcli.data.samplers import share_of

AUTO_MAX_BYTES = 2 * 1024**3  # decoded size up to which `auto` keeps a split in memory


def use_memory_cache(mode: str, augment: str, num_images: int, height: int, width: int) -> bool:
    """`auto`: memory when the recipe is the CIFAR one (or none) and the decoded split is small."""
    if mode == "none":
        return False
    eligible = augment in ("cifar", "none")
    if mode == "memory":
        return eligible
    return eligible and num_images * 3 * height * width <= AUTO_MAX_BYTES  # uint8 RGB


def decode_images(
    paths: Sequence[str], height: int, width: int, on_image: Callable[[], None] | None = None
) -> tuple[torch.Tensor, list[int]]:
    """uint8 [M, 3, H, W] of the M paths that decode (resized exactly as torchvision's Resize((H, W))
    does on PIL images), and the indices of those that did not: they are skipped, not fatal."""
    out = torch.empty((len(paths), 3, height, width), dtype=torch.uint8)
    kept, failed = 0, []
    for i, path in enumerate(paths):
        try:
            image = load_rgb(path)
        except Exception:  # any decode failure of this one file, as RobustImageFolder treats it
            failed.append(i)
        else:
            if image.size != (width, height):
                image = image.resize((width, height), Image.BILINEAR)
            out[kept] = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)
            kept += 1
        if on_image is not None:
            on_image()
    return out[:kept], failed


@dataclass
class BatchAugment:
    """Random pad-crop + horizontal flip + normalisation of a uint8 batch, on the batch's device.

    The random draws are made for a whole step's batch of `drawn_for` images and rows `first`,
    `first + 1`, ... of them are used: under torchrun every process draws the same numbers and
    keeps its share, so the augmentation does not depend on the number of processes.
    """

    padding: int
    hflip: float
    mean: Sequence[float]
    std: Sequence[float]
    train: bool = True

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None, drawn_for: int | None = None,
        first: int = 0,
    ) -> torch.Tensor:
        batch, _, height, width = images.shape
        drawn_for = batch if drawn_for is None else drawn_for
        rows = slice(first, first + batch)
        dev = images.device
        x = images
        if self.train and self.padding > 0:
            p = self.padding
            padded = F.pad(images, (p, p, p, p))
            oy = torch.randint(0, 2 * p + 1, (drawn_for,), generator=generator, device=dev)[rows]
            ox = torch.randint(0, 2 * p + 1, (drawn_for,), generator=generator, device=dev)[rows]
            ys = (oy[:, None] + torch.arange(height, device=dev))[:, None, :, None]
            xs = (ox[:, None] + torch.arange(width, device=dev))[:, None, None, :]
            x = padded[torch.arange(batch, device=dev)[:, None, None, None],
                       torch.arange(3, device=dev)[None, :, None, None], ys, xs]
        if self.train and self.hflip > 0:
            flip = (torch.rand(drawn_for, generator=generator, device=dev) < self.hflip)[rows]
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1) * 255
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1) * 255
        return (x.float() - mean) / std


class MemoryLoader:
    """Iterates (augmented float batch, targets) like a DataLoader over an in-memory split.

    `batches` yields each step's indices (the same batch samplers as the streaming path: shuffled,
    class-aware re-sampled or positive/negative stratified); under torchrun this process keeps its
    share of each, so a training rule behaves identically on both paths and any process count.
    Without `batches`, the split is read in order in batches of `batch_size` (evaluation).
    """

    def __init__(
        self, images: torch.Tensor, targets: torch.Tensor, batch_size: int, augment: BatchAugment,
        batches: Sampler[list[int]] | None = None, seed: int = 0, rank: int = 0, world_size: int = 1,
    ) -> None:
        self.images, self.targets = images, targets
        self.batch_size, self.augment = batch_size, augment
        self.batch_sampler = batches
        self.rank, self.world_size = rank, world_size
        self.device_generator = torch.Generator(device=images.device)
        self.device_generator.manual_seed(seed)

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return -(-len(self.targets) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.batch_sampler is None:
            for start in range(0, len(self.targets), self.batch_size):
                index = torch.arange(start, min(start + self.batch_size, len(self.targets)), device=self.images.device)
                yield self.augment(self.images[index]), self.targets[index]
            return
        for batch in self.batch_sampler:
            share = share_of(batch, self.rank, self.world_size)
            index = torch.as_tensor(batch[share], device=self.images.device)
            images = self.augment(self.images[index], self.device_generator, len(batch), share.start)
            yield images, self.targets[index]
