"""The `ltcli` command line: thin Typer commands, one module per group, that call the library."""
# isort: skip_file

import sys

try:
    from ltcli.cli.root import app

    # Importing a module registers its commands; this order is the order of `ltcli --help`.
    from ltcli.cli import data  # noqa: E402,F401
    from ltcli.cli import train  # noqa: E402,F401
    from ltcli.cli import pretrain  # noqa: E402,F401
    from ltcli.cli import inference  # noqa: E402,F401
    from ltcli.cli import export  # noqa: E402,F401
    from ltcli.cli import study  # noqa: E402,F401
    from ltcli.cli import plot  # noqa: E402,F401
    from ltcli.cli import listing  # noqa: E402,F401
    from ltcli.cli import serve  # noqa: E402,F401
except KeyboardInterrupt:
    # Ctrl-C in the first second of a command, while its modules load: a short line and the shell's
    # code for an interrupt (128 + SIGINT), not a traceback through the import machinery.
    sys.stderr.write("interrupted\n")
    raise SystemExit(130) from None


def main() -> None:
    app()


__all__ = ["app", "main"]
