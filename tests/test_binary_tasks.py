"""Binary long-tail tasks: positive classes, single-logit models, stratified positive/negative batches."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import TRAIN_ARGS, only_run, read_csv

from ltcli.data.binary import IsPositive, parse_positive_classes
from ltcli.data.samplers import PosNegBatchSampler, parse_pos_neg_ratio
from ltcli.errors import LtcliError
from ltcli.metrics import log_probabilities
from ltcli.objectives import get_objective_entry, list_objectives

TARGETS = [0] * 40 + [1] * 6  # 40 negatives, 6 positives

# The objectives that score a binary task from one output, sigmoid(z) (single_logit_binary).
SINGLE_LOGIT = [name for name in list_objectives() if get_objective_entry(name).cls.single_logit_binary]


@pytest.mark.parametrize(("batch", "ratio", "pos_per_batch"), [(11, (1, 10), 1), (12, (1, 2), 4), (8, (1, 100), 1),
                                                                (4, (5, 1), 3)])
def test_every_batch_has_the_asked_mix(batch, ratio, pos_per_batch):
    sampler = PosNegBatchSampler(TARGETS, batch, ratio, seed=3)
    targets = np.array(TARGETS)
    batches = list(sampler)
    assert len(batches) == len(sampler) == max(1, 40 // (batch - pos_per_batch))
    for indices in batches:
        assert len(indices) == batch
        assert targets[indices].sum() == pos_per_batch  # positives per batch
    negatives = [i for b in batches for i in b if targets[i] == 0]
    if 40 >= batch - pos_per_batch:
        assert len(set(negatives)) == len(negatives)  # without replacement within an epoch


def test_sampler_is_seeded_per_epoch():
    sampler = PosNegBatchSampler(TARGETS, 11, (1, 10), seed=0)
    first = list(sampler)
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first


@pytest.mark.parametrize(("targets", "batch", "message"), [
    ([0] * 10, 4, "0 positive and 10 negative"),
    ([1] * 10, 4, "10 positive and 0 negative"),
    ([0, 1, 0], 1, "--batchsize 1 < 2"),
])
def test_sampler_errors(targets, batch, message):
    with pytest.raises(LtcliError, match=message):
        PosNegBatchSampler(targets, batch, (1, 1))


@pytest.mark.parametrize("text", ["1/10", "0:5", "a:b", "1:2:3"])
def test_bad_ratio(text):
    with pytest.raises(LtcliError, match="--pos-neg-ratio"):
        parse_pos_neg_ratio(text)


def test_positive_classes_and_single_logit_probabilities():
    assert parse_positive_classes("sky, apple", ["apple", "leaf", "sky"]) == ["apple", "sky"]
    with pytest.raises(LtcliError, match="unknown class"):
        parse_positive_classes("pear", ["apple", "leaf"])
    with pytest.raises(LtcliError, match="leave at least one negative"):
        parse_positive_classes("apple,leaf", ["apple", "leaf"])
    assert [IsPositive(["a", "b", "c"], ["c"])(t) for t in (0, 1, 2)] == [0, 0, 1]
    z = np.array([[-2.0], [0.0], [3.0]])
    probs = np.exp(log_probabilities(z))  # one logit -> (1 - sigmoid, sigmoid), as metrics read it
    np.testing.assert_allclose(probs[:, 1], 1 / (1 + np.exp(-z[:, 0])))
    np.testing.assert_allclose(probs.sum(1), 1.0)
    assert log_probabilities(np.zeros((2, 3))).shape == (2, 3)


def test_the_auc_objectives_and_not_erm_are_single_logit():
    assert {"SquareAUC", "TPAUC"} <= set(SINGLE_LOGIT) and "ERM" not in SINGLE_LOGIT


# Every single-logit objective, and ERM for the two-output path.
@pytest.mark.parametrize("objective", [*SINGLE_LOGIT, "ERM"])
def test_binary_training_end_to_end(cli, split_dataset, tmp_path, objective):
    outputs = 1 if get_objective_entry(objective).cls.single_logit_binary else 2
    cli("train", "--dataset", "colours", "--objective", objective, "--positive-classes", "sky",
        "--pos-neg-ratio", "1:3", *TRAIN_ARGS)
    run = only_run(tmp_path, objective)
    config = json.loads((run / "config.json").read_text())
    assert config["class_names"] == ["negative", "positive"] and config["class_counts"] == [36, 6]
    assert config["positive_classes"] == ["sky"] and config["num_outputs"] == outputs
    assert len(read_csv(run / "train.csv")) == 2
    cli("test", "--run", str(run))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["class_names"] == ["negative", "positive"] and len(metrics["per_class_recall"]) == 2
    predictions = read_csv(run / "predictions.csv")
    assert sum(r["true"] == "positive" for r in predictions) == 4  # the 4 'sky' test images


@pytest.mark.parametrize(("args", "message"), [
    (("--pos-neg-ratio", "1:3"), "give --positive-classes too"),
    (("--positive-classes", "pear"), "unknown class(es) pear"),
    (("--positive-classes", "sky", "--pos-neg-ratio", "1:3", "--train-rule", "Resample"), "drop --train-rule"),
])
def test_binary_bad_input(cli, split_dataset, args, message):
    result = cli("train", "--dataset", "colours", "--objective", "ERM", *args, *TRAIN_ARGS, ok=False)
    assert result.exit_code == 1 and message in " ".join(result.output.split())
