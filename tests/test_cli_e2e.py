"""split -> train -> test -> plot through the CLI on a small generated image set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import TRAIN_ARGS, only_run, read_csv

import ltcli


@pytest.fixture
def trained_run(cli, split_dataset, tmp_path) -> Path:
    cli("train", "--dataset", "colours", "--objective", "CCE", "--ccegamma", "0.5", *TRAIN_ARGS)
    return only_run(tmp_path, "CCE")


def test_train_writes_a_complete_run_folder(trained_run):
    config = json.loads((trained_run / "config.json").read_text())
    assert config["class_names"] == ["apple", "leaf", "sky"]
    assert config["class_counts"] == [24, 12, 6]
    assert config["objective"] == "CCE" and config["objective_options"] == {"gamma": 0.5}
    assert config["epochs"] == 2 and config["batch_size"] == 8 and config["lr_steps"] == [1, 1]
    assert config["valid_split"] == "valid"
    assert config["versions"]["ltcli"] == ltcli.__version__ and config["versions"]["torch"] == torch.__version__
    for split in ("train", "valid"):
        rows = read_csv(trained_run / f"{split}.csv")
        assert [r["epoch"] for r in rows] == ["0", "1"]
        assert {"loss", "acc", "top5acc"} <= set(rows[0])
        assert all(0.0 <= float(r["acc"]) <= 1.0 and float(r["top5acc"]) == 1.0 for r in rows)  # K=3 <= 5
    assert "lr" in read_csv(trained_run / "train.csv")[0]
    valid_rows = read_csv(trained_run / "valid.csv")
    assert {"balanced_acc", "gmean_recall", "hmean_recall", "lowest_recall"} <= set(valid_rows[0])
    assert list(trained_run.glob("events.out.tfevents.*"))
    for name in ("checkpoint_best.pt", "checkpoint_last.pt"):
        checkpoint = torch.load(trained_run / name, weights_only=True)
        assert {"model", "optimizer", "scheduler", "epoch", "class_names", "config"} <= set(checkpoint)
        assert checkpoint["class_names"] == ["apple", "leaf", "sky"]
    assert torch.load(trained_run / "checkpoint_last.pt", weights_only=True)["epoch"] == 1
    best_epoch = torch.load(trained_run / "checkpoint_best.pt", weights_only=True)["epoch"]
    accs = [float(r["acc"]) for r in valid_rows]
    assert accs[best_epoch] == max(accs)


def test_tensorboard_has_the_csv_scalars(trained_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(trained_run))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/acc", "train/top5acc", "train/lr", "valid/loss", "valid/acc"} <= tags
    logged = [e.value for e in events.Scalars("valid/acc")]
    assert logged == pytest.approx([float(r["acc"]) for r in read_csv(trained_run / "valid.csv")])


def test_test_command_writes_metrics_and_confusion_matrix(cli, trained_run, tmp_path):
    stamp = trained_run.name
    result = cli("test", "--dataset", "colours", "--model", "resnet20", "--objective", "CCE", "--datetime", stamp)
    assert "balanced_acc" in result.output
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["num_samples"] == 12 and metrics["split"] == "test"
    assert len(metrics["per_class_recall"]) == 3
    assert 0 <= metrics["acc"] <= 1 and metrics["top5acc"] == 1.0
    rows = read_csv(trained_run / "per_class.csv")
    assert [r["class"] for r in rows] == ["apple", "leaf", "sky"]
    assert [int(r["train_count"]) for r in rows] == [24, 12, 6] and [int(r["test_count"]) for r in rows] == [4, 4, 4]
    predictions = read_csv(trained_run / "predictions.csv")
    assert len(predictions) == 12 and set(predictions[0]) == {"file", "true", "predicted", "probability"}
    correct = sum(r["true"] == r["predicted"] for r in predictions)
    assert correct / 12 == pytest.approx(metrics["acc"])
    svg = (trained_run / "confusion_matrix.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for name in ("apple", "leaf", "sky", "row-normalised"):
        assert name in svg
    # --datetime latest and --run PATH resolve to the same run
    cli("test", "--dataset", "colours", "--model", "resnet20", "--objective", "cce", "--datetime", "latest")
    cli("test", "--run", str(trained_run), "--split", "valid")
    assert json.loads((trained_run / "metrics_valid.json").read_text())["split"] == "valid"


def test_test_refuses_a_dataset_with_other_classes(cli, trained_run, tmp_path, make_class_folder):
    other = tmp_path / "other"
    make_class_folder({"apple": 2, "leaf": 2, "sun": 2}, other / "test")
    result = cli("test", "--run", str(trained_run), "--data", str(other), ok=False)
    message = " ".join(result.output.split())
    assert result.exit_code == 1 and "do not match the model's 3 classes" in message
    assert "missing sky" in message and "unexpected sun" in message


def test_plot_draws_several_runs(cli, trained_run, tmp_path):
    cli("train", "--dataset", "colours", "--objective", "ERM", *TRAIN_ARGS)
    erm_run = only_run(tmp_path, "ERM")
    out = tmp_path / "figs" / "curves.svg"
    cli("plot", "--dataset", "colours", "--out", str(out), "--png")
    svg = out.read_text()
    for label in (f"CCE {trained_run.name} (valid)", f"ERM {erm_run.name} (train)", "acc", "loss"):
        assert label in svg
    assert out.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    result = cli("plot", "--run", str(erm_run), "--metrics", "nope", ok=False)
    assert "no logged column nope" in " ".join(result.output.split())


def test_train_on_data_path_without_valid_uses_test(cli, tmp_path, make_class_folder):
    root = tmp_path / "plain"
    make_class_folder({"apple": 6, "leaf": 6}, root / "train")
    make_class_folder({"apple": 2, "leaf": 2}, root / "test")
    result = cli("train", "--data", str(root), "--objective", "ERM", *TRAIN_ARGS[:2], "--epochs", "1",
                 *TRAIN_ARGS[4:6], "--lrstep", "1", "--warmup", "0", *TRAIN_ARGS[10:])
    assert "has no valid split: validation (best-epoch choice) uses test" in " ".join(result.output.split())
    run = next((tmp_path / "logs" / "resnet20" / "plain" / "ERM").iterdir())
    assert json.loads((run / "config.json").read_text())["valid_split"] == "test"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--dataset", "missing"), "dataset folder not found"),
        (("--dataset", "colours", "--model", "resnet33"), "unknown model 'resnet33'"),
        (("--dataset", "colours", "--objective", "XYZ"), "unknown objective 'XYZ'"),
        (("--dataset", "colours", "--objective", "ERM", "--ccegamma", "2"), "--ccegamma applies to CCE"),
        (("--dataset", "colours", "--opt", "gamma"), "--opt takes KEY=VALUE"),
        (("--dataset", "colours", "--sched", "linear"), "unknown --sched 'linear'"),
        ((), "give exactly one of --dataset"),
    ],
)
def test_train_bad_input_is_one_line(cli, split_dataset, args, message):
    result = cli("train", *args, "--epochs", "1", "--workers", "0", ok=False)
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_version_and_listings(cli):
    assert cli("--version").output.strip() == f"ltcli {ltcli.__version__}"
    assert "resnet32" in cli("models", "resnet3*").output.split()
    listing = cli("objectives").output
    assert "CCE" in listing and "gamma=1.0" in listing


@pytest.mark.parametrize(
    ("objective", "extra"),
    [
        ("LDAM", ("--train-rule", "DRW", "--drw-epoch", "1")),  # cosine head must survive into `test`
        ("FeaBal", ()),  # needs penultimate features in training and validation
        ("COT", ("--train-rule", "Resample")),  # two optimizer steps per batch
        ("TPAUC", ("--epoch-to-paced", "1", "--re-scheme", "Exp", "--tpauc-gamma", "2")),
    ],
)
def test_objectives_and_rules_end_to_end(cli, split_dataset, tmp_path, objective, extra):
    cli("train", "--dataset", "colours", "--objective", objective, *extra, *TRAIN_ARGS)
    run = only_run(tmp_path, objective)
    config = json.loads((run / "config.json").read_text())
    assert config["cosine_head"] == (objective == "LDAM")
    if objective == "TPAUC":
        assert config["objective_options"] == {"epoch_to_paced": 1, "re_scheme": "Exp", "gamma": 2.0}
    rows = read_csv(run / "valid.csv")
    assert len(rows) == 2 and all(r["loss"] not in ("", "nan") for r in rows)
    cli("test", "--run", str(run))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["num_samples"] == 12


def test_refused_rule_combination_is_one_line(cli, split_dataset):
    result = cli("train", "--dataset", "colours", "--objective", "BSCE", "--train-rule", "DRW", *TRAIN_ARGS, ok=False)
    message = " ".join(result.output.split())
    assert result.exit_code == 1 and "--train-rule DRW with BSCE is refused: BSCE already corrects" in message
