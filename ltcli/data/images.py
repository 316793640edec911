"""Decode one image file the same way everywhere: scan, stats, strict check and training.

Sharing one decoder means a file that `stats` or `split` calls readable is exactly a file that
training can load, and a file they call corrupt is exactly one training would skip.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

EXIF_ORIENTATION = 0x0112
# Modes with more than 8 bits per sample: a bare convert("RGB") clips them, so 16-bit scans come
# out almost white. They are rescaled to 8 bits first.
WIDE_GRAY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
TRANSPARENT_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
# Where Pillow keeps what getexif() parses (TIFF keeps its tags in `tag_v2`, checked apart).
EXIF_INFO_KEYS = ("exif", "xmp", "XML:com.adobe.xmp", "Raw profile type exif")


def _wide_gray_to_l(image: Image.Image) -> Image.Image:
    """16-bit data spans 0..65535 (scaled by 1/257); 32-bit int or float data that stays within
    0..255 is taken as 8-bit values, anything wider is treated as 16-bit."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16") or (values.size and values.max() > 255):
        values = values / 257.0
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), mode="L")


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation (1: stored upright). Metadata is parsed only when the image carries some:
    most training JPEGs have none, and a loader pays for every parse (and exif_transpose's copy) per
    image. Call it on a loaded image: a PNG's eXIf chunk may follow the pixel data."""
    if not hasattr(image, "tag_v2") and not any(key in image.info for key in EXIF_INFO_KEYS):
        return 1
    return image.getexif().get(EXIF_ORIENTATION, 1) or 1


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB at the displayed orientation: EXIF rotation applied, transparency composited onto white
    (a bare convert would turn transparent pixels black), wide grayscale rescaled to 8 bits."""
    image.load()
    if exif_orientation(image) != 1:
        image = ImageOps.exif_transpose(image)
    if image.mode in WIDE_GRAY_MODES:
        image = _wide_gray_to_l(image)
    if image.mode in TRANSPARENT_MODES or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_rgb(path: str | Path) -> Image.Image:
    """Open any image file as RGB (grayscale, palette, RGBA, CMYK, 16-bit alike); raises on a
    file that does not fully decode (PIL's default refuses truncated files, which we keep)."""
    with Image.open(path) as image:
        return to_rgb(image)


@dataclass(frozen=True)
class ImageInfo:
    """What `stats` reports of one decodable image: stored size and mode, before conversion."""

    width: int
    height: int
    mode: str
    format: str | None
    exif_rotated: bool


def inspect_image_bytes(data: bytes) -> ImageInfo:
    """Decode `data` fully (as training would) and describe it; raises on an undecodable file."""
    with Image.open(io.BytesIO(data)) as image:
        info = ImageInfo(  # before decoding: a TIFF's decoder turns it upright and drops the tag
            width=image.width, height=image.height, mode=image.mode, format=image.format,
            exif_rotated=image.getexif().get(EXIF_ORIENTATION, 1) not in (1, None),
        )
        to_rgb(image)  # the full decode and conversion training does
    return info
