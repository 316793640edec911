"""The app command: the Train / Infer / Compare / Runs / Data web page (gradio, the `app` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ltcli.cli.app import app, console, friendly
from ltcli.errors import LtcliError

INSTALL = "pip install 'ltcli[app]'"


def parse_auth(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise LtcliError("--auth takes USER:PASS")
    return user, password


@app.command("app")
@friendly
def web_app(
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on (1-65535).")] = 7860,
    root: Annotated[Path, typer.Option(help="The folder holding data_split/, a_datasets/ and logs/; the app "
                                       "reads and writes nothing outside it.")] = Path("."),
    auth: Annotated[str | None, typer.Option(help="Ask for USER:PASS before showing the page.")] = None,
    max_upload_mb: Annotated[float, typer.Option(help="Largest uploaded image, in MB.")] = 20.0,
    parallel: Annotated[int, typer.Option(help="Trainings run at the same time (the rest wait in a queue).")] = 1,
    device: Annotated[str, typer.Option(help="Device of inference and tests: auto, cpu or cuda.")] = "auto",
) -> None:
    """Serve the web app: train, infer and compare runs in a browser (gradio). Listens on localhost
    unless --host says otherwise; never opens a public share link."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise LtcliError(f"the web app needs gradio: {INSTALL}") from None
    from ltcli.app.server import make_context, serve

    credentials = parse_auth(auth)
    if max_upload_mb <= 0:
        raise LtcliError(f"--max-upload-mb must be above 0, got {max_upload_mb}")
    context = make_context(root, max_upload_mb, parallel, device)
    console.print(f"ltcli app: root {context.root.path}; starting on http://{host}:{port} (Ctrl-C to stop; "
                  "a training in progress then stops at a batch boundary and stays resumable)", highlight=False)
    try:
        serve(context, host, port, credentials, block=True, quiet=True)
    finally:
        context.jobs.shutdown()
