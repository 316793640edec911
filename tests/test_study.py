"""`ltcli study`: a grid of tiny runs, results that match each run's own files, a table that
numpy agrees with, resuming after kill -9 without redoing finished work, submitit's local executor,
and one-line errors for bad study files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import make_class_images, read_csv

from ltcli.errors import LtcliError

TRAIN = {"model": "resnet20", "epochs": 1, "batchsize": 8, "height": 8, "width": 8, "workers": 0, "device": "cpu",
         "lr": 0.05, "warmup": 0, "objective": "ERM"}
ROOT = Path(__file__).resolve().parents[1]


def write_study(path: Path, **document) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def raw_source(tmp_path: Path) -> Path:
    return make_class_images({"apple": 12, "leaf": 10, "sky": 8}, tmp_path / "raw")


def test_grid_results_table_and_figure(cli, tmp_path):
    raw_source(tmp_path)
    study = write_study(tmp_path / "s.yaml", name="tiny", train=TRAIN,
                        split={"src": "raw", "ratios": "0.5,0.25,0.25", "counts": "{n},4,3"},
                        grid={"n": [3, 6], "seed": [0, 1]})
    result = cli("study", study, "--jobs", "2")
    folder = tmp_path / "logs" / "studies" / "tiny"
    assert sorted(p.name for p in (folder / "splits").iterdir()) == sorted(  # one split per distinct n
        p.name for p in (folder / "splits").iterdir() if (p / "split.json").is_file())
    splits = {json.loads((p / "split.json").read_text())["counts"]["train"]["apple"]
              for p in (folder / "splits").iterdir()}
    assert splits == {3, 6}
    rows = read_csv(folder / "results.csv")
    assert sorted((r["n"], r["seed"]) for r in rows) == [("3", "0"), ("3", "1"), ("6", "0"), ("6", "1")]
    for row in rows:
        metrics = json.loads((Path(tmp_path) / row["run"] / "metrics.json").read_text())
        config = json.loads((Path(tmp_path) / row["run"] / "config.json").read_text())
        assert config["seed"] == int(row["seed"]) and config["epochs"] == 1
        assert config["class_counts"][0] == int(row["n"])  # apple's training count is the point's n
        for key in ("acc", "balanced_acc", "lowest_recall"):
            assert float(row[key]) == pytest.approx(metrics[key])
        for name, recall in zip(metrics["class_names"], metrics["per_class_recall"], strict=True):
            assert float(row[f"recall_{name}"]) == pytest.approx(recall)
    table = (folder / "table.md").read_text()
    for n in ("3", "6"):
        line = next(line for line in table.splitlines() if line.startswith(f"| {n} |"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        header = [c.strip() for c in table.splitlines()[2].strip("|").split("|")]
        for metric in ("acc", "balanced_acc", "recall_sky"):
            values = np.array([float(r[metric]) for r in rows if r["n"] == n])
            mean, sd = (float(x) for x in cells[header.index(metric)].split(" ± "))
            assert mean == pytest.approx(values.mean(), abs=6e-5) and sd == pytest.approx(values.std(ddof=1), abs=6e-5)
        assert cells[header.index("runs")] == "2"
    svg = (folder / "figure.svg").read_text()
    assert svg.startswith("<?xml") and "sky" in svg
    assert "ran 4, skipped 0" in result.output
    again = cli("study", study)
    assert "ran 0, skipped 4" in again.output


# Runs `ltcli study` and SIGKILLs the process right after the second point's run saves epoch 1 of 3.
DRIVER = """
import os, signal, sys
from ltcli.checkpoint import Checkpoint
from ltcli.cli import main
real_save = Checkpoint.save
def save(self, path):
    real_save(self, path)
    if "seed-1" in str(path) and self.epoch == 1 and path.name == "checkpoint_last.pt":
        os.kill(os.getpid(), signal.SIGKILL)
Checkpoint.save = save
sys.argv = ["ltcli", "study", *sys.argv[1:]]
main()
"""


def run_study(cwd: Path, *args: str, driver: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "COLUMNS": "400"}
    command = [sys.executable, "-c", driver, *args] if driver else [sys.executable, "-m", "ltcli", "study", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def stamp_dirs(runs: Path) -> list[Path]:
    return sorted(p.parent for p in runs.rglob("config.json"))


@pytest.mark.slow
def test_kill_9_then_rerun_resumes_without_redoing(tmp_path):
    make_class_images({"apple": 10, "leaf": 8}, tmp_path / "a_datasets" / "two" / "train")
    for split in ("valid", "test"):
        make_class_images({"apple": 3, "leaf": 3}, tmp_path / "a_datasets" / "two" / split)
    write_study(tmp_path / "k.yaml", name="kill", train={**TRAIN, "dataset": "two", "epochs": 3, "lrstep": "2,1"},
                grid={"seed": [0, 1]})
    killed = run_study(tmp_path, "k.yaml", driver=DRIVER)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    runs = tmp_path / "logs" / "studies" / "kill" / "runs"
    first, second = stamp_dirs(runs / "seed-0"), stamp_dirs(runs / "seed-1")
    assert len(first) == 1 and (first[0] / "metrics.json").is_file()  # point 1 finished and tested
    assert len(second) == 1 and not (second[0] / "metrics.json").exists()  # point 2 half done
    assert len(read_csv(second[0] / "valid.csv")) == 2
    before = {p: p.stat().st_mtime_ns for p in first[0].iterdir()}
    done = run_study(tmp_path, "k.yaml")
    assert done.returncode == 0, done.stderr
    assert "ran 1, skipped 1" in done.stdout
    assert {p: p.stat().st_mtime_ns for p in first[0].iterdir()} == before  # not redone, not retested
    assert stamp_dirs(runs / "seed-1") == second  # resumed in place: no new run folder
    assert [int(r["epoch"]) for r in read_csv(second[0] / "valid.csv")] == [0, 1, 2]
    assert "resuming" in (runs / "seed-1" / "log.txt").read_text()
    rows = read_csv(tmp_path / "logs" / "studies" / "kill" / "results.csv")
    assert [r["seed"] for r in rows] == ["0", "1"]


@pytest.mark.slow
def test_submitit_local_executor(tmp_path):
    make_class_images({"apple": 8, "leaf": 6}, tmp_path / "a_datasets" / "two" / "train")
    for split in ("valid", "test"):
        make_class_images({"apple": 3, "leaf": 3}, tmp_path / "a_datasets" / "two" / split)
    write_study(tmp_path / "l.yaml", name="local", train={**TRAIN, "dataset": "two"},
                grid={"objective": ["ERM", "BSCE"]})
    result = run_study(tmp_path, "l.yaml", "--executor", "local", "--cpus", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    folder = tmp_path / "logs" / "studies" / "local"
    rows = read_csv(folder / "results.csv")
    assert [r["objective"] for r in rows] == ["ERM", "BSCE"]
    for row in rows:
        assert f"/{row['objective']}/" in row["run"]
        metrics = json.loads((tmp_path / row["run"] / "metrics.json").read_text())
        assert float(row["acc"]) == pytest.approx(metrics["acc"])
    assert any((folder / "submitit").rglob("*_result.pkl"))  # the points ran as submitit jobs


@pytest.mark.parametrize(("document", "message"), [
    ({"name": "x", "train": {"dataset": "d"}, "grid": {}}, "`grid:` must map options"),
    ({"name": "x", "train": {"dataset": "d"}, "grid": {"seed": [0]}, "gird": 1}, "unknown key 'gird'"),
    ({"name": "x", "train": {"dataset": "d"}, "grid": {"objectiv": ["ERM"]}},
     "unknown option 'objectiv' (did you mean 'objective'?)"),
    ({"name": "x", "train": {"dataset": "d", "lrr": 0.1}, "grid": {"seed": [0]}}, "unknown key 'lrr'"),
    ({"name": "x", "train": {"dataset": "d"}, "grid": {"seed": [0, 0]}}, "repeats a value"),
    ({"name": "x", "train": {"dataset": "d"}, "grid": {"counts": ["1,2"]}}, "add a `split:` section"),
    ({"name": "x", "train": {"dataset": "d", "objective": "Nope"}, "grid": {"seed": [0]}}, "Nope"),
    ({"name": "x", "train": {}, "grid": {"seed": [0]}}, "needs `dataset:` or `data:`"),
    ({"name": "a/b", "train": {"dataset": "d"}, "grid": {"seed": [0]}}, "`name:` must be a folder name"),
    ({"name": "x", "train": {"dataset": "d", "epochs": "{k}"}, "grid": {"seed": [0]}}, "{k} is used"),
])
def test_bad_study_files_are_one_line_errors(cli, tmp_path, document, message):
    result = cli("study", write_study(tmp_path / "bad.yaml", **document), ok=False)
    assert result.exit_code == 1
    assert message in result.output and result.output.count("\n") == 1 and "Traceback" not in result.output
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(("grid_range", "values"), [
    ({"from": 4900, "to": 100, "step": -1200}, [4900, 3700, 2500, 1300, 100]),  # the papers' descending sweeps
    ({"from": 500, "to": 100, "step": -100}, [500, 400, 300, 200, 100]),
    ({"from": 0, "to": 11, "step": 4}, [0, 4, 8]),  # never past `to` (round() gave 12)
    ({"from": 0.1, "to": 0.3, "step": 0.1}, [0.1, 0.2, 0.3]),
    ({"from": 5, "to": 5, "step": -1}, [5]),
])
def test_grid_ranges_count_up_and_down(grid_range, values):
    from ltcli.study.spec import read_grid

    assert read_grid({"n": grid_range}, "s.yaml") == ({"n": values}, {})  # (values, no named rows)


@pytest.mark.parametrize(("grid_range", "message"), [
    ({"from": 0.1, "to": float("nan"), "step": 0.1}, "from/to/step must be finite numbers, got 0.1/nan/0.1"),
    ({"from": 0.1, "to": float("inf"), "step": 0.1}, "from/to/step must be finite numbers, got 0.1/inf/0.1"),
    ({"from": 0, "to": 10, "step": 0}, "step must be above 0 when to >= from and below 0 when to < from, got from 0, "
                                       "to 10, step 0"),
    ({"from": 10, "to": 0, "step": 1}, "step must be above 0 when to >= from and below 0 when to < from"),
    ({"from": 0, "to": 10, "step": -1}, "step must be above 0 when to >= from and below 0 when to < from"),
    ({"from": "a", "to": 10, "step": 1}, "from/to/step must be numbers, got 'a'/10/1"),
])
def test_bad_grid_ranges_are_one_line_errors(cli, tmp_path, grid_range, message):
    result = cli("study", write_study(tmp_path / "bad.yaml", name="x", train={"dataset": "d"}, grid={"n": grid_range}),
                 ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().startswith(f"error: {tmp_path / 'bad.yaml'}: grid 'n': ")
    assert message in " ".join(result.output.split())


@pytest.mark.parametrize(("options", "message"), [
    (("--executor", "local", "--time", "-5"), "--time must be from 1 to 525600, got -5"),
    (("--executor", "local", "--cpus", "-2"), "--cpus must be at least 1, got -2"),
    (("--executor", "slurm", "--gpus", "-1"), "--gpus must be at least 0, got -1"),
    (("--executor", "slurm",), "--executor slurm needs Slurm (its sbatch command is not on PATH here): run the study "
                               "on the cluster's login node, or use --executor local or processes"),
    (("--jobs", "0"), "--jobs must be from 1 to 1024, got 0"),
    (("--jobs", "1025"), "--jobs must be from 1 to 1024, got 1025"),
])
def test_executor_options_are_checked_before_anything_runs(cli, tmp_path, monkeypatch, options, message):
    monkeypatch.setenv("PATH", str(tmp_path / "no-slurm-here"))  # no sbatch
    make_class_images({"apple": 4, "leaf": 4}, tmp_path / "a_datasets" / "two" / "train")
    path = write_study(tmp_path / "s.yaml", name="s", train={**TRAIN, "dataset": "two"}, grid={"seed": [0]})
    result = cli("study", path, *options, ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == f"error: {message}"
    assert not (tmp_path / "logs").exists()  # nothing made, nothing submitted


def test_points_resolve_variables_options_and_ranges(tmp_path):
    from ltcli.study.spec import read_study

    path = write_study(tmp_path / "v.yaml", name="v", train={**TRAIN, "lr": "{lr}"},
                       split={"src": "raw", "seed": "{seed}", "counts": "{n}*2,5"},
                       grid={"n": {"from": 10, "to": 30, "step": 10}, "seed": [0, 1], "lr": [0.1]})
    study = read_study(path)
    assert study.grid["n"] == [10, 20, 30] and len(study.points) == 6
    point = study.points[3]  # n 20, seed 1
    assert point.values == {"n": 20, "seed": 1, "lr": 0.1}
    assert point.train["seed"] == 1 and point.train["lr"] == 0.1  # a variable that is also an option sets it
    assert point.split["seed"] == 1 and point.split["counts"] == "20*2,5"
    assert len({p.split_id for p in study.points}) == 6  # the split depends on n and seed, not on lr
    assert point.id == "n-20_seed-1_lr-0.1"


def test_second_stage_and_test_options(cli, tmp_path):
    make_class_images({"apple": 8, "leaf": 6}, tmp_path / "a_datasets" / "two" / "train")
    for split in ("valid", "test"):
        make_class_images({"apple": 3, "leaf": 3}, tmp_path / "a_datasets" / "two" / split)
    study = write_study(tmp_path / "c.yaml", name="crt", train={**TRAIN, "dataset": "two"}, grid={"seed": [0]},
                        second_stage={"recipe": "crt", "epochs": 1}, test={"tau_norm": "1"})
    cli("study", study)
    row = read_csv(tmp_path / "logs" / "studies" / "crt" / "results.csv")[0]
    first, second = tmp_path / row["run"], tmp_path / row["second_stage_run"]
    assert "/stage2/" in row["second_stage_run"] and "/runs/seed-0/" in row["run"]
    assert (first.parent.name, second.parent.name) == ("ERM", "ERM+crt")  # issue 31, A7
    config = json.loads((second / "config.json").read_text())
    assert config["recipe"] == "crt" and Path(config["init_from"]).resolve() == first.resolve()
    metrics = json.loads((second / "metrics_taunorm.json").read_text())  # the corrected results, tau 1
    assert float(row["acc"]) == pytest.approx(metrics["acc"]) and metrics["posthoc"]["tau_norm"] == 1.0
    assert not (first / "metrics.json").exists()  # only the final stage is tested


STUDY_FILES = sorted((ROOT / "studies").glob("*.yaml"))


@pytest.mark.parametrize("path", STUDY_FILES, ids=[p.stem for p in STUDY_FILES])
def test_the_shipped_study_files_parse(path):
    from ltcli.study.spec import read_study

    study = read_study(path)
    assert study.name == path.stem and study.points
    essence = path.stem.startswith(("toy-", "similar-samples")) and not path.stem.endswith("-cpu")
    if essence:  # the Essence authors' training settings (their train.py)
        train = study.points[0].train
        assert (train["epochs"], train["batch_size"], train["weight_decay"], train["warmup_epochs"]) == (201, 256,
                                                                                                         2e-4, 5)
        assert (train["lr_steps"], train["lr_decay"], train["sched"]) == ([160, 20, 21], 0.01, "step")


def test_the_similar_samples_study_is_the_papers_experiment():
    """CIFAR-10-LT (IF 100) as the base, 0.2*x_0 + 0.8*x_9 mixed into the majority class (airplane)."""
    from ltcli.study.spec import read_study

    study = read_study(ROOT / "studies" / "similar-samples.yaml")
    split = study.points[-1].split
    assert split["imbalance_factor"] == 100 and split["similar"] == "airplane:truck:0.5:0.2"
    assert study.grid["p"] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    cpu = read_study(ROOT / "studies" / "similar-samples-cpu.yaml").points[-1].split
    assert cpu["imbalance_factor"] == 10 and cpu["similar"] == "0:9:0.5:0.2"


def test_the_toy_studies_fix_the_tenth_class_at_the_authors_50_and_sweep_down():
    from ltcli.study.spec import read_study

    others = read_study(ROOT / "studies" / "toy-grow-others.yaml")
    assert others.grid["n"] == list(range(5000, 99, -100))  # `step: -100`, as the paper words it
    assert {p.split["counts"] for p in others.points} == {f"{n}*9,50" for n in range(5000, 99, -100)}
    tenth = read_study(ROOT / "studies" / "toy-grow-tenth.yaml")
    assert tenth.grid["n"] == [50, *range(100, 5001, 100)]


@pytest.mark.parametrize(("listed", "typed"), [
    ({"ratios": [0.5, 0.25, 0.25], "counts": [5, 4, 3]}, {"ratios": "0.5,0.25,0.25", "counts": "5,4,3"}),
    ({"class_order": ["apple", "sky", "leaf"], "imbalance_factor": 4, "n_max": 4},
     {"class_order": "apple,sky,leaf", "imbalance_factor": 4, "n_max": 4}),
])
def test_a_study_file_may_write_split_values_as_yaml_lists(tmp_path, monkeypatch, listed, typed):
    """ratios, counts and class_order as YAML lists split exactly as the same values typed with commas."""
    monkeypatch.chdir(tmp_path)  # the study's folder is logs/ under the working directory: never the checkout's
    from rich.console import Console

    from ltcli.data.make import SplitOptions, make_split
    from ltcli.study.runner import make_splits, point_paths
    from ltcli.study.spec import read_study

    raw = raw_source(tmp_path)  # apple 12, leaf 10, sky 8
    study = read_study(write_study(tmp_path / "s.yaml", name="lists", train=TRAIN, grid={"seed": [0]},
                                   split={"src": str(raw), **listed}))
    make_splits(study, Console(file=open(os.devnull, "w")))  # noqa: SIM115
    from_lists = json.loads((point_paths(study, study.points[0]).split / "split.json").read_text())
    from_text, _, _ = make_split(raw, tmp_path / "typed", SplitOptions(**typed))
    assert from_lists["counts"] == from_text["counts"]
    train = from_lists["counts"]["train"]
    if "counts" in listed:
        assert train == {"apple": 5, "leaf": 4, "sky": 3}
    else:  # head to tail in the listed order: 4, 4 / 4**0.5 = 2, 4 / 4 = 1
        assert train == {"apple": 4, "sky": 2, "leaf": 1}


def test_a_pool_worker_starts_no_point_once_its_study_is_stopped(tmp_path, monkeypatch):
    """SIGTERM to a `--jobs 2` study's process group ended the running points, but the orphaned workers
    went on to the queued ones (found while running the published study): a stopped study starts nothing."""
    from ltcli.engine.loop import STOP
    from ltcli.study import runner
    from ltcli.study.spec import read_study

    raw_source(tmp_path)
    study = read_study(write_study(tmp_path / "s.yaml", name="stop", train=TRAIN, grid={"seed": [0]},
                                   split={"src": str(tmp_path / "raw")}))
    started = []
    monkeypatch.setattr(runner, "run_point", lambda *args: started.append(args) or {})
    with pytest.raises(LtcliError, match="not started: the study was stopped"):
        runner._pool_point(study, study.points[0], 1, os.getpid() + 1)  # the study process is not our parent
    monkeypatch.setattr(STOP, "requested", True)
    with pytest.raises(LtcliError, match="not started: the study was stopped"):
        runner._pool_point(study, study.points[0], 1, os.getppid())  # this worker was told to stop
    assert started == []
    monkeypatch.setattr(STOP, "requested", False)
    assert runner._pool_point(study, study.points[0], 1, os.getppid()) == {} and len(started) == 1
