"""The Typer app, its shared console and the error wrapper every command uses."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

import ltcli
from ltcli.errors import LtcliError, error_line

app = typer.Typer(
    name="ltcli",
    help="Long-tailed image classification on any folder dataset: split, train, test, plot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# No emoji codes: ltcli's text is never meant to hold emoji, and rich would turn `A:B:P` into `A🅱P`
# (a class named `b` in `--similar a:b:0.5:0.2`, a path with `:x:` in it).
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)


def _help_without_emoji() -> None:
    """typer renders help text as rich markup, emoji codes included (`split --help` showed `A🅱P:LAMBDA`
    for `A:B:P:LAMBDA`); rich markup without emoji for every command's help, docstring and options."""
    import inspect

    from rich.text import Text
    from typer import rich_utils

    original = rich_utils._make_rich_text

    def make_rich_text(*, text: str, style: str = "", markup_mode: Any) -> Any:
        if markup_mode != "rich" or rich_utils._has_ansi_character(text):
            return original(text=text, style=style, markup_mode=markup_mode)
        return rich_utils.highlighter(Text.from_markup(inspect.cleandoc(text), style=style, emoji=False))

    rich_utils._make_rich_text = make_rich_text


_help_without_emoji()

F = TypeVar("F", bound=Callable[..., Any])
MAX_ERROR_CHARS = 2000  # the last guard: whatever a message echoes, the error stays a readable line


def friendly(command: F) -> F:
    """Turn an LtcliError, or an OSError (a folder that cannot be written, a file in the way of a
    folder, a full disk), into one line on stderr and exit code 1, never a traceback.

    The OSError is the file system's own report, so its line names the path and the reason, e.g.
    `error: permission denied: a_datasets/x`; the message is escaped so a path with [brackets]
    prints as it is.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (LtcliError, OSError) as error:
            message = " ".join(error_line(error).splitlines())  # one line, whatever it quotes
            if len(message) > MAX_ERROR_CHARS:
                message = message[: MAX_ERROR_CHARS - 3] + "..."
            err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True, emoji=False)
            raise typer.Exit(code=1) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]")
            raise typer.Exit(code=130) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        console.print(f"ltcli {ltcli.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Long-tailed image classification on any folder dataset: split, train, test, plot."""


def file_progress(description: str, on: Console | None = None) -> Progress:
    """A transient per-file progress bar (on stdout unless `on` says otherwise, e.g. stderr when
    stdout carries JSON)."""
    return Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), console=on or console,
                    transient=True)
