"""Never lose a run: SIGTERM mid-training, then --resume, ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ARGS = ["--dataset", "colours", "--model", "resnet20", "--objective", "CCE", "--epochs", "5", "--batchsize", "4",
        "--lrstep", "3,2", "--warmup", "1", "--height", "16", "--width", "16", "--workers", "0", "--device", "cpu",
        "--lr", "0.05", "--train-rule", "Resample", "--seed", "7", "--ema-decay", "0.8", "--mixup", "0.3"]


def ltcli(cwd: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1",
           "COLUMNS": "400"}  # no line wrapping of the paths the test looks for
    return subprocess.Popen([sys.executable, "-m", "ltcli", "train", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return [{k: v for k, v in row.items() if k != "time_s"} for row in csv.DictReader(handle)]


def the_run(logs: Path) -> Path:
    (run,) = list((logs / "resnet20" / "colours" / "CCE").iterdir())
    return run


@pytest.mark.slow
@pytest.mark.parametrize("cache", ["memory", "none"])
def test_sigterm_then_resume_matches_an_uninterrupted_run(split_dataset, tmp_path, cache):
    root = split_dataset.parent.parent  # the folder holding a_datasets/
    args = [*ARGS, "--data-cache", cache]
    straight = ltcli(root, *args, "--logs-dir", "straight")
    assert straight.wait(timeout=300) == 0, straight.stdout.read()

    interrupted = ltcli(root, *args, "--logs-dir", "cut")
    deadline = time.time() + 240
    valid_csv = None
    while time.time() < deadline and interrupted.poll() is None:
        runs = list((root / "cut").glob("resnet20/colours/CCE/*/valid.csv"))
        if runs and len(runs[0].read_text().splitlines()) >= 3:  # header + epochs 1 and 2 done
            valid_csv = runs[0]
            break
        time.sleep(0.02)
    assert valid_csv is not None and interrupted.poll() is None, "the run ended before it could be interrupted"
    interrupted.send_signal(signal.SIGTERM)
    output = interrupted.communicate(timeout=120)[0]
    assert interrupted.returncode == 130, output
    assert "continue with `ltcli train --resume" in " ".join(output.split())
    cut_run = the_run(root / "cut")
    done = torch.load(cut_run / "checkpoint_last.pt", weights_only=True)["epoch"]
    assert 0 <= done < 4  # stopped in the middle of training (CSV rows past `done` are redone)

    resumed = ltcli(root, "--resume", str(cut_run), "--logs-dir", "cut")
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, output
    assert f"resuming {cut_run}" in " ".join(output.split())

    straight_run = the_run(root / "straight")
    for name in ("train.csv", "valid.csv"):
        assert [r["epoch"] for r in rows(cut_run / name)] == ["0", "1", "2", "3", "4"]  # no gaps, no duplicates
        assert rows(cut_run / name) == rows(straight_run / name)
    a = torch.load(cut_run / "checkpoint_last.pt", weights_only=True)
    b = torch.load(straight_run / "checkpoint_last.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 4
    for weights in ("model", "model_ema"):  # the EMA too, and mixup's draws, continue exactly
        for key, tensor in b[weights].items():
            assert torch.equal(a[weights][key], tensor), key


def test_resume_of_a_finished_run_is_refused(cli, split_dataset, tmp_path):
    from conftest import TRAIN_ARGS, only_run

    cli("train", "--dataset", "colours", "--objective", "ERM", *TRAIN_ARGS)
    run = only_run(tmp_path, "ERM")
    result = cli("train", "--resume", str(run), ok=False)
    assert result.exit_code == 1 and "already finished all 2 epochs" in " ".join(result.output.split())


@pytest.mark.parametrize("stamp", ["2020-01-01-00-00-00"])
def test_resume_unknown_run(cli, stamp):
    result = cli("train", "--resume", stamp, ok=False)
    assert result.exit_code == 1 and f"no run {stamp}" in " ".join(result.output.split())
