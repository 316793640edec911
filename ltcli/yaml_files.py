"""Reading an options file (a `--config` file, a study file, a preset) safely: YAML through a SafeLoader
that also refuses a key given twice and aliases that expand past MAX_YAML_VALUES values (a 300-byte alias
bomb expands to billions), JSON with the same refusals; every failure one line naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ltcli.errors import SHOWN_CHARS, LtcliError, shown

MAX_YAML_VALUES = 10_000  # values a file may expand to through YAML aliases


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
