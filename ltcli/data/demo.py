"""The bundled demo: scikit-learn's real handwritten digits, written as a long-tailed image folder.

scikit-learn ships the 1,797 8x8 digit scans inside its wheel, so the demo needs no download.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ltcli.data.longtail import largest_imbalance_factor, long_tail_counts, resolve_imbalance_factor
from ltcli.data.staging import refuse_non_folder, remove_stale, staged
from ltcli.errors import LtcliError

DEMO_NAME = "digits-lt"


class DemoExistsError(FileExistsError):
    """The demo folder is there already and force was not given: left as it is."""


def demo_counts(imbalance_factor: float = 10.0, profile: str = "exp") -> list[int]:
    """Images kept per digit 0..9: the head is the smallest class's full size (174). The factor is
    head / tail (10) or tail / head (0.1), the same tail either way."""
    from sklearn.datasets import load_digits

    imbalance_factor = resolve_imbalance_factor(imbalance_factor, "--imbalance-factor")
    head = int(np.bincount(load_digits().target, minlength=10).min())
    counts = long_tail_counts(head, 10, imbalance_factor, profile)
    if min(counts) < 1:
        empty = [str(digit) for digit, count in enumerate(counts) if count < 1]
        raise LtcliError(
            f"--imbalance-factor {imbalance_factor:g} leaves digit(s) {', '.join(empty)} no image (the head keeps "
            f"{head}): the largest allowed is {largest_imbalance_factor(head, 10, profile):g}"
        )
    return counts


def write_demo_dataset(
    destination: Path, imbalance_factor: float = 10.0, profile: str = "exp", force: bool = False
) -> dict[str, int]:
    """Write `destination/<digit>/<index>.png`; digit d keeps its first n_d images in dataset order.

    Deterministic: the same arguments always give byte-identical files. Bad numbers are refused
    before anything is written; the folder is built beside `destination` and renamed into place
    (`ltcli.data.staging`).
    """
    from sklearn.datasets import load_digits

    counts = demo_counts(imbalance_factor, profile)
    remove_stale(destination)
    refuse_non_folder(destination)
    if destination.is_dir() and any(destination.iterdir()) and not force:
        raise DemoExistsError(destination)
    digits = load_digits()
    written: dict[str, int] = {}
    with staged(destination) as staging:
        for digit, count in enumerate(counts):
            class_dir = staging / str(digit)
            class_dir.mkdir()
            indices = np.flatnonzero(digits.target == digit)[:count]
            for index in indices:
                pixels = np.rint(digits.images[index] * (255.0 / 16.0)).astype(np.uint8)
                Image.fromarray(pixels, mode="L").save(class_dir / f"{index:04d}.png")
            written[str(digit)] = int(count)
    return written
