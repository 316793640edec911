"""Typer options generated from a config dataclass's field metadata (`ltcli.settings.option`): each
option's flag, aliases, type, default, help and panel come from the one declaration of its field, so
`ltcli train`, `ltcli pretrain`, a config file and the app cannot disagree on them."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path
from typing import Annotated, Any

import typer

from ltcli.settings import cli_fields


def option_parameter(f: dataclasses.Field, field_type: Any) -> inspect.Parameter:
    """The Typer parameter of field `f`: its flags, its command-line type and default, its help."""
    kind = f.metadata.get("cli_type") or field_type
    default = None if f.default is dataclasses.MISSING else f.default
    if kind is Path and default is not None:
        default = Path(default)
    optional = default is None and type(None) not in typing.get_args(kind)
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[kind | None if optional else kind, field_option(f)])


def field_option(f: dataclasses.Field) -> Any:
    """The typer.Option of field `f`: its flags, help and panel. A command that takes the option with
    a default of its own writes `Annotated[type, field_option(...)] = default` (demo-data)."""
    return typer.Option(*f.metadata.get("flags", ()), help=f.metadata["help"], rich_help_panel=f.metadata.get("panel"))


def declare_options(command: Any, cls: type, extra: list[inspect.Parameter] = ()) -> None:
    """Give `command` (written as `def command(ctx, <its own options>, **values)`) one option per
    field of `cls`, then `extra` (e.g. objective alias flags), in place of **values."""
    signature = inspect.signature(command, eval_str=True)  # the Annotated options, not their source text
    fixed = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if i else p
             for i, p in enumerate(signature.parameters.values()) if p.kind is not inspect.Parameter.VAR_KEYWORD]
    hints = typing.get_type_hints(cls)
    declared = [option_parameter(f, hints[f.name]) for f in cli_fields(cls)]
    command.__signature__ = signature.replace(parameters=[fixed[0], *declared, *fixed[1:], *extra])


def settings_from_cli(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """The field values of what the command line read: a path as text, a field's `parse` applied,
    an empty list or text of a list field as not given (None)."""
    settings = {}
    for f in cli_fields(cls):
        value = values[f.name]
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, (list, tuple)):
            value = list(value) or None
        parse = f.metadata.get("parse")
        if parse is not None and value is not None:
            value = parse(value) if value != "" else None
        settings[f.name] = value
    return settings


def typed_options(ctx: typer.Context, names: Any) -> list[str]:
    """Which of the parameters `names` were typed on the command line (or set from the environment)."""
    sources = {name: ctx.get_parameter_source(name) for name in names}
    return [name for name, source in sources.items() if source is not None and source.name != "DEFAULT"]
