"""`ltcli train --config FILE`: a YAML (or JSON) file of train options, read as if they were typed.

Keys are the option names, in any of their spellings: the TrainConfig field (`batch_size`,
`train_rule`), the field with dashes (`train-rule`), or the command-line flag without `--`
(`batchsize`, `lrstep`, `warmup`, `opt`), and the objectives' own flags (`ccegamma`). The values
a file gives count as given, exactly like typed options (a two-stage `--recipe` does not fill them;
defaults apply only to what neither gives), and options typed on the command line win over the file.

A run's saved `config.json` is a valid file too (JSON is YAML): its settings are read and its
records of the run (class names, counts, versions, resolved `auto`s) are left out, so `--config
logs/.../config.json` starts the same run again.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any

from ltcli.config import TrainConfig
from ltcli.errors import LtcliError, shown
from ltcli.settings import FLAGS
from ltcli.yaml_files import load_yaml

# Keys only a run's config.json has (records of ltcli.engine.record.RUN_RECORDS): a file with one of
# them is a saved run, not a hand-written file.
RUN_RECORD_KEYS = ("versions", "class_names", "dataset_root")
# Options that are alternatives: giving one on the command line replaces the file's value of either.
EXCLUSIVE = (("dataset", "data"), ("weights", "init_from"))
NOT_SETTINGS = {"config": "a config file cannot name another one",
                "resume": "--resume continues a run with its own settings: give it on the command line, "
                          "without --config"}


def field_types() -> dict[str, str]:
    return {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}


def key_names() -> dict[str, str]:
    """Every accepted spelling of a key -> the TrainConfig field it sets."""
    names: dict[str, str] = {}
    for field in field_types():
        spellings = {field, field.replace("_", "-")}
        if field in FLAGS:
            flag = FLAGS[field].removeprefix("--")
            spellings |= {flag, flag.replace("-", "_")}
        names.update({spelling: field for spelling in spellings})
    return names


def objective_aliases() -> dict[str, tuple[str, str]]:
    """Objective flags (`ccegamma`, `tpauc-gamma`), in either spelling -> (objective, option)."""
    from ltcli.objectives import get_objective_entry, list_objectives

    aliases = {}
    for name in list_objectives():
        entry = get_objective_entry(name)
        for flag, option in entry.aliases.items():
            aliases[flag] = aliases[flag.replace("-", "_")] = (entry.name, option)
    return aliases


def read_config_file(path: Path, epochs: int | None = None) -> dict[str, Any]:
    """The TrainConfig values a config file gives, by field name. Raises LtcliError (one line,
    naming the file and the key) for a missing file, bad YAML, an unknown key or a value of the
    wrong shape; the values' ranges are checked by TrainConfig like typed options. An XCurve params
    file (`ltcli.xcurve`) is read too; `epochs`, typed, sets the length of the schedule it describes."""
    from ltcli import xcurve

    document = load_yaml(path)
    if any(key in document for key in RUN_RECORD_KEYS):
        return saved_run_values(path, document)
    if xcurve.is_params_document(document):
        return xcurve.params_values(document, path, epochs)
    return config_values(document, path)


def config_values(document: dict[Any, Any], path: Path | str) -> dict[str, Any]:
    """The TrainConfig values of a mapping of option names (a config file's, or a study file's
    `train:`); `path` names where it came from in the errors."""
    names, aliases = key_names(), objective_aliases()
    values: dict[str, Any] = {}
    alias_options: dict[str, Any] = {}
    alias_owners: dict[str, str] = {}
    for key, value in document.items():
        key = str(key)
        if key in NOT_SETTINGS:
            raise LtcliError(f"{path}: key {key!r}: {NOT_SETTINGS[key]}")
        if key in aliases:
            owner, option = aliases[key]
            alias_options[option], alias_owners[option] = value, owner
            continue
        if key not in names:
            raise LtcliError(f"{path}: unknown key {shown(key)}{suggestion(key, [*names, *aliases])}: the keys are "
                             "`ltcli train` option names (see `ltcli train --help`)")
        field = names[key]
        if field in values:
            raise LtcliError(f"{path}: {key!r} sets {field!r}, which another key of the file sets too")
        values[field] = normalise(path, key, field, value)
    if alias_options:
        values["objective_options"] = {**alias_options, **values.get("objective_options", {})}
        check_alias_owners(path, values.get("objective"), alias_owners)
    return values


def saved_run_values(path: Path, document: dict[str, Any]) -> dict[str, Any]:
    """The settings of a run's config.json. Schedule parts the run took as defaults scaled to its
    epochs (`schedule_scaled`) are left out: they were not given then, so they are not given now
    (scaled again, they come out the same for the same --epochs). Any key that is neither a setting
    nor one of the run's records is refused, as in a hand-written file."""
    if document.get("command") == "pretrain":
        raise LtcliError(f"{path} is a pre-training run's config (`ltcli pretrain`): train from that run with "
                         "`ltcli train --init-from RUN`")
    from ltcli.engine.record import RUN_RECORDS  # the owner of the records; torch is loaded for training anyway

    for key in document:
        if str(key) not in field_types() and str(key) not in RUN_RECORDS:
            known = [*field_types(), *RUN_RECORDS]
            raise LtcliError(f"{path}: unknown key {shown(key)}{suggestion(str(key), known)}: a run's config.json "
                             "holds the `ltcli train` settings and the run's records only")
    scaled = set(document.get("schedule_scaled") or ())
    return {key: value for key, value in document.items() if key in field_types() and key not in scaled}


def normalise(path: Path, key: str, field: str, value: Any) -> Any:
    """The shapes a YAML file naturally gives, turned into the field's: `160,20,20` or [160, 20, 20]
    for stages, `a,b` or [a, b] for classes; `2e-4` (a
    string to YAML 1.1) as a number; `off`/`on` (booleans to YAML 1.1) as text for text options."""
    kind = field_types()[field].replace(" | None", "")
    if value is None:
        return None
    if field == "lr_steps":
        return stage_list(path, key, value)
    if field == "positive_classes":
        return [part.strip() for part in value.split(",")] if isinstance(value, str) else value
    if field == "objective_options":
        return objective_options(path, key, value)
    if kind == "float" and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise LtcliError(f"{path}: {key!r} takes a number, got {shown(value)}") from None
    if kind == "str" and isinstance(value, bool):
        return "on" if value else "off"
    return value


def stage_list(path: Path, key: str, value: Any) -> Any:
    if isinstance(value, bool):
        return value  # TrainConfig names the option in its error
    if isinstance(value, int):
        return [value]
    if isinstance(value, str):
        try:
            return [int(part) for part in value.replace(" ", ",").split(",") if part.strip()]
        except ValueError:
            raise LtcliError(f"{path}: {key!r} takes whole numbers (stage lengths), got {shown(value)}") from None
    return value


def objective_options(path: Path, key: str, value: Any) -> dict[str, Any]:
    """A mapping `option: value` (YAML types the values: numbers, lists, text)."""
    if not isinstance(value, dict):
        raise LtcliError(f"{path}: {key!r} takes a mapping of objective options (e.g. `{key}: {{gamma: 2}}`), "
                         f"got {shown(value)}")
    return {str(k).replace("-", "_"): v for k, v in value.items()}


def check_alias_owners(path: Path, objective: str | None, owners: dict[str, str]) -> None:
    from ltcli.objectives import get_objective_entry

    chosen = get_objective_entry(objective or TrainConfig.objective).name
    for option, owner in owners.items():
        if owner != chosen:
            raise LtcliError(f"{path}: the key for {owner}'s {option!r} does not apply to objective {chosen}")


def suggestion(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def merge_given(from_file: dict[str, Any], typed: dict[str, Any]) -> dict[str, Any]:
    """The options given: the file's, with the command line's on top. A typed option of an exclusive
    pair (--dataset/--data, --weights/--init-from) replaces the file's value of either; a typed
    --objective other than the file's drops the file's objective options (they belong to the other
    objective), and typed --opt values are added to the file's."""
    merged = dict(from_file)
    for pair in EXCLUSIVE:
        if any(name in typed for name in pair):
            for name in pair:
                merged.pop(name, None)
    if ("dataset" in typed or "data" in typed) and "data_root" not in typed:
        merged.pop("data_root", None)  # the file's image root belongs to the file's lists
    if "objective" in typed and "objective" in merged and not same_objective(typed["objective"], merged["objective"]):
        merged.pop("objective_options", None)
    if "objective_options" in typed and "objective_options" in merged:
        typed = {**typed, "objective_options": {**merged["objective_options"], **typed["objective_options"]}}
    return {**merged, **typed}


def same_objective(first: Any, second: Any) -> bool:
    from ltcli.objectives import get_objective_entry

    try:
        return get_objective_entry(str(first)).name == get_objective_entry(str(second)).name
    except LtcliError:
        return first == second  # an unknown name is reported by TrainConfig
