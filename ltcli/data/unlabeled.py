"""Unlabeled images for semi-supervised training: the one place a source of them is read.

A source is a folder of images, searched recursively (class subfolders are fine: their names are
ignored; hidden files are skipped as everywhere), or a `.txt` list of image paths (`path [label]`
lines as in list datasets, relative to the list's folder; labels ignored): `unlabeled_images` is all
the pseudo-labelling reads.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from ltcli.data.files import ImageList, collect_images
from ltcli.data.pool import UNLABELED_SPLIT
from ltcli.errors import LtcliError


def unlabeled_images(source: str | Path, dataset_root: Path | None = None) -> ImageList:
    """Every decodable image of `source` (a folder or a `.txt` list), in a stable (sorted) order, and those
    that do not decode. With `dataset_root`, a source
    inside the labelled dataset (or holding it), or a list naming one of its images, is refused: its
    validation and test images must stay unseen in training. The dataset's own `unlabeled/` folder
    (the pool `ltcli split --unlabeled-pool` writes) is allowed."""
    path = Path(source).resolve()
    is_list = path.is_file() and path.suffix.lower() == ".txt"
    if not (path.is_dir() or is_list):
        raise LtcliError(f"--unlabeled folder (or .txt list) not found: {source}")
    root = dataset_root.resolve() if dataset_root is not None else None
    own_pool = root is not None and (path == root / UNLABELED_SPLIT or root / UNLABELED_SPLIT in path.parents)
    if root is not None and not is_list and not own_pool and (path == root or root in path.parents
                                                              or path in root.parents):
        raise LtcliError(f"--unlabeled {path} overlaps the dataset {root}: its validation and test images "
                         "must stay unseen, and its training images are labelled already")
    try:
        found = collect_images([path])
    except LtcliError as error:
        if is_list:
            raise
        raise LtcliError(f"--unlabeled {path} holds no readable image") from error
    if root is not None and is_list:
        inside = next((p for p in [*found.images, *found.corrupt] if root in Path(p).resolve().parents
                       and root / UNLABELED_SPLIT not in Path(p).resolve().parents), None)
        if inside is not None:
            raise LtcliError(f"--unlabeled {path} names {inside}, an image of the dataset {root}: its validation "
                             "and test images must stay unseen, and its training images are labelled already")
    return found


def _size(path: Path | str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:  # a list line naming a missing file: nothing to compare
        return None


def same_bytes(candidates: Sequence[Path], dataset_files: Iterable[Path | str]) -> tuple[Path, str] | None:
    """The first candidate with the same bytes as a dataset file, and that file; else None.

    Paths alone miss a copy (`--unlabeled data_split/toy` beside the split a_datasets/toy made from it
    by copying), so contents are compared: by size first, and only files of a size both sides have are
    hashed, so a pool of other images costs a stat per file."""
    from ltcli.data.lists import file_sha256

    by_size: dict[int, list[str]] = defaultdict(list)
    for file in dataset_files:
        size = _size(file)
        if size is not None:
            by_size[size].append(str(file))
    sizes = {p: _size(p) for p in candidates}
    wanted = {size for size in sizes.values() if size in by_size}
    if not wanted:
        return None
    digests = {sha: file for size in wanted for file in by_size[size] for sha in [file_sha256(Path(file))]}
    for path, size in sizes.items():
        if size in wanted:
            match = digests.get(file_sha256(path))
            if match is not None:
                return path, match
    return None
