"""Command lines of the tools ltcli replaces, accepted as they are written.

The CCE tool's README runs `... --objective='ERM' --warmup`: a bare `--warmup` (its 5 linear
epochs), and it takes `--lrstep '[60, 60, 40, 40]'` or `--lrstep 60 60 40 40`. Click has no option
with an optional value or with several values, so `SourceToolCommand` rewrites those forms into
ordinary ones before click parses the arguments: in the real CLI and under typer's CliRunner alike.
"""

from __future__ import annotations

import re
from typing import Annotated

import click
import typer
from typer.core import TyperCommand

from ltcli.errors import LtcliError
from ltcli.settings import DEFAULT_WARMUP_EPOCHS

# Options that may be given bare, and the value a bare one means.
BARE_VALUES = {"--warmup": str(DEFAULT_WARMUP_EPOCHS)}
# Options whose value may be spread over several arguments (`--lrstep 60 60 40 40`, `[60, 60,` ...).
LIST_OPTIONS = ("--lrstep",)
NUMBER = re.compile(r"-?\d+(\.\d*)?([eE][-+]?\d+)?")
LIST_PART = re.compile(r"[\[\]\d,\s]*\d[\[\]\d,\s]*|\s*\]\s*")


def is_option(token: str) -> bool:
    """`--epochs` is an option; `-1` is a (negative) value."""
    return token.startswith("-") and NUMBER.fullmatch(token) is None


def normalise_args(args: list[str]) -> list[str]:
    """`--warmup` with no value -> `--warmup 5`; `--lrstep 60 60 40 40` -> `--lrstep '60 60 40 40'`.
    Everything after `--` is left as it is."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            out += args[i:]
            break
        if arg in BARE_VALUES and (i + 1 == len(args) or is_option(args[i + 1])):
            out += [arg, BARE_VALUES[arg]]
            i += 1
            continue
        if arg in LIST_OPTIONS and i + 1 < len(args):
            end = i + 2
            while end < len(args) and LIST_PART.fullmatch(args[end]):
                end += 1
            out += [arg, " ".join(args[i + 1:end])]
            i = end
            continue
        out.append(arg)
        i += 1
    return out


# Options of the source tools that `ltcli train` has no place for, and where ltcli does it instead.
# (Those it has a place for are aliases where they are declared: --pretrained_model of --weights, split's
# --imb_factor and --imb_factor_unlabel.)
TRAIN_HINTS = {
    "--imb_factor": "the Essence code's --imb_factor: ltcli makes the long tail once, when it splits the data: "
                    "`ltcli split NAME --imb_factor 0.01` (or --imbalance-factor 100), then train --dataset NAME",
    "--imb_factor_unlabel": "the Essence code's --imb_factor_unlabel: ltcli builds the unlabeled pool when it "
                            "splits: `ltcli split NAME --imbalance-factor 100 --unlabeled-pool RHO_U`, then train "
                            "--unlabeled a_datasets/NAME/unlabeled --pseudo-labels-from RUN",
}


def source_hint(args: list[str], hints: dict[str, str]) -> str | None:
    """The hint of the first source-tool option in `args` (`--imb_factor 0.01` or `--imb_factor=0.01`)."""
    options = args[:args.index("--")] if "--" in args else args
    names = [arg.split("=", 1)[0] for arg in options]
    return next((hints[name] for name in names if name in hints), None)


class SourceToolCommand(TyperCommand):
    """A typer command that also takes the source tools' forms of --warmup and --lrstep, and answers
    their options it has no place for with one line naming ltcli's way (exit 1)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        hint = source_hint(list(args), TRAIN_HINTS)
        if hint is not None:
            click.echo(f"error: {hint}", err=True)
            ctx.exit(1)
        return super().parse_args(ctx, normalise_args(list(args)))


# The CCE tool's `--model_index N` in place of --model, on every command that names a model (train,
# and test and predict, where its README's test line names the run by it): declared once here.
ModelIndex = Annotated[int | None, typer.Option(
    "--model-index", "--model_index", help="The CCE tool's model number (its get_model.py), in place of --model: "
    "see `ltcli models --index`.")]


def model_of(model: str | None, model_index: int | None) -> str | None:
    """--model, or the model of --model_index (one-line error for both, or an index without a model)."""
    if model_index is None:
        return model
    from ltcli.models.source_index import model_for_index

    if model is not None:
        raise LtcliError("give --model NAME or --model_index N, not both")
    return model_for_index(model_index)
