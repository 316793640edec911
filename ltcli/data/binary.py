"""Binary long-tail tasks: some classes of a folder dataset are the positive (minority) label.

This is how the TPAUC system built its tasks (its `class2id` files): every other class is negative.
`--positive-classes` takes the names, or such a class2id JSON file: an object mapping class name ->
0 (negative) or 1 (positive), at the top level or under a "class2id" key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ltcli.errors import LtcliError
from ltcli.settings import comma_items

BINARY_CLASS_NAMES = ["negative", "positive"]


def parse_positive_classes(text: str | Sequence[str], class_names: Sequence[str]) -> list[str]:
    """The positive class names, checked against the dataset's classes, in dataset order."""
    wanted = comma_items(text)
    unknown = [c for c in wanted if c not in class_names]
    if unknown:
        raise LtcliError(
            f"--positive-classes names unknown class(es) {', '.join(unknown)}; classes are {', '.join(class_names)}"
        )
    if not wanted or len(set(wanted)) == len(class_names):
        raise LtcliError("--positive-classes must name at least one class and leave at least one negative class")
    return [c for c in class_names if c in wanted]


class IsPositive:
    """target_transform mapping a class index to 1 (positive) or 0 (negative); picklable for workers."""

    def __init__(self, class_names: Sequence[str], positive: Sequence[str]) -> None:
        self.positive_indices = frozenset(i for i, name in enumerate(class_names) if name in set(positive))

    def __call__(self, target: int) -> int:
        return int(target in self.positive_indices)


def class2id_file(values: Sequence[str] | None) -> str | None:
    """The class2id file a --positive-classes value names (one item ending in .json), else None."""
    if values is not None and len(values) == 1 and str(values[0]).strip().lower().endswith(".json"):
        return str(values[0]).strip()
    return None


def read_class2id(path: str | Path) -> list[str]:
    """The positive class names of a class2id JSON file (class name -> 0/1, 1 = positive), in file order;
    the names are checked against the dataset later, like names typed on the command line."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LtcliError(f"--positive-classes: class2id file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LtcliError(f"--positive-classes: {path} is not a readable JSON file ({str(error).splitlines()[0]})"
                         ) from None
    mapping = document.get("class2id", document) if isinstance(document, dict) else document
    if not isinstance(mapping, dict) or not mapping:
        raise LtcliError(f"--positive-classes: {path} must hold a JSON object of class name -> 0 or 1")
    bad = [name for name, value in mapping.items() if isinstance(value, bool) or value not in (0, 1)]
    if bad:
        raise LtcliError(f"--positive-classes: in {path}, class {bad[0]!r} maps to {mapping[bad[0]]!r}; "
                         "every class maps to 0 (negative) or 1 (positive)")
    positive = [name for name, value in mapping.items() if value == 1]
    if not positive:
        raise LtcliError(f"--positive-classes: {path} maps no class to 1 (positive)")
    return positive
