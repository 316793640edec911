"""Issue 21's data-loss and interruption cases through the real CLI: a dataset name that is a path,
a full disk while a checkpoint is written, Ctrl-C while `ltcli test` writes its result set or while
the commands load, a run that fails before its first epoch, and two trainers of one run."""

from __future__ import annotations

import errno
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TRAIN_ARGS, ctrl_c_enabled, make_class_images, tree_digest

from ltcli.checkpoint import Checkpoint

REPO = Path(__file__).resolve().parents[1]


def one_error_line(output: str, message: str) -> str:
    lines = [line for line in output.splitlines() if "error:" in line]
    assert len(lines) == 1 and message in lines[0], output
    assert "Traceback" not in output
    return lines[0]


def run_ltcli(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "ltcli", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


# --- items 1 and 2: a dataset name is a name ------------------------------------------------------


@pytest.fixture
def datasets_world(tmp_path):
    """Another split dataset and another raw dataset that a bad name must not touch."""
    make_class_images({"apple": 3, "leaf": 3}, tmp_path / "data_split" / "raw")
    make_class_images({"apple": 3, "leaf": 3}, tmp_path / "data_split" / "other")
    for split in ("train", "valid", "test"):
        make_class_images({"apple": 2, "leaf": 2}, tmp_path / "deep" / "a" / "b" / "a_datasets" / "kept" / split)
    return tmp_path


@pytest.mark.parametrize("name", ["", ".", "..", "../../data_split/other", "../../../x", "a/b", "kept/.."])
def test_split_refuses_a_name_that_is_a_path_and_touches_nothing(cli, datasets_world, name):
    """`split "" --force` replaced the whole a_datasets/ (every other split lost); `split ../x` wrote
    outside it, and with --force replaced a raw dataset."""
    before = tree_digest(datasets_world)
    result = cli("split", name, "--src", "data_split/raw", "--force", "--datasets-dir", "deep/a/b/a_datasets",
                 ok=False)
    assert result.exit_code == 1
    one_error_line(result.output, "takes a name, not a path")
    assert tree_digest(datasets_world) == before


@pytest.mark.slow
def test_split_with_an_empty_name_in_a_real_process_keeps_every_split(datasets_world):
    before = tree_digest(datasets_world)
    result = run_ltcli(datasets_world, "split", "", "--src", "data_split/raw", "--force",
                       "--datasets-dir", "deep/a/b/a_datasets")
    assert result.returncode == 1, result.stdout + result.stderr
    one_error_line(result.stderr, "takes a name, not a path")
    assert tree_digest(datasets_world) == before


# --- item 10: a full disk while a checkpoint is written -------------------------------------------


class FullDisk(io.RawIOBase):
    """A file that takes the first bytes, then fails as a full disk does (ENOSPC)."""

    def __init__(self, inner, room: int = 4096) -> None:
        self.inner, self.room = inner, room

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.room -= len(data)
        if self.room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.inner.write(data)


def test_a_full_disk_during_a_checkpoint_is_one_line_and_the_run_resumes(cli, split_dataset, tmp_path, monkeypatch):
    real_save = torch.save

    def save(obj, handle, *args, **kwargs):  # epoch 1's checkpoints meet a full disk, inside torch.save
        if isinstance(obj, dict) and obj.get("epoch") == 1:
            handle = FullDisk(handle)
        return real_save(obj, handle, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    result = cli("train", "--dataset", "colours", "--objective", "ERM", *TRAIN_ARGS, ok=False)
    assert result.exit_code == 1
    line = one_error_line(result.output, "no space left on device")
    assert "checkpoint_" in line and ".pt" in line
    (run,) = [p.parent for p in (tmp_path / "logs").rglob("config.json")]
    assert Checkpoint.load(run / "checkpoint_last.pt").epoch == 0  # the previous checkpoint holds
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.setattr(torch, "save", real_save)  # space freed
    cli("train", "--resume", str(run))
    assert Checkpoint.load(run / "checkpoint_last.pt").epoch == 1
    assert len((run / "valid.csv").read_text().splitlines()) == 3  # header + both epochs, once each


# --- item 7: a run that fails before its first epoch ends leaves no run folder --------------------


def test_paco_with_a_batch_of_one_is_refused_before_a_run_folder(cli, split_dataset, tmp_path):
    result = cli("train", "--dataset", "colours", "--objective", "PaCo", *TRAIN_ARGS, "--batchsize", "1", ok=False)
    assert result.exit_code == 1
    one_error_line(result.output, "--batchsize must be at least 2")
    assert not (tmp_path / "logs").exists()


def test_a_failure_in_the_first_epoch_leaves_no_run_folder(cli, split_dataset, tmp_path, monkeypatch):
    import ltcli.engine.train as engine_train

    def fail(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "logs/somewhere")

    monkeypatch.setattr(engine_train, "train_one_epoch", fail)
    (tmp_path / "logs" / "resnet20" / "colours" / "CCE").mkdir(parents=True)  # another run's folders stay
    result = cli("train", "--dataset", "colours", "--objective", "ERM", *TRAIN_ARGS, ok=False)
    assert result.exit_code == 1
    one_error_line(result.output, "no space left on device")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "logs").rglob("*")) == [
        "logs/resnet20", "logs/resnet20/colours", "logs/resnet20/colours/CCE"]


# --- item 13: `ltcli test` replaces its result set whole or not at all ----------------------------


def test_ctrl_c_while_test_writes_its_results_keeps_the_old_set(cli, split_dataset, tmp_path, monkeypatch):
    import ltcli.engine.scoring as scoring

    cli("train", "--dataset", "colours", "--objective", "ERM", *TRAIN_ARGS)
    (run,) = [p.parent for p in (tmp_path / "logs").rglob("config.json")]
    cli("test", "--run", str(run))
    names = ("metrics.json", "per_class.csv", "predictions.csv", "confusion_matrix.svg", "per_class_recall.svg")
    old = {name: (run / name).read_bytes() for name in names}

    def interrupted(*args, **kwargs):  # Ctrl-C lands after metrics, tables and confusion matrix are written
        raise KeyboardInterrupt

    monkeypatch.setattr(scoring, "plot_per_class_recall", interrupted)
    result = cli("test", "--run", str(run), "--many-shot", "5", "--few-shot", "3", ok=False)
    assert result.exit_code == 130 and "interrupted" in result.output and "Traceback" not in result.output
    assert {name: (run / name).read_bytes() for name in names} == old
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")
                and p.name != ".train.lock"]  # no staging folder or temp file left
    monkeypatch.undo()
    cli("test", "--run", str(run), "--many-shot", "5", "--few-shot", "3")
    new = {name: (run / name).read_bytes() for name in names}
    assert all(new[name] != old[name] for name in ("metrics.json", "per_class.csv", "per_class_recall.svg"))


# --- item 12: Ctrl-C while the commands load -------------------------------------------------------

INTERRUPT_DURING_IMPORTS = """
import importlib.abc, os, runpy, signal, sys

class CtrlC(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "ltcli.cli.train":  # a real SIGINT, while the command modules import
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlC())
sys.argv = ["ltcli", "runs"]
runpy.run_module("ltcli", run_name="__main__", alter_sys=True)
"""


@pytest.mark.slow
def test_ctrl_c_during_imports_is_a_short_line_and_code_130(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", INTERRUPT_DURING_IMPORTS], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, preexec_fn=ctrl_c_enabled)
    assert result.returncode == 130, result.stderr
    assert result.stderr.strip() == "interrupted" and "Traceback" not in result.stderr


# --- item 19: one trainer per run ------------------------------------------------------------------

# A real `ltcli train` whose second epoch never ends: it holds its run while the test starts another.
STALLED_TRAINER = """
import sys, time
import ltcli.engine.story as story

real_run_epoch = story.run_epoch

def stalled(kind, epoch, *args, **kwargs):
    if epoch == 1:
        open("stalled", "w").close()  # epoch 0's checkpoints are written: the test may go on
        time.sleep(600)
    return real_run_epoch(kind, epoch, *args, **kwargs)

story.run_epoch = stalled
from ltcli.cli import main
sys.argv = ["ltcli", *sys.argv[1:]]
main()
"""


@pytest.mark.slow
def test_a_second_resume_is_refused_while_the_first_trains_and_a_killed_one_frees_the_run(split_dataset, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.Popen([sys.executable, "-c", STALLED_TRAINER, "train", "--dataset", "colours",
                              "--objective", "ERM", *TRAIN_ARGS], cwd=tmp_path, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "stalled").exists():  # epoch 0 is done, epoch 1 stalls
            assert first.poll() is None and time.monotonic() < deadline, "the first trainer did not get going"
            time.sleep(0.2)
        (run,) = [p.parent for p in (tmp_path / "logs").rglob("config.json")]
        before = tree_digest(run)
        second = run_ltcli(tmp_path, "train", "--resume", str(run))
        assert second.returncode == 1, second.stdout + second.stderr
        one_error_line(second.stderr, "is being trained by another process")
        assert f"pid {first.pid}" in second.stderr
        assert tree_digest(run) == before  # the second wrote nothing
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    third = run_ltcli(tmp_path, "train", "--resume", str(run))  # kill -9 left no stuck lock
    assert third.returncode == 0, third.stdout + third.stderr
    assert Checkpoint.load(run / "checkpoint_last.pt").epoch == 1
