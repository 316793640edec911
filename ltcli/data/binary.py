"""Binary long-tail tasks: some classes of a folder dataset are the positive (minority) label.

This is how the TPAUC system built its tasks (its `class2id` files): every other class is negative.
"""

from __future__ import annotations

from collections.abc import Sequence

from ltcli.errors import LtcliError

BINARY_CLASS_NAMES = ["negative", "positive"]


def parse_positive_classes(text: str | Sequence[str], class_names: Sequence[str]) -> list[str]:
    """The positive class names, checked against the dataset's classes, in dataset order."""
    wanted = [c.strip() for c in (text.split(",") if isinstance(text, str) else text) if c.strip()]
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

