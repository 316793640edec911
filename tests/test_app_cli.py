"""`ltcli app` as a command: the CLI never imports gradio, and a missing gradio is one line."""

from __future__ import annotations

import subprocess
import sys
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
    (("--max-upload-mb", "0"), "--max-upload-mb must be above 0"),
])
def test_bad_options_are_one_line(cli, args, message):
    pytest.importorskip("gradio")
    result = cli("app", *args, ok=False)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("port", ["0", "65536"])
def test_a_port_out_of_range_is_a_usage_error(cli, port):
    result = cli("app", "--port", port, ok=False)
    assert result.exit_code == 2 and "--port" in result.output and "Traceback" not in result.output
