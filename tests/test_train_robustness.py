"""Bad input to train/test/predict/runs/plot: one `error:` line and exit 1 (or a reported skip), and
no junk run folder left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import TRAIN_ARGS, write_bad_images

from ltcli.config import TrainConfig
from ltcli.models import create_model


def one_line_error(result, message: str) -> None:
    text = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "error:" in text and message in text, result.output
    assert "Traceback" not in result.output


def no_run_written(tmp_path: Path) -> None:
    assert not list((tmp_path / "logs").rglob("config.json")) if (tmp_path / "logs").exists() else True


@pytest.mark.parametrize(("args", "message"), [
    (("--objective", "CCE", "--opt", "gamma=abc"), "objective CCE: option gamma takes a finite number, got 'abc'"),
    (("--objective", "LA", "--opt", "tau=null"), "objective LA: option tau takes a finite number, got None"),
    (("--objective", "LADE", "--opt", "alpha=[1]"), "objective LADE: option alpha takes a finite number, got [1]"),
    (("--objective", "CCE", "--ccegamma", "abc"), "option gamma takes a finite number, got 'abc'"),
    (("--objective", "ERM", "--ccegamma", "2"), "--ccegamma applies to CCE, not ERM"),
    (("--objective", "FL", "--opt", "gamma=-1"), "objective FL: gamma must be >= 0"),
    (("--objective", "FL", "--opt", "alpha=1,1"), "objective FL: alpha needs one value per class (3), got 2"),
    (("--lr", "-0.1"), "--lr must be above 0"),
    (("--momentum", "-1"), "--momentum must be in [0, 1)"),
    (("--weight-decay", "-1"), "--weight-decay must be at least 0"),
    (("--height", "0"), "--height must be at least 1"),
    (("--workers", "-1"), "--workers must be at least 0"),
    (("--hflip", "5"), "--hflip must be in [0, 1]"),
    (("--warmup", "-2"), "--warmup must be at least 0"),
    (("--lr-decay", "-1"), "--lr-decay must be in (0, 1]"),
    (("--lrstep", "5,5", "--epochs", "1"), "--lrstep 5,5 drops the rate at epoch(s) 5"),
])
def test_bad_train_options_write_nothing(cli, split_dataset, tmp_path, args, message):
    result = cli("train", "--dataset", "colours", "--device", "cpu", *args, ok=False)
    one_line_error(result, message)
    no_run_written(tmp_path)


def test_the_ccegamma_alias_sets_cce_gamma(cli, split_dataset, tmp_path):
    cli("train", "--dataset", "colours", "--objective", "CCE", "--ccegamma", "2", *TRAIN_ARGS[:2], "--epochs", "1",
        *TRAIN_ARGS[4:6], "--lrstep", "1", "--warmup", "0", *TRAIN_ARGS[10:])
    (config,) = (tmp_path / "logs").rglob("config.json")
    assert json.loads(config.read_text())["objective_options"] == {"gamma": 2.0}


def test_a_validation_split_where_nothing_decodes_stops_before_training(cli, tmp_path, make_class_folder):
    root = tmp_path / "a_datasets" / "broken"
    make_class_folder({"apple": 8, "leaf": 8}, root / "train")
    for name in ("apple", "leaf"):
        write_bad_images(root / "valid" / name)
    result = cli("train", "--dataset", "broken", *TRAIN_ARGS, ok=False)
    one_line_error(result, "no image in a_datasets/broken/valid decodes (6 file(s) tried)")
    no_run_written(tmp_path)


def test_a_test_split_where_nothing_decodes_writes_no_results(cli, split_dataset, tmp_path):
    cli("train", "--dataset", "colours", "--objective", "ERM", *TRAIN_ARGS)
    (run,) = [p.parent for p in (tmp_path / "logs").rglob("config.json")]
    broken = tmp_path / "broken"
    for name in ("apple", "leaf", "sky"):
        (broken / "train" / name).mkdir(parents=True)
        write_bad_images(broken / "test" / name)
    result = cli("test", "--run", str(run), "--data", str(broken), ok=False)
    one_line_error(result, f"no image in {broken / 'test'} decodes (9 file(s) tried)")
    assert not (run / "metrics.json").exists()


def save_foreign(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    return path


@pytest.mark.parametrize("kind", ["state_dict", "list"])
def test_a_torch_file_that_is_no_ltcli_checkpoint(cli, split_dataset, tmp_path, kind):
    model = create_model("resnet20", num_classes=3)
    obj = model.state_dict() if kind == "state_dict" else [1, 2, 3]
    path = save_foreign(tmp_path / "foreign" / "weights.pt", obj)
    result = cli("test", "--run", str(path), "--data", str(split_dataset), ok=False)
    one_line_error(result, f"{path} is not an ltcli checkpoint")
    result = cli("predict", str(split_dataset / "test"), "--run", str(path), "--out", str(tmp_path / "p.csv"),
                 ok=False)
    one_line_error(result, "is not an ltcli checkpoint")
    assert not (tmp_path / "p.csv").exists()


def test_a_checkpoint_whose_class_names_do_not_fit_its_outputs(cli, split_dataset, tmp_path):
    model = create_model("resnet20", num_classes=3)
    config = TrainConfig(dataset="colours", model="resnet20", height=16, width=16).to_dict()
    path = save_foreign(tmp_path / "edited" / "checkpoint_best.pt", {
        "model": model.state_dict(), "epoch": 0, "class_names": ["apple", "leaf"], "config": config})
    result = cli("test", "--run", str(path), "--data", str(split_dataset), ok=False)
    one_line_error(result, "the checkpoint names 2 classes but its classifier has 3 outputs")


def test_a_file_with_python_objects_is_refused_without_unsafe_advice(cli, split_dataset, tmp_path):
    path = save_foreign(tmp_path / "pickled" / "model.pt", {"model": torch.nn.Linear(2, 2)})
    result = cli("test", "--run", str(path), "--data", str(split_dataset), ok=False)
    one_line_error(result, "holds Python objects besides tensors")
    assert "weights_only=False" not in result.output


def test_resume_takes_a_checkpoint_path_and_names_its_own_option(cli, split_dataset, tmp_path):
    result = cli("train", "--resume", "/no/such/dir", ok=False)
    one_line_error(result, "--resume '/no/such/dir' is neither a run folder")
    assert "--datetime" not in result.output
    cli("train", "--dataset", "colours", "--objective", "ERM", *TRAIN_ARGS)
    (run,) = [p.parent for p in (tmp_path / "logs").rglob("config.json")]
    result = cli("train", "--resume", str(run / "checkpoint_last.pt"), ok=False)
    one_line_error(result, f"{run} already finished all 2 epochs")  # found the run from its checkpoint


def test_an_unwritable_logs_dir_is_one_line_and_leaves_nothing(cli, split_dataset, tmp_path):
    """Tests run as root, where permissions do not stop a write: a file where the folder should be
    gives the same OSError path through the CLI."""
    (tmp_path / "blocked").write_text("a file, not a folder")
    result = cli("train", "--dataset", "colours", "--objective", "ERM", *TRAIN_ARGS, "--logs-dir", "blocked",
                 ok=False)
    one_line_error(result, "blocked")
    assert (tmp_path / "blocked").read_text() == "a file, not a folder"
    cli("train", "--dataset", "colours", "--objective", "ERM", *TRAIN_ARGS)
    (run,) = [p.parent for p in (tmp_path / "logs").rglob("config.json")]
    result = cli("test", "--run", str(run), "--out", "blocked/results", ok=False)
    one_line_error(result, "blocked")


@pytest.mark.parametrize("content", [b"hello\n", b"abc", b""])
def test_bytes_that_are_no_torch_file(cli, split_dataset, tmp_path, content):
    path = tmp_path / "junk" / "file.pt"
    path.parent.mkdir()
    path.write_bytes(content)
    one_line_error(cli("test", "--run", str(path), "--data", str(split_dataset), ok=False),
                   "not a PyTorch file")
    one_line_error(cli("train", "--dataset", "colours", *TRAIN_ARGS, "--weights", str(path), ok=False),
                   "not a PyTorch file")
    no_run_written(tmp_path)


DAMAGE = {
    "epoch": ("x", "its epoch is 'x', not a whole number"),
    "class_counts": ([1, 2], "its class counts do not give one whole number for each of its 3 classes"),
    "model_ema": ([1], "its model_ema is not a state dict"),
    "config.model": (5, "its config names no model"),
    "config.num_outputs": ("x", "its config's num_outputs is 'x'"),
}


@pytest.mark.parametrize("field", DAMAGE)
def test_a_damaged_checkpoint_is_one_line(cli, split_dataset, tmp_path, field):
    value, message = DAMAGE[field]
    config = TrainConfig(dataset="colours", model="resnet20", height=16, width=16).to_dict()
    state = {"model": create_model("resnet20", num_classes=3).state_dict(), "epoch": 0,
             "class_names": ["apple", "leaf", "sky"], "config": config}
    if field.startswith("config."):
        config[field.split(".")[1]] = value
    else:
        state[field] = value
    path = save_foreign(tmp_path / "edited" / "checkpoint_best.pt", state)
    one_line_error(cli("test", "--run", str(path), "--data", str(split_dataset), ok=False), message)
    one_line_error(cli("predict", str(split_dataset / "test"), "--run", str(path), "--out",
                       str(tmp_path / "p.csv"), ok=False), message)
