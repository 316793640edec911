"""A `path label` list file parsed into a compact index (one bytes buffer of paths, int64 offsets,
int32 labels: a few bytes per line beyond the paths, no Python object per line), and the checks on its
labels against the class names (ltcli.data.lists finds the files and serves their images).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ltcli.errors import LtcliError


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


def line_error(file: Path, line: int, message: str) -> LtcliError:
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
            raise line_error(file, int(numbers[entry]) + 1, f"{what} in '{printable}': image paths are relative to the "
                        "image root (--data-root, default the lists' folder) and stay inside it")


def parse_list(file: Path, labelled: bool = True) -> ListIndex:
    """Parse `relative/path label` lines (the label after the last run of spaces or tabs; a path may
    hold spaces). Blank lines are skipped; any other line that does not parse is an error naming the
    file and line. With `labelled` False (an unlabeled pool) a line may be a bare path."""
    try:
        data = file.read_bytes()
    except OSError as error:
        raise LtcliError(f"cannot read {file}: {error.strerror or error}") from None
    # Tabs and carriage returns count as spaces. Each pass below is one C-level call per line at most.
    data = data.replace(b"\t", b" ").replace(b"\r", b" ")
    lines, numbers = _nonblank_lines(data)
    partitions = [line.rpartition(b" ") for line in lines]
    paths = [p[0] for p in partitions]  # b"" when the line has one field
    texts = [p[2] for p in partitions]
    del partitions
    if b"  " in data:  # several spaces before the label
        paths = [path.rstrip() for path in paths]
    if labelled:
        labels = _labels(file, paths, texts, numbers)
    else:  # `path` or `path label`: a trailing number is a label, and ignored
        paths = [path if path and text.isdigit() else line
                 for path, text, line in zip(paths, texts, lines, strict=True)]
        labels = np.full(len(paths), -1, dtype=np.int32)
    del texts, lines
    check_relative(file, paths, numbers)
    lengths = np.fromiter(map(len, paths), dtype=np.int64, count=len(paths))
    offsets = np.zeros(len(paths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    buffer = b"".join(paths)
    try:
        buffer.decode("utf-8")
    except UnicodeDecodeError as error:
        entry = int(np.searchsorted(offsets, error.start, side="right")) - 1
        raise line_error(file, int(numbers[entry]) + 1, "the path is not UTF-8") from None
    return ListIndex(file, buffer, offsets, labels, (numbers + 1).astype(np.int32))


def _nonblank_lines(data: bytes) -> tuple[list[bytes], np.ndarray]:
    """The stripped non-blank lines and their 0-based line numbers; the common case (single spaces,
    no blank lines, no padding) takes no per-line strip."""
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    padded = data[:1] in (b" ", b"\n") or bool(lines) and lines[-1][-1:] == b" "
    if not (padded or b"\n\n" in data or b" \n" in data or b"\n " in data):
        return lines, np.arange(len(lines))
    stripped = [line.strip() for line in lines]
    numbers = np.flatnonzero(np.fromiter(map(len, stripped), dtype=np.int64, count=len(stripped)))
    return [stripped[i] for i in numbers.tolist()], numbers


def _labels(file: Path, paths: list[bytes], texts: list[bytes], numbers: np.ndarray) -> np.ndarray:
    """The int32 labels of a labelled list; a line with one field or a label that is not a whole
    number in int32 is an error naming its line."""
    lengths = np.fromiter(map(len, paths), dtype=np.int64, count=len(paths))
    if lengths.size and not lengths.all():
        short = int(np.argmin(lengths))
        raise line_error(file, int(numbers[short]) + 1, "expected `relative/path label`, found one field")
    label_texts = np.array(texts, dtype=bytes) if texts else np.zeros(0, dtype="S1")
    is_number = np.char.isdigit(label_texts)
    if not is_number.all():
        bad = int(np.argmin(is_number))
        text = label_texts[bad].decode("utf-8", "replace")
        kind = "a negative label" if re.fullmatch(r"-\d+", text) else "a label that is not an integer"
        raise line_error(file, int(numbers[bad]) + 1, f"{kind}: {text!r} (labels are 0, 1, 2, ...)")
    too_long = np.char.str_len(label_texts) > 10 if label_texts.size else np.zeros(0, dtype=bool)
    if too_long.any():  # past int64 before the cast; past int32 anyway
        bad = int(np.argmax(too_long))
        raise line_error(file, int(numbers[bad]) + 1, f"label {label_texts[bad].decode()[:20]}... is too large")
    labels = label_texts.astype(np.int64)
    if labels.size and labels.max() > np.iinfo(np.int32).max:
        bad = int(np.argmax(labels))
        raise line_error(file, int(numbers[bad]) + 1, f"label {labels[bad]} is too large")
    return labels.astype(np.int32)


def label_names(train: ListIndex) -> list[str]:
    """The class names of lists without a classes file: the train list's labels 0..max as text.
    Every class must occur in the train list, so a label past its line count names a class that
    cannot: refused before a name per label is made (one line `x.png 300000000` would ask for 300
    million names and many GB)."""
    if len(train) == 0:
        return []
    top = int(np.argmax(train.labels))
    if int(train.labels[top]) >= len(train):
        raise line_error(train.file, int(train.line_numbers[top]),
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
        raise line_error(index.file, int(index.line_numbers[bad]),
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
