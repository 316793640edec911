"""`ltcli app` as a command: the CLI never imports gradio, and a missing gradio is one line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_cli_does_not_import_gradio():
    code = ("import sys; from typer.testing import CliRunner; from ltcli.cli import app; "
            "result = CliRunner().invoke(app, ['--help']); assert result.exit_code == 0 and ' app ' in result.output; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('gradio', 'gradio_client', 'ltcli.app')))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}).stdout
    assert output.strip() == "[]"


def test_missing_gradio_is_one_line(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` now raises ImportError
    result = cli("app", ok=False)
    assert result.exit_code == 1
    assert result.output.strip() == "error: the web app needs gradio: pip install 'ltcli[app]'"


@pytest.mark.parametrize(("args", "message"), [
    (("--auth", "nopassword"), "--auth takes USER:PASS"),
    (("--root", "missing"), "--root missing is not a folder"),
    (("--host", "999.1.1.1"), "error: --host '999.1.1.1' is not an address (nor a name this machine resolves)"),
    (("--host", "192.0.2.1"), "error: cannot listen on --host 192.0.2.1: cannot assign requested address"),
    (("--device", "tpu"), "error: unknown --device 'tpu': use auto, cpu or cuda[:N]"),
])
def test_bad_options_are_one_line(cli, args, message, tmp_path, monkeypatch):
    pytest.importorskip("gradio")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the app would make its scratch folder
    result = cli("app", *args, ok=False)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not list(tmp_path.glob("ltcli-app-*"))


def test_a_port_in_use_is_said_as_such(cli, tmp_path):
    pytest.importorskip("gradio")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("app", "--port", str(port), ok=False)
    assert result.exit_code == 1 and result.output.strip() == f"error: --port {port} is in use on 127.0.0.1: give " \
        "another --port"


@pytest.mark.parametrize(("option", "value"), [("--port", "0"), ("--port", "65536"), ("--max-upload-mb", "0"),
                                               ("--max-upload-mb", "nan"), ("--max-upload-mb", "inf"),
                                               ("--max-upload-mb", "-inf"), ("--max-upload-mb", "1e303"),
                                               ("--max-upload-mb", "1048577"), ("--parallel", "0"),
                                               ("--parallel", "1000")])
def test_an_option_out_of_range_is_a_usage_error(cli, option, value):
    result = cli("app", option, value, ok=False)
    assert result.exit_code == 2 and option in result.output and "Traceback" not in result.output
    assert f"Invalid value for '{option}'" in " ".join(result.output.split())


@pytest.mark.parametrize("value", ["1e303", "inf"])
def test_a_huge_upload_limit_is_refused_and_leaves_no_scratch_folder(cli, tmp_path, monkeypatch, value):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = cli("app", "--max-upload-mb", value, ok=False)
    assert result.exit_code == 2 and "Traceback" not in result.output
    shown = " ".join(result.output.replace("│", " ").split())  # the usage error is boxed by rich
    assert f"must be a number above 0 and at most 1048576 (MB), got {float(value):g}" in shown
    assert not list(tmp_path.glob("ltcli-app-*"))
    pytest.importorskip("gradio")
    from ltcli.app.server import make_context

    with pytest.raises(OverflowError):  # called directly, it fails before making its scratch folder
        make_context(tmp_path, max_upload_mb=float(value))
    assert not list(tmp_path.glob("ltcli-app-*"))


def test_a_failed_start_leaves_no_scratch_folder(cli, tmp_path, monkeypatch):
    pytest.importorskip("gradio")
    from ltcli.app import server

    def fail(*args, **kwargs):
        raise OSError(98, "address already in use")

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(server, "serve", fail)  # the server fails after the scratch folder was made
    from app_support import free_port

    result = cli("app", "--port", str(free_port()), ok=False)
    assert result.exit_code == 1 and result.output.strip().endswith("error: address already in use")
    assert not list(tmp_path.glob("ltcli-app-*"))


@pytest.mark.slow
def test_a_stopped_app_leaves_no_scratch_folder(tmp_path):
    """The real command, started and stopped with Ctrl-C (SIGINT): its /tmp/ltcli-app-* folder is gone."""
    pytest.importorskip("gradio")
    from app_support import free_port
    from conftest import ctrl_c_enabled

    scratch_parent, root = tmp_path / "tmp", tmp_path / "root"
    scratch_parent.mkdir()
    root.mkdir()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(scratch_parent)}
    process = subprocess.Popen([sys.executable, "-m", "ltcli", "app", "--root", str(root), "--port", str(port)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=ctrl_c_enabled)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as page:
                    if page.status == 200:
                        break
            except OSError:
                assert process.poll() is None, process.communicate()[0]
                time.sleep(0.3)
        assert len(list(scratch_parent.glob("ltcli-app-*"))) == 1  # made while it runs
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in output
    assert not list(scratch_parent.glob("ltcli-app-*"))
