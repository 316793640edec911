"""One registry: objective name (case-insensitive) -> Objective class, in the style of timm's."""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ltcli.errors import LtcliError, shown
from ltcli.method import Method, from_objective
from ltcli.objectives.base import Objective


@dataclass(frozen=True)
class ObjectiveEntry:
    name: str
    cls: type[Objective]
    other_names: tuple[str, ...] = ()  # names other tools give it (the course app's CE, Focal)

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.cls) or ""
        return doc.splitlines()[0] if doc else ""

    @property
    def options(self) -> dict[str, Any]:
        """Keyword options after `class_counts` with their defaults."""
        params = list(inspect.signature(self.cls.__init__).parameters.values())
        return {p.name: p.default for p in params if p.name not in ("self", "class_counts")}

    @property
    def aliases(self) -> dict[str, str]:
        """Command-line flags of the tools ltcli replaces (flag name -> option), e.g. --ccegamma."""
        return dict(self.cls.option_aliases)

    def create(self, class_counts: Sequence[int | float], **options: Any) -> Objective:
        """The objective for a training set with `class_counts` images per class."""
        return self.build(class_counts, self.check_options(options))

    def build(self, class_counts: Sequence[int | float], options: dict[str, Any]) -> Objective:
        """`create` for options already checked (`check_options`, as a run's config holds them)."""
        try:
            objective = self.cls(class_counts, **options)
        except ValueError as error:
            raise LtcliError(f"objective {self.name}: {error}") from None
        objective.options = options  # what `wrap_model` builds the network from
        return objective

    def check_values(self, options: dict[str, Any]) -> None:
        """The ranges of checked options (the class's `check_options`) and what a run cannot use of them
        (`check_run_options`), as a one-line error, building nothing."""
        try:
            self.cls.check_options(**options)
            self.cls.check_run_options(**options)
        except ValueError as error:
            raise LtcliError(f"objective {self.name}: {error}") from None

    def method(self, class_counts: Sequence[int | float], **options: Any) -> Method:
        """The objective as the run loop's `Method` record (loss, model wrapper, views)."""
        return from_objective(self.name, self.create(class_counts, **options))

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The options with their values checked against the constructor's annotations (a whole
        number where a float is wanted becomes a float), so a wrong type is a one-line error before
        anything is written instead of a TypeError mid-training."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            takes = ", ".join(self.options) or "no options"
            raise LtcliError(f"objective {self.name} does not take {', '.join(unknown)} (it takes {takes})")
        hints = typing.get_type_hints(self.cls.__init__)
        checked = {}
        for key, value in options.items():
            try:
                checked[key] = conform(value, hints.get(key, Any))
            except TypeError as error:
                raise LtcliError(f"objective {self.name}: option {key} takes {error}, got {shown(value)}") from None
        return checked


def conform(value: Any, hint: Any) -> Any:
    """`value` as type `hint` (float, int, bool, str, a Sequence of them, a union, None); TypeError
    naming what is expected otherwise. Numbers must be finite."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(hint)
        if value is None and type(None) in members:
            return None
        for member in (m for m in members if m is not type(None)):
            try:
                return conform(value, member)
            except TypeError:
                continue
        raise TypeError(" or ".join(describe(m) for m in members))
    if origin is not None and issubclass(origin, Sequence) and origin is not str:
        (item,) = typing.get_args(hint) or (Any,)
        if not isinstance(value, (list, tuple)):
            raise TypeError(describe(hint))
        return [conform(v, item) for v in value]
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise TypeError(describe(hint))


def describe(hint: Any) -> str:
    names = {float: "a finite number", int: "a whole number", bool: "true or false", str: "text",
             type(None): "null"}
    if hint in names:
        return names[hint]
    args = typing.get_args(hint)
    return f"a list of {describe(args[0]) if args else 'values'}"


_REGISTRY: dict[str, ObjectiveEntry] = {}


def register_objective(name: str, other_names: Sequence[str] = ()) -> Callable[[type[Objective]], type[Objective]]:
    """Register under `name` and, as aliases that resolve to it, `other_names` (case-insensitive)."""

    def decorate(cls: type[Objective]) -> type[Objective]:
        entry = ObjectiveEntry(name, cls, tuple(other_names))
        for key in (name.lower(), *(n.lower() for n in other_names)):
            if key in _REGISTRY:
                raise ValueError(f"objective {key!r} registered twice")
            _REGISTRY[key] = entry
        return cls

    return decorate


def get_objective_entry(name: str) -> ObjectiveEntry:
    try:
        return _REGISTRY[name.lower()]
    except KeyError:
        raise LtcliError(f"unknown objective {name!r}: choose one of {', '.join(list_objectives())}") from None


def list_objectives() -> list[str]:
    """The registered names, each once (aliases are in each entry's `other_names`)."""
    return list(dict.fromkeys(entry.name for entry in _REGISTRY.values()))


def create_objective(name: str, class_counts: Sequence[int | float], **options: Any) -> Objective:
    """Build objective `name` for a training set with `class_counts` images per class."""
    return get_objective_entry(name).create(class_counts, **options)
