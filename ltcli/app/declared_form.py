"""The Train tab's inputs, generated from the declarations of TrainConfig's fields (and of
SplitOptions' for the split of a raw folder; `ltcli.settings.option`) as cli/declared.py generates the
Typer options: each component carries its field's name as label, its help as `info`, its declared
choices as a Dropdown and its default as value, and each value is read by the field's type and
`parse`. The main form's inputs (FORM_INPUTS, laid out by hand in TrainTab.build) and the "more
settings" accordion (every other field) both come from here. A new train option therefore reaches
the page (and the /train API) with no line here; the test of this module fails until it is placed in
one of the three sets."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

from ltcli.app.tabs.common import number, whole, whole_box
from ltcli.config import TrainConfig
from ltcli.data.make import SplitOptions
from ltcli.errors import LtcliError
from ltcli.settings import declared_field, field_choices, flag, parse_objective_options

# The main form's declared inputs: /train parameter -> (declaring class, field). The API's names
# predate the declarations, hence warmup and lrstep.
FORM_INPUTS: dict[str, tuple[type, str]] = {
    "imbalance_factor": (SplitOptions, "imbalance_factor"), "profile": (SplitOptions, "profile"),
    "warmup": (TrainConfig, "warmup_epochs"), "lrstep": (TrainConfig, "lr_steps"),
    **{name: (TrainConfig, name) for name in (
        "model", "objective", "train_rule", "epochs", "batch_size", "workers", "lr", "momentum", "weight_decay",
        "seed", "sched", "height", "width", "hflip", "freeze", "name", "head", "data_root")},
}

# Set by the main form's own pickers: `dataset` by the dataset picker (or a raw folder split on the
# spot), `init_from`/`weights` by "start from" (a run or a weights file, confined to the root).
PICKED_FIELDS = ("dataset", "init_from", "weights")
MAIN_FORM_FIELDS = (*PICKED_FIELDS, *(name for cls, name in FORM_INPUTS.values() if cls is TrainConfig))

# Fields the page does not offer, and why.
SKIPPED_FIELDS = {
    "data": "a free server path: the page trains on datasets under its root (the dataset picker)",
    "datasets_dir": "the app's root fixes the layout (a_datasets/ under the root, where the worker runs)",
    "logs_dir": "the app's root fixes the layout (logs/ under the root, where the worker runs)",
    "sync_bn": "torchrun only: the app's worker is one process",
    "unlabeled": "a path the page would have to confine to the root as it does 'start from' (not offered yet)",
    "pseudo_labels_from": "a run path the page would have to confine to the root (not offered yet)",
    "pseudo_threshold": "applies to unlabeled and pseudo_labels_from, which the page does not offer yet",
    "recipe": "fills only the options not given, and the page gives every option of its form: it would change "
              "nothing but the record",
}


# Repeatable fields whose command-line values the CLI turns into the field's value outside the declaration.
CONVERT: dict[str, Callable[[list[str]], Any]] = {"objective_options": parse_objective_options}


def more_fields(cls: type = TrainConfig) -> list[dataclasses.Field]:
    """The declared fields of `cls` the "more settings" accordion offers, in declaration order."""
    return [f for f in dataclasses.fields(cls)
            if "help" in f.metadata and f.name not in MAIN_FORM_FIELDS and f.name not in SKIPPED_FIELDS]


def _kind(f: dataclasses.Field, cls: type) -> Any:
    """The type of `cls`'s field `f` without None; a repeatable option (cli_type list[str]) as list."""
    cli_type = f.metadata.get("cli_type")
    if typing.get_origin(cli_type) is list:
        return list
    if cli_type is not None:  # text the command line reads as text (a path, a list with its `parse`)
        return str
    hint = _hints(cls)[f.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    kind = args[0] if args else hint
    return typing.get_origin(kind) or kind


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def component(f: dataclasses.Field, kind: Any, elem_id: str | None = None) -> Any:
    """The gradio component of field `f`: choices -> Dropdown (custom values for names a registry
    canonicalises; first "default", sent as empty, where the default is None: the option left out),
    bool -> Checkbox, int/float -> Number (empty: the default), else a Textbox."""
    import gradio as gr

    label, info, default = f.name.replace("_", " "), f.metadata["help"].replace("\\[", "["), _default(f)
    elem_id = elem_id or "train-more-" + f.name.replace("_", "-")
    choices = field_choices(f, offered=True)
    if choices is not None:
        entries = [(choice, choice) for choice in choices]
        if default is None:
            entries, default = [("default", ""), *entries], ""
        return gr.Dropdown(entries, value=default, label=label, info=info, elem_id=elem_id,
                           allow_custom_value=f.metadata.get("choices") is None)
    if kind is bool:
        return gr.Checkbox(bool(default), label=label, info=info, elem_id=elem_id)
    if kind is int:
        return whole_box(default, label, info=info, elem_id=elem_id)
    if kind is float:
        return gr.Number(default, label=label, info=info, elem_id=elem_id)
    placeholder = "space-separated, as after each repeated flag" if kind in (list, dict) else "empty: the default"
    return gr.Textbox(default if isinstance(default, str) else "", label=label, info=info, placeholder=placeholder,
                      elem_id=elem_id)


def form_component(name: str) -> Any:
    """The component of the main form's input `name` (FORM_INPUTS), from its field's declaration."""
    cls, field_name = FORM_INPUTS[name]
    f = declared_field(cls, field_name)
    return component(f, _kind(f, cls), elem_id="train-" + name.replace("_", "-"))


def form_values(inputs: dict[str, Any]) -> dict[type, dict[str, Any]]:
    """The main form's inputs (/train name -> value) read as their fields' types and `parse` (as the
    accordion's and the command line's are), by declaring class, named by field; empty ones left out."""
    values: dict[type, dict[str, Any]] = {TrainConfig: {}, SplitOptions: {}}
    for name, value in inputs.items():
        cls, field_name = FORM_INPUTS[name]
        f = declared_field(cls, field_name)
        if not _empty(value):
            values[cls][field_name] = _convert(f, _kind(f, cls), value)
    return values


def more_components(cls: type = TrainConfig, per_row: int = 4) -> dict[str, Any]:
    """Field name -> its generated component, laid out `per_row` a row (call inside a gr.Blocks)."""
    import gradio as gr

    fields, components = more_fields(cls), {}
    for start in range(0, len(fields), per_row):
        with gr.Row():
            for f in fields[start:start + per_row]:
                components[f.name] = component(f, _kind(f, cls))
    return components


def more_parameters(cls: type = TrainConfig) -> list[inspect.Parameter]:
    """The /train API's parameters of the generated fields: named and defaulted as the fields are."""
    params = []
    for f in more_fields(cls):
        kind = _kind(f, cls)
        default = _default(f) if kind not in (list, dict) else ""
        annotation = str if kind in (list, dict) or field_choices(f, offered=True) is not None else kind
        params.append(inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default,
                                        annotation=annotation | None if default is None else annotation))
    return params


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def page_values(more: dict[str, Any] | None, cls: type = TrainConfig) -> dict[str, Any]:
    """The settings of `more` (field name -> value from the page or the API) as the field's type: a
    number box's float as int where the field is, a repeatable field's text split as the command
    line would read it; an empty value is left out (the default). Unknown names: one line."""
    from ltcli.config_file import suggestion

    fields = {f.name: f for f in more_fields(cls)}
    values: dict[str, Any] = {}
    for name, value in (more or {}).items():
        name = str(name)
        if name not in fields:
            raise LtcliError(_refusal(name, list(fields), suggestion))
        if _empty(value):
            continue
        values[name] = _convert(fields[name], _kind(fields[name], cls), value)
    return values


def _refusal(name: str, known: list[str], suggestion: Callable[[str, list[str]], str]) -> str:
    if name in MAIN_FORM_FIELDS:
        return f"more: {name!r} is set by its own box of the form, not in more"
    if name in SKIPPED_FIELDS:
        return f"more: {name!r} is not a setting of the page: {SKIPPED_FIELDS[name]}"
    return f"more: unknown setting {name[:80]!r}{suggestion(name, known)}: the keys are TrainConfig field names"


def _convert(f: dataclasses.Field, kind: Any, value: Any) -> Any:
    """A page value as the field's type, then through the field's `parse` as the command line's is;
    bools and choices as they are (the config checks them)."""
    label = flag(f.name)
    if kind in (list, dict) and isinstance(value, str):
        items = value.split()
        return CONVERT[f.name](items) if f.name in CONVERT else items
    if kind is int and not isinstance(value, bool):
        value = whole(value, label)
    elif kind is float and not isinstance(value, bool):
        value = number(value, label)
    elif isinstance(value, str):
        value = value.strip()
    parse = f.metadata.get("parse")  # text (or a number) as the command line reads it; a list is one already
    return parse(value) if parse is not None and not isinstance(value, (bool, list, tuple, dict)) else value
