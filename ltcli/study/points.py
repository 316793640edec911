"""A study's points: each grid combination's values substituted for `{variables}`, its named rows'
options merged, and the result resolved into checked train and split options (ltcli.study.spec reads
the file; ltcli.study.runner runs the points).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from ltcli.config import TrainConfig
from ltcli.config_file import config_values, key_names, objective_aliases
from ltcli.data.make import SPLIT_KEYS
from ltcli.errors import LtcliError

VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

Bundles = dict[str, dict[str, dict[str, Any]]]  # grid key -> row name -> the train options of that row


@dataclass(frozen=True)
class Point:
    """One grid point: its values (grid key -> value), its folder name, and the resolved options."""

    values: dict[str, Any]
    id: str
    split_id: str | None
    split: dict[str, Any] | None  # split options (SplitOptions fields and `src`)
    train: dict[str, Any]  # TrainConfig values, as `config_values` gives them
    second_stage: dict[str, Any] | None


def variables_in(*sections: dict[str, Any] | None) -> set[str]:
    found: set[str] = set()
    for section in sections:
        for value in (section or {}).values():
            for text in (value if isinstance(value, list) else [value]):
                if isinstance(text, str):
                    found |= set(VARIABLE.findall(text))
    return found


def substitute(section: dict[str, Any] | None, values: dict[str, Any]) -> dict[str, Any] | None:
    """`{var}` in the section's text values replaced by the point's values ("{n}" alone keeps n's type)."""
    if section is None:
        return None

    def one(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        whole = VARIABLE.fullmatch(value)
        if whole and whole.group(1) in values:
            return values[whole.group(1)]
        return VARIABLE.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), value)

    return {key: [one(v) for v in value] if isinstance(value, list) else one(value) for key, value in section.items()}


def slug(values: dict[str, Any]) -> str:
    """A readable folder name for grid values, with a short hash when the readable part lost anything."""
    if not values:
        return "base"
    text = "_".join(f"{k}-{v}" for k, v in values.items())
    clean = re.sub(r"[^A-Za-z0-9._=-]+", "-", text).strip("-")[:80]
    if clean != text:
        clean += "-" + hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:8]
    return clean


def resolve_point(where: str, values: dict[str, Any], train: dict, split: dict | None, second: dict | None,
                  bundles: Bundles | None = None) -> Point:
    """A point's options: its values substituted for `{variables}`, its named rows' options (`bundles`),
    and its values set as train options (or split options, for a key that is no train option); a key
    may be both a variable and an option."""
    train_keys = set(key_names()) | set(objective_aliases())
    split_keys = set(SPLIT_KEYS) - train_keys
    rows = {k: v for key, rows in (bundles or {}).items() for k, v in rows[values[key]].items()}
    train_doc = {**substitute(train, values), **rows, **{k: v for k, v in values.items() if k in train_keys}}
    split_doc = substitute(split, values)
    split_values = {}
    if split_doc is not None:
        split_doc.update({k: v for k, v in values.items() if k in split_keys})
        split_values = {k: v for k, v in values.items() if k in split_keys or k in variables_in(split)}
    given = config_values(train_doc, f"{where}: train")
    second_given = config_values(substitute(second, values), f"{where}: second_stage") if second else None
    check = {**given, "data": "split"} if split_doc is not None else given  # the runner sets the real folder
    try:
        config = TrainConfig.create(**check)
        check_model(config.model)
        if second_given is not None:
            TrainConfig.create(**{**check, **second_given, "init_from": "first-stage"})
    except (LtcliError, TypeError, ValueError) as error:
        raise LtcliError(f"{where}: point {values}: {error}") from None
    split_id = None
    if split_doc is not None:
        digest = hashlib.sha1(json.dumps(split_doc, sort_keys=True, default=str).encode()).hexdigest()[:8]
        split_id = f"{slug(split_values)}-{digest}"
    return Point(values, slug(values), split_id, split_doc, given, second_given)


def check_model(name: str) -> None:
    import timm

    import ltcli.models  # noqa: F401  (registers the CIFAR ResNets)

    if not timm.is_model(name):
        raise LtcliError(f"unknown model {name!r} (see `ltcli models PATTERN`)")
