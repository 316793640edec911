"""`ltcli study --methods DATASET`: the preset that compares the main long-tail methods on a dataset
(presets/methods.yaml), written out as the study file it runs, LOGS/studies/methods-NAME/study.yaml."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ltcli.atomic import atomic_write_text
from ltcli.errors import LtcliError, check_name
from ltcli.yaml_files import load_yaml

PRESET = Path(__file__).with_name("presets") / "methods.yaml"


def methods_document(dataset: str, budget: str | None = None, overrides: list[str] | None = None) -> dict[str, Any]:
    """The preset with DATASET's data (a folder with train/ and valid/, or a name under a_datasets/),
    the budget, and KEY=VALUE train options (`--set`, values read as YAML) on top."""
    document = load_yaml(PRESET)
    train = document["train"]
    source = Path(dataset)
    if (source / "train").is_dir():
        train["data"], label = str(source), source.resolve().name
    else:
        train["dataset"], label = check_name(dataset, "--methods"), dataset
    document["name"] = "methods-" + (re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-.") or "data")
    for item in overrides or []:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise LtcliError(f"--set takes KEY=VALUE (a train option), got {item!r}")
        train[key.strip()] = yaml.safe_load(value)
    if budget is not None:
        document["search"]["budget"] = budget
    return document


def write_methods_study(dataset: str, logs_dir: Path, budget: str | None = None,
                        overrides: list[str] | None = None) -> Path:
    """Write the preset's study file for DATASET under `logs_dir`; returns its path."""
    document = methods_document(dataset, budget, overrides)
    path = logs_dir / "studies" / document["name"] / "study.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# made by `ltcli study --methods {dataset}` from {PRESET.name}; edit it and run `ltcli study {path}`\n"
    atomic_write_text(path, header + yaml.safe_dump(document, sort_keys=False))
    return path
