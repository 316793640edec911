"""Decode JPEGs no larger than the transform needs: Pillow's `draft()` at 1/2, 1/4 or 1/8 scale.

A JPEG can be decoded at 1/2, 1/4 or 1/8 of its size for a fraction of the full decode's cost (the
DCT is simply cut short). That loses nothing when the pixels end up resized down anyway: at 224 px,
a random-resized crop of a 1000x800 image covering a 600x600 region is downscaled 2.7x, so decoding
at 1/2 (a 300x300 region) still gives the resize more pixels than it keeps.

So the loader draws the random-resized crop itself, on the stored size (known from the header, before
any decoding), then picks the largest reduction r with the crop region / r still at least the output
size in both sides, decodes at 1/r and resizes the (scaled) region straight to the output with
Pillow's `resize(box=...)`. Same distribution of crops as timm's RandomResizedCropAndInterpolation
(its own `get_params`), same interpolation. For evaluation (resize the shorter side to S, center crop)
the reduction keeps the shorter side >= S. Non-JPEG files and EXIF-rotated JPEGs take the plain path.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image
from timm.data.transforms import RandomResizedCropAndInterpolation
from torchvision import transforms as T

from ltcli.data.images import EXIF_ORIENTATION, load_rgb, to_rgb

REDUCTIONS = (8, 4, 2)
PIL_RESAMPLE = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST,
                "lanczos": Image.LANCZOS, "box": Image.BOX, "hamming": Image.HAMMING}


def largest_reduction(region_w: float, region_h: float, min_w: float, min_h: float) -> int:
    """The largest JPEG scale denominator r (8, 4, 2, else 1) with region / r >= the minimum, both sides."""
    return next((r for r in REDUCTIONS if region_w / r >= min_w and region_h / r >= min_h), 1)


def _draft(image: Image.Image, reduction: int) -> None:
    """Ask libjpeg for 1/reduction scale (Pillow picks the largest scale with size >= the request)."""
    if reduction > 1:
        width, height = image.size
        image.draft(None, (max(1, width // reduction), max(1, height // reduction)))


def _plain(image: Image.Image) -> bool:
    """Files the draft path leaves alone: not JPEG, or stored rotated (the crop is drawn on the stored size)."""
    return image.format != "JPEG" or image.getexif().get(EXIF_ORIENTATION, 1) not in (1, None)


def _interpolation(crop: Any) -> int:
    choice = crop.interpolation
    if isinstance(choice, (tuple, list)):
        choice = random.choice(choice)
    name = getattr(choice, "value", choice)
    return PIL_RESAMPLE.get(str(name).lower(), Image.BILINEAR)


@dataclass
class DraftCropLoader:
    """Loader for training: the random-resized crop, decoded at the smallest scale that keeps its detail."""

    crop: RandomResizedCropAndInterpolation

    def __call__(self, path: str) -> Image.Image:
        out_h, out_w = self.crop.size
        with Image.open(path) as image:
            if _plain(image):
                return self.crop(to_rgb(image))
            width, height = image.size
            top, left, crop_h, crop_w = self.crop.get_params(image, self.crop.scale, self.crop.ratio)
            _draft(image, largest_reduction(crop_w, crop_h, out_w, out_h))
            rgb = to_rgb(image)
        sx, sy = width / rgb.width, height / rgb.height
        box = (left / sx, top / sy, (left + crop_w) / sx, (top + crop_h) / sy)
        return rgb.resize((out_w, out_h), _interpolation(self.crop), box=box)


@dataclass
class DraftResizeLoader:
    """Loader for evaluation: decoded at the smallest scale whose shorter side is still >= `short_side`."""

    short_side: int

    def __call__(self, path: str) -> Image.Image:
        with Image.open(path) as image:
            if not _plain(image):
                width, height = image.size
                side = min(width, height)
                _draft(image, largest_reduction(side, side, self.short_side, self.short_side))
            return to_rgb(image)


def draft_loader(transform: Callable) -> tuple[Callable, Callable]:
    """(loader, transform) doing what `load_rgb` + `transform` do, JPEGs decoded at reduced scale where
    that loses no detail: timm's train recipe (its crop moves into the loader) and the resize + center
    crop eval recipe. Any other transform is returned as it is, with the plain loader."""
    steps = list(getattr(transform, "transforms", []))
    if steps and isinstance(steps[0], RandomResizedCropAndInterpolation):
        return DraftCropLoader(steps[0]), T.Compose(steps[1:])
    if steps and isinstance(steps[0], T.Resize) and isinstance(steps[0].size, int) and steps[0].max_size is None:
        return DraftResizeLoader(steps[0].size), transform
    return load_rgb, transform
