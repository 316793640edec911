"""Decode JPEGs no larger than the transform needs, and resize them with torch's uint8 kernels.

A JPEG can be decoded at 1/2, 1/4 or 1/8 of its size for a fraction of the full decode's cost (the
DCT is simply cut short). That loses nothing when the pixels end up resized down anyway: at 224 px,
a random-resized crop of a 1000x800 image covering a 600x600 region is downscaled 2.7x, so decoding
at 1/2 (a 300x300 region) still gives the resize more pixels than it keeps.

So the loader draws the random-resized crop itself, on the stored size (known from the header, before
any decoding), then picks the largest reduction r with the crop region / r still at least the output
size in both sides, decodes at 1/r (Pillow's `draft()`) and resizes the (scaled) region straight to
the output with Pillow's `resize(box=...)`. Same distribution of crops as timm's
RandomResizedCropAndInterpolation (its own `get_params`), same interpolation. For evaluation (resize
the shorter side to S, center crop) the reduction keeps the shorter side >= S.

Where no reduction is possible (r = 1: ImageNet-LT's ~500x375 JPEGs at 224 px, whose crops are never
448 px on both sides), the file is decoded by torchvision's `decode_jpeg` (the same libjpeg-turbo
pixels as Pillow), the crop is a slice of the uint8 tensor and the resize is torch's antialiased uint8
kernel (Pillow's algorithm, vectorised: about 3x Pillow's own resize here), and the rest of the
transform gets a PIL image as before. That makes the train data path faster than torchvision's plain
ImageFolder (benchmarks/jpeg_loader.py). Non-JPEG files, CMYK JPEGs, interpolations torch lacks and
files decode_jpeg refuses take Pillow; EXIF-rotated JPEGs take the plain path (rotated, then cropped).
"""

from __future__ import annotations

import io
import random
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from timm.data.transforms import MaybeToTensor, RandomResizedCropAndInterpolation
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as F

from ltcli.data.images import exif_orientation, load_rgb, to_rgb

try:  # torchvision 0.29 deprecates its image decoders for TorchCodec's; when they are gone, Pillow decodes
    from torchvision.io import ImageReadMode, decode_jpeg
except ImportError:  # pragma: no cover - a future torchvision
    decode_jpeg = None
# One warning per decoded image otherwise (in each loader worker); the fallback above covers the removal.
warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities of TorchVision",
                        category=DeprecationWarning)

REDUCTIONS = (8, 4, 2)
PIL_RESAMPLE = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST,
                "lanczos": Image.LANCZOS, "box": Image.BOX, "hamming": Image.HAMMING}
# Interpolations torch resizes uint8 images with in Pillow's manner (antialiased, no float round trip).
TORCH_RESAMPLE = {Image.BILINEAR: InterpolationMode.BILINEAR, Image.BICUBIC: InterpolationMode.BICUBIC}
TENSOR_DECODED_MODES = ("RGB", "L")  # JPEG colour spaces decode_jpeg turns into the RGB Pillow gives


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
    return image.format != "JPEG" or exif_orientation(image) != 1


def _interpolation(step: Any) -> int:
    """The Pillow resample of a crop's or resize's interpolation (a crop's may be a random choice)."""
    choice = step.interpolation
    if isinstance(choice, (tuple, list)):
        choice = random.choice(choice)
    name = getattr(choice, "value", choice)
    return PIL_RESAMPLE.get(str(name).lower(), Image.BILINEAR)


def _decode_tensor(image: Image.Image, data: bytes, resample: int) -> torch.Tensor | None:
    """The JPEG as a uint8 (3, H, W) tensor by decode_jpeg, or None where Pillow decodes it instead (a
    CMYK file, an interpolation torch lacks, a file decode_jpeg refuses: Pillow then says why)."""
    if decode_jpeg is None or image.mode not in TENSOR_DECODED_MODES or resample not in TORCH_RESAMPLE:
        return None
    try:
        return decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
    except RuntimeError:
        return None


def _resized_pil(pixels: torch.Tensor, size: list[int], resample: int) -> Image.Image:
    """Resize (3, H, W) uint8 with torch's uint8 kernel and hand the rest of the transform a PIL image.
    Channels-last in and out (decode_jpeg's own layout): the kernel's fast path, and an HWC array for
    Pillow without a strided copy (each about halves this step's time)."""
    resized = _resized(pixels, size, resample)
    return Image.fromarray(np.ascontiguousarray(resized.permute(1, 2, 0).numpy()))


def _resized(pixels: torch.Tensor, size: list[int], resample: int) -> torch.Tensor:
    """Resize (3, H, W) uint8 with torch's uint8 kernel, channels-last (the kernel's fast path)."""
    batch = pixels.unsqueeze(0).contiguous(memory_format=torch.channels_last)
    return F.resize(batch, size, TORCH_RESAMPLE[resample], antialias=True)[0]


def tensor_rest(steps: list[Any]) -> Callable | None:
    """The steps after timm's train crop (flip, colour jitter, to-tensor, normalize) as torchvision v2
    tensor transforms, or None when a step is not one of these (RandAugment works on PIL images only).
    Same operations and parameters; the jitter runs on float [0, 1] pixels (torchvision's tensor
    ColorJitter, 2.5x faster than Pillow's on a 224 px image here) instead of on uint8 ones, so its
    results differ from Pillow's by rounding only. Takes a PIL image or a uint8 (3, H, W) tensor."""
    flips: list[Any] = []
    jitters: list[Any] = []
    normalize: list[Any] = []
    as_tensor = False
    for step in steps:  # flips and jitters commute; both come before the conversion, normalize after it
        if isinstance(step, T.RandomHorizontalFlip) and not as_tensor:
            flips.append(v2.RandomHorizontalFlip(step.p))
        elif isinstance(step, T.ColorJitter) and not as_tensor:
            jitters.append(v2.ColorJitter(step.brightness, step.contrast, step.saturation, step.hue))
        elif isinstance(step, (MaybeToTensor, T.ToTensor)) and not as_tensor:
            as_tensor = True
        elif isinstance(step, T.Normalize) and as_tensor and not normalize:
            normalize.append(v2.Normalize([float(m) for m in step.mean], [float(s) for s in step.std]))
        else:
            return None
    if not as_tensor:
        return None
    return v2.Compose([v2.ToImage(), *flips, v2.ToDtype(torch.float32, scale=True), *jitters, *normalize,
                       v2.ToPureTensor()])


@dataclass
class DraftCropLoader:
    """Loader for training: the random-resized crop, decoded at the smallest scale that keeps its detail.
    With `as_tensor`, a crop decoded by decode_jpeg stays a uint8 tensor (for `tensor_rest`)."""

    crop: RandomResizedCropAndInterpolation
    as_tensor: bool = False

    def __call__(self, path: str) -> Image.Image | torch.Tensor:
        out_h, out_w = self.crop.size
        data = Path(path).read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            if _plain(image):
                return self.crop(to_rgb(image))
            width, height = image.size
            top, left, crop_h, crop_w = self.crop.get_params(image, self.crop.scale, self.crop.ratio)
            resample = _interpolation(self.crop)
            reduction = largest_reduction(crop_w, crop_h, out_w, out_h)
            pixels = _decode_tensor(image, data, resample) if reduction == 1 else None
            if pixels is not None:
                region = pixels[:, top:top + crop_h, left:left + crop_w]
                if self.as_tensor:  # planar again: the tensor steps run 2x faster on it than on HWC strides
                    return _resized(region, [out_h, out_w], resample).contiguous()
                return _resized_pil(region, [out_h, out_w], resample)
            _draft(image, reduction)
            rgb = to_rgb(image)
        sx, sy = width / rgb.width, height / rgb.height
        box = (left / sx, top / sy, (left + crop_w) / sx, (top + crop_h) / sy)
        return rgb.resize((out_w, out_h), resample, box=box)


@dataclass
class DraftResizeLoader:
    """Loader for evaluation: decoded at the smallest scale whose shorter side is still >= `short_side`;
    at full scale, resized to it by torch (the transform's own Resize then has nothing left to do)."""

    short_side: int
    interpolation: int = Image.BILINEAR  # the eval Resize's, as a Pillow resample

    def __call__(self, path: str) -> Image.Image:
        data = Path(path).read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            if not _plain(image):
                side = min(image.size)
                reduction = largest_reduction(side, side, self.short_side, self.short_side)
                pixels = _decode_tensor(image, data, self.interpolation) if reduction == 1 else None
                if pixels is not None:
                    return _resized_pil(pixels, [self.short_side], self.interpolation)
                _draft(image, reduction)
            return to_rgb(image)


def draft_loader(transform: Callable) -> tuple[Callable, Callable]:
    """(loader, transform) doing what `load_rgb` + `transform` do, JPEGs decoded at reduced scale where
    that loses no detail: timm's train recipe (its crop moves into the loader) and the resize + center
    crop eval recipe. Any other transform is returned as it is, with the plain loader."""
    steps = list(getattr(transform, "transforms", []))
    if steps and isinstance(steps[0], RandomResizedCropAndInterpolation):
        rest = tensor_rest(steps[1:])
        if rest is not None:  # the crop stays a tensor from decode to batch
            return DraftCropLoader(steps[0], as_tensor=True), rest
        return DraftCropLoader(steps[0]), T.Compose(steps[1:])
    if steps and isinstance(steps[0], T.Resize) and isinstance(steps[0].size, int) and steps[0].max_size is None:
        return DraftResizeLoader(steps[0].size, _interpolation(steps[0])), transform
    return load_rgb, transform
