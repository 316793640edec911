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
from ltcli.errors import SHOWN_CHARS, LtcliError, shown
from ltcli.settings import FLAGS

# Keys only a run's config.json has (records of ltcli.engine.assemble.RUN_RECORDS): a file with one of
# them is a saved run, not a hand-written file.
RUN_RECORD_KEYS = ("versions", "class_names", "dataset_root")
MAX_YAML_VALUES = 10_000  # values a file may expand to through YAML aliases (a 300-byte alias bomb: billions)
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


def load_yaml(path: Path) -> dict[Any, Any]:
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LtcliError(f"no config file {path}") from None
    except IsADirectoryError:
        raise LtcliError(f"--config takes a file, {path} is a folder") from None
    except UnicodeDecodeError:
        raise LtcliError(f"{path} is not a text (YAML or JSON) file") from None
    try:
        if Path(path).suffix.lower() == ".json":  # JSON proper: XCurve's params files indent with tabs
            document = load_json(text, path)
        else:
            document = yaml.load(text, Loader=strict_loader())  # noqa: S506  (a SafeLoader, see strict_loader)
    except RecursionError:
        raise LtcliError(f"{path} is nested too deeply to be an options file") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise LtcliError(f"{path} is not valid YAML{where}: {problem[:SHOWN_CHARS]}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise LtcliError(f"{path} must hold `option: value` lines (a mapping), not a {type(document).__name__}")
    return document


def load_json(text: str, path: Path) -> Any:
    """A .json options file: a key given twice, or NaN/Infinity, is a one-line error as in YAML."""
    import json

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in items]
        twice = next((key for key in keys if keys.count(key) > 1), None)
        if twice is not None:
            raise LtcliError(f"{path}: key {twice!r} is given twice")
        return dict(items)

    def constant(name: str) -> Any:
        raise LtcliError(f"{path}: {name} is not a number an option takes")

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as error:
        raise LtcliError(f"{path} is not valid JSON (line {error.lineno}, column {error.colno}): {error.msg}") from None


def strict_loader() -> type:
    """yaml.SafeLoader (no tags that build objects) that also refuses a key given twice in one
    mapping (YAML would keep the last silently) and aliases that expand past MAX_YAML_VALUES values."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_document(self, node: yaml.Node) -> Any:
            if expanded_size(node, {}) > MAX_YAML_VALUES:
                raise yaml.constructor.ConstructorError(
                    None, None, f"its aliases (*name) expand to more than {MAX_YAML_VALUES} values", node.start_mark)
            return super().construct_document(node)

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *defaults` then own keys: overriding merged keys is what merges are for
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {shown(key)} is given twice", key_node.start_mark)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def expanded_size(node: Any, sizes: dict[int, float]) -> float:
    """How many values `node` holds once every alias is expanded (an alias is the same node object
    again, so this counts each node once per use without expanding anything); a cycle is infinite."""
    import math

    if id(node) in sizes:
        return sizes[id(node)]
    sizes[id(node)] = math.inf  # reached again while being counted: a recursive alias
    children = node.value if isinstance(node.value, list) else []
    total = 1.0
    for child in children:
        parts = child if isinstance(child, tuple) else (child,)
        total += sum(expanded_size(part, sizes) for part in parts)
        if total > MAX_YAML_VALUES:
            break
    sizes[id(node)] = total
    return total


def saved_run_values(path: Path, document: dict[str, Any]) -> dict[str, Any]:
    """The settings of a run's config.json. Schedule parts the run took as defaults scaled to its
    epochs (`schedule_scaled`) are left out: they were not given then, so they are not given now
    (scaled again, they come out the same for the same --epochs). Any key that is neither a setting
    nor one of the run's records is refused, as in a hand-written file."""
    if document.get("command") == "pretrain":
        raise LtcliError(f"{path} is a pre-training run's config (`ltcli pretrain`): train from that run with "
                         "`ltcli train --init-from RUN`")
    from ltcli.engine.assemble import RUN_RECORDS  # the owner of the records; torch is loaded for training anyway

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
