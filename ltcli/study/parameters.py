"""One searched parameter of a study's `search:` (ltcli.study.space): read and checked against the
study's `train:` options, each value building the TrainConfig a trial would, so a value no run could
train with is refused before anything runs (one line naming the parameter)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from ltcli.config import TrainConfig
from ltcli.config_file import config_values, key_names, objective_aliases, suggestion
from ltcli.errors import LtcliError, shown
from ltcli.settings import field_choices

OPT_PREFIX = "opt."
# Where a run's data, files and device come from, and what the search itself sets: not searched.
NOT_SEARCHED = ("dataset", "data", "data_root", "datasets_dir", "logs_dir", "device", "workers", "threads",
                "select_metric", "init_from", "weights", "recipe", "name", "positive_classes", "unlabeled",
                "pseudo_labels_from")


@dataclass(frozen=True)
class Parameter:
    """One searched dimension. `field`: the TrainConfig field it sets; `option`: the objective option
    it sets; neither: named rows (`rows`: row name -> train options by field)."""

    name: str
    field: str | None = None
    option: str | None = None
    kind: str = "float"  # float, int or choice
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    rows: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def distribution(self):
        """The optuna distribution of this parameter."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "choice":
            return CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return FloatDistribution(float(self.low), float(self.high), log=self.log, step=self.step)

    def record(self) -> dict[str, Any]:
        """The parameter as the study fingerprints it (`SearchSpec.fingerprint`)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v not in (None, (), {}, False)}


@dataclass
class Checker:
    """Builds the TrainConfig of the study's options with some values changed: a value no run could
    train with is refused here, with the config's own one-line reason."""

    where: str
    train: dict[str, Any]
    split: dict[str, Any] | None

    def options(self, changes: dict[str, Any], what: str) -> None:
        given = {**self.train, **changes}
        if self.split is not None:
            given["data"] = "split"  # the runner sets the real folder
        try:
            TrainConfig.create(**given)
        except (LtcliError, TypeError, ValueError) as error:
            raise LtcliError(f"{self.where}: search: {what}: {error}") from None


def read_parameter(name: str, spec: Any, check: Checker) -> Parameter:
    where = check.where
    if not isinstance(spec, dict) or not ({"choices"} <= set(spec) or {"low", "high"} <= set(spec)):
        raise LtcliError(f"{where}: search: parameter {name!r} needs `choices: [...]` or `low:` and `high:`, "
                         f"got {shown(spec)}")
    unknown = set(spec) - {"choices", "low", "high", "log", "step"}
    if unknown or ("choices" in spec and len(spec) > 1):
        raise LtcliError(f"{where}: search: parameter {name!r} takes either choices or low, high, log, step; "
                         f"got {', '.join(map(str, spec))}")
    target = parameter_target(name, spec, where)
    if target is None:
        return read_rows(name, spec["choices"], check)
    field, option = target
    if "choices" in spec:
        return read_choices(name, field, option, spec["choices"], check)
    return read_range(name, field, option, spec, check)


def parameter_target(name: str, spec: dict, where: str) -> tuple[str | None, str | None] | None:
    """(field, None) for a train option, (None, option) for an objective option, None for named rows."""
    names, aliases = key_names(), objective_aliases()
    if name.startswith(OPT_PREFIX) and len(name) > len(OPT_PREFIX):
        return None, name[len(OPT_PREFIX):]
    if name in aliases:
        return None, aliases[name][1]
    if name in names:
        field = names[name]
        if field in NOT_SEARCHED or field == "objective_options":
            raise LtcliError(f"{where}: search: {name!r} cannot be searched (the study's `train:` sets it; objective "
                             f"options are searched as {OPT_PREFIX}NAME)")
        return field, None
    if isinstance(spec.get("choices"), dict):
        return None
    raise LtcliError(f"{where}: search: unknown parameter {name!r}{suggestion(name, list(names))}: a parameter "
                     f"is a train option, an objective option ({OPT_PREFIX}NAME) or named rows "
                     "(choices: {ROW: {...}})")


def train_field(name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(TrainConfig) if f.name == name)


def field_kind(field: str) -> str:
    kind = str(train_field(field).type).replace(" | None", "")
    return {"int": "int", "float": "float"}.get(kind, kind)


def read_choices(name: str, field: str | None, option: str | None, choices: Any, check: Checker) -> Parameter:
    where = check.where
    if not isinstance(choices, list) or not choices:
        raise LtcliError(f"{where}: search: parameter {name!r}: choices must be a non-empty list")
    if len({json.dumps(c, sort_keys=True, default=str) for c in choices}) < len(choices):
        raise LtcliError(f"{where}: search: parameter {name!r} repeats a choice")
    if any(not isinstance(c, str | int | float | bool) and c is not None for c in choices):
        raise LtcliError(f"{where}: search: parameter {name!r}: each choice is one value (text, number, true/false)")
    declared = declared_choices(field)
    for choice in choices:
        if declared is not None and str(choice).lower() not in {d.lower() for d in declared}:
            raise LtcliError(f"{where}: search: parameter {name!r}: choice {shown(choice)} is not one of the option's "
                             f"choices{suggestion(str(choice), list(declared))} ({', '.join(declared)})")
        if field is not None:
            check.options({field: choice}, f"parameter {name!r} choice {shown(choice)}")
    return Parameter(name, field, option, "choice", choices=tuple(choices))


def declared_choices(field: str | None) -> tuple[str, ...] | None:
    return None if field is None else field_choices(train_field(field), offered=True)


def read_range(name: str, field: str | None, option: str | None, spec: dict, check: Checker) -> Parameter:
    where = check.where
    low, high, step, log = spec["low"], spec["high"], spec.get("step"), spec.get("log", False)
    numbers = [v for v in (low, high, step) if v is not None]
    if any(isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) for v in numbers):
        raise LtcliError(f"{where}: search: parameter {name!r}: low, high and step must be numbers")
    if not isinstance(log, bool):
        raise LtcliError(f"{where}: search: parameter {name!r}: log is true or false")
    if low == high:
        raise LtcliError(f"{where}: search: parameter {name!r}: the range {low}..{high} is empty (give low < high, or "
                         "fix the option in train:)")
    if low > high:
        raise LtcliError(f"{where}: search: parameter {name!r}: the range is inverted (low {low} > high {high})")
    if log and low <= 0:
        raise LtcliError(f"{where}: search: parameter {name!r}: a log range needs low above 0, got {low}")
    if step is not None and (step <= 0 or log):
        raise LtcliError(f"{where}: search: parameter {name!r}: step must be above 0, and not with log")
    kind = field_kind(field) if field is not None else "float"
    if kind not in ("int", "float"):
        raise LtcliError(f"{where}: search: parameter {name!r} is not a number option: give choices")
    if kind == "int" and not all(isinstance(v, int) for v in numbers):
        raise LtcliError(f"{where}: search: parameter {name!r} takes whole numbers: give whole low, high and step")
    for end in (low, high) if field is not None else ():
        check.options({field: end}, f"parameter {name!r} at {end}")
    return Parameter(name, field, option, kind, low, high, log, step)


def read_rows(name: str, rows: dict, check: Checker) -> Parameter:
    from ltcli.study.spec import read_bundle

    bundle = read_bundle(name, rows, f"{check.where}: search")
    parsed = {}
    for row, options in bundle.items():
        if "objective_options" not in options and "opt" not in options and "objective" in options:
            options = {**options, "objective_options": {}}  # a row's objective brings its own options only
        values = config_values(options, f"{check.where}: search: parameter {name!r} row {row!r}")
        check.options(values, f"parameter {name!r} row {row!r}")
        parsed[row] = values
    return Parameter(name, kind="choice", choices=tuple(parsed), rows=parsed)


def objectives_of(parameters: tuple[Parameter, ...], train: dict[str, Any]) -> list[str]:
    """Every objective a trial can train with (the train's, the choices', the rows')."""
    found = [str(train.get("objective", TrainConfig.objective))]
    for p in parameters:
        if p.field == "objective":
            found += [str(c) for c in p.choices]
        found += [str(row["objective"]) for row in p.rows.values() if "objective" in row]
    return found


def check_objective_options(where: str, parameters: tuple[Parameter, ...], train: dict[str, Any]) -> None:
    from ltcli.objectives import get_objective_entry

    entries = [get_objective_entry(name) for name in dict.fromkeys(objectives_of(parameters, train))]
    for p in parameters:
        if p.option is None:
            continue
        takers = [e for e in entries if p.option in e.options]
        if not takers:
            takes = "; ".join(f"{e.name} takes {', '.join(e.options) or 'none'}" for e in entries)
            raise LtcliError(f"{where}: search: unknown parameter {p.name!r}: no objective of the search takes "
                             f"{p.option!r} ({takes})")
        for entry in takers:
            values = p.choices or (p.low, p.high)
            for value in values:
                try:
                    entry.check_values({p.option: value})
                except LtcliError as error:
                    raise LtcliError(f"{where}: search: parameter {p.name!r} at {value}: {error}") from None
