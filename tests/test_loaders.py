"""Training loaders: mixed images reach the model at one size, bad files are skipped and counted,
and the files used are exactly those `ltcli stats` and `ltcli split` count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import jpeg_bytes, png_bytes, write_bad_images
from PIL import Image

from ltcli.data.folder import scan_class_folders
from ltcli.data.loaders import image_folder, make_loader, undecodable_files
from ltcli.data.stats import dataset_stats
from ltcli.data.transforms import build_transform
from ltcli.errors import LtcliError

CPU = torch.device("cpu")


def write_mixed_images(root: Path) -> int:
    """One class folder of images in every mode and several sizes; returns how many."""
    rng = np.random.default_rng(3)
    specs = [("L", (7, 13), "png"), ("P", (40, 20), "png"), ("RGBA", (12, 12), "png"), ("CMYK", (30, 9), "jpeg"),
             ("RGB", (64, 48), "jpeg"), ("I;16", (16, 16), "png"), ("1", (5, 5), "bmp"), ("LA", (9, 31), "png")]
    (root / "mixed").mkdir(parents=True)
    for index, (mode, (width, height), fmt) in enumerate(specs):
        rgb = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        image = rgb.convert("L").convert("I;16") if mode == "I;16" else rgb.convert(mode)
        image.save(root / "mixed" / f"{index}.{'jpg' if fmt == 'jpeg' else fmt}", fmt.upper())
    return len(specs)


@pytest.mark.parametrize(("height", "width", "augment"), [(16, 16, "cifar"), (24, 32, "none"), (72, 72, "timm")])
@pytest.mark.parametrize("train", [True, False])
def test_mixed_modes_and_sizes_batch_at_the_model_size(tmp_path, height, width, augment, train):
    count = write_mixed_images(tmp_path / "train")
    dataset = image_folder(tmp_path / "train", build_transform(height, width, train, augment))
    images, labels = next(iter(make_loader(dataset, 64, False, 0, CPU)))
    assert images.shape == (count, 3, height, width) and images.dtype == torch.float32
    assert labels.tolist() == [0] * count and not dataset.failed.any()


@pytest.fixture
def messy(tmp_path) -> Path:
    """A class folder root with everything the loaders must handle the way stats reports it."""
    root = tmp_path / "train"
    for name in ("cat", "dog"):
        for i in range(4):
            (root / name).mkdir(parents=True, exist_ok=True)
            (root / name / f"{i}.png").write_bytes(png_bytes(seed=i + 10 * len(name)))
    (root / "cat" / "nested" / "deeper").mkdir(parents=True)
    (root / "cat" / "nested" / "deeper" / "n.jpg").write_bytes(jpeg_bytes(seed=1))  # counts for cat
    (root / "cat" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "cat" / ".thumbs").mkdir()
    (root / "cat" / ".thumbs" / "t.png").write_bytes(png_bytes(seed=99))  # under a hidden folder: ignored
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / ".ipynb_checkpoints").mkdir()  # a hidden folder is never a class
    (root / ".ipynb_checkpoints" / "x.png").write_bytes(png_bytes(seed=5))
    (root / "dog" / "UPPER.JPG").write_bytes(jpeg_bytes(seed=2))
    return root


def test_loader_lists_what_the_scan_and_stats_count(messy):
    dataset = image_folder(messy)
    assert dataset.classes == ["cat", "dog"]
    used = sorted(Path(p).relative_to(messy).as_posix() for p, _ in dataset.samples)
    expected = sorted([f"cat/{i}.png" for i in range(4)] + ["cat/nested/deeper/n.jpg"]
                      + [f"dog/{i}.png" for i in range(4)] + ["dog/UPPER.JPG"])
    assert used == expected
    scan = scan_class_folders(messy)
    assert sorted(p.relative_to(messy).as_posix() for files in scan.images.values() for p in files) == expected
    stats = dataset_stats(messy)
    assert stats.counts == {"all": {"cat": 5, "dog": 5}}
    assert stats.non_images == ["cat/notes.txt"] and stats.nested_images == 1
    assert stats.hidden == ["cat/.DS_Store", "cat/.thumbs/t.png"]


@pytest.mark.parametrize("workers", [0, 2])
def test_undecodable_files_are_skipped_and_flagged(tmp_path, workers):
    root = tmp_path / "train"
    for name, count in (("ant", 6), ("bee", 5)):
        (root / name).mkdir(parents=True)
        for i in range(count):
            (root / name / f"good{i}.png").write_bytes(png_bytes(seed=i + 10 * count))
    # Samples 6, 7, 8 (sorted first in bee): with batch size 3 and no shuffle, batch 3 is all bad.
    bad = write_bad_images(root / "bee", prefix="a-")
    dataset = image_folder(root, build_transform(8, 8, False, "none"))
    loader = make_loader(dataset, 3, False, workers, CPU)
    labels = torch.cat([targets for _, targets in loader]).tolist()
    assert labels == [0] * 6 + [1] * 5  # every good image once, no bad one
    assert sorted(dataset.failed_paths()) == sorted(str(p) for p in bad)  # seen from worker processes too
    assert len(dataset.decoded_samples()) == 11 and len(dataset) == 14
    assert sum(1 for _ in loader) == len(loader) - 1  # the all-bad batch is left out, not crashed on


def test_undecodable_files_scan_for_strict(tmp_path):
    root = tmp_path / "train"
    (root / "ant").mkdir(parents=True)
    (root / "ant" / "ok.png").write_bytes(png_bytes())
    bad = write_bad_images(root / "ant")
    dataset = image_folder(root)
    ticks = []
    assert sorted(undecodable_files([dataset], on_file=lambda: ticks.append(1))) == sorted(str(p) for p in bad)
    assert len(ticks) == 4


def test_a_class_without_image_files_is_a_clear_error(tmp_path):
    (tmp_path / "train" / "ant").mkdir(parents=True)
    (tmp_path / "train" / "ant" / "ok.png").write_bytes(png_bytes())
    (tmp_path / "train" / "bee").mkdir()
    (tmp_path / "train" / "bee" / "readme.txt").write_text("no pictures yet")
    with pytest.raises(LtcliError, match="class 'bee' has no image files"):
        image_folder(tmp_path / "train")
