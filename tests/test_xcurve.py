"""XCurve's entry points (issue 31, A5): `ltcli train DATASET LOSS` as its `train.py DATASET LOSS`, its
params/*.json looked up by its rule or given as --config, and `--opt inputs=probs` refused in one line
before anything is written (a run's models output logits)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ltcli.engine.schedule import create_scheduler
from ltcli.errors import LtcliError
from ltcli.xcurve import params_file, params_values

# XCurve's params/TPAUCLoss_cifar.json (the authors' values), with tabs as in their files.
AUTHORS = {
    "model": {"model_type": "resnet20", "num_classes": 1},
    "dataset": {"data_dir": "./data/", "input_size": [32, 32],
                "norm_params": {"mean": [123.675, 116.280, 103.530], "std": [58.395, 57.120, 57.375]},
                "use_lmdb": True, "lmdb_dir": "./data/lmdb/", "sampler": {"rpos": 1, "rneg": 10}, "npy_style": True,
                "aug": True, "class2id": {"0": 0, "1": 0, "2": 1, "3": 0}},
    "training": {"train_batch_size": 128, "test_batch_size": 256, "num_workers": 4, "loss_type": "TPAUCLoss",
                 "loss_params": {"gamma": 0.01, "reduction": "mean", "epoch_to_paced": 8, "re_scheme": "Poly",
                                 "norm": False},
                 "lr": 1e-3, "weight_decay": 1e-5, "momentum": 0.9, "nesterov": True, "lr_decay_rate": 0.99,
                 "lr_decay_epochs": 1, "epoch_num": 50, "metric_params": {"alpha": 0.3, "beta": 0.3},
                 "save_path": "./save/", "seed": 7},
}


def test_the_authors_tpauc_file_as_ltcli_options():
    assert params_values(json.loads(json.dumps(AUTHORS)), "p.json") == {
        "model": "resnet20", "height": 32, "width": 32, "pos_neg_ratio": "1:10", "positive_classes": ["2"],
        "batch_size": 128, "workers": 4, "lr": 1e-3, "weight_decay": 1e-5, "momentum": 0.9, "nesterov": True,
        "seed": 7, "objective": "TPAUC",
        "objective_options": {"gamma": 0.01, "epoch_to_paced": 8, "re_scheme": "Poly"},
        "epochs": 50, "sched": "step", "lr_decay": 0.99, "lr_steps": [1] * 50, "warmup_epochs": 0,
        "tpauc": [[0.3, 0.3]], "select_metric": "tpauc_0.3_0.3",
    }


@pytest.mark.parametrize(("epoch_num", "every", "typed_epochs"), [(5, 2, None), (6, 3, None), (50, 1, 4), (7, 2, 3)])
def test_the_step_schedule_is_xcurves_exponential_decay(epoch_num, every, typed_epochs):
    training = {"lr_decay_rate": 0.5, "lr_decay_epochs": every, "epoch_num": epoch_num}
    values = params_values({"training": training}, "p.json", typed_epochs)
    epochs = typed_epochs or epoch_num
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = create_scheduler(optimizer, values["sched"], epochs, 1, values["lr_steps"], values["lr_decay"],
                                 values["warmup_epochs"])
    rates = []
    for epoch in range(epochs):
        scheduler.step_update(num_updates=epoch)
        rates.append(optimizer.param_groups[0]["lr"])
    # XCurve: ExponentialLR.step() after every `every` epochs: epoch e runs at lr * rate^(e // every)
    assert rates == pytest.approx([0.5 ** (e // every) for e in range(epochs)])


@pytest.mark.parametrize(("dataset", "loss", "files", "found"), [
    ("cifar-10-long-tail", "TPAUCLoss", ["TPAUCLoss_cifar.json", "cifar-10-long-tail.json"], "TPAUCLoss_cifar.json"),
    ("cifar-100-long-tail", "Poly", ["Poly_cifar.json", "Poly_cifar_100.json"], "Poly_cifar_100.json"),
    ("cifar10-lt", "Exp", ["Exp_cifar.json"], "Exp_cifar.json"),
    ("tiny-imagenet-200", "Exp", ["Exp_tiny_imagenet.json"], "Exp_tiny_imagenet.json"),
    ("colours", "SquareAUCLoss", ["SquareAUCLoss.json", "colours.json"], "SquareAUCLoss.json"),
    ("colours", "SquareAUCLoss", ["colours.json"], "colours.json"),  # by the dataset's name
    ("colours", "TPAUC", ["TPAUC_cifar.json"], None),
])
def test_the_params_file_is_found_by_xcurves_rule(tmp_path, dataset, loss, files, found):
    for name in files:
        (tmp_path / name).write_text("{}")
    assert params_file(dataset, loss, tmp_path) == (tmp_path / found if found else None)


@pytest.mark.parametrize(("change", "message"), [
    (("training", "loss_type", "CELoss"), "XCurve's CELoss is a binary cross-entropy with the negatives weighted"),
    (("training", "loss_type", "CBFOCALLoss"), "--objective FL --train-rule Reweight --cb-beta BETA"),
    (("training", "loss_type", "Magic"), "unknown objective 'Magic'"),
    (("training", "optimizer", "adam"), "XCurve key 'training.optimizer' has no `ltcli train` equivalent"),
    (("dataset", "input_size", 32), "dataset.input_size must be [height, width], got 32"),
    (("dataset", "norm_params", {"mean": [0, 0, 0], "std": [1, 1, 1]}), "ltcli normalises by ImageNet's mean"),
    (("dataset", "class2id", {"2": 2}), "dataset.class2id must map class names to 0 or 1"),
    (("training", "lr_decay_epochs", 0), "lr_decay_epochs and epoch_num must be whole numbers above 0"),
    (("training", "loss_params", {"reduction": "sum"}), "ltcli's losses take the mean only"),
    (("model", "depth", 20), "XCurve key 'model.depth'"),
])
def test_what_ltcli_cannot_take_is_one_line(change, message):
    document = json.loads(json.dumps(AUTHORS))
    where, key, value = change
    document[where][key] = value
    with pytest.raises(LtcliError) as error:
        params_values(document, "p.json")
    assert message in str(error.value) and "\n" not in str(error.value)


# --- the command line ------------------------------------------------------------------------------------
TINY = {**AUTHORS, "dataset": {"input_size": [8, 8], "sampler": {"rpos": 1, "rneg": 3},
                               "class2id": {"apple": 0, "leaf": 1, "sky": 0}},
        "training": {**AUTHORS["training"], "train_batch_size": 8, "num_workers": 0, "epoch_num": 2}}


def write_params(path: Path, document: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent="\t"))  # tabs, as XCurve's files: JSON, not YAML
    return path


def only_config(tmp_path: Path, objective: str) -> dict:
    (run,) = (tmp_path / "logs" / "resnet20" / "colours" / objective).iterdir()
    return json.loads((run / "config.json").read_text())


def test_positional_dataset_and_loss_read_xcurves_params_file(cli, split_dataset, tmp_path):
    write_params(tmp_path / "params" / "TPAUCLoss.json", TINY)
    result = cli("train", "colours", "TPAUCLoss", "--device", "cpu", "--seed", "3")
    assert "params: params/TPAUCLoss.json" in " ".join(result.output.split())
    config = only_config(tmp_path, "TPAUC")
    expected = {"dataset": "colours", "objective": "TPAUC", "height": 8, "batch_size": 8, "pos_neg_ratio": "1:3",
                "positive_classes": ["leaf"], "epochs": 2, "lr_steps": [1, 1], "lr_decay": 0.99, "seed": 3,
                "objective_options": {"gamma": 0.01, "epoch_to_paced": 8, "re_scheme": "Poly"}}
    assert {k: config[k] for k in expected} == expected  # --seed typed: it wins over the file's 7


def test_poly_and_exp_are_tpauc_weightings_and_the_file_can_be_given(cli, split_dataset, tmp_path):
    path = write_params(tmp_path / "elsewhere" / "mine.json", TINY)
    cli("train", "colours", "Exp", "--config", str(path), "--device", "cpu", "--epochs", "1")
    config = only_config(tmp_path, "TPAUC")
    assert config["objective_options"]["re_scheme"] == "Exp" and config["epochs"] == 1
    assert config["lr_steps"] == [1]  # XCurve's decay laid over the typed --epochs


@pytest.mark.parametrize(("args", "message"), [
    (("colours", "ERM", "--objective", "FL"), "give LOSS (ERM) or --objective, not both"),
    (("colours", "--dataset", "colours"), "give DATASET (colours) or --dataset, not both"),
    (("colours", "CBCE"), "LOSS 'CBCE': XCurve's CBCE is class-balanced cross-entropy"),
    (("colours", "TPAUC", "--positive-classes", "leaf", "--opt", "inputs=probs"),
     "objective TPAUC: inputs=probs is for a model that ends in a sigmoid"),
    (("colours", "SquareAUC", "--positive-classes", "leaf", "--opt", "inputs=probs"), "ltcli's models output logits"),
])
def test_xcurve_refusals_are_one_line_before_anything_is_written(cli, split_dataset, tmp_path, args, message):
    result = cli("train", *args, ok=False)
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and text.startswith("error:") and message in text, text
    assert not (tmp_path / "logs").exists()


def test_a_bad_params_json_is_one_line(cli, split_dataset, tmp_path):
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "TPAUC.json").write_text('{"training": {"lr": 0.1, "lr": 0.2}}')
    assert "key 'lr' is given twice" in cli("train", "colours", "TPAUC", ok=False).output
    (tmp_path / "params" / "TPAUC.json").write_text('{"training": {"lr": NaN}}')
    assert "NaN is not a number an option takes" in cli("train", "colours", "TPAUC", ok=False).output
    (tmp_path / "params" / "TPAUC.json").write_text('{"training": ')
    assert "is not valid JSON (line 1" in cli("train", "colours", "TPAUC", ok=False).output
