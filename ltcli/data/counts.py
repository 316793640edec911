"""`ltcli split --counts`: an exact number of training images per class.

The counts come in the sorted class order (`5000,5000,...,100`, with `N*K` for K classes of N:
`100*9,5000`) or by name (`cat=5000,dog=100`). By name, every class must be named: a class left
out would otherwise keep an unstated number of images, which is what `--counts` exists to avoid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ltcli.errors import LtcliError
from ltcli.settings import comma_items


def _count(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise LtcliError(f"--counts: {what} must be a whole number, got {text!r}") from None
    if value < 1:
        raise LtcliError(f"--counts: {what} must be at least 1, got {value}")
    return value


def parse_counts(text: str | Sequence[str | int], class_names: Sequence[str]) -> dict[str, int]:
    """Class name -> count from '5000,100', '100*9,5000' (sorted class order) or 'a=5000,b=100'."""
    order = sorted(class_names)
    parts = comma_items(text)
    if not parts:
        raise LtcliError("--counts needs one count per class, e.g. 5000,5000,100 or cat=5000,dog=100")
    named = [part for part in parts if "=" in part]
    if named and len(named) != len(parts):
        raise LtcliError(f"--counts: give every count as CLASS=N or none, got {text!r}")
    if named:
        counts: dict[str, int] = {}
        for part in parts:
            name, _, value = part.partition("=")
            name = name.strip()
            if name not in order:
                raise LtcliError(f"--counts names class {name!r}, which the dataset does not have "
                                 f"(classes: {', '.join(order)})")
            if name in counts:
                raise LtcliError(f"--counts names class {name!r} twice")
            counts[name] = _count(value.strip(), f"the count of {name!r}")
        missing = [name for name in order if name not in counts]
        if missing:
            raise LtcliError(f"--counts must name every class; missing: {', '.join(map(repr, missing))}")
        return {name: counts[name] for name in order}
    values: list[int] = []
    for part in parts:
        count, star, times = part.partition("*")
        repeat = _count(times.strip(), f"the repeat of {part!r}") if star else 1
        if len(values) + repeat > len(order):  # before the list is made: `1*99999999999` is a typo, not a plan
            raise LtcliError(f"--counts gives more counts than the {len(order)} classes (in sorted order: "
                             f"{', '.join(order)})")
        values.extend([_count(count.strip(), f"count {part!r}")] * repeat)
    if len(values) != len(order):
        raise LtcliError(f"--counts gives {len(values)} count(s) for {len(order)} classes (in sorted order: "
                         f"{', '.join(order)})")
    return dict(zip(order, values, strict=True))


@dataclass
class CountsPlan:
    """The exact training counts asked for, and what each class had."""

    requested: str
    available: dict[str, int]
    targets: dict[str, int]

    def to_dict(self) -> dict:
        return asdict(self)


def plan_counts(text: str | Sequence[str | int], available: dict[str, int]) -> CountsPlan:
    """Targets from `text`; a class with fewer training images than asked is an error naming it."""
    targets = parse_counts(text, list(available))
    short = [name for name in targets if available[name] < targets[name]]
    if short:
        name = short[0]
        more = f" (and {len(short) - 1} more class(es))" if len(short) > 1 else ""
        raise LtcliError(f"--counts asks {targets[name]} training images of class {name!r}, which has only "
                         f"{available[name]}{more}")
    return CountsPlan(text if isinstance(text, str) else ",".join(comma_items(text)), dict(available), targets)
