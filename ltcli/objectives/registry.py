"""One registry: objective name (case-insensitive) -> Objective class, in the style of timm's."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ltcli.errors import LtcliError
from ltcli.objectives.base import Objective


@dataclass(frozen=True)
class ObjectiveEntry:
    name: str
    cls: type[Objective]

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.cls) or ""
        return doc.splitlines()[0] if doc else ""

    @property
    def options(self) -> dict[str, Any]:
        """Keyword options after `class_counts` with their defaults."""
        params = list(inspect.signature(self.cls.__init__).parameters.values())
        return {p.name: p.default for p in params if p.name not in ("self", "class_counts")}


_REGISTRY: dict[str, ObjectiveEntry] = {}


def register_objective(name: str) -> Callable[[type[Objective]], type[Objective]]:
    def decorate(cls: type[Objective]) -> type[Objective]:
        key = name.lower()
        if key in _REGISTRY:
            raise ValueError(f"objective {name!r} registered twice")
        _REGISTRY[key] = ObjectiveEntry(name, cls)
        return cls

    return decorate


def get_objective_entry(name: str) -> ObjectiveEntry:
    try:
        return _REGISTRY[name.lower()]
    except KeyError:
        raise LtcliError(f"unknown objective {name!r}: choose one of {', '.join(list_objectives())}") from None


def list_objectives() -> list[str]:
    return [entry.name for entry in _REGISTRY.values()]


def create_objective(name: str, class_counts: Sequence[int | float], **options: Any) -> Objective:
    """Build objective `name` for a training set with `class_counts` images per class."""
    entry = get_objective_entry(name)
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        takes = ", ".join(entry.options) or "no options"
        raise LtcliError(f"objective {entry.name} does not take {', '.join(unknown)} (it takes {takes})")
    try:
        return entry.cls(class_counts, **options)
    except ValueError as error:
        raise LtcliError(f"objective {entry.name}: {error}") from None
