"""Two augmented views of every image of a batch, drawn for the whole batch at once on its device.

MoCo v2's augmentation (Chen et al., "Improved Baselines with Momentum Contrastive Learning", 2020,
after SimCLR): random resized crop (scale 0.2-1, aspect 3/4-4/3), colour jitter (brightness, contrast,
saturation 0.4) with probability 0.8, grayscale with probability 0.2, horizontal flip. For small images
as SimCLR's CIFAR setting: no Gaussian blur; and, to stay a few tensor operations, no hue jitter, the
jitter's three steps in a fixed order, and a crop too large for the image clamped to it.

The views are drawn from the device's default random generator, which checkpoints capture, so a
resumed run draws the same views. The input is the pipeline's normalised batch (resized only: the
pre-training run asks the data pipeline for augmentation `none`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torchvision.ops import roi_align

GRAY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale


def grayscale(images: torch.Tensor) -> torch.Tensor:
    """[B, 1, H, W] luma of RGB images in [0, 1]."""
    weights = torch.tensor(GRAY, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


def uniform(size: int, low: float, high: float, device: torch.device) -> torch.Tensor:
    return low + (high - low) * torch.rand(size, device=device)


def random_resized_crop(images: torch.Tensor, scale: tuple[float, float], ratio: tuple[float, float]) -> torch.Tensor:
    """A random box per image (area a fraction `scale` of the image, aspect `ratio`), resized back to
    the image's size by bilinear sampling (roi_align, one box per image, one sample per pixel: the box
    is never larger than the output, so this is a plain bilinear upscale, and the whole image maps to itself)."""
    batch, _, height, width = images.shape
    device = images.device
    area = uniform(batch, *scale, device) * height * width
    aspect = torch.exp(uniform(batch, math.log(ratio[0]), math.log(ratio[1]), device))
    box_w = torch.sqrt(area * aspect).clamp(max=width)
    box_h = torch.sqrt(area / aspect).clamp(max=height)
    x0 = torch.rand(batch, device=device) * (width - box_w)
    y0 = torch.rand(batch, device=device) * (height - box_h)
    boxes = torch.stack([torch.arange(batch, device=device, dtype=images.dtype), x0, y0, x0 + box_w, y0 + box_h], 1)
    return roi_align(images, boxes, (height, width), spatial_scale=1.0, sampling_ratio=1, aligned=True)


def colour_jitter(images: torch.Tensor, strength: float, prob: float) -> torch.Tensor:
    """Brightness, contrast and saturation each scaled by a factor in [1 - strength, 1 + strength]
    (torchvision's ColorJitter blends), applied to an image with probability `prob`."""
    batch, device = images.shape[0], images.device
    factors = 1 + (2 * torch.rand(3, batch, device=device) - 1) * strength
    apply = torch.rand(batch, device=device) < prob
    brightness, contrast, saturation = torch.where(apply, factors, torch.ones_like(factors))[:, :, None, None, None]
    images = (images * brightness).clamp(0, 1)
    mean = grayscale(images).mean(dim=(1, 2, 3), keepdim=True)
    images = (contrast * images + (1 - contrast) * mean).clamp(0, 1)
    return (saturation * images + (1 - saturation) * grayscale(images)).clamp(0, 1)


@dataclass(frozen=True)
class TwoViews:
    """`views(images) -> (inputs, targets)`: inputs [2B, 3, H, W] are the query views of the B images
    followed by their key views, targets [B] zeros (the positive key is column 0 of MoCo's logits)."""

    mean: Sequence[float]
    std: Sequence[float]
    hflip: float = 0.5
    scale: tuple[float, float] = (0.2, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    jitter: float = 0.4
    jitter_prob: float = 0.8
    gray_prob: float = 0.2

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        targets = torch.zeros(images.shape[0], dtype=torch.long, device=images.device)
        return torch.cat([self.view(images), self.view(images)]), targets

    def view(self, images: torch.Tensor) -> torch.Tensor:
        batch, device = images.shape[0], images.device
        mean = torch.tensor(self.mean, device=device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=device).view(1, 3, 1, 1)
        x = (images.float() * std + mean).clamp(0, 1)  # back to [0, 1]
        x = random_resized_crop(x, self.scale, self.ratio)
        x = colour_jitter(x, self.jitter, self.jitter_prob)
        gray = torch.rand(batch, device=device) < self.gray_prob
        x = torch.where(gray[:, None, None, None], grayscale(x).expand_as(x), x)
        flip = torch.rand(batch, device=device) < self.hflip
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return (x - mean) / std
