"""Small long-tailed folders for the accuracy benchmarks (bf16_accuracy.py, schedule_budget.py).

- digits: scikit-learn's 1,797 real 8x8 digit scans (bundled in its wheel, no download). Each digit's
  first 60 scans are a balanced test/, the next 15 a balanced valid/, and of the rest digit d keeps
  round(100 * 10^(-d/9)) in train/ (exponential profile, imbalance factor 10): 409 training images.
- cifar: every `every`-th training image of each class of CIFAR-10-LT (IF 100, ../shared/data), the
  same profile at 1/`every` the size; the last 10% of each class (at least one) is valid/; test/ is
  every `test_every`-th image of the balanced test set. Symlinks only: the source is untouched.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from PIL import Image

# ../shared/data beside the checkout (a worktree sits one folder deeper: the first that exists).
CIFAR = next((p / "shared" / "data" / "cifar10-lt-if100" for p in Path(__file__).resolve().parents[2:4]
              if (p / "shared" / "data" / "cifar10-lt-if100").is_dir()),
             Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-lt-if100")


def digits(into: Path, head: int = 100, factor: float = 10.0) -> Path:
    from sklearn.datasets import load_digits

    data = load_digits()
    for digit in range(10):
        scans = data.images[data.target == digit]
        keep = round(head * factor ** (-digit / 9))
        parts = {"test": scans[:60], "valid": scans[60:75], "train": scans[75:75 + keep]}
        for split, chosen in parts.items():
            folder = into / split / str(digit)
            folder.mkdir(parents=True)
            for index, scan in enumerate(chosen):
                pixels = np.round(scan * 255 / 16).astype(np.uint8)  # 0..16 grey levels -> 0..255
                Image.fromarray(pixels, "L").convert("RGB").save(folder / f"{index:03d}.png")
    return into


def cifar(into: Path, every: int, test_every: int, source: Path = CIFAR) -> Path:
    for class_dir in sorted((source / "train").iterdir()):
        images = sorted(class_dir.iterdir())[::every]
        held = max(1, round(0.1 * len(images)))
        for split, chosen in (("train", images[:-held]), ("valid", images[-held:])):
            link_all(chosen, into / split / class_dir.name)
    for class_dir in sorted((source / "test").iterdir()):
        link_all(sorted(class_dir.iterdir())[::test_every], into / "test" / class_dir.name)
    return into


def link_all(images: list[Path], folder: Path) -> None:
    folder.mkdir(parents=True)
    for image in images:
        os.symlink(image.resolve(), folder / image.name)


def counts(root: Path, split: str) -> int:
    return sum(1 for _ in (root / split).glob("*/*"))


def load() -> str:
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


def at_least_one(text: str) -> int:
    """argparse's type for a count: 0 or below is refused (it would otherwise read as "the default")."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
