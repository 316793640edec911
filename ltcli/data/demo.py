"""The bundled demo: scikit-learn's real handwritten digits, written as a long-tailed image folder.

scikit-learn ships the 1,797 8x8 digit scans inside its wheel, so the demo needs no download.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from ltcli.data.longtail import long_tail_counts
from ltcli.errors import LtcliError

DEMO_NAME = "digits-lt"


def demo_counts(imbalance_factor: float = 10.0, profile: str = "exp") -> list[int]:
    """Images kept per digit 0..9: the head is the smallest class's full size (174)."""
    from sklearn.datasets import load_digits

    available = np.bincount(load_digits().target, minlength=10)
    return long_tail_counts(int(available.min()), 10, imbalance_factor, profile)


def write_demo_dataset(
    destination: Path, imbalance_factor: float = 10.0, profile: str = "exp", force: bool = False
) -> dict[str, int]:
    """Write `destination/<digit>/<index>.png`; digit d keeps its first n_d images in dataset order.

    Deterministic: the same arguments always give byte-identical files.
    """
    from sklearn.datasets import load_digits

    if destination.exists() and any(destination.iterdir()) and not force:
        raise FileExistsError(destination)
    if imbalance_factor < 1:
        raise LtcliError(f"imbalance factor must be >= 1, got {imbalance_factor}")
    digits = load_digits()
    counts = demo_counts(imbalance_factor, profile)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    written: dict[str, int] = {}
    try:
        for digit, count in enumerate(counts):
            class_dir = staging / str(digit)
            class_dir.mkdir()
            indices = np.flatnonzero(digits.target == digit)[:count]
            for index in indices:
                pixels = np.rint(digits.images[index] * (255.0 / 16.0)).astype(np.uint8)
                Image.fromarray(pixels, mode="L").save(class_dir / f"{index:04d}.png")
            written[str(digit)] = int(count)
        if destination.exists():
            shutil.rmtree(destination)
        staging.rename(destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return written
