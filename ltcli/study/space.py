"""A study's `search:` section: the space Optuna searches instead of a grid, checked whole before
anything runs (one-line LtcliError naming the parameter).

    search:
      trials: 20                     # finished (complete or pruned) trials the study holds in the end
      budget: 30m                    # optional: stop starting trials after this long (s, m, h, d)
      metric: balanced_acc           # any --select-metric column, on valid (it also picks each run's best epoch)
      sampler: tpe                   # tpe (default), random, or grid (choices only; run in the file's order)
      pruner: median                 # median (default), hyperband or none; or {name: median, startup_trials: 2}
      seed: 0
      parameters:
        lr: {low: 0.01, high: 0.5, log: true}        # any train option: a range (step: optional) ...
        train_rule: {choices: [None, DRW]}            # ... or choices
        opt.tau: {low: 0.5, high: 2.0}                # an objective option (set where the objective takes it)
        method:                                       # named rows of several options, as a grid's
          choices: {ERM: {objective: ERM}, LDAM-DRW: {objective: LDAM, train_rule: DRW}}

A trial's options are the study's `train:`, then its row's options, then its parameters' values.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from ltcli.config import TrainConfig
from ltcli.config_file import config_values, key_names, objective_aliases, suggestion
from ltcli.errors import LtcliError, shown
from ltcli.settings import field_choices

SEARCH_KEYS = ("parameters", "trials", "budget", "metric", "sampler", "pruner", "seed")
SAMPLERS = ("tpe", "random", "grid")
PRUNER_OPTIONS = {"median": ("startup_trials", "warmup_epochs"), "hyperband": ("min_epochs", "reduction_factor"),
                  "none": ()}
OPT_PREFIX = "opt."
# Where a run's data, files and device come from, and what the search itself sets: not searched.
NOT_SEARCHED = ("dataset", "data", "data_root", "datasets_dir", "logs_dir", "device", "workers", "threads",
                "select_metric", "init_from", "weights", "recipe", "name", "positive_classes", "unlabeled",
                "pseudo_labels_from")
DEFAULT_METRIC = "balanced_acc"
MOVABLE = ("logs_dir", "datasets_dir", "workers", "threads", "device")  # may change between runs of one study
DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


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


@dataclass(frozen=True)
class SearchSpec:
    parameters: tuple[Parameter, ...]
    trials: int | None  # None: until the budget is spent
    budget_s: float | None
    metric: str
    sampler: str
    pruner: str
    pruner_options: dict[str, int]
    seed: int

    @property
    def direction(self) -> str:
        from ltcli.metrics import LOWER_IS_BETTER

        return "minimize" if self.metric in LOWER_IS_BETTER else "maximize"

    def distributions(self) -> dict[str, Any]:
        return {p.name: p.distribution() for p in self.parameters}

    def fingerprint(self, train: dict[str, Any], split: dict[str, Any] | None) -> str:
        """What a study name's trials were searched under: the parameters, the metric and the fixed
        options. A rerun with another fingerprint would mix incomparable trials, so it is refused."""
        fixed = {k: v for k, v in train.items() if k not in MOVABLE}
        record = {"parameters": [p.record() for p in self.parameters], "metric": self.metric,
                  "train": fixed, "split": split}
        return json.dumps(record, sort_keys=True, default=str)


def parse_budget(value: Any, where: str) -> float | None:
    """'30m', '2h', '1h30m', '90s' -> seconds; None when not given; 0 or a bare number refused."""
    if value is None:
        return None
    text = str(value).strip().replace(" ", "")
    parts = DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise LtcliError(f"{where}: search: budget takes a duration such as 30m, 2h or 1h30m, got {shown(value)}")
    seconds = sum(float(number) * SECONDS[unit] for number, unit in parts)
    if seconds <= 0:
        raise LtcliError(f"{where}: search: budget must be above 0 (e.g. 30m), got {shown(value)}")
    return seconds


def read_search(section: Any, where: str, train: dict[str, Any], split: dict[str, Any] | None) -> SearchSpec:
    """The `search:` section, every parameter checked against the study's `train:` (field names)."""
    if not isinstance(section, dict):
        raise LtcliError(f"{where}: `search:` must be a mapping (parameters, trials, ...), got {shown(section)}")
    for key in section:
        if key not in SEARCH_KEYS:
            raise LtcliError(f"{where}: search: unknown key {str(key)!r}{suggestion(str(key), list(SEARCH_KEYS))}: "
                             f"the keys are {', '.join(SEARCH_KEYS)}")
    given = section.get("parameters")
    if not isinstance(given, dict) or not given:
        raise LtcliError(f"{where}: search: `parameters:` must map options to ranges or choices, e.g. "
                         "`lr: {low: 0.01, high: 0.5, log: true}`")
    metric = str(section.get("metric", train.get("select_metric", DEFAULT_METRIC)))
    check = Checker(where, train, split)
    check.options({"select_metric": metric}, "metric")
    parameters = tuple(read_parameter(str(name), spec, check) for name, spec in given.items())
    check_objective_options(where, parameters, train)
    sampler = str(section.get("sampler", "tpe"))
    if sampler not in SAMPLERS:
        raise LtcliError(f"{where}: search: unknown sampler {sampler!r}: choose one of {', '.join(SAMPLERS)}")
    ranges = [p.name for p in parameters if p.kind != "choice"]
    if sampler == "grid" and ranges:
        raise LtcliError(f"{where}: search: sampler grid needs choices for every parameter; {ranges[0]!r} is a range")
    budget = parse_budget(section.get("budget"), where)
    trials = whole(section.get("trials"), "trials", where, low=1)
    if sampler == "grid":
        points = math.prod(len(p.choices) for p in parameters)
        if trials is not None and trials > points:
            raise LtcliError(f"{where}: search: sampler grid has {points} points: trials must be at most {points}")
        trials = trials or points
    if trials is None and budget is None:
        raise LtcliError(f"{where}: search: give `trials:` (how many), a `budget:` (e.g. 30m), or both")
    pruner, pruner_options = read_pruner(section.get("pruner", "median"), where)
    seed = whole(section.get("seed", 0), "seed", where, low=0)
    return SearchSpec(parameters, trials, budget, metric, sampler, pruner, pruner_options, seed or 0)


def whole(value: Any, key: str, where: str, low: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise LtcliError(f"{where}: search: {key} must be a whole number of at least {low}, got {shown(value)}")
    return value


def read_pruner(value: Any, where: str) -> tuple[str, dict[str, int]]:
    options = dict(value) if isinstance(value, dict) else {"name": value}
    name = str(options.pop("name", "median"))
    if name not in PRUNER_OPTIONS:
        raise LtcliError(f"{where}: search: unknown pruner {name!r}: choose one of {', '.join(PRUNER_OPTIONS)}")
    for key, number in options.items():
        if key not in PRUNER_OPTIONS[name]:
            takes = ", ".join(PRUNER_OPTIONS[name]) or "no options"
            raise LtcliError(f"{where}: search: pruner {name} does not take {key!r} (it takes {takes})")
        whole(number, f"pruner {key}", where, low=1 if key == "min_epochs" or key == "reduction_factor" else 0)
    return name, options


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


def field_kind(field: str) -> str:
    kind = str(next(f.type for f in dataclasses.fields(TrainConfig) if f.name == field)).replace(" | None", "")
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
    if field is None:
        return None
    return field_choices(next(f for f in dataclasses.fields(TrainConfig) if f.name == field), offered=True)


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
    for end in (low, high):
        changes = {field: end} if field is not None else {}
        if changes:
            check.options(changes, f"parameter {name!r} at {end}")
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


def trial_options(train: dict[str, Any], parameters: tuple[Parameter, ...], params: dict[str, Any]) -> dict[str, Any]:
    """A trial's train options (field names): the study's, its rows', then its values; an objective
    option only where the trial's objective takes it."""
    from ltcli.objectives import get_objective_entry

    given = dict(train)
    options = dict(train.get("objective_options", {}))
    for p in parameters:
        if p.rows:
            row = dict(p.rows[params[p.name]])
            if "objective_options" in row:
                options = dict(row.pop("objective_options"))
            given.update(row)
    given.update({p.field: params[p.name] for p in parameters if p.field is not None})
    takes = get_objective_entry(str(given.get("objective", TrainConfig.objective))).options
    options.update({p.option: params[p.name] for p in parameters if p.option is not None and p.option in takes})
    given["objective_options"] = options
    return given

