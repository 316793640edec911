"""Every image file becomes the same kind of RGB picture: modes, bit depths, transparency, EXIF."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ltcli.data.images import inspect_image_bytes, load_rgb

RNG = np.random.default_rng(0)
BASE = RNG.integers(0, 256, (10, 14, 3), dtype=np.uint8)  # height 10, width 14: orientation shows


def save(image: Image.Image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


@pytest.mark.parametrize(
    ("mode", "suffix", "expected"),
    [
        ("RGB", ".png", lambda rgb: rgb),
        # L is ITU-R 601 luma, so R = G = B = L
        ("L", ".png", lambda rgb: np.repeat(np.asarray(Image.fromarray(rgb).convert("L"))[..., None], 3, 2)),
        # PIL's RGB -> CMYK is C = 255 - R (K = 0), which CMYK -> RGB inverts exactly
        ("CMYK", ".tif", lambda rgb: rgb),
        ("RGBA", ".png", lambda rgb: rgb),  # fully opaque
        ("1", ".png", lambda rgb: np.repeat(
            np.asarray(Image.fromarray(rgb).convert("1"), dtype=np.uint8)[..., None] * 255, 3, 2)),
    ],
)
def test_modes_load_as_the_same_rgb(tmp_path, mode, suffix, expected):
    path = save(Image.fromarray(BASE).convert(mode), tmp_path / f"image{suffix}")
    assert Image.open(path).mode == mode
    image = load_rgb(path)
    assert image.mode == "RGB" and image.size == (14, 10)
    np.testing.assert_array_equal(np.asarray(image), expected(BASE))


def test_palette_image_loads_its_palette_colours(tmp_path):
    palette = np.array([[255, 0, 0], [0, 128, 255], [20, 200, 20]], dtype=np.uint8)
    indices = RNG.integers(0, 3, (10, 14), dtype=np.uint8)
    image = Image.fromarray(indices, "P")
    image.putpalette(palette.flatten().tolist())
    path = save(image, tmp_path / "palette.png")
    assert Image.open(path).mode == "P"
    np.testing.assert_array_equal(np.asarray(load_rgb(path)), palette[indices])


def test_transparency_is_composited_on_white(tmp_path):
    rgba = np.dstack([BASE, np.zeros((10, 14), np.uint8)])
    rgba[:5, :, 3] = 255  # top half opaque, bottom half fully transparent
    path = save(Image.fromarray(rgba, "RGBA"), tmp_path / "half.png")
    pixels = np.asarray(load_rgb(path))
    np.testing.assert_array_equal(pixels[:5], BASE[:5])
    assert (pixels[5:] == 255).all()  # white, not the black a bare convert("RGB") gives
    la = Image.fromarray(rgba, "RGBA").convert("LA")
    assert (np.asarray(load_rgb(save(la, tmp_path / "la.png")))[5:] == 255).all()


def test_palette_with_a_transparent_index_is_composited_on_white(tmp_path):
    indices = np.zeros((4, 4), np.uint8)
    indices[:2] = 1
    image = Image.fromarray(indices, "P")
    image.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    path = save(image, tmp_path / "gif.png", transparency=0)
    pixels = np.asarray(load_rgb(path))
    assert (pixels[:2] == [200, 10, 10]).all() and (pixels[2:] == 255).all()


def test_sixteen_bit_grayscale_is_rescaled_not_clipped(tmp_path):
    values = np.linspace(0, 65535, 10 * 14).reshape(10, 14).astype(np.uint16)
    path = save(Image.fromarray(values), tmp_path / "deep.png")
    assert Image.open(path).mode.startswith("I")
    pixels = np.asarray(load_rgb(path))
    expected = np.rint(values / 257.0).astype(np.uint8)  # 65535 -> 255, 0 -> 0, linear between
    np.testing.assert_array_equal(pixels[..., 0], expected)
    assert (pixels[..., 0] == pixels[..., 2]).all()


@pytest.mark.parametrize(
    ("orientation", "stored_as"),
    # The tag says how to turn the stored pixels upright; we store BASE turned the other way.
    [(3, Image.Transpose.ROTATE_180), (6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270),
     (2, Image.Transpose.FLIP_LEFT_RIGHT)],
)
def test_exif_orientation_is_applied(tmp_path, orientation, stored_as):
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = save(Image.fromarray(BASE).transpose(stored_as), tmp_path / "phone.png", exif=exif)
    np.testing.assert_array_equal(np.asarray(load_rgb(path)), BASE)
    assert inspect_image_bytes(path.read_bytes()).exif_rotated


@pytest.mark.parametrize("suffix", [".jpg", ".tif", ".webp"])
def test_exif_orientation_is_applied_in_other_formats(tmp_path, suffix):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned 90 degrees counter-clockwise: shown turned 270 back
    options = {"quality": 95} if suffix == ".jpg" else {"lossless": True} if suffix == ".webp" else {}
    path = save(Image.fromarray(BASE).transpose(Image.Transpose.ROTATE_90), tmp_path / f"a{suffix}", exif=exif,
                **options)
    if suffix == ".jpg":  # lossy: the upright stored pixels, turned clockwise by hand
        with Image.open(path) as image:
            expected = np.rot90(np.asarray(image.convert("RGB")), k=-1)
    else:  # lossless (a TIFF's orientation is its own tag, not an EXIF block)
        expected = BASE
    np.testing.assert_array_equal(np.asarray(load_rgb(path)), expected)
    assert load_rgb(path).size == (14, 10) and inspect_image_bytes(path.read_bytes()).exif_rotated


def test_xmp_orientation_is_applied_and_files_without_metadata_are_not_parsed(tmp_path, monkeypatch):
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="3"/></rdf:RDF></x:xmpmeta>')
    rotated = save(Image.fromarray(BASE).transpose(Image.Transpose.ROTATE_180), tmp_path / "xmp.jpg", xmp=xmp)
    with Image.open(rotated) as image:
        assert "xmp" in image.info and "exif" not in image.info
        stored = np.asarray(image.convert("RGB"))
    np.testing.assert_array_equal(np.asarray(load_rgb(rotated)), stored[::-1, ::-1])  # turned 180 degrees
    plain = save(Image.fromarray(BASE), tmp_path / "plain.jpg", quality=95)
    parsed = []
    original = Image.Image.getexif
    monkeypatch.setattr(Image.Image, "getexif", lambda self: parsed.append(1) or original(self))
    assert load_rgb(plain).size == (14, 10) and not parsed  # no EXIF or XMP: nothing parsed per image
    load_rgb(rotated)
    assert parsed


def test_inspect_reports_the_stored_image():
    buffer = io.BytesIO()
    Image.fromarray(BASE).convert("P").save(buffer, "GIF")
    info = inspect_image_bytes(buffer.getvalue())
    assert (info.width, info.height, info.mode, info.format, info.exif_rotated) == (14, 10, "P", "GIF", False)


@pytest.mark.parametrize("name", ["truncated.jpg", "zero-byte.jpg", "text-named.jpg"])
def test_undecodable_bytes_raise(tmp_path, name):
    from conftest import BAD_IMAGE_FILES

    path = tmp_path / name
    path.write_bytes(BAD_IMAGE_FILES[name]())
    with pytest.raises(Exception):  # noqa: B017 - PIL raises several types; callers catch them all
        load_rgb(path)
    with pytest.raises(Exception):  # noqa: B017
        inspect_image_bytes(path.read_bytes())
