"""Helpers of the web-app tests: a root with a dataset and runs, and the app served on a free port."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from ltcli.cli import app as cli_app

# One quick epoch of a CIFAR ResNet on 12x12 colour patches (conftest's make_dataset).
APP_TRAIN_ARGS = ("--model", "resnet20", "--epochs", "1", "--batchsize", "16", "--lrstep", "1", "--warmup", "0",
                  "--height", "12", "--width", "12", "--workers", "0", "--device", "cpu", "--lr", "0.05",
                  "--hflip", "0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(root: Path, *args: str) -> str:
    """`ltcli ARGS` in-process with `root` as the working directory; fails the test on an error."""
    import os

    here = os.getcwd()
    os.chdir(root)
    try:
        result = CliRunner().invoke(cli_app, [str(a) for a in args])
    finally:
        os.chdir(here)
    assert result.exit_code == 0, f"ltcli {' '.join(args)} failed:\n{result.output}\n{result.exception!r}"
    return result.output


@dataclass
class Served:
    url: str
    context: Any
    demo: Any

    def client(self):
        from gradio_client import Client

        return Client(self.url, verbose=False)

    def close(self) -> None:
        self.demo.close()
        self.context.close()  # the queue, then its scratch folder


def serve_app(root: Path, max_upload_mb: float = 20.0) -> Served:
    from ltcli.app.server import make_context, serve

    context = make_context(root, max_upload_mb=max_upload_mb, device="cpu")
    port = free_port()
    demo = serve(context, port=port, block=False, quiet=True)
    return Served(f"http://127.0.0.1:{port}/", context, demo)


def wait_for(check, timeout: float, what: str):
    """Poll `check` until it returns something true (returned), or fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")
