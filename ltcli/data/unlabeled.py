"""Unlabeled images for semi-supervised training: the one place a source of them is read.

A source is a folder of images, searched recursively (class subfolders are fine: their names are
ignored; hidden files are skipped as everywhere). Another kind of source (a list file of image
paths, `--data LISTS`) plugs in here: `unlabeled_images` is all the pseudo-labelling reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ltcli.data.files import collect_images
from ltcli.errors import LtcliError


@dataclass
class UnlabeledImages:
    """The readable images of a source, in a stable (sorted) order, and those that do not decode."""

    images: list[Path]
    corrupt: list[Path]


def unlabeled_images(source: str | Path, dataset_root: Path | None = None) -> UnlabeledImages:
    """Every decodable image under `source`. With `dataset_root`, a source inside the labelled dataset
    (or holding it) is refused: its validation and test images must stay unseen in training."""
    folder = Path(source).resolve()
    if not folder.is_dir():
        raise LtcliError(f"--unlabeled folder not found: {source}")
    if dataset_root is not None:
        root = dataset_root.resolve()
        if folder == root or root in folder.parents or folder in root.parents:
            raise LtcliError(f"--unlabeled {folder} overlaps the dataset {root}: its validation and test images "
                             "must stay unseen, and its training images are labelled already")
    try:
        found = collect_images([folder])
    except LtcliError:
        raise LtcliError(f"--unlabeled {folder} holds no readable image") from None
    return UnlabeledImages(images=list(found.images), corrupt=list(found.corrupt))
