"""--threads: the CPUs a process may use, the candidate counts, and `auto` choosing by measured step
times (a fake clock whose step length depends on the thread count set), then the runs recording it."""

from __future__ import annotations

import json

import pytest
import torch

from ltcli.choices import parse_threads
from ltcli.engine import threads as threads_module
from ltcli.engine.threads import (
    AFTER_BUSIER_EPOCHS,
    CPUS_ENV,
    MAX_RECHECK_EPOCHS,
    RECHECK_EPOCHS,
    SLOW_WINDOW,
    ThreadTuner,
    candidates,
    cgroup_cpu_limit,
    usable_cpus,
)
from ltcli.errors import LtcliError
from tests.conftest import TRAIN_ARGS, make_dataset


@pytest.fixture(autouse=True)
def keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


class FakeMachine:
    """A clock whose steps last `seconds[threads]` at the thread count torch is set to."""

    def __init__(self, monkeypatch, seconds: dict[int, float]):
        self.seconds, self.now, self.steps = dict(seconds), 0.0, 0
        monkeypatch.setattr(threads_module.time, "perf_counter", lambda: self.now)

    def epoch(self, tuner: ThreadTuner, epoch: int, steps: int, images: int = 10) -> None:
        tuner.start_epoch(epoch)
        for _ in range(steps):
            self.now += self.seconds[torch.get_num_threads()]
            self.steps += 1
            tuner.after_step(images)
        tuner.end_epoch()


def auto(cpus: int, workers: int = 0) -> ThreadTuner:
    tuner = ThreadTuner("auto", cpus, workers)
    tuner.begin()
    return tuner


@pytest.mark.parametrize(("seconds", "chosen"), [({1: 2.0, 2: 1.0}, 2), ({1: 1.0, 2: 1.5}, 1)])
def test_auto_keeps_the_fastest_count_and_records_what_it_measured(monkeypatch, seconds, chosen):
    machine = FakeMachine(monkeypatch, seconds)
    tuner = auto(2)
    machine.epoch(tuner, 0, steps=20)
    assert tuner.chosen == chosen == torch.get_num_threads()
    (event,) = tuner.events()
    # 10 images a step: seconds per step / 10 * 1000 ms per image
    assert event == {"epoch": 1, "threads": chosen, "reason": "start",
                     "ms_per_image": {"1": seconds[1] * 100, "2": seconds[2] * 100}}
    assert tuner.events() == []  # taken once


def test_a_hopeless_count_is_dropped_on_its_warm_up_step(monkeypatch):
    machine = FakeMachine(monkeypatch, {1: 1.0, 2: 30.0})  # 2 threads beside a busy process
    tuner = auto(2)
    machine.epoch(tuner, 0, steps=6)
    # 1 thread: a warm-up step and 4 measured; 2 threads: its warm-up step alone, 30x slower, is enough
    assert not tuner.tuning and tuner.chosen == 1
    assert tuner.events()[0]["ms_per_image"] == {"1": 100.0, "2": 3000.0}


def test_a_slow_count_is_dropped_after_one_measured_step(monkeypatch):
    machine = FakeMachine(monkeypatch, {1: 1.0, 2: 2.5})  # warm-up under 3x the best: measured once
    tuner = auto(2)
    machine.epoch(tuner, 0, steps=7)
    assert not tuner.tuning and tuner.chosen == 1
    assert tuner.events()[0]["ms_per_image"] == {"1": 100.0, "2": 250.0}


def test_a_hopeless_count_is_not_measured_again_when_the_machine_gets_busier(monkeypatch):
    machine = FakeMachine(monkeypatch, {1: 1.0, 2: 30.0})
    tuner = auto(2)
    machine.epoch(tuner, 0, steps=20)
    tuner.events()
    machine.seconds = {1: 2.0, 2: 60.0}  # busier still: one thread's steps 2x slower -> measure again
    machine.epoch(tuner, 1, steps=20)  # judged after its warm-up step and 8 more, re-measured at 1 thread only
    (event,) = tuner.events()
    assert event == {"epoch": 2, "threads": 1, "reason": "steps 2.0x slower than measured",
                     "ms_per_image": {"1": 200.0}}
    assert tuner.chosen == 1 and not tuner.tuning  # never back at 2 threads: every step cost 2 s
    machine.epoch(tuner, 2, steps=20)
    assert tuner.events() == [] and tuner.chosen == 1
    assert machine.now == pytest.approx(19 * 1.0 + 30.0 + 20 * 2.0 + 20 * 2.0)  # one 30 s step in all


def test_steps_much_faster_measure_every_count_again(monkeypatch):
    machine = FakeMachine(monkeypatch, {1: 1.0, 2: 30.0})
    tuner = auto(2)
    machine.epoch(tuner, 0, steps=20)
    tuner.events()
    machine.seconds = {1: 0.5, 2: 0.4}  # the busy neighbour ended
    machine.epoch(tuner, 1, steps=20)
    machine.epoch(tuner, 2, steps=20)
    (event,) = tuner.events()
    assert event["reason"] == "steps 2.0x faster than measured" and tuner.chosen == 2
    assert event["ms_per_image"] == {"1": 50.0, "2": 40.0}


def test_steps_turning_slower_mid_epoch_switch_within_that_epoch(monkeypatch):
    machine = FakeMachine(monkeypatch, {1: 2.0, 2: 1.0})
    tuner = auto(2)
    machine.epoch(tuner, 0, steps=20)
    assert tuner.chosen == 2
    tuner.events()
    machine.seconds = {1: 2.2, 2: 11.0}  # another process starts: 2 threads stall
    before = machine.now
    machine.epoch(tuner, 1, steps=20)
    assert tuner.chosen == 1 == torch.get_num_threads() and not tuner.tuning
    (event,) = tuner.events()
    assert event == {"epoch": 2, "threads": 1, "reason": "steps 11.0x slower than measured",
                     "ms_per_image": {"1": 220.0, "2": 1100.0}}
    # 2 threads: the epoch's first step and 8 judged, then its warm-up step when measured again (dropped as
    # hopeless); 1 thread: a warm-up step, 4 measured and the 5 left. Judged only at the epoch's end, all 20
    # steps would have taken 11 s.
    assert machine.now - before == pytest.approx(9 * 11.0 + 11.0 + 10 * 2.2)


def test_an_epoch_too_short_to_judge_mid_way_is_judged_at_its_end(monkeypatch):
    machine = FakeMachine(monkeypatch, {1: 2.0, 2: 1.0})
    tuner = auto(2)
    machine.epoch(tuner, 0, steps=20)
    tuner.events()
    machine.seconds = {1: 2.2, 2: 11.0}
    machine.epoch(tuner, 1, steps=SLOW_WINDOW)  # its first step and 7 judged steps: under the window
    assert tuner.tuning and tuner.events() == []
    machine.epoch(tuner, 2, steps=20)
    (event,) = tuner.events()
    assert (event["epoch"], event["threads"], event["reason"]) == (3, 1, "steps 11.0x slower than measured")


def test_a_steady_run_rechecks_every_few_epochs(monkeypatch):
    machine = FakeMachine(monkeypatch, {1: 1.0, 2: 1.2})
    tuner = auto(2)
    machine.epoch(tuner, 0, steps=20)
    tuner.events()
    for epoch in range(1, RECHECK_EPOCHS):  # the first epoch's steady steps count as one
        assert not tuner.tuning, epoch
        machine.epoch(tuner, epoch, steps=20)
    assert tuner.tuning  # the machine may have become idle: measured again
    machine.seconds = {1: 1.0, 2: 0.6}
    machine.epoch(tuner, RECHECK_EPOCHS, steps=20)
    assert tuner.chosen == 2 and tuner.events()[0]["reason"] == f"recheck after {RECHECK_EPOCHS} epochs"


def test_rechecks_that_keep_the_count_come_less_often(monkeypatch):
    machine = FakeMachine(monkeypatch, {1: 1.0, 2: 1.2})
    tuner = auto(2)
    machine.epoch(tuner, 0, steps=20)
    checks, epoch = [e["epoch"] for e in tuner.events()], 1  # the start: epoch 1
    while epoch < 200:
        machine.epoch(tuner, epoch, steps=20)
        checks += [e["epoch"] for e in tuner.events()]
        epoch += 1
    # measured again 10 epochs after the start, then every 20 (doubled once, capped at MAX_RECHECK_EPOCHS),
    # each keeping 1 thread: at epochs 1, 11, 31, 51, ..., 191
    assert [b - a for a, b in zip(checks, checks[1:], strict=False)] == [10] + [MAX_RECHECK_EPOCHS] * 9
    assert RECHECK_EPOCHS == 10 and MAX_RECHECK_EPOCHS == 20
    assert tuner.chosen == 1


def test_a_forced_count_is_set_and_never_measured(monkeypatch):
    machine = FakeMachine(monkeypatch, {1: 1.0, 2: 9.0, 3: 0.1})
    tuner = ThreadTuner(3, cpus=2)
    tuner.begin()
    for epoch in range(3):
        machine.epoch(tuner, epoch, steps=10)
    assert torch.get_num_threads() == 3 and not tuner.tuning
    assert tuner.events() == [{"epoch": 1, "threads": 3, "reason": "forced"}]


def test_loader_workers_come_off_the_budget():
    assert ThreadTuner("auto", 4, workers=2).budget == 2
    assert ThreadTuner("auto", 2, workers=2).budget == 1
    assert candidates(ThreadTuner("auto", 8, workers=2).budget) == [1, 2, 4, 5, 6]


@pytest.mark.parametrize(("cpus", "expected"), [
    (1, [1]), (2, [1, 2]), (3, [1, 2, 3]), (4, [1, 2, 3, 4]), (16, [1, 2, 4, 8, 15, 16]),
])
def test_candidates(cpus, expected):
    assert candidates(cpus) == expected


@pytest.mark.parametrize(("files", "expected"), [
    ({"cpu.max": "150000 100000\n"}, 1.5),
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({}, None),
])
def test_cgroup_quota(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cgroup_cpu_limit(tmp_path) == expected


@pytest.mark.parametrize(("affinity", "quota", "share", "local", "expected"), [
    (8, None, "", "1", 8),
    (8, 2.5, "", "1", 3),  # a quota of 2.5 CPUs keeps 3 threads busy part of the time
    (8, None, "3", "1", 3),
    (2, None, "5", "1", 2),  # a share larger than the machine is the machine
    (8, None, "", "4", 2),  # four torchrun processes on this machine
    (1, None, "", "4", 1),
])
def test_usable_cpus(monkeypatch, affinity, quota, share, local, expected):
    monkeypatch.setattr(threads_module.os, "sched_getaffinity", lambda pid: set(range(affinity)), raising=False)
    monkeypatch.setattr(threads_module, "cgroup_cpu_limit", lambda: quota)
    monkeypatch.setenv(CPUS_ENV, share)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", local)
    assert usable_cpus() == expected


@pytest.mark.parametrize(("value", "expected"), [("auto", "auto"), ("2", 2), (" 3 ", 3), (4, 4)])
def test_parse_threads(value, expected):
    assert parse_threads(value) == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", 0, True, 2.0, ""])
def test_bad_thread_counts_are_refused(value):
    with pytest.raises(LtcliError, match=r"^--threads takes auto or a whole number of threads \(at least 1\)"):
        parse_threads(value)


@pytest.mark.parametrize("value", ["0", "many"])
def test_the_cli_refuses_a_bad_count_in_one_line(tmp_path, cli, value):
    make_dataset(tmp_path / "a_datasets" / "colours")
    result = cli("train", "--dataset", "colours", *TRAIN_ARGS, "--threads", value, ok=False)
    assert result.exit_code == 1
    assert "--threads takes auto or a whole number" in result.output and "Traceback" not in result.output


def run_config(tmp_path) -> dict:
    (path,) = (tmp_path / "logs").rglob("config.json")
    return json.loads(path.read_text())


def test_an_auto_run_records_its_cpus_and_choices(tmp_path, cli, monkeypatch):
    monkeypatch.setenv(CPUS_ENV, "2")
    make_dataset(tmp_path / "a_datasets" / "colours")
    result = cli("train", "--dataset", "colours", *TRAIN_ARGS, "--epochs", "3")
    config = run_config(tmp_path)
    assert config["threads"] == "auto" and config["usable_cpus"] == min(2, usable_cpus())
    assert config["thread_choices"], "the first measurement is recorded"
    first = config["thread_choices"][0]
    assert first["reason"] == "start" and first["threads"] in candidates(config["usable_cpus"])
    assert set(first["ms_per_image"]) == {str(c) for c in candidates(config["usable_cpus"])}
    assert f"threads: {first['threads']} (start" in "".join(result.output.split("\n"))


def test_a_forced_run_records_its_count(tmp_path, cli):
    make_dataset(tmp_path / "a_datasets" / "colours")
    cli("train", "--dataset", "colours", *TRAIN_ARGS, "--threads", "1")
    config = run_config(tmp_path)
    assert config["threads"] == 1
    assert config["thread_choices"] == [{"epoch": 1, "threads": 1, "reason": "forced"}]


def test_the_apps_parallel_jobs_split_the_cpus(tmp_path, monkeypatch):
    from ltcli.app import jobs

    monkeypatch.setattr(jobs, "usable_cpus", lambda: 5)
    queue = jobs.JobQueue(tmp_path, tmp_path / "work", parallel=2)
    try:
        assert queue.cpus_each == 2
    finally:
        queue.shutdown()


def test_fewer_threads_for_a_brief_neighbour_come_back_soon_after_it_leaves(monkeypatch):
    machine = FakeMachine(monkeypatch, {1: 2.0, 2: 1.0})
    tuner = auto(2)
    machine.epoch(tuner, 0, steps=20)
    tuner.events()
    machine.seconds = {1: 2.2, 2: 11.0}  # a neighbour for three epochs
    machine.epoch(tuner, 1, steps=20)  # switched to 1 thread mid-way (this epoch counts as one)
    assert tuner.chosen == 1 and tuner.events()[0]["reason"] == "steps 11.0x slower than measured"
    machine.epoch(tuner, 2, steps=20)
    assert tuner.tuning  # AFTER_BUSIER_EPOCHS after the switch, not RECHECK_EPOCHS
    machine.epoch(tuner, 3, steps=20)  # still busy: 1 thread kept, the next look 4 epochs on
    assert tuner.events() == [{"epoch": 4, "threads": 1, "reason": f"recheck after {AFTER_BUSIER_EPOCHS} epochs",
                               "ms_per_image": {"1": 220.0, "2": 1100.0}}]
    machine.seconds = {1: 2.0, 2: 1.0}  # the neighbour has gone
    for epoch in range(4, 7):
        machine.epoch(tuner, epoch, steps=20)
        assert tuner.chosen == 1 and tuner.events() == [], epoch
    machine.epoch(tuner, 7, steps=20)
    assert tuner.chosen == 2 and tuner.events() == [{
        "epoch": 8, "threads": 2, "reason": "recheck after 4 epochs", "ms_per_image": {"1": 200.0, "2": 100.0}}]
    for epoch in range(8, 6 + RECHECK_EPOCHS):  # back at 2 threads: the usual interval again (epoch 7 is one)
        machine.epoch(tuner, epoch, steps=20)
        assert not tuner.tuning and tuner.events() == [], epoch
    machine.epoch(tuner, 6 + RECHECK_EPOCHS, steps=20)
    assert tuner.tuning and AFTER_BUSIER_EPOCHS == 2
