"""Binary tasks: per-epoch AUROC/TPAUC in valid.csv, checkpoint selection by them, the AUC losses on
probabilities, the XCurve names and class2id files."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from conftest import TRAIN_ARGS, only_run, read_csv
from sklearn.metrics import roc_auc_score
from test_metrics import brute_force_tpauc as naive_tpauc  # every selected pair, one by one

from ltcli.checkpoint import Checkpoint
from ltcli.config import TrainConfig
from ltcli.data.binary import read_class2id
from ltcli.errors import LtcliError
from ltcli.metrics import VALID_COLUMNS, valid_columns
from ltcli.objectives import create_objective, get_objective_entry
from ltcli.tpauc import parse_tpauc_key


def test_valid_columns_and_tpauc_keys():
    assert valid_columns(None) == VALID_COLUMNS
    assert valid_columns([(0.5, 0.5), (0.3, 1.0)]) == (*VALID_COLUMNS, "auroc", "tpauc_0.5_0.5", "tpauc_0.3_1")
    assert parse_tpauc_key("tpauc_0.30_0.5") == (0.3, 0.5) and parse_tpauc_key("auroc") is None
    with pytest.raises(LtcliError, match="alpha must be in"):
        parse_tpauc_key("tpauc_1.5_0.5")


def test_select_metric_and_tpauc_pairs_in_the_config():
    config = TrainConfig(dataset="d", epochs=2, positive_classes=["sky"], select_metric="tpauc_0.30_0.5")
    assert config.select_metric == "tpauc_0.3_0.5"  # the column's own name
    assert config.ranking_pairs == [(0.5, 0.5), (0.3, 0.5)]  # the default pair, and the selected one
    config = TrainConfig(dataset="d", epochs=2, positive_classes=["sky"], tpauc=["0.2,1", [1, 1]])
    assert config.ranking_pairs == [(0.2, 1.0), (1.0, 1.0)] and config.tpauc == [[0.2, 1.0], [1.0, 1.0]]
    assert TrainConfig(dataset="d", epochs=2).ranking_pairs is None


@pytest.mark.parametrize(("values", "message"), [
    ({"select_metric": "auroc"}, "--select-metric auroc ranks the positive class of a binary task"),
    ({"select_metric": "tpauc_0.5_0.5"}, "--select-metric tpauc_0.5_0.5 ranks the positive class"),
    ({"tpauc": ["0.5,0.5"]}, "--tpauc adds TPAUC columns to a binary task's valid.csv"),
    ({"positive_classes": ["sky"], "tpauc": ["0.5"]}, "--tpauc takes ALPHA,BETA"),
    ({"positive_classes": ["sky"], "tpauc": ["0,0.5"]}, "alpha must be in (0, 1]"),
    ({"select_metric": "recall"}, "unknown --select-metric 'recall'"),
])
def test_config_refusals(values, message):
    with pytest.raises(LtcliError) as error:
        TrainConfig(dataset="d", epochs=2, **values)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.slow
def test_binary_run_logs_auc_and_keeps_the_best_auroc_epoch(cli, split_dataset, tmp_path):
    """valid.csv's auroc/tpauc columns match scikit-learn and a pair-by-pair TPAUC on the kept
    weights' own predictions, and checkpoint_best.pt is the argmax epoch of the auroc column."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from ltcli.data.binary import IsPositive
    from ltcli.data.loaders import image_folder, make_loader
    from ltcli.engine.classifier import load_run
    from ltcli.engine.logits import predict
    from ltcli.run_folder import RunFolder

    args = [a if a != "2" else "4" for a in TRAIN_ARGS]  # 4 epochs
    args[args.index("--lrstep") + 1] = "2,2"
    cli("train", "--dataset", "colours", "--objective", "TPAUCLoss", "--positive-classes", "sky",
        "--tpauc", "0.5,0.5", "--tpauc", "1,0.5", "--select-metric", "auroc", *args)
    run = only_run(tmp_path, "TPAUC")  # the alias resolves to the registered name
    rows = read_csv(run / "valid.csv")
    assert len(rows) == 4 and {"auroc", "tpauc_0.5_0.5", "tpauc_1_0.5"} <= set(rows[0])
    auroc = [float(r["auroc"]) for r in rows]
    best = Checkpoint.load(run / "checkpoint_best.pt")
    assert best.select_metric == "auroc" and best.best_epoch == best.epoch == int(np.argmax(auroc))
    assert best.best_value == pytest.approx(max(auroc))

    # The kept weights' predictions on valid/, scored independently of ltcli.metrics.
    loaded = load_run(RunFolder(run), torch.device("cpu"))
    dataset = image_folder(split_dataset / "valid", loaded.eval_transform())
    dataset.target_transform = IsPositive(dataset.classes, ["sky"])
    logits, labels = predict(loaded.network, make_loader(dataset, 64, False, 0, torch.device("cpu")),
                             torch.device("cpu"))
    scores, positives = logits.reshape(-1).astype(np.float64), labels == 1
    assert positives.sum() == 4 and (~positives).sum() == 8
    row = rows[best.epoch]
    assert float(row["auroc"]) == pytest.approx(roc_auc_score(positives, scores), abs=1e-6)
    assert float(row["tpauc_0.5_0.5"]) == pytest.approx(naive_tpauc(scores, positives, 0.5, 0.5), abs=1e-6)
    assert float(row["tpauc_1_0.5"]) == pytest.approx(naive_tpauc(scores, positives, 1.0, 0.5), abs=1e-6)
    # The loss column tells the epochs apart (AUROC reaches 1 early): before pacing, TPAUC is the mean
    # over positive x negative pairs of (1 - (s+ - s-))^2 with s = sigmoid(z).
    s = 1 / (1 + np.exp(-scores))
    pairs = [(1 - (a - b)) ** 2 for a, b in itertools.product(s[positives], s[~positives])]
    assert float(row["loss"]) == pytest.approx(np.mean(pairs), rel=1e-4, abs=1e-7)
    # This seeded CPU run reaches its best AUROC (epoch 2) before its best accuracy (epoch 4): selecting
    # by AUROC keeps another epoch than the default would.
    accuracy = [float(r["acc"]) for r in rows]
    assert best.epoch < int(np.argmax(accuracy)), (auroc, accuracy)

    events = EventAccumulator(str(run))
    events.Reload()
    logged = [e.value for e in events.Scalars("valid/auroc")]
    assert logged == pytest.approx(auroc, abs=1e-6) and "valid/tpauc_1_0.5" in events.Tags()["scalars"]

    out = tmp_path / "auroc.svg"
    cli("plot", "--run", str(run), "--metrics", "auroc,tpauc_0.5_0.5", "--out", str(out))
    assert out.is_file() and "auroc" in out.read_text()


def test_select_metric_auroc_is_refused_on_a_multiclass_run(cli, split_dataset):
    result = cli("train", "--dataset", "colours", "--select-metric", "auroc", *TRAIN_ARGS, ok=False)
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "error: --select-metric auroc ranks the positive class of a binary task" in result.output


LOSSES = [("TPAUC", {}), ("TPAUC", {"epoch_to_paced": 0}), ("TPAUC", {"epoch_to_paced": 0, "re_scheme": "Exp",
                                                                         "gamma": 2.0}), ("SquareAUC", {})]


@pytest.mark.parametrize(("name", "options"), LOSSES)
@pytest.mark.parametrize("shape", ["N", "N1", "N2"])
def test_the_loss_on_probabilities_is_the_loss_on_their_logits(name, options, shape):
    """probs mode reads p as the score; logits mode reads sigmoid(z) (softmax(z)[:, 1] for two
    outputs); so loss_probs(p) = loss_logits(logit(p)), paced instance weights included."""
    generator = torch.Generator().manual_seed(0)
    p = torch.rand(16, generator=generator, dtype=torch.float64) * 0.98 + 0.01
    targets = torch.tensor([1, 0, 0, 0] * 4)
    if shape == "N":
        probs, logits = p, torch.logit(p)
    elif shape == "N1":
        probs, logits = p[:, None], torch.logit(p)[:, None]
    else:
        probs, logits = torch.stack([1 - p, p], 1), torch.stack([torch.zeros_like(p), torch.logit(p)], 1)
    on_probs = create_objective(name, [12, 4], inputs="probs", **options)
    on_logits = create_objective(name, [12, 4], **options)
    for loss in (on_probs, on_logits):
        loss.set_epoch(3)
    expected = float(on_logits(logits, targets))
    assert float(on_probs(probs, targets)) == pytest.approx(expected, rel=1e-12)
    # and by hand, uniform weights: mean over the 4 x 12 pairs of (1 - (p+ - p-))^2
    if name == "SquareAUC" or options.get("epoch_to_paced", 10) > 3:
        pairs = [(1 - (a - b)) ** 2 for a, b in itertools.product(p[targets == 1], p[targets == 0])]
        assert expected == pytest.approx(float(sum(pairs) / len(pairs)), rel=1e-12)


@pytest.mark.parametrize("name", ["TPAUCLoss", "SquareAUCLoss"])
@pytest.mark.parametrize("bad", [[-0.5, 0.2, 0.9, 0.1], [0.3, 1.7, 0.9, 0.1], [0.3, float("nan"), 0.9, 0.1]])
def test_probability_mode_refuses_values_outside_0_1(name, bad):
    loss = create_objective(name, [2, 2], inputs="probs")
    with pytest.raises(LtcliError, match=r"inputs=probs takes probabilities in \[0, 1\]"):
        loss(torch.tensor(bad), torch.tensor([1, 0, 1, 0]))


def test_unknown_inputs_kind_and_the_xcurve_names():
    with pytest.raises(LtcliError, match="inputs must be one of logits, probs"):
        create_objective("TPAUC", [2, 2], inputs="scores")
    assert get_objective_entry("TPAUCLoss").name == "TPAUC" and get_objective_entry("tpaucloss").name == "TPAUC"
    assert get_objective_entry("SquareAUCLoss").name == "SquareAUC"


def test_class2id_json_file(tmp_path):
    good = tmp_path / "class2id.json"
    good.write_text(json.dumps({"apple": 0, "sky": 1, "leaf": 0}))
    assert read_class2id(good) == ["sky"]
    nested = tmp_path / "nested.json"
    nested.write_text(json.dumps({"class2id": {"apple": 1, "sky": 1, "leaf": 0}}))
    assert TrainConfig(dataset="d", epochs=2, positive_classes=[str(nested)]).positive_classes == ["apple", "sky"]
    for text, message in (("{not json", "is not a readable JSON file"), ("[1, 2]", "must hold a JSON object"),
                          ('{"apple": 2}', "class 'apple' maps to 2"), ('{"apple": 0}', "maps no class to 1")):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(LtcliError, match=message):
            read_class2id(bad)


def test_class2id_file_on_the_command_line(cli, split_dataset, tmp_path):
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"apple": 0, "leaf": 1, "sky": 1, "pear": 0}))
    result = cli("train", "--dataset", "colours", "--objective", "SquareAUCLoss", "--positive-classes",
                 str(mapping), *TRAIN_ARGS, ok=False)
    assert result.exit_code == 0, result.output  # only the positives are read: 'pear' -> 0 is no matter

    config = json.loads((only_run(tmp_path, "SquareAUC") / "config.json").read_text())
    assert config["positive_classes"] == ["leaf", "sky"] and config["class_counts"] == [24, 18]
    mapping.write_text(json.dumps({"apple": 0, "pear": 1}))
    result = cli("train", "--dataset", "colours", "--positive-classes", str(mapping), *TRAIN_ARGS, ok=False)
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "unknown class(es) pear" in result.output
    mapping.write_text("{broken")
    result = cli("train", "--dataset", "colours", "--positive-classes", str(mapping), *TRAIN_ARGS, ok=False)
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "not a readable JSON file" in result.output
