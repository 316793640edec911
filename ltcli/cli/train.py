"""The train command and its option parsing."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from ltcli.cli.compat import ModelIndex, SourceToolCommand, model_of
from ltcli.cli.declared import declare_options, settings_from_cli, typed_options
from ltcli.cli.root import app, console, friendly
from ltcli.config import TrainConfig
from ltcli.errors import LtcliError
from ltcli.schedule_rules import describe_schedule
from ltcli.settings import parse_objective_options, parse_option_value

ALIAS_PANEL = "Options of the tools ltcli replaces (each sets one objective's option)"


@app.command(cls=SourceToolCommand)
@friendly
def train(
    ctx: typer.Context,
    source_dataset: Annotated[str | None, typer.Argument(
        metavar="DATASET", show_default=False,
        help="XCurve's `train.py DATASET LOSS`: --dataset DATASET, with params/ looked up as XCurve does "
        "(docs/source-tools.md).")] = None,
    source_loss: Annotated[str | None, typer.Argument(
        metavar="LOSS", show_default=False,
        help="XCurve's LOSS: --objective LOSS (Poly and Exp: TPAUC with that re_scheme).")] = None,
    model_index: ModelIndex = None,
    resume: Annotated[
        str | None, typer.Option(help="Continue an interrupted run (its folder, a checkpoint .pt in it, or its "
                                 "stamp); its own settings apply.")
    ] = None,
    config_file: Annotated[Path | None, typer.Option(
        "--config", help="YAML file of options (keys: option names; a run's config.json works too); options "
        "typed here win. See recipes/.")] = None,
    **values: Any,
) -> None:
    """Train a model; the run goes to logs/<model>/<dataset>/<objective>/<YYYY-MM-DD-HH-MM-SS>/."""
    from ltcli.engine.train import fit, resume_run
    from ltcli.runs import resume_target

    if resume is not None:
        if config_file is not None:
            raise LtcliError("--resume continues a run with its own settings: drop --config")
        resume_run(resume_target(Path(values["logs_dir"]), resume), console)
        return
    settings = settings_from_cli(TrainConfig, values)  # every option of TrainConfig (its fields' declarations)
    settings["objective_options"] = {**parse_objective_options(settings["objective_options"] or []),
                                     **alias_options(settings["objective"], values)}
    given = given_options(ctx, settings)
    if model_index is not None:
        given["model"] = model_of(given.get("model"), model_index)
    if source_dataset is not None or source_loss is not None:
        given, config_file = xcurve_given(given, source_dataset, source_loss, config_file)
    if config_file is not None:
        from ltcli.config_file import merge_given, read_config_file

        given = merge_given(read_config_file(config_file, given.get("epochs")), given)
    config = TrainConfig.create(**given)
    if config.recipe is not None:
        console.print(describe_recipe(config, given))
    default = describe_default_schedule(config)
    # said once the run exists: a setting refused while the run is built stays a one-line error
    fit(config, console, on_start=None if default is None else lambda run: console.print(default))


def xcurve_given(given: dict[str, Any], dataset: str | None, loss: str | None, config_file: Path | None
                 ) -> tuple[dict[str, Any], Path | None]:
    """`ltcli train DATASET LOSS` as XCurve's `train.py DATASET LOSS`: the options given with the two
    positional values, and the params file XCurve would read (unless --config names one)."""
    from ltcli import xcurve

    for value, names, what in ((dataset, ("dataset", "data"), "DATASET"), (loss, ("objective",), "LOSS")):
        typed = [n for n in names if n in given]
        if value is not None and typed:
            raise LtcliError(f"give {what} ({value}) or --{typed[0]}, not both")
    positional = xcurve.positional_values(dataset, loss)
    options = {**positional.pop("objective_options", {}), **given.get("objective_options", {})}
    given = {**given, **positional, **({"objective_options": options} if options else {})}
    if config_file is None and dataset is not None:
        config_file = xcurve.params_file(dataset, loss or "")
        if config_file is not None:
            console.print(f"params: {config_file} (XCurve's file for {dataset} {loss or ''}; options typed here win)",
                          highlight=False)
    return given, config_file


def describe_default_schedule(config: TrainConfig) -> str | None:
    """One line: the schedule a run got when it left part of it out (None when all was given)."""
    from ltcli.settings import flag

    left_out = "/".join(flag(name) for name in config.scaled if name != "lr_steps" or config.sched == "step")
    if not left_out:
        return None
    return f"schedule: {describe_schedule(config)} (the default for {config.epochs} epochs: {left_out} not given)"


def given_options(ctx: typer.Context, values: dict[str, Any]) -> dict[str, Any]:
    """The options typed on the command line (or set from the environment), so that a --recipe
    fills only the others; objective options count as given when any was set."""
    typed = set(typed_options(ctx, values))
    # objective options count as given when set by --opt or an alias flag
    return {name: value for name, value in values.items()
            if name in typed or name == "objective_options" and value}


def describe_recipe(config: TrainConfig, given: dict[str, Any]) -> str:
    """One line: the values the recipe set (the options given on the command line are not listed)."""
    from ltcli.recipes import get_recipe
    from ltcli.settings import flag

    filled = get_recipe(config.recipe).fill(given)
    settings = " ".join(flag(name) if value is True else f"{flag(name)} {value}" for name, value in filled.items())
    return f"recipe {config.recipe}: {settings}"


def alias_table() -> dict[str, tuple[str, str, str]]:
    """Parameter name -> (flag, objective, option) for every alias an objective declares (flags are
    declared with dashes; objective_aliases holds both spellings)."""
    from ltcli.config_file import objective_aliases

    return {flag.replace("-", "_"): (f"--{flag}", *owner) for flag, owner in objective_aliases().items()
            if "_" not in flag}


def alias_options(objective: str, values: dict[str, Any]) -> dict[str, Any]:
    """The objective options set through alias flags; an alias of another objective is an error."""
    from ltcli.objectives import get_objective_entry

    entry = get_objective_entry(objective)
    options = {}
    for parameter, (flag, owner, option) in alias_table().items():
        value = values.get(parameter)
        if value is None:
            continue
        if owner != entry.name:
            raise LtcliError(f"{flag} applies to {owner}, not {entry.name}: use --opt KEY=VALUE for its options")
        options[option] = parse_option_value(value)
    return options


def alias_parameters() -> list[inspect.Parameter]:
    """One --flag per objective alias (help from the registry)."""
    return [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            str | None, typer.Option(flag, help=f"{owner}'s {option} (as --opt {option}=VALUE).",
                                     rich_help_panel=ALIAS_PANEL)])
        for name, (flag, owner, option) in alias_table().items()
    ]


declare_options(train, TrainConfig, alias_parameters())
