"""The `ltcli` command line: thin Typer commands, one module per group, that call the library."""
# isort: skip_file

from ltcli.cli.app import app

# Importing a module registers its commands; this order is the order of `ltcli --help`.
from ltcli.cli import data  # noqa: E402,F401
from ltcli.cli import train  # noqa: E402,F401
from ltcli.cli import pretrain  # noqa: E402,F401
from ltcli.cli import evaluate  # noqa: E402,F401
from ltcli.cli import study  # noqa: E402,F401
from ltcli.cli import plot  # noqa: E402,F401
from ltcli.cli import listing  # noqa: E402,F401
from ltcli.cli import webapp  # noqa: E402,F401


def main() -> None:
    app()


__all__ = ["app", "main"]
