"""`ltcli split`, `demo-data` and `stats` on hostile file systems and numbers: a one-line error and
exit code 1 (never a traceback), no data lost, no junk left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ltcli.errors import describe_os_error

COUNTS = {"apple": 8, "leaf": 6}
ROOT = Path(__file__).resolve().parents[1]


def one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert message.startswith("error:") and message.count("error:") == 1, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def hidden(folder: Path) -> list[str]:
    """Hidden entries of `folder`: staging and replaced folders must never be left there."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.is_dir() else []


def run_ltcli(cwd: Path, *args: str, script: str | None = None) -> subprocess.CompletedProcess:
    """`python -m ltcli ARGS` (or a script that patches something, then runs the CLI) in a real process."""
    command = [sys.executable, "-c", script, *args] if script else [sys.executable, "-m", "ltcli", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def fruit(make_class_folder, tmp_path) -> Path:
    return make_class_folder(COUNTS, tmp_path / "data_split" / "fruit")


@pytest.fixture
def umask():
    """Set a known umask for the test, then put the old one back."""
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


# 1. File-system errors: one line, exit 1 -------------------------------------------------------------------


def test_describe_os_error():
    assert describe_os_error(PermissionError(13, "Permission denied", "/x/y")) == "permission denied: /x/y"
    renamed = OSError(18, "Invalid cross-device link", "a", None, "b")
    assert describe_os_error(renamed) == "invalid cross-device link: a -> b"
    assert describe_os_error(OSError(28, "No space left on device")) == "no space left on device"
    assert describe_os_error(OSError("disk full")) == "disk full"


def test_split_under_a_file_is_a_one_line_error(cli, fruit, tmp_path):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    one_line_error(cli("split", "fruit", "--datasets-dir", "blocker/sets", ok=False), "not a directory", "blocker")
    assert (tmp_path / "blocker").read_text() == "a file where a folder should be"
    assert hidden(tmp_path) == []


def test_split_that_cannot_copy_a_file_is_a_one_line_error_and_leaves_nothing(cli, fruit, tmp_path, monkeypatch):
    def denied(src, dst, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(src))

    monkeypatch.setattr("ltcli.data.split.shutil.copy2", denied)
    message = one_line_error(cli("split", "fruit", ok=False), "error: permission denied:", "data_split/fruit/")
    assert "img0" in message  # the file it could not read
    assert not (tmp_path / "a_datasets" / "fruit").exists()
    assert hidden(tmp_path / "a_datasets") == []


def test_split_of_an_unreadable_source_is_a_one_line_error(cli, fruit, tmp_path, monkeypatch):
    iterdir = Path.iterdir

    def guarded(self):
        if self.name == "fruit" and self.parent.name == "data_split":
            raise PermissionError(13, "Permission denied", str(self))
        return iterdir(self)

    monkeypatch.setattr(Path, "iterdir", guarded)
    one_line_error(cli("split", "fruit", ok=False), "error: permission denied: data_split/fruit")
    assert not (tmp_path / "a_datasets").exists()


def test_split_file_system_error_in_a_real_process(fruit, tmp_path):
    (tmp_path / "blocker").write_text("")
    result = run_ltcli(tmp_path, "split", "fruit", "--datasets-dir", "blocker/sets")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: not a directory: blocker/sets"


@pytest.mark.parametrize(("where", "fragment"), [(("--out", "blocker/hist.svg"), "file exists: blocker"),
                                                 (("--logs-dir", "blocker"), "not a directory: blocker/plots")])
def test_stats_histogram_under_a_file_is_a_one_line_error(cli, fruit, tmp_path, where, fragment):
    (tmp_path / "blocker").write_text("")
    one_line_error(cli("stats", "fruit", *where, ok=False), fragment)


def test_error_paths_print_as_they_are(cli):
    one_line_error(cli("split", "x[red]y", ok=False), "folder not found: data_split/x[red]y")
