"""Schedules, run folders, atomic writes and checkpoints."""

from __future__ import annotations

import json
import os
import threading

import pytest
import torch

from ltcli.atomic import atomic_open, atomic_write_text
from ltcli.checkpoint import Checkpoint
from ltcli.engine.schedule import create_scheduler, step_milestones
from ltcli.errors import LtcliError
from ltcli.runs import create_run_dir, find_run, is_stamp


def lrs_per_epoch(sched, epochs, updates_per_epoch, lr_steps=(60, 60, 40, 40), warmup=5):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = create_scheduler(optimizer, sched, epochs, updates_per_epoch, list(lr_steps), 0.1, warmup)
    lrs, updates = [], 0
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])  # lr used by the epoch's first batch
        for _ in range(updates_per_epoch):
            updates += 1
            scheduler.step_update(num_updates=updates)
    return lrs


def test_step_milestones_from_stage_lengths():
    assert step_milestones([60, 60, 40, 40]) == [60, 120, 160]
    with pytest.raises(LtcliError):
        step_milestones([60, 0])


def test_step_schedule_warms_up_then_drops_after_each_stage():
    lrs = lrs_per_epoch("step", 200, 10)
    # linear warmup from ~0 to 0.1 over 5 epochs (50 updates), then 0.1 until epoch 60, ...
    assert lrs[0] == pytest.approx(1e-4)
    for epoch in range(1, 5):
        assert lrs[epoch] == pytest.approx(1e-4 + (0.1 - 1e-4) * epoch * 10 / 50)
    assert lrs[5] == pytest.approx(0.1) and lrs[59] == pytest.approx(0.1)
    assert lrs[60] == pytest.approx(0.01) and lrs[119] == pytest.approx(0.01)
    assert lrs[120] == pytest.approx(0.001) and lrs[160] == pytest.approx(0.0001) and lrs[199] == pytest.approx(1e-4)


def test_cosine_schedule_decays_to_min():
    lrs = lrs_per_epoch("cosine", 50, 4, warmup=0)
    assert lrs[0] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))
    assert lrs[25] == pytest.approx(0.05, rel=0.02)


def test_run_dirs_started_in_the_same_second_do_not_collide(tmp_path):
    dirs: list = []
    threads = [threading.Thread(target=lambda: dirs.append(create_run_dir(tmp_path, "m", "d", "o"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({d.stamp for d in dirs}) == 3
    assert all(is_stamp(d.stamp) and d.path.parent == tmp_path / "m" / "d" / "o" for d in dirs)


def test_find_run_latest_and_by_stamp(tmp_path):
    for stamp in ("2026-01-01-00-00-00", "2026-02-01-00-00-00"):
        run = tmp_path / "m" / "d" / "o" / stamp
        run.mkdir(parents=True)
        (run / "config.json").write_text("{}")
    assert find_run(tmp_path, model="m", dataset="d", objective="o", stamp="latest").stamp == "2026-02-01-00-00-00"
    assert find_run(tmp_path, stamp="2026-01-01-00-00-00").stamp == "2026-01-01-00-00-00"
    with pytest.raises(LtcliError, match="no run 2026-03-01-00-00-00"):
        find_run(tmp_path, stamp="2026-03-01-00-00-00")
    with pytest.raises(LtcliError, match="YYYY-MM-DD-HH-MM-SS"):
        find_run(tmp_path, stamp="yesterday")


def test_atomic_write_keeps_previous_file_when_writer_fails(tmp_path):
    target = tmp_path / "metrics.json"
    atomic_write_text(target, json.dumps({"acc": 0.5}))
    with pytest.raises(RuntimeError), atomic_open(target, "w") as handle:
        handle.write('{"acc": 0.')
        raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"acc": 0.5}
    assert os.listdir(tmp_path) == ["metrics.json"]  # no temp file left behind


class Opaque:
    """An arbitrary object needs unpickling code: weights_only refuses it."""


def test_checkpoint_round_trip_is_weights_only(tmp_path):
    Checkpoint(model={"w": torch.arange(3.0)}, epoch=4, class_names=["a", "b"], config={"model": "m"}).save(
        tmp_path / "c.pt")
    loaded = Checkpoint.load(tmp_path / "c.pt")
    assert loaded.epoch == 4 and loaded.class_names == ["a", "b"]
    assert torch.equal(loaded.model["w"], torch.arange(3.0))
    # the file is a plain dict under the field names (the layout earlier ltcli versions wrote)
    raw = torch.load(tmp_path / "c.pt", weights_only=True)
    assert raw["epoch"] == 4 and raw["config"] == {"model": "m"} and raw["model_ema"] is None
    torch.save({"x": Opaque()}, tmp_path / "evil.pt")
    with pytest.raises(LtcliError, match="holds Python objects besides tensors") as refused:
        Checkpoint.load(tmp_path / "evil.pt")
    assert "weights_only=False" not in str(refused.value)  # never steer users to an unsafe load
    with pytest.raises(LtcliError, match="checkpoint not found"):
        Checkpoint.load(tmp_path / "missing.pt")


def test_atomic_files_get_the_usual_permissions(tmp_path):
    atomic_write_text(tmp_path / "a.json", "{}")
    (tmp_path / "b.json").write_text("{}")  # what a plain open() gives under this umask
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == (tmp_path / "b.json").stat().st_mode & 0o777


def test_a_killed_writer_leaves_the_previous_file_intact(tmp_path):
    """SIGKILL a process in the middle of a large atomic write: the old content survives whole."""
    import signal
    import subprocess
    import sys
    import time

    target = tmp_path / "checkpoint_last.pt"
    atomic_write_text(target, "previous")
    started = tmp_path / "started"
    script = (
        "import sys, pathlib, time\n"
        "from ltcli.atomic import atomic_open\n"
        "with atomic_open(sys.argv[1], 'w') as handle:\n"
        "    for _ in range(200):\n"
        "        handle.write('y' * 65536)\n"  # 13 MB written, not yet renamed
        "    pathlib.Path(sys.argv[2]).write_text('x')\n"
        "    time.sleep(120)\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", script, str(target), str(started)])
    deadline = time.time() + 60
    while not started.exists() and time.time() < deadline:
        time.sleep(0.01)
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    assert target.read_text() == "previous"


def test_the_next_write_removes_a_killed_writers_old_temp_file_but_not_a_fresh_one(tmp_path):
    target = tmp_path / "checkpoint_last.pt"
    old = tmp_path / ".checkpoint_last.pt.abc123.tmp"
    fresh = tmp_path / ".checkpoint_last.pt.def456.tmp"
    other = tmp_path / ".valid.csv.ghi789.tmp"
    for path in (old, fresh, other):
        path.write_bytes(b"half a checkpoint")
    an_hour_ago = os.stat(old).st_mtime - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    os.utime(other, (an_hour_ago, an_hour_ago))
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert not old.exists() and fresh.exists()  # a write may be under way in the fresh one
    assert other.exists()  # another file's temp is left to that file's next write
