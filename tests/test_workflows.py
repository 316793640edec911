"""ltcli.workflows: each workflow on tiny generated data (no training), and the front ends (the CLI,
the app, the study runner, the reproduce benchmark) going through the same function."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import make_class_images, make_dataset, tree_digest
from rich.console import Console
from typer.testing import CliRunner

from ltcli import workflows
from ltcli.checkpoint import Checkpoint
from ltcli.cli import app as cli_app
from ltcli.config import DEFAULT, TrainConfig
from ltcli.data.make import SplitOptions
from ltcli.errors import LtcliError
from ltcli.run_folder import RunFolder
from ltcli.runs import is_stamp
from ltcli.schedule_rules import default_schedule

STAMP = "2026-01-02-03-04-05"


def fake_run(root: Path, config: dict, objective: str = "CE", stamp: str = STAMP) -> RunFolder:
    """A run folder with only its config.json (what the workflows read before any weights)."""
    folder = root / "logs" / "resnet20" / "colours" / objective / stamp
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return RunFolder(folder)


def save_last(run: RunFolder, epoch: int, epochs: int) -> None:
    """checkpoint_last.pt after `epoch` (0-based) of an `epochs`-epoch run, as resuming reads it, and the
    best checkpoint it names (that epoch's)."""
    config = TrainConfig(dataset="colours", model="resnet20", epochs=epochs).to_dict()
    checkpoint = Checkpoint(model={"w": torch.zeros(1)}, epoch=epoch, class_names=["a", "b"], config=config,
                            optimizer={}, scheduler={}, best_value=0.5, best_epoch=epoch, valid_metrics={"acc": 0.5})
    checkpoint.save(run.best_checkpoint)
    checkpoint.save(run.last_checkpoint)


def one_line(text: str) -> str:
    return " ".join(str(text).split())


# --- split_once --------------------------------------------------------------------------------------------
def test_a_raw_folder_is_split_stratified_once_and_then_reused(tmp_path):
    raw = make_class_images({"apple": 20, "leaf": 10, "sky": 7}, tmp_path / "raw")
    destination = tmp_path / "a_datasets" / "fruit"
    assert workflows.split_once(raw, destination, SplitOptions(seed=3)) is True
    counts = {split: {c: len(list((destination / split / c).iterdir())) for c in ("apple", "leaf", "sky")}
              for split in ("train", "valid", "test")}
    # 0.7/0.15/0.15 of each class by largest remainder: apple 14/3/3; leaf 7/1.5/1.5 -> 7/2/1 (the tied
    # remainder goes to valid, listed first); sky 4.9/1.05/1.05 -> 5/1/1 (the largest remainder is train's).
    assert counts == {"train": {"apple": 14, "leaf": 7, "sky": 5}, "valid": {"apple": 3, "leaf": 2, "sky": 1},
                      "test": {"apple": 3, "leaf": 1, "sky": 1}}
    every = [f"{c}/{p.name}" for c in ("apple", "leaf", "sky") for s in counts for p in (destination / s / c).iterdir()]
    assert len(every) == len(set(every)) == 37  # each image in exactly one split
    before = tree_digest(destination)
    assert workflows.split_once(raw, destination, SplitOptions(seed=4)) is False  # made already: kept as it is
    assert tree_digest(destination) == before


def test_a_folder_the_split_did_not_make_is_never_replaced(tmp_path):
    raw = make_class_images({"apple": 6, "leaf": 6}, tmp_path / "raw")
    destination = tmp_path / "a_datasets" / "fruit"
    destination.mkdir(parents=True)
    (destination / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(LtcliError, match="already exists"):
        workflows.split_once(raw, destination)
    assert [p.name for p in destination.iterdir()] == ["notes.txt"]


# --- dataset_of_run ------------------------------------------------------------------------------------------
def test_a_runs_dataset_is_the_folder_its_config_records(tmp_path):
    data = make_dataset(tmp_path / "a_datasets" / "colours").resolve()
    run = fake_run(tmp_path, {"dataset_root": str(data)})
    source = workflows.dataset_of_run(run)
    assert (source.root, source.kind, source.splits) == (data, "folder", ["train", "valid", "test"])
    assert workflows.dataset_folders(run) == [data]
    other = make_dataset(tmp_path / "elsewhere")
    assert workflows.dataset_of_run(run, other).root == other  # --data wins
    bare = fake_run(tmp_path, {"model": "resnet20"}, stamp="2026-01-02-03-04-06")
    with pytest.raises(LtcliError, match=r"has no config.json naming its dataset \(dataset_root\): give --data"):
        workflows.dataset_of_run(bare)


# --- testing: the ensemble folder ------------------------------------------------------------------------------
def test_an_ensemble_folder_is_claimed_fresh_and_given_back_when_the_test_fails(tmp_path):
    logs = tmp_path / "logs"
    with workflows.ensemble_folder(logs, "colours") as kept:
        (kept / "metrics.json").write_text("{}", encoding="utf-8")
    assert kept.parent == logs / "ensembles" / "colours" and is_stamp(kept.name)
    with pytest.raises(LtcliError, match="boom"), workflows.ensemble_folder(logs, "colours") as failed:
        assert failed != kept  # never the same folder, even within one second
        raise LtcliError("boom")
    assert not failed.exists() and (kept / "metrics.json").is_file()
    with workflows.ensemble_folder(logs, "colours", out=tmp_path / "mine") as given:
        assert given == tmp_path / "mine"


def test_an_ensemble_into_a_folder_holding_results_is_refused_and_the_results_kept(tmp_path):
    data = make_dataset(tmp_path / "a_datasets" / "colours").resolve()
    runs = [fake_run(tmp_path, {"dataset_root": str(data)}, stamp=s) for s in (STAMP, "2026-01-02-03-04-06")]
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.json").write_text('{"acc": 0.5}', encoding="utf-8")
    with pytest.raises(LtcliError, match="already holds metrics.json: pass --force to replace"):
        workflows.run_test(runs, out=out)
    assert (out / "metrics.json").read_text(encoding="utf-8") == '{"acc": 0.5}'
    with pytest.raises(LtcliError, match="--split must be test or valid, got 'train'"):
        workflows.run_test(runs, "train")


# --- resuming -------------------------------------------------------------------------------------------------
def test_the_resume_check_reads_the_last_checkpoint_and_refuses_a_finished_run(tmp_path):
    run = fake_run(tmp_path, {})
    with pytest.raises(LtcliError, match="has no checkpoint_last.pt to resume from"):
        workflows.check_resumable(run)
    save_last(run, epoch=0, epochs=3)
    progress = workflows.check_resumable(run)
    assert (progress.epochs_done, progress.epochs, progress.finished) == (1, 3, False)
    save_last(run, epoch=2, epochs=3)
    assert workflows.run_progress(run).finished
    with pytest.raises(LtcliError) as error:
        workflows.check_resumable(run)
    assert str(error.value) == f"{run.path} already finished all 3 epochs: nothing to resume"


# --- recipes of the front ends ----------------------------------------------------------------------------------
def test_the_tune_recipe_keeps_the_runs_data_and_inputs_and_starts_from_it(tmp_path):
    config = TrainConfig(dataset="colours", model="resnet20", objective="CE", epochs=30, height=16, width=16,
                         lr=0.05, seed=3, lr_steps=[20, 10], sched="step", mixup=0.2).to_dict()
    run = fake_run(tmp_path, config)
    given = workflows.tune_options(run, "GML", 5, start="logs/run")
    assert given == {"dataset": "colours", "model": "resnet20", "height": 16, "width": 16, "hflip": DEFAULT.hflip,
                     "batch_size": DEFAULT.batch_size, "workers": DEFAULT.workers, "seed": 3, "lr": 0.05,
                     "momentum": DEFAULT.momentum, "weight_decay": DEFAULT.weight_decay, "objective": "GML",
                     "epochs": 5, "sched": "cosine", "warmup_epochs": 0, "init_from": "logs/run", "freeze": "none",
                     "name": f"GML tune of {STAMP}"}  # not the run's objective, schedule or mixup
    assert workflows.tune_options(run, "GML", 5, freeze="backbone")["freeze"] == "backbone"  # the app's /tune
    with pytest.raises(LtcliError, match="--freeze"):
        workflows.tune_options(run, "GML", 5, freeze="everything")
    assert workflows.tune_options(run, "GML", 5)["init_from"] == str(run.path)
    with pytest.raises(LtcliError, match="unknown objective 'nope'"):
        workflows.tune_options(run, "nope", 5)


def test_a_recipe_rescaled_to_fewer_epochs_follows_the_default_schedules_rule():
    """The benchmark's shortened recipes and the default schedule scale by one rule: the defaults
    themselves rescaled give default_schedule at every length."""
    ldam = {"epochs": 200, "lr_steps": [160, 20, 20], "warmup_epochs": 5, "drw_epoch": 160}
    # drops at 160 and 180 of 200 -> 16 and 18 of 20; warmup 5 * 20/200 = 0.5 -> 1 (half up); DRW 160 -> 16
    assert workflows.rescaled_schedule(ldam, 20) == {"epochs": 20, "lr_steps": [16, 2, 2], "warmup_epochs": 1,
                                                     "drw_epoch": 16}
    defaults = {"epochs": 200, "lr_steps": [60, 60, 40, 40], "warmup_epochs": 5}
    for epochs in range(1, 401):
        scaled = workflows.rescaled_schedule(defaults, epochs)
        assert (scaled["warmup_epochs"], scaled["lr_steps"]) == default_schedule(epochs)


# --- the front ends call the same functions -------------------------------------------------------------------
@pytest.fixture
def recorded(monkeypatch):
    """workflows.run_test replaced by a recorder that refuses, so the front ends' calls are seen."""
    calls = []

    def record(runs, split="test", source=None, *args, **kwargs):
        calls.append(([run.path.resolve() for run in runs], split, source and Path(source.root).resolve()))
        raise LtcliError("recorded")

    monkeypatch.setattr(workflows, "run_test", record)
    return calls


def test_the_cli_and_the_app_test_a_run_through_the_same_function(tmp_path, monkeypatch, recorded):
    gr = pytest.importorskip("gradio", reason="the web app needs the app extra")
    from ltcli.app.context import AppContext
    from ltcli.app.paths import AppRoot
    from ltcli.app.tabs.runs import RunsTab

    data = make_dataset(tmp_path / "a_datasets" / "colours").resolve()
    run = fake_run(tmp_path, {"dataset_root": str(data)})
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli_app, ["test", "--run", str(run.path), "--split", "valid"])
    assert result.exit_code == 1 and result.output.strip() == "error: recorded"
    tab = RunsTab(AppContext(AppRoot.at(tmp_path), None, tmp_path / "scratch"))
    with pytest.raises(gr.Error, match="recorded"):
        tab.test(run.path.relative_to(tmp_path).as_posix(), "valid")
    assert recorded == [([run.path.resolve()], "valid", data)] * 2


class Queue:
    def __init__(self) -> None:
        self.submitted: list[dict] = []

    def submit(self, payload, label):
        self.submitted.append(payload)
        return {"job": len(self.submitted), "state": "queued"}

    def jobs(self):
        return []


def test_the_cli_and_the_app_refuse_to_resume_a_finished_run_with_one_message(tmp_path, monkeypatch):
    gr = pytest.importorskip("gradio", reason="the web app needs the app extra")
    from ltcli.app.context import AppContext
    from ltcli.app.paths import AppRoot
    from ltcli.app.tabs.runs import RunsTab

    run = fake_run(tmp_path, {})
    save_last(run, epoch=2, epochs=3)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli_app, ["train", "--resume", str(run.path)])
    assert result.exit_code == 1
    assert one_line(result.output) == f"error: {run.path} already finished all 3 epochs: nothing to resume"
    queue = Queue()
    tab = RunsTab(AppContext(AppRoot.at(tmp_path), queue, tmp_path / "scratch"))
    relative = run.path.relative_to(tmp_path).as_posix()
    with pytest.raises(gr.Error) as error:
        tab.resume(relative)
    assert one_line(error.value.message) == f"{relative} already finished all 3 epochs: nothing to resume"
    assert queue.submitted == []  # refused before it was queued
    save_last(run, epoch=0, epochs=3)
    tab.resume(relative)
    assert queue.submitted == [{"resume": relative}]


def test_the_app_refuses_a_rule_the_objective_cannot_take_before_it_splits_or_queues(tmp_path):
    gr = pytest.importorskip("gradio", reason="the web app needs the app extra")
    from ltcli.app.context import AppContext
    from ltcli.app.paths import AppRoot
    from ltcli.app.tabs.train import TrainTab

    make_class_images({"apple": 10, "leaf": 10}, tmp_path / "data_split" / "fruit")
    queue = Queue()
    tab = TrainTab(AppContext(AppRoot.at(tmp_path), queue, tmp_path / "scratch"))
    with pytest.raises(gr.Error) as error:
        tab.train("data_split/fruit", objective="BSCE", train_rule="DRW", epochs=4)
    assert one_line(error.value.message).startswith("--train-rule DRW with BSCE is refused: BSCE already corrects")
    assert queue.submitted == [] and not (tmp_path / "a_datasets").exists()


def test_the_app_splits_and_tunes_through_the_library(tmp_path, monkeypatch):
    pytest.importorskip("gradio", reason="the web app needs the app extra")
    from ltcli.app.context import AppContext
    from ltcli.app.paths import AppRoot
    from ltcli.app.tabs.compare import CompareTab
    from ltcli.app.tabs.train import TrainTab

    splits = []
    monkeypatch.setattr(workflows, "split_once", lambda *args: splits.append(args) or True)
    make_class_images({"apple": 10, "leaf": 10}, tmp_path / "data_split" / "fruit")
    queue = Queue()
    context = AppContext(AppRoot.at(tmp_path), queue, tmp_path / "scratch")
    TrainTab(context).train("data_split/fruit", imbalance_factor=0.1, profile="step", seed=2, epochs=4)
    ((source, destination, options),) = splits
    assert (source, destination.name) == ((tmp_path / "data_split" / "fruit").resolve(), "fruit-if10-step-seed2")
    assert (options.imbalance_factor, options.profile, options.seed) == (10, "step", 2)
    run = fake_run(tmp_path, TrainConfig(dataset="colours", model="resnet20", epochs=4).to_dict())
    relative = run.path.relative_to(tmp_path).as_posix()
    CompareTab(context).tune(relative, "GML", 3)
    assert queue.submitted[-1] == {"config": workflows.tune_options(run, "GML", 3, start=relative)}
    CompareTab(context).tune(relative, "GML", 3, freeze="backbone")  # /tune can freeze (issue 31, A6)
    assert queue.submitted[-1]["config"]["freeze"] == "backbone"


def test_the_study_splits_through_split_once_once_per_distinct_split(tmp_path, monkeypatch):
    import yaml

    from ltcli.study.runner import make_splits
    from ltcli.study.spec import read_study

    make_class_images({"apple": 12, "leaf": 10}, tmp_path / "raw")
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"name": "tiny", "train": {"model": "resnet20", "epochs": 1},
                                    "split": {"src": str(tmp_path / "raw"), "counts": "{n},4"},
                                    "grid": {"n": [3, 6], "seed": [0, 1]}}), encoding="utf-8")
    calls = []
    monkeypatch.setattr(workflows, "split_once", lambda *args: calls.append(args) or True)
    make_splits(read_study(spec), Console(quiet=True))
    assert sorted(options.counts for _, _, options in calls) == ["3,4", "6,4"]  # 4 points, 2 distinct splits
    assert all(source == tmp_path / "raw" and options.force for source, _, options in calls)


def test_the_benchmark_tests_through_run_test_and_reads_through_run_folder(tmp_path, monkeypatch, recorded):
    import importlib.util
    import sys

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("reproduce", root / "benchmarks" / "reproduce.py")
    reproduce = sys.modules["reproduce"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reproduce)
    data = make_dataset(tmp_path / "a_datasets" / "colours").resolve()
    run = fake_run(tmp_path, {"dataset_root": str(data)})
    with pytest.raises(LtcliError, match="recorded"):
        reproduce.tested(run.path, "cpu")
    assert recorded == [([run.path.resolve()], "test", None)]  # run_test finds the run's own dataset
