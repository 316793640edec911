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
from ltcli.errors import LtcliError

# Split names of ltcli (train/valid/test) and the suffixes the literature's list files use for them.
SPLIT_SUFFIXES = {"train": ("train",), "valid": ("val", "valid"), "test": ("test",)}
LIST_PATTERN = re.compile(r"^(?:(?P<name>.+)_)?(?P<suffix>train|val|valid|test)\.txt$")
CLASSES_PATTERN = re.compile(r"^(?:(?P<name>.+)_)?classes\.txt$")


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


@dataclass
class ListIndex:
    """A parsed list: the paths packed in one buffer (`offsets[i]:offsets[i + 1]`), labels int32."""

    file: Path
    buffer: bytes
    offsets: np.ndarray  # int64, len(labels) + 1
    labels: np.ndarray  # int32
    line_numbers: np.ndarray  # int32: the file line of each entry (blank lines are skipped)

    def __len__(self) -> int:
        return int(self.labels.size)

    def path(self, index: int) -> str:
        return self.buffer[self.offsets[index]:self.offsets[index + 1]].decode("utf-8")


def _fail(file: Path, line: int, message: str) -> LtcliError:
    return LtcliError(f"{file}:{line}: {message}")


def check_relative(file: Path, paths: list[bytes], numbers: np.ndarray) -> None:
    """Every path stays under the image root: relative, no `..` step, no NUL. A list is data, and a
    list that names /etc/passwd or ../../secret.png must not make ltcli read it (the app confines
    everything to its root; the CLI keeps to what docs/datasets.md promises: relative paths)."""
    joined = b"\n".join(paths)
    if b"\0" not in joined and b".." not in joined and not joined.startswith(b"/") and b"\n/" not in joined:
        return  # the common case: one C-level scan
    for entry, path in enumerate(paths):
        parts = path.split(b"/")
        if b"\0" in path or path.startswith(b"/") or b".." in parts:
            what = "a NUL byte" if b"\0" in path else "an absolute path" if path.startswith(b"/") else "a `..` step"
            printable = path.replace(b"\0", b"\\0").decode("utf-8", "replace")[:200]
            raise _fail(file, int(numbers[entry]) + 1, f"{what} in '{printable}': image paths are relative to the "
                        "image root (--data-root, default the lists' folder) and stay inside it")


def parse_list(file: Path, labelled: bool = True) -> ListIndex:
    """Parse `relative/path label` lines (the label after the last run of spaces or tabs; a path may
    hold spaces). Blank lines are skipped; any other line that does not parse is an error naming the
    file and line. With `labelled` False (an unlabeled pool) a line may be a bare path."""
    try:
        data = file.read_bytes()
    except OSError as error:
        raise LtcliError(f"cannot read {file}: {error.strerror or error}") from None
    # Tabs and carriage returns count as spaces; the common case (single spaces, no blank lines, no
    # padding) takes no per-line strip. Each pass below is one C-level call per line at most.
    data = data.replace(b"\t", b" ").replace(b"\r", b" ")
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    padded = data[:1] in (b" ", b"\n") or bool(lines) and lines[-1][-1:] == b" "
    if padded or b"\n\n" in data or b" \n" in data or b"\n " in data:
        stripped = [line.strip() for line in lines]
        numbers = np.flatnonzero(np.fromiter(map(len, stripped), dtype=np.int64, count=len(stripped)))
        lines = [stripped[i] for i in numbers.tolist()]
        del stripped
    else:
        numbers = np.arange(len(lines))
    partitions = [line.rpartition(b" ") for line in lines]
    paths = [p[0] for p in partitions]  # b"" when the line has one field
    texts = [p[2] for p in partitions]
    del partitions
    if b"  " in data:  # several spaces before the label
        paths = [path.rstrip() for path in paths]
    lengths = np.fromiter(map(len, paths), dtype=np.int64, count=len(paths))
    if labelled:
        if lengths.size and not lengths.all():
            short = int(np.argmin(lengths))
            raise _fail(file, int(numbers[short]) + 1, "expected `relative/path label`, found one field")
        label_texts = np.array(texts, dtype=bytes) if texts else np.zeros(0, dtype="S1")
        is_number = np.char.isdigit(label_texts)
        if not is_number.all():
            bad = int(np.argmin(is_number))
            text = label_texts[bad].decode("utf-8", "replace")
            kind = "a negative label" if re.fullmatch(r"-\d+", text) else "a label that is not an integer"
            raise _fail(file, int(numbers[bad]) + 1, f"{kind}: {text!r} (labels are 0, 1, 2, ...)")
        too_long = np.char.str_len(label_texts) > 10 if label_texts.size else np.zeros(0, dtype=bool)
        if too_long.any():  # past int64 before the cast; past int32 anyway
            bad = int(np.argmax(too_long))
            raise _fail(file, int(numbers[bad]) + 1, f"label {label_texts[bad].decode()[:20]}... is too large")
        labels = label_texts.astype(np.int64)
        if labels.size and labels.max() > np.iinfo(np.int32).max:
            bad = int(np.argmax(labels))
            raise _fail(file, int(numbers[bad]) + 1, f"label {labels[bad]} is too large")
        labels = labels.astype(np.int32)
    else:  # `path` or `path label`: a trailing number is a label, and ignored
        paths = [path if path and text.isdigit() else line
                 for path, text, line in zip(paths, texts, lines, strict=True)]
        lengths = np.fromiter(map(len, paths), dtype=np.int64, count=len(paths))
        labels = np.full(len(paths), -1, dtype=np.int32)
    del texts, lines
    check_relative(file, paths, numbers)
    offsets = np.zeros(len(paths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    buffer = b"".join(paths)
    try:
        buffer.decode("utf-8")
    except UnicodeDecodeError as error:
        entry = int(np.searchsorted(offsets, error.start, side="right")) - 1
        raise _fail(file, int(numbers[entry]) + 1, "the path is not UTF-8") from None
    return ListIndex(file, buffer, offsets, labels, (numbers + 1).astype(np.int32))


def label_names(train: ListIndex) -> list[str]:
    """The class names of lists without a classes file: the train list's labels 0..max as text.
    Every class must occur in the train list, so a label past its line count names a class that
    cannot: refused before a name per label is made (one line `x.png 300000000` would ask for 300
    million names and many GB)."""
    if len(train) == 0:
        return []
    top = int(np.argmax(train.labels))
    if int(train.labels[top]) >= len(train):
        raise _fail(train.file, int(train.line_numbers[top]),
                    f"label {int(train.labels[top])} is past the classes a {len(train)}-line train list can hold "
                    "(with no classes file the labels 0..max are the classes and each needs a train line): "
                    "number the classes 0, 1, 2, ... or add a classes.txt")
    return [str(i) for i in range(int(train.labels[top]) + 1)]


def check_labels(index: ListIndex, class_names: Sequence[str], classes_file: Path | None) -> None:
    """Every label must have a class name (from the classes file, or be below the train list's
    number of classes)."""
    if len(index) == 0:
        return
    bad = int(np.argmax(index.labels))
    if index.labels[bad] >= len(class_names):
        where = (f"{classes_file} names {len(class_names)}" if classes_file is not None
                 else f"the train list has labels 0..{len(class_names) - 1}")
        raise _fail(index.file, int(index.line_numbers[bad]),
                    f"label {index.labels[bad]} has no class name ({where})")


def check_covers(index: ListIndex, class_names: Sequence[str], split: str) -> None:
    """A split that misses a class is an error naming the class: the label set must be complete."""
    counts = np.bincount(index.labels, minlength=len(class_names))
    missing = np.flatnonzero(counts == 0)
    if missing.size:
        listed = ", ".join(f"{i} ({class_names[i]})" if class_names[i] != str(i) else str(i)
                           for i in missing[:5].tolist())
        more = f" and {missing.size - 5} more" if missing.size > 5 else ""
        raise LtcliError(f"{index.file}:1: the {split} list has no line of class {listed}{more}: every split needs "
                         "every class")


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


class ListDataset(Dataset):
    """The images of one list, loaded lazily: the same interface as RobustImageFolder (`samples`,
    `targets`, `classes`, `failed`, `failed_paths`, `decoded_samples`), so loaders, the skipped-file
    report and the test command treat both alike."""

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

    def __getitem__(self, index: int) -> tuple[Any, int] | None:
        try:
            image = self.loader(self.file_path(index))
        except Exception:  # missing or undecodable: skipped and counted, as a folder dataset's bad file
            self.failed[index] = True
            return None
        target = int(self.index.labels[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def failed_paths(self) -> list[str]:
        return [self.file_path(i) for i in torch.nonzero(self.failed).flatten().tolist()]

    def decoded_samples(self) -> list[tuple[str, int]]:
        failed = self.failed.numpy()
        return [self.samples[i] for i in np.flatnonzero(~failed).tolist()]

    def append_unlabeled(self, files: Sequence[str], label: int) -> None:
        """Add absolute image paths with one label (pre-training's unlabeled pool)."""
        self.append_files(files, [label] * len(files))

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
