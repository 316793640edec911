"""Never lose a run, whatever the moment of a kill: `kill -9` right after any checkpoint write (in
particular between checkpoint_best.pt and checkpoint_last.pt of one epoch) or in the middle of one,
then `--resume`, ends with both checkpoints and the same result as an uninterrupted run."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ltcli.checkpoint import Checkpoint
from ltcli.engine.persist import resume_progress
from ltcli.errors import LtcliError
from ltcli.run_folder import RunFolder

pytestmark = pytest.mark.slow

ARGS = ["--dataset", "colours", "--model", "resnet20", "--objective", "ERM", "--epochs", "3", "--batchsize", "8",
        "--lrstep", "2,1", "--warmup", "1", "--height", "8", "--width", "8", "--workers", "0", "--device", "cpu",
        "--lr", "0.05", "--seed", "3", "--select-metric", "loss"]

# Runs `ltcli` with Checkpoint.save (the checkpoint module's one writer) patched to die with SIGKILL's
# exit status: after its Nth completed write ("after"), or halfway through writing it ("during").
DRIVER = """
import os, sys
import ltcli.atomic as atomic
from ltcli.checkpoint import Checkpoint
from ltcli.cli import main
mode, target = os.environ["KILL_MODE"], int(os.environ["KILL_AT"])
count = [0]
real_save = Checkpoint.save
def save(self, path):
    count[0] += 1
    if mode == "during" and count[0] == target:
        real_replace = atomic.os.replace
        atomic.os.replace = lambda *a: os._exit(137)  # the temp file is written, the rename never happens
    real_save(self, path)
    with open(os.environ["KILL_LOG"], "a") as log:
        log.write(f"{count[0]} {path.name} {self.epoch}\\n")
    if mode == "after" and count[0] == target:
        os._exit(137)
Checkpoint.save = save
sys.argv = ["ltcli", "train", *sys.argv[1:]]
main()
"""


def run_ltcli(cwd: Path, *args: str, kill: tuple[str, int] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1",
           "COLUMNS": "400", "KILL_MODE": kill[0] if kill else "none", "KILL_AT": str(kill[1] if kill else 0),
           "KILL_LOG": str(cwd / "saves.log")}
    return subprocess.run([sys.executable, "-c", DRIVER, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return [{k: v for k, v in row.items() if k != "time_s"} for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> tuple[Path, Path]:
    """One uninterrupted run, shared by every kill case: (working folder, run folder)."""
    from conftest import make_dataset

    root = tmp_path_factory.mktemp("straight")
    make_dataset(root / "a_datasets" / "colours")
    result = run_ltcli(root, *ARGS)
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = list((root / "logs" / "resnet20" / "colours" / "ERM").iterdir())
    return root, run


# Writes of a 3-epoch run: 1 = epoch -1's last; then per epoch best (when it improves) and last.
# The first three are always: -1 last, 0 best, 0 last; 2 is the kill between best and last.
@pytest.mark.parametrize(("mode", "at"), [("after", 2), ("after", 1), ("after", 3), ("during", 3), ("during", 2)])
def test_kill_anywhere_then_resume_ends_like_an_uninterrupted_run(straight, tmp_path, mode, at):
    from conftest import make_dataset

    make_dataset(tmp_path / "a_datasets" / "colours")
    killed = run_ltcli(tmp_path, *ARGS, kill=(mode, at))
    assert killed.returncode == 137, killed.stdout + killed.stderr
    (run,) = list((tmp_path / "logs" / "resnet20" / "colours" / "ERM").iterdir())
    if (mode, at) == ("after", 2):  # exactly between the epoch's two writes: best is newer than last
        assert Checkpoint.load(run / "checkpoint_best.pt").epoch == 0
        assert Checkpoint.load(run / "checkpoint_last.pt").epoch == -1

    resumed = run_ltcli(tmp_path, "--resume", str(run))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "done: best valid loss" in " ".join(resumed.stdout.split())

    _, straight_run = straight
    for name in ("train.csv", "valid.csv"):
        assert rows(run / name) == rows(straight_run / name)
    for name in ("checkpoint_best.pt", "checkpoint_last.pt"):
        ours, theirs = Checkpoint.load(run / name), Checkpoint.load(straight_run / name)
        assert (ours.epoch, ours.best_epoch, ours.best_value) == (theirs.epoch, theirs.best_epoch, theirs.best_value)
        for key, tensor in theirs.model.items():
            assert torch.equal(ours.model[key], tensor), (name, key)
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]  # a killed write's temp file is gone
    # `ltcli test` works on the resumed run (it needs the best checkpoint)
    tested = subprocess.run([sys.executable, "-m", "ltcli", "test", "--run", str(run), "--device", "cpu"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert tested.returncode == 0, tested.stdout + tested.stderr


def fake_checkpoint(epoch: int, best_value: float | None, best_epoch: int | None, own: float | None) -> Checkpoint:
    return Checkpoint(model={"w": torch.zeros(1)}, epoch=epoch, class_names=["a", "b"], config={"model": "m"},
                      select_metric="acc", best_value=best_value, best_epoch=best_epoch,
                      valid_metrics=None if own is None else {"acc": own}, optimizer={}, scheduler={})


def test_a_best_checkpoint_newer_than_the_last_sets_the_value_to_beat(tmp_path):
    run = RunFolder(tmp_path)
    fake_checkpoint(4, 0.9, 4, 0.9).save(run.best_checkpoint)
    progress = resume_progress(run, fake_checkpoint(3, 0.8, 2, 0.7))
    assert (progress.next_epoch, progress.best_value, progress.best_epoch) == (4, 0.9, 4)


def test_a_best_checkpoint_lost_after_the_last_was_written_is_restored_from_it(tmp_path):
    """An ltcli that wrote last before best and was killed between them: the last checkpoint is the best."""
    run = RunFolder(tmp_path)
    last = fake_checkpoint(3, 0.8, 3, 0.8)
    progress = resume_progress(run, last)
    assert progress.best_epoch == 3 and Checkpoint.load(run.best_checkpoint).epoch == 3
    fake_checkpoint(1, 0.6, 1, 0.6).save(run.best_checkpoint)  # stale: an older best
    resume_progress(run, last)
    assert Checkpoint.load(run.best_checkpoint).epoch == 3


def test_a_best_checkpoint_that_cannot_be_recovered_is_an_error(tmp_path):
    with pytest.raises(LtcliError, match="the best weights cannot be recovered"):
        resume_progress(RunFolder(tmp_path), fake_checkpoint(3, 0.8, 2, 0.7))
