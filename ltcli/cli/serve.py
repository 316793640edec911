"""The app command: the Train / Infer / Compare / Runs / Data web page (gradio, the `app` extra)."""

from __future__ import annotations

import errno
import math
import signal
import socket
from pathlib import Path
from typing import Annotated

import typer

from ltcli.bounds import MAX_PARALLEL, MAX_UPLOAD_MB
from ltcli.cli.root import app, console, friendly
from ltcli.errors import LtcliError, describe_os_error

INSTALL = "pip install 'ltcli[app]'"


def upload_limit(value: float) -> float:
    """--max-upload-mb: a finite number above 0 and at most MAX_UPLOAD_MB (nan, inf and 1e303 are usage
    errors, not a traceback)."""
    if not math.isfinite(value) or value <= 0 or value > MAX_UPLOAD_MB:
        raise typer.BadParameter(f"must be a number above 0 and at most {MAX_UPLOAD_MB} (MB), got {value:g}")
    return value


def check_host(host: str, port: int) -> None:
    """The address can be listened on: an address (or a name) of this machine, the port free there.
    Checked before the server starts, so the error says which (gradio would say 'cannot find empty port')."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError, ValueError):
        raise LtcliError(f"--host {host!r} is not an address (nor a name this machine resolves)") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise LtcliError(f"--port {port} is in use on {host}: give another --port") from None
            raise LtcliError(f"cannot listen on --host {host}: {describe_os_error(error)} (give an address of "
                             "this machine, e.g. 127.0.0.1 or 0.0.0.0)") from None


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
    max_upload_mb: Annotated[float, typer.Option(help="Largest uploaded image, in MB.", callback=upload_limit)] = 20.0,
    parallel: Annotated[int, typer.Option(min=1, max=MAX_PARALLEL, help="Trainings run at the same time (the rest "
                                          f"wait in a queue; 1-{MAX_PARALLEL}).")] = 1,
    device: Annotated[str, typer.Option(help="Device of inference and tests: auto, cpu or cuda.")] = "auto",
) -> None:
    """Serve the web app: train, infer and compare runs in a browser (gradio). Listens on localhost
    unless --host says otherwise; never opens a public share link."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise LtcliError(f"the web app needs gradio: {INSTALL}") from None
    from ltcli.app.server import make_context, serve
    from ltcli.app.worker import raise_interrupt
    from ltcli.engine.runtime import resolve_device

    credentials = parse_auth(auth)
    resolve_device(device)  # a name it does not know, or cuda without a GPU: said now, not at the first inference
    check_host(host, port)
    context = make_context(root, max_upload_mb, parallel, device)
    console.print(f"ltcli app: root {context.root.path}; starting on http://{host}:{port} (Ctrl-C to stop; "
                  "a training in progress then stops at a batch boundary and stays resumable)", highlight=False)
    previous = signal.signal(signal.SIGTERM, raise_interrupt)  # a service manager's stop cleans up as Ctrl-C does
    try:
        serve(context, host, port, credentials, block=True, quiet=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        context.close()  # the queue, then the scratch folder: nothing left in the temp folder
