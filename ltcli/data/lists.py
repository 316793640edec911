"""`path label` list files (ImageNet-LT, iNaturalist 2018, Places-LT): find them, parse them into
compact arrays, and serve their images lazily.

A list of 437,513 lines (iNaturalist 2018's train list) is read in well under a second: the lines are
parsed into one bytes buffer of paths with an int64 offset array and an int32 label array, so the
index costs a few bytes per line beyond the paths themselves and no Python object per line; no image
is opened (or stat-ed) up front. An image that is missing or does not decode is met when it is
loaded, skipped and counted, as an undecodable file of a folder dataset is.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ltcli.data.images import load_rgb
from ltcli.data.list_index import ListIndex
from ltcli.data.loaders import SkipsUndecodable
from ltcli.errors import LtcliError

# Split names of ltcli (train/valid/test) and the suffixes the literature's list files use for them.
SPLIT_SUFFIXES = {"train": ("train",), "valid": ("val", "valid"), "test": ("test",)}
LIST_PATTERN = re.compile(r"^(?:(?P<name>.+)_)?(?P<suffix>train|val|valid|test)\.txt$")


@dataclass(frozen=True)
class ListFiles:
    """The list files of one dataset in a folder: split -> file, and the optional class names file."""

    folder: Path
    name: str  # the NAME of NAME_train.txt ("" for plain train.txt)
    splits: dict[str, Path]
    classes_file: Path | None


def find_lists(folder: Path) -> ListFiles | None:
    """The lists in `folder`, or None when it holds no train list. One dataset per folder: two
    different NAMEs are ambiguous and refused."""
    if not folder.is_dir():
        return None
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(folder.iterdir()):
        match = LIST_PATTERN.match(path.name)
        if match and path.is_file():
            split = next(s for s, suffixes in SPLIT_SUFFIXES.items() if match["suffix"] in suffixes)
            by_split = found.setdefault(match["name"] or "", {})
            if split in by_split:
                raise LtcliError(f"{folder} holds two {split} lists: {by_split[split].name} and {path.name}")
            by_split[split] = path
    names = [name for name, splits in found.items() if "train" in splits]
    if not names:
        return None
    if len(names) > 1:
        raise LtcliError(f"{folder} holds the lists of several datasets ({', '.join(sorted(names))}): keep one "
                         "dataset's lists per folder")
    name = names[0]
    classes = [folder / f"{name}_classes.txt" if name else None, folder / "classes.txt"]
    classes_file = next((p for p in classes if p is not None and p.is_file()), None)
    return ListFiles(folder, name, found[name], classes_file)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_class_names(path: Path) -> list[str]:
    """One name per line, the line number (from 0) being the label; blank lines are refused."""
    names = path.read_text(encoding="utf-8").splitlines()
    while names and not names[-1].strip():
        names.pop()
    for number, name in enumerate(names, 1):
        if not name.strip():
            raise LtcliError(f"{path}:{number}: empty class name (one name per label, label 0 on line 1)")
    if len(set(names)) < len(names):
        raise LtcliError(f"{path}: a class name appears twice")
    return [name.strip() for name in names]


class ListSamples(Sequence):
    """`(absolute path, label)` pairs computed on access, so `samples` costs no object per line."""

    def __init__(self, dataset: ListDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self.dataset.file_path(index), int(self.dataset.index.labels[index])

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return (self[i] for i in range(len(self)))


class ListDataset(SkipsUndecodable, Dataset):
    """The images of one list, loaded lazily: the same interface as RobustImageFolder (`samples`,
    `targets`, `classes`, `failed`, `failed_paths`, `decoded_samples`), so loaders, the skipped-file
    report and the test command treat both alike; a missing file is skipped and counted as an
    undecodable one."""

    def __init__(self, index: ListIndex, image_root: Path, class_names: Sequence[str],
                 transform: Callable | None = None, loader: Callable = load_rgb) -> None:
        self.index = index
        self.image_root = Path(image_root)
        self._prefix = str(self.image_root).rstrip("/") + "/"
        self.classes = list(class_names)
        self.transform = transform
        self.target_transform: Callable | None = None
        self.loader = loader
        self.failed = torch.zeros(len(index), dtype=torch.bool).share_memory_()

    def __len__(self) -> int:
        return len(self.index)

    @property
    def samples(self) -> ListSamples:
        return ListSamples(self)

    @property
    def targets(self) -> np.ndarray:
        return self.index.labels

    def file_path(self, index: int) -> str:
        path = self.index.path(index)
        return path if path.startswith("/") else self._prefix + path  # absolute: an --extra-unlabeled file

    def append_files(self, files: Sequence[str], labels: Sequence[int]) -> None:
        """Add image files by absolute path with their labels (an unlabeled pool, pseudo-labelled images):
        they may lie outside the image root, and are read by the path as it is."""
        encoded = [str(Path(f).resolve()).encode("utf-8") for f in files]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        offsets = np.concatenate([self.index.offsets, self.index.offsets[-1] + np.cumsum(lengths)])
        self.index = ListIndex(self.index.file, self.index.buffer + b"".join(encoded), offsets,
                               np.concatenate([self.index.labels, np.asarray(labels, dtype=np.int32)]),
                               np.concatenate([self.index.line_numbers, np.zeros(len(files), dtype=np.int32)]))
        self.failed = torch.zeros(len(self.index), dtype=torch.bool).share_memory_()

    def resolved_paths(self) -> set[str]:
        """Every listed file as an absolute, normalised path (symlinks not followed): what an unlabeled
        pool must not contain."""
        base = str(self.image_root.resolve())
        return {os.path.normpath(os.path.join(base, self.index.path(i))) for i in range(len(self))}
