"""Long-tailed benchmark profiles: per-class counts, and which training images each class keeps."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ltcli.errors import LtcliError
from ltcli.settings import comma_items

PROFILES = ("exp", "step")


def check_imbalance_factor(imbalance_factor: float, flag: str = "imbalance factor") -> None:
    """Refuse nan, inf and factors below 1. nan passes every `<` check and would reach int(nan); inf
    would give every class but the head zero images."""
    if not math.isfinite(imbalance_factor):
        raise LtcliError(f"{flag} must be a finite number >= 1 (head count / tail count), got {imbalance_factor}")
    if imbalance_factor < 1:
        raise LtcliError(f"{flag} must be >= 1 (head count / tail count), got {imbalance_factor:g}")


def resolve_imbalance_factor(value: float, flag: str = "imbalance factor") -> float:
    """The imbalance factor as head count / tail count (>= 1, ltcli's and Cao et al.'s form: 100) from
    either that or its inverse, tail / head (< 1, the course app's form: 0.01 is 100)."""
    if not math.isfinite(value) or value <= 0:
        raise LtcliError(f"{flag} must be a finite number above 0: head count / tail count (e.g. 100) or "
                         f"tail / head (e.g. 0.01), got {value:g}")
    return 1.0 / value if value < 1 else float(value)


def long_tail_counts(n_max: int, num_classes: int, imbalance_factor: float, profile: str = "exp") -> list[int]:
    """Counts for class index 0..C-1, head first.

    exp (Cao et al. 2019): n_i = int(n_max * (1/F)^(i/(C-1))).
    step (Buda et al. 2018): the first half of the classes keep n_max, the rest int(n_max/F).
    """
    if num_classes < 1:
        raise LtcliError("a long tail needs at least one class")
    check_imbalance_factor(imbalance_factor)
    if profile == "exp":
        if num_classes == 1:
            return [n_max]
        return [int(n_max * (1.0 / imbalance_factor) ** (i / (num_classes - 1))) for i in range(num_classes)]
    if profile == "step":
        head = num_classes // 2
        return [n_max if i < head else int(n_max / imbalance_factor) for i in range(num_classes)]
    raise LtcliError(f"unknown long-tail profile {profile!r}: choose one of {', '.join(PROFILES)}")


def parse_class_order(text: str | Sequence[str] | None, class_names: Sequence[str]) -> list[str]:
    """Head-to-tail class order: the sorted class names, or the full permutation that
    `--class-order a,b,c` gives (every class exactly once, so no class is silently dropped)."""
    if text is None:
        return sorted(class_names)
    order = comma_items(text)
    unknown = [name for name in order if name not in class_names]
    missing = [name for name in sorted(class_names) if name not in order]
    repeated = sorted({name for name in order if order.count(name) > 1})
    problems = [
        f"unknown {', '.join(map(repr, unknown))}" if unknown else "",
        f"missing {', '.join(map(repr, missing))}" if missing else "",
        f"repeated {', '.join(map(repr, repeated))}" if repeated else "",
    ]
    if any(problems):
        raise LtcliError(
            f"--class-order must name each of the {len(class_names)} classes once: "
            + "; ".join(p for p in problems if p)
        )
    return order


def largest_imbalance_factor(n_max: int, num_classes: int, profile: str = "exp") -> float:
    """The largest imbalance factor that leaves every class at least one image.

    The tail keeps int(n_max / F) (both profiles), so that is n_max, except where floating point
    rounds n_max * (1 / n_max) down to 0.99... (n_max 49, for one): then a hair less, shown as n_max - 0.01.
    """
    if min(long_tail_counts(n_max, num_classes, float(n_max), profile)) >= 1:
        return float(n_max)
    return n_max - 0.01


def largest_feasible_n_max(available: Sequence[int], imbalance_factor: float, profile: str) -> int:
    """The largest n_max whose profile every class (in order) can supply; 0 if none can.

    Each target int(n_max * r_i) grows with n_max, so feasibility is monotone: bisect it.
    """
    def fits(n_max: int) -> bool:
        targets = long_tail_counts(n_max, len(available), imbalance_factor, profile)
        return all(t <= a for t, a in zip(targets, available, strict=True))

    low, high = 0, max(available, default=0)
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


@dataclass
class LongTailPlan:
    """How many training images each class keeps, and the numbers that decided it."""

    profile: str
    imbalance_factor: float
    n_max: int
    class_order: list[str]
    available: dict[str, int]
    targets: dict[str, int]

    def to_dict(self) -> dict:
        return asdict(self)


def plan_long_tail(
    available: dict[str, int],
    imbalance_factor: float,
    profile: str = "exp",
    class_order: Sequence[str] | None = None,
    n_max: int | None = None,
) -> LongTailPlan:
    """Targets for each class from its position in `class_order` (head first).

    n_max defaults to the largest available count: on balanced data (the usual source of a
    benchmark such as CIFAR-10-LT) the head class keeps every image, as in Cao et al. 2019.
    A class with fewer images than its target is an error, never a silently shorter tail.
    """
    order = list(class_order) if class_order is not None else sorted(available)
    if n_max is None:
        n_max = max(available.values())
    if n_max < 1:
        raise LtcliError(f"--n-max must be at least 1, got {n_max}")
    counts = long_tail_counts(n_max, len(order), imbalance_factor, profile)
    targets = dict(zip(order, counts, strict=True))
    empty = [name for name, count in targets.items() if count < 1]
    if empty:
        raise LtcliError(
            f"the {profile} profile with n_max {n_max} and imbalance factor {imbalance_factor:g} leaves "
            f"{', '.join(map(repr, empty))} no image: lower --imbalance-factor to "
            f"{largest_imbalance_factor(n_max, len(order), profile):g} or less, or raise --n-max"
        )
    for position, name in enumerate(order):
        if available[name] < targets[name]:
            feasible = largest_feasible_n_max([available[c] for c in order], imbalance_factor, profile)
            raise LtcliError(
                f"class {name!r} (position {position + 1} of the class order) has {available[name]} training "
                f"image(s) but the {profile} profile with imbalance factor {imbalance_factor:g} and n_max {n_max} "
                f"needs {targets[name]}: pass --n-max {feasible} or less, lower --imbalance-factor, "
                "or reorder the classes with --class-order"
            )
    return LongTailPlan(profile, float(imbalance_factor), n_max, order, dict(available), targets)


def subsample(files: Sequence[Path], count: int, seed: int, class_name: str) -> list[Path]:
    """`count` of `files`, chosen by a generator seeded per class so that one class's choice does
    not depend on the other classes; returned sorted."""
    return sorted(random.Random(f"{seed}:long-tail:{class_name}").sample(sorted(files), count))
