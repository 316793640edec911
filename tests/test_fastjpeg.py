"""The draft JPEG loader: decodes at reduced scale only where the crop keeps its detail, and yields what
load_rgb + timm's transform yield (same crops, pixels equal up to resampling rounding)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image
from PIL.JpegImagePlugin import JpegImageFile

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
    loader, rest = draft_loader(transform)
    assert isinstance(loader, DraftCropLoader) and len(rest.transforms) == len(transform.transforms) - 1
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
