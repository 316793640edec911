"""The study file: what `ltcli study` reads, checked whole before anything runs.

    name: toy                      # the study's folder: LOGS/studies/NAME/
    split: {src: data_split/digits-lt, counts: "{n}*9,20"}   # optional: each point's data is made by split
    train: {model: resnet8, epochs: 3}                       # any `ltcli train --config` key
    grid: {n: [20, 40], seed: [0, 1]}                        # option (or {variable}) -> values
    second_stage: {recipe: crt, epochs: 2}                   # optional, from each point's first run
    test: {tau_norm: "1"}                                    # optional `ltcli test` options
    figure: {x: n, lines: classes}                           # optional

A grid key is a train option, a split option (`seed` is the train seed: vary the split's with a
variable), or a variable: a name used as `{name}` in a value of split/train/second_stage. A grid
value list may be written `{from: 100, to: 5000, step: 100}` (both ends included). A grid key that
is no option may instead map names to sets of train options, the rows of a table that differ in
more than one option: `method: {ERM: {objective: ERM}, LDAM-DRW: {objective: LDAM, train_rule: DRW}}`.

A study may give `search:` (an Optuna search, ltcli.study.space) instead of `grid:`: its trials are
then the points, and `study.points` holds the one base point (the study's split and train options).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ltcli.config import TrainConfig
from ltcli.config_file import key_names, objective_aliases, suggestion
from ltcli.data.make import SPLIT_KEYS
from ltcli.errors import LtcliError
from ltcli.evaluation import TEST_KEYS
from ltcli.study.points import Bundles, Point, resolve_point, variables_in
from ltcli.yaml_files import load_yaml

if TYPE_CHECKING:
    from ltcli.study.space import SearchSpec

TOP_KEYS = ("name", "split", "train", "grid", "search", "second_stage", "test", "figure")
FIGURE_KEYS = ("x", "lines", "metric")
FIGURE_LINES = ("classes", "groups", "metric")
SEED_KEY = "seed"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass
class Study:
    path: Path
    name: str
    grid: dict[str, list[Any]]
    points: list[Point]
    test: dict[str, Any] = field(default_factory=dict)
    figure: dict[str, Any] = field(default_factory=dict)
    search: SearchSpec | None = None

    @property
    def logs_dir(self) -> Path:
        return Path(self.points[0].train.get("logs_dir") or TrainConfig.logs_dir)

    @property
    def folder(self) -> Path:
        return self.logs_dir / "studies" / self.name


def read_study(path: Path) -> Study:
    """The study of `path`, every point's options checked (one-line LtcliError naming the key)."""
    document = load_yaml(path)
    where = str(path)
    check_known(document, TOP_KEYS, f"{where}: ")
    name = document.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise LtcliError(f"{where}: `name:` must be a folder name (letters, digits, . _ -), got {name!r}")
    train = mapping(document, "train", where, required=True)
    split = mapping(document, "split", where) if "split" in document else None
    second = mapping(document, "second_stage", where) if "second_stage" in document else None
    test = mapping(document, "test", where)
    figure = mapping(document, "figure", where)
    if "search" in document:
        return read_search_study(document, Path(path), name, train, split, second, test, figure)
    grid, bundles = read_grid(document.get("grid"), where)
    check_keys(where, train, split, second, test, figure, grid, bundles)
    total = math.prod(len(values) for values in grid.values())
    if total > MAX_POINTS:
        raise LtcliError(f"{where}: the grid has {total} points; a study has at most {MAX_POINTS}")
    points = [resolve_point(where, dict(zip(grid, combo, strict=True)), train, split, second, bundles)
              for combo in itertools.product(*grid.values())]
    if len({p.id for p in points}) < len(points):
        raise LtcliError(f"{where}: two grid points share a folder name: give distinct grid values")
    study = Study(Path(path), name, grid, points, test, figure)
    check_figure(where, study)
    return study


def read_search_study(document: dict, path: Path, name: str, train: dict, split: dict | None, second: dict | None,
                      test: dict, figure: dict) -> Study:
    """A study that searches (`search:`) instead of running a grid: one base point, the search's space."""
    from ltcli.study.space import read_search

    where = str(path)
    for key, present in (("grid", "grid" in document), ("second_stage", second is not None), ("figure", figure)):
        if present:
            raise LtcliError(f"{where}: `{key}:` does not go with `search:` (a search's trials are its points; it "
                             "draws its own figures)")
    check_keys(where, train, split, None, test, figure, {}, {})
    point = resolve_point(where, {}, train, split, None)
    return Study(path, name, {}, [point], test, figure, read_search(document["search"], where, point.train, split))


def mapping(document: dict, key: str, where: str, required: bool = False) -> dict[str, Any]:
    value = document.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise LtcliError(f"{where}: `{key}:` must be a mapping of options (`{key}: {{option: value}}`), "
                         f"got {value!r}")
    return {str(k).replace("-", "_") if key in ("split", "test", "figure") else str(k): v for k, v in value.items()}


MAX_POINTS = 10_000  # each point is a training run: more is a typo, and its list alone could fill memory


def read_bundle(key: str, rows: dict, where: str) -> dict[str, dict[str, Any]]:
    """A grid key's named rows, each a mapping of train options (checked with the point)."""
    bundle = {}
    for name, options in rows.items():
        if not isinstance(options, dict) or not options:
            raise LtcliError(f"{where}: grid {key!r}: row {name!r} must map train options to values, e.g. "
                             f"`{name}: {{objective: ERM}}`")
        bundle[str(name)] = {str(k): v for k, v in options.items()}
    return bundle


def read_grid(value: Any, where: str) -> tuple[dict[str, list[Any]], Bundles]:
    if not isinstance(value, dict) or not value:
        raise LtcliError(f"{where}: `grid:` must map options to lists of values, e.g. "
                         "`grid: {objective: [ERM, BSCE], seed: [0, 1]}`; it is empty or missing")
    grid: dict[str, list[Any]] = {}
    bundles: Bundles = {}
    for key, values in value.items():
        if isinstance(values, dict) and values and set(values) != {"from", "to", "step"}:
            bundles[str(key)] = read_bundle(str(key), values, where)
            grid[str(key)] = list(bundles[str(key)])
            continue
        if isinstance(values, dict) and set(values) == {"from", "to", "step"}:
            values = grid_range(values, f"{where}: grid {key!r}")
        if not isinstance(values, list) or not values:
            raise LtcliError(f"{where}: grid {key!r} must be a non-empty list of values (or from/to/step)")
        if len({json.dumps(v, sort_keys=True) for v in values}) < len(values):
            raise LtcliError(f"{where}: grid {key!r} repeats a value")
        grid[str(key)] = values
    return grid, bundles


def grid_range(values: dict[str, Any], where: str) -> list[Any]:
    """`{from, to, step}` as its values, both ends included; a negative step counts down (`{from: 4900,
    to: 100, step: -100}`, the papers' descending sweeps). nan, inf and a step away from `to` are refused."""
    start, stop, step = values["from"], values["to"], values["step"]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (start, stop, step)):
        raise LtcliError(f"{where}: from/to/step must be numbers, got {start!r}/{stop!r}/{step!r}")
    if not all(math.isfinite(v) for v in (start, stop, step)):
        raise LtcliError(f"{where}: from/to/step must be finite numbers, got {start!r}/{stop!r}/{step!r}")
    if step == 0 or (stop - start) * step < 0:
        raise LtcliError(f"{where}: step must be above 0 when to >= from and below 0 when to < from, got from "
                         f"{start!r}, to {stop!r}, step {step!r}")
    count = math.floor((stop - start) / step + 1e-9) + 1  # the last value never passes `to`
    if count > MAX_POINTS:
        raise LtcliError(f"{where}: from/to/step gives {count} values; a study has at most {MAX_POINTS} points")
    whole = all(isinstance(v, int) for v in (start, step))
    return [start + i * step if whole else round(start + i * step, 10) for i in range(count)]


def grid_role(key: str, variables: set[str]) -> str:
    """'variable', 'train' or 'split' (see the module)."""
    if key in variables:
        return "variable"
    if key in key_names() or key in objective_aliases():
        return "train"
    if key in SPLIT_KEYS:
        return "split"
    return "unknown"


def check_known(keys: Iterable[Any], known: Sequence[str], where: str) -> None:
    """Refuse the first of `keys` that is not `known`, suggesting the nearest (`where` prefixes the message)."""
    for key in map(str, keys):
        if key not in known:
            raise LtcliError(f"{where}unknown key {key!r}{suggestion(key, list(known))}: the keys are "
                             f"{', '.join(known)}")


def check_keys(where: str, train: dict, split: dict | None, second: dict | None, test: dict, figure: dict,
               grid: dict, bundles: Bundles) -> None:
    check_known(split or {}, SPLIT_KEYS, f"{where}: split: ")
    if split is not None and "src" not in split:
        raise LtcliError(f"{where}: split: needs `src:` (the folder to split)")
    check_known(test, TEST_KEYS, f"{where}: test: ")
    check_known(figure, FIGURE_KEYS, f"{where}: figure: ")
    variables = variables_in(train, split, second)
    for key in grid:
        role = grid_role(key, variables)
        if key in bundles:
            if role != "unknown":
                raise LtcliError(f"{where}: grid {key!r} names rows of options, but {key!r} is a {role} option "
                                 "itself: name the rows' key otherwise (e.g. method)")
            continue
        if role == "unknown":
            known = [*key_names(), *SPLIT_KEYS]
            raise LtcliError(f"{where}: grid: unknown option {key!r}{suggestion(key, known)}: a grid key is a train "
                             "option, a split option, or a variable used as {" + key + "} in a value")
        if role == "split" and split is None:
            raise LtcliError(f"{where}: grid: {key!r} is a split option: add a `split:` section (with src:)")
    unused = variables - set(grid)
    if unused:
        name = sorted(unused)[0]
        raise LtcliError(f"{where}: {{{name}}} is used in a value but is not a grid key")
    if split is not None and any(k in train for k in ("dataset", "data")):
        raise LtcliError(f"{where}: train: drop dataset/data: the `split:` section makes each point's data")
    if split is None and not any(k in train for k in ("dataset", "data")) and "dataset" not in grid \
            and "data" not in grid:
        raise LtcliError(f"{where}: train: needs `dataset:` or `data:` (or a `split:` section)")
    for key in ("resume", "config"):
        if key in train or key in (second or {}):
            raise LtcliError(f"{where}: {key!r} is not a study option: the study resumes its own runs")


def check_figure(where: str, study: Study) -> None:
    x = study.figure.get("x")
    if x is not None and x not in study.grid:
        raise LtcliError(f"{where}: figure: x {x!r} is not a grid key ({', '.join(study.grid)})")
    lines = study.figure.get("lines", "classes")
    if lines not in FIGURE_LINES:
        raise LtcliError(f"{where}: figure: lines must be one of {', '.join(FIGURE_LINES)}, got {lines!r}")
