"""The one run story (`ltcli.engine.story`) both `ltcli train` and `ltcli pretrain` are told by: an
interrupt after the first epoch and a resume end with every epoch logged once, for both kinds of run;
a failure before the first epoch ends leaves no run folder, for both."""

from __future__ import annotations

import errno
import os

import pytest
from conftest import TRAIN_ARGS, read_csv
from test_pretrain import ARGS as PRETRAIN_ARGS
from test_pretrain import make_shapes

from ltcli.checkpoint import Checkpoint

COMMANDS = {
    "train": ("--dataset", "colours", "--objective", "ERM", *TRAIN_ARGS),  # 2 epochs
    "pretrain": (*PRETRAIN_ARGS, "--epochs", "2"),
}
KINDS = {"train": "TrainingRun", "pretrain": "PretrainingRun"}


@pytest.fixture
def datasets(split_dataset, tmp_path):
    make_shapes(tmp_path / "a_datasets" / "shapes")


def the_run(tmp_path) -> os.PathLike:
    (config,) = (tmp_path / "logs").rglob("config.json")
    return config.parent


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_interrupted_run_of_either_kind_resumes_through_the_one_story(command, cli, datasets, tmp_path,
                                                                         monkeypatch):
    from ltcli.engine import story
    from ltcli.engine.loop import STOP

    told: list[tuple[str, int]] = []
    real = story.run_epoch

    def stop_after_the_first(kind, epoch, *args, **kwargs):
        told.append((type(kind).__name__, epoch))
        real(kind, epoch, *args, **kwargs)
        STOP.requested = True  # as a Ctrl-C during the epoch would: the run stops after it

    monkeypatch.setattr(story, "run_epoch", stop_after_the_first)
    stopped = cli(command, *COMMANDS[command], ok=False)
    kind = KINDS[command]
    assert stopped.exit_code == 130 and told == [(kind, 0), (kind, 1)]  # epoch 2 stopped at its first batch
    run = the_run(tmp_path)
    assert f"continuewith`ltcli{command}--resume" in "".join(stopped.output.split())
    assert Checkpoint.load(run / "checkpoint_last.pt").epoch == 0
    monkeypatch.setattr(story, "run_epoch", lambda told_kind, epoch, *a, **k: (
        told.append((type(told_kind).__name__, epoch)), real(told_kind, epoch, *a, **k)))
    resumed = cli(command, "--resume", str(run))
    assert told[2:] == [(kind, 1)]  # only the missing epoch ran
    assert "done: best" in resumed.output
    assert [row["epoch"] for row in read_csv(run / "valid.csv")] == ["0", "1"]  # each epoch once
    assert [row["epoch"] for row in read_csv(run / "train.csv")] == ["0", "1"]
    last = Checkpoint.load(run / "checkpoint_last.pt")
    assert last.epoch == 1 and (last.pretext is not None) == (command == "pretrain")


@pytest.mark.parametrize(("command", "module"), [("train", "ltcli.engine.train"), ("pretrain", "ltcli.pretrain.run")])
def test_a_failure_in_the_first_epoch_of_either_kind_leaves_no_run_folder(command, module, cli, datasets, tmp_path,
                                                                          monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "logs/somewhere")

    monkeypatch.setattr(f"{module}.train_one_epoch", fail)
    result = cli(command, *COMMANDS[command], ok=False)
    assert result.exit_code == 1 and "no space left on device" in result.output.lower()
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").rglob("config.json"))
