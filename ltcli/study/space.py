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

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from ltcli.config import TrainConfig
from ltcli.errors import LtcliError, shown
from ltcli.study.parameters import Checker, Parameter, check_objective_options, read_parameter
from ltcli.study.spec import check_known

SEARCH_KEYS = ("parameters", "trials", "budget", "metric", "sampler", "pruner", "seed")
SAMPLERS = ("tpe", "random", "grid")
PRUNER_OPTIONS = {"median": ("startup_trials", "warmup_epochs"), "hyperband": ("min_epochs", "reduction_factor"),
                  "none": ()}
DEFAULT_METRIC = "balanced_acc"
MOVABLE = ("logs_dir", "datasets_dir", "workers", "threads", "device")  # may change between runs of one study
DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


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
    check_known(section, SEARCH_KEYS, f"{where}: search: ")
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
