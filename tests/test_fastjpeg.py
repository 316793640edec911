"""The draft JPEG loader: decodes at reduced scale only where the crop keeps its detail, and yields what
load_rgb + timm's transform yield (same crops, pixels equal up to resampling rounding)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image
from PIL.JpegImagePlugin import JpegImageFile
from timm.data.transforms import RandomResizedCropAndInterpolation

from ltcli.data.fastjpeg import DraftCropLoader, DraftResizeLoader, draft_loader, largest_reduction
from ltcli.data.images import load_rgb
from ltcli.data.transforms import build_transform


@pytest.mark.parametrize(("region", "reduction"), [
    ((1800, 1800), 8), ((1792, 1792), 8), ((1791, 1792), 4), ((900, 1000), 4), ((448, 448), 2), ((447, 900), 1),
    ((300, 300), 1),
])
def test_the_reduction_keeps_the_region_at_least_the_output(region, reduction):
    assert largest_reduction(*region, 224, 224) == reduction  # region / r >= 224 on both sides, r in 8, 4, 2, 1


def smooth_jpeg(path, width=1200, height=900):
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x / width * 255, y / height * 255, np.sin(x / 40) * 100 + 128], -1).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=95)
    return path


def test_train_crops_match_timms_transform_with_a_reduced_decode(tmp_path, monkeypatch):
    path = str(smooth_jpeg(tmp_path / "big.jpg"))
    transform = build_transform(224, 224, True, "timm")
    loader, _ = draft_loader(transform)
    assert isinstance(loader, DraftCropLoader) and loader.as_tensor  # the rest runs on tensors (tested below)
    loader = DraftCropLoader(loader.crop)  # PIL images out, to compare with timm's crop
    drafted = []
    original_draft = JpegImageFile.draft

    def spy(self, mode, size):
        drafted.append(size)
        return original_draft(self, mode, size)

    monkeypatch.setattr(JpegImageFile, "draft", spy)
    for seed in range(12):
        random.seed(seed)
        fast = loader(path)
        random.seed(seed)
        plain = transform.transforms[0](load_rgb(path))
        assert fast.size == plain.size == (224, 224)
        assert np.abs(np.asarray(fast, float) - np.asarray(plain, float)).mean() < 1.0  # of 255
    assert drafted  # some crops were big enough to decode at 1/2 or less


def test_eval_decode_keeps_the_shorter_side_and_other_files_take_the_plain_path(tmp_path):
    path = str(smooth_jpeg(tmp_path / "big.jpg"))
    transform = build_transform(224, 224, False, "timm")
    loader, same = draft_loader(transform)
    assert isinstance(loader, DraftResizeLoader) and same is transform
    assert loader(path).size == (300, 225)  # 1/4: shorter side 225 >= 224; 1/8 would give 113
    assert torch.allclose(same(loader(path)), transform(load_rgb(path)), atol=0.1)
    png = tmp_path / "small.png"
    Image.open(path).save(png)
    assert np.array_equal(np.asarray(loader(str(png))), np.asarray(load_rgb(png)))
    cifar = build_transform(32, 32, True, "cifar")
    assert draft_loader(cifar) == (load_rgb, cifar)


@pytest.mark.parametrize(("cpus", "workers"), [(None, 2), (1, 2), (2, 2), (4, 2), (6, 3), (16, 8), (64, 8)])
def test_default_workers_are_half_the_cores_from_2_to_8(cpus, workers):
    from ltcli.settings import default_workers

    assert default_workers(cpus) == workers


class DecodeSpy:
    """Counts decode_jpeg calls (the torch path) while passing them through."""

    def __init__(self, monkeypatch):
        import ltcli.data.fastjpeg as fastjpeg

        self.calls, self.original = 0, fastjpeg.decode_jpeg
        monkeypatch.setattr(fastjpeg, "decode_jpeg", self)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.original(*args, **kwargs)


def imagenet_jpeg(path, width=500, height=375, mode="RGB"):
    """An ImageNet-LT-sized JPEG with texture, so crop misplacement or a wrong resize shows."""
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([np.sin(x / 17.0) * 90, np.cos(y / 23.0) * 90, np.sin((x + y) / 31.0) * 90], -1) + 128
    pixels = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).convert(mode).save(path, quality=92)
    return str(path)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_full_scale_crops_use_decode_jpeg_and_match_pillows_crop_and_resize(tmp_path, monkeypatch, interpolation):
    path = imagenet_jpeg(tmp_path / "n01440764_10026.JPEG")
    crop = RandomResizedCropAndInterpolation(224, interpolation=interpolation)
    loader, spy = DraftCropLoader(crop), DecodeSpy(monkeypatch)
    for seed in range(8):
        random.seed(seed)
        fast = loader(path)
        random.seed(seed)
        plain = crop(load_rgb(path))  # timm's crop on Pillow's full decode, the same random draws
        assert fast.mode == "RGB" and fast.size == plain.size == (224, 224)
        diff = np.abs(np.asarray(fast, float) - np.asarray(plain, float))
        assert diff.mean() < 0.6 and diff.max() <= 8  # rounding of two implementations of one filter
    assert spy.calls == 8  # 375 px high: no crop allows a 1/2 decode, all went through decode_jpeg


def test_a_misplaced_crop_would_be_caught(tmp_path):
    """The tolerance above is tight enough: the same crop one pixel off differs by far more."""
    path = imagenet_jpeg(tmp_path / "a.JPEG")
    full = load_rgb(path)
    at = full.resize((224, 224), Image.BILINEAR, box=(40, 30, 340, 330))
    off = full.resize((224, 224), Image.BILINEAR, box=(41, 30, 341, 330))
    assert np.abs(np.asarray(at, float) - np.asarray(off, float)).mean() > 2.0


def test_exif_rotated_jpegs_come_out_upright(tmp_path, monkeypatch):
    height, width = 300, 400  # upright: landscape, red on the left, blue at the bottom
    upright = np.zeros((height, width, 3), np.uint8)
    upright[:, : width // 2, 0] = 230
    upright[height // 2 :, :, 2] = 230
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned 90 degrees the other way: viewers rotate it 270 degrees back
    path = tmp_path / "phone.jpg"
    Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90).save(path, quality=95, exif=exif)
    whole = RandomResizedCropAndInterpolation((150, 200), scale=(1.0, 1.0), ratio=(4 / 3, 4 / 3))
    spy = DecodeSpy(monkeypatch)
    out = np.asarray(DraftCropLoader(whole)(str(path)), float)
    expected = np.asarray(Image.fromarray(upright).resize((200, 150), Image.BILINEAR), float)
    assert out.shape == (150, 200, 3) and np.abs(out - expected).mean() < 3
    assert spy.calls == 0  # rotated files take the plain path: the crop is drawn on the upright image
    evaluated = np.asarray(DraftResizeLoader(150)(str(path)), float)  # upright, the transform resizes it
    assert evaluated.shape == (300, 400, 3) and np.abs(evaluated - upright).mean() < 3


def test_eval_at_full_scale_resizes_with_torch_as_the_transform_would(tmp_path, monkeypatch):
    path = imagenet_jpeg(tmp_path / "val.JPEG")
    transform = build_transform(224, 224, False, "timm")
    loader, same = draft_loader(transform)
    spy = DecodeSpy(monkeypatch)
    image = loader(path)
    assert image.size == (298, 224) and spy.calls == 1  # 500x375 -> shorter side 224, int(224 * 500 / 375) = 298
    plain = load_rgb(path).resize((298, 224), Image.BILINEAR)
    assert np.abs(np.asarray(image, float) - np.asarray(plain, float)).mean() < 0.6
    assert torch.allclose(same(image), transform(load_rgb(path)), atol=0.1)


def test_cmyk_and_truncated_jpegs_go_through_pillow(tmp_path, monkeypatch):
    from conftest import BAD_IMAGE_FILES

    crop = RandomResizedCropAndInterpolation(224)
    gray, cmyk = imagenet_jpeg(tmp_path / "gray.jpg", mode="L"), imagenet_jpeg(tmp_path / "cmyk.jpg", mode="CMYK")
    spy = DecodeSpy(monkeypatch)
    for path, torch_calls in ((gray, 1), (cmyk, 0)):  # grayscale: decode_jpeg's RGB is Pillow's; CMYK: Pillow's
        before = spy.calls
        random.seed(3)
        fast = DraftCropLoader(crop)(path)
        random.seed(3)
        plain = crop(load_rgb(path))
        assert spy.calls - before == torch_calls
        assert np.abs(np.asarray(fast, float) - np.asarray(plain, float)).mean() < 0.6
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(BAD_IMAGE_FILES["truncated.jpg"]())
    with pytest.raises(OSError, match="truncated"):  # refused by both decoders: the dataset skips and counts it
        DraftCropLoader(crop)(str(truncated))


def pil_rest(flip: float, brightness=None, contrast=None, saturation=None):
    """timm's train steps after the crop, as Pillow runs them (torchvision's PIL ColorJitter)."""
    from timm.data.transforms import MaybeToTensor
    from torchvision import transforms as T

    jitter = T.ColorJitter(brightness or 0, contrast or 0, saturation or 0)
    normalize = T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    return [T.RandomHorizontalFlip(flip), jitter, MaybeToTensor(), normalize]


@pytest.mark.parametrize("flip, jitter", [
    (1.0, {"brightness": (1.3, 1.3)}), (0.0, {"contrast": (0.7, 0.7)}), (1.0, {"saturation": (1.4, 1.4)}),
    (0.0, {"brightness": (0.8, 0.8)}), (1.0, {"contrast": (1.2, 1.2)}), (0.0, {"saturation": (0.6, 0.6)}),
])  # one jitter at a time: both libraries apply several in a random order, each op is what must agree
def test_the_tensor_rest_equals_pillows_rest_up_to_rounding(tmp_path, flip, jitter):
    """Fixed jitter factors: Pillow's chain on uint8 images and tensor_rest on float pixels differ by
    rounding only (a jitter factor off by 0.05 differs by far more: the tolerance would catch it)."""
    from torchvision.transforms.v2 import functional as F

    from ltcli.data.fastjpeg import tensor_rest

    image = load_rgb(imagenet_jpeg(tmp_path / "a.JPEG")).resize((224, 224))
    steps = pil_rest(flip, **jitter)
    fast = tensor_rest(steps)
    for given in (image, F.pil_to_tensor(image)):  # the draft path hands PIL, the decode_jpeg path a tensor
        torch.manual_seed(0)
        want = steps[3](steps[2](steps[1](steps[0](image))))
        torch.manual_seed(0)
        got = fast(given)
        assert type(got) is torch.Tensor and got.dtype == torch.float32 and got.shape == want.shape
        assert (got - want).abs().mean() < 0.01 and (got - want).abs().max() < 0.1  # ~1/255 after /std
    off = tensor_rest(pil_rest(flip, **{k: (v[0] + 0.05, v[1] + 0.05) for k, v in jitter.items()}))
    torch.manual_seed(0)
    assert (off(image) - want).abs().mean() > 0.02


def test_timms_train_recipe_keeps_tensors_and_other_recipes_keep_pillow(tmp_path):
    from torchvision import transforms as T

    from ltcli.data.fastjpeg import tensor_rest

    loader, rest = draft_loader(build_transform(224, 224, True, "timm"))
    assert loader.as_tensor and type(rest(loader(imagenet_jpeg(tmp_path / "a.JPEG")))) is torch.Tensor
    assert tensor_rest([T.RandomHorizontalFlip(), T.Grayscale(3), *pil_rest(0.5)[2:]]) is None  # an unknown step
    assert tensor_rest(pil_rest(0.5)[:2]) is None  # never made a tensor: not the train recipe
    assert tensor_rest([T.Normalize((0.5,), (0.5,))]) is None  # normalize before the conversion
    steps = build_transform(224, 224, True, "timm").transforms
    unknown = T.Compose([steps[0], T.Grayscale(3), *steps[1:]])
    loader, rest = draft_loader(unknown)
    assert not loader.as_tensor and isinstance(rest, T.Compose)
