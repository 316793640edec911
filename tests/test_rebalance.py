"""Re-balancing rules: effective weights, DRW timing, sampled class frequencies, refused combinations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from ltcli.data.loaders import make_loader
from ltcli.errors import LtcliError
from ltcli.objectives import create_objective, get_objective_entry, list_objectives
from ltcli.rebalance import TRAIN_RULES, TrainRule, effective_number_weights, sample_weights

COUNTS = [500, 100, 20, 5]


def test_effective_number_weights_by_hand():
    beta = 0.9999
    # E_n = (1 - beta^n) / (1 - beta); w ∝ 1 / E_n, scaled to sum to K = 4.
    effective = [(1 - beta**n) / (1 - beta) for n in COUNTS]
    inverse = [1 / e for e in effective]
    expected = [4 * w / sum(inverse) for w in inverse]
    np.testing.assert_allclose(effective_number_weights(COUNTS, beta), expected, rtol=1e-12)
    assert effective_number_weights(COUNTS, beta).sum() == pytest.approx(4)
    # beta = 0 gives uniform weights; beta -> 1 approaches inverse frequency
    np.testing.assert_allclose(effective_number_weights(COUNTS, 0.0), [1, 1, 1, 1])
    inverse_frequency = np.array([1 / n for n in COUNTS])
    np.testing.assert_allclose(
        effective_number_weights(COUNTS, 1 - 1e-9), 4 * inverse_frequency / inverse_frequency.sum(), rtol=1e-4
    )


def test_drw_defers_weights_to_the_drw_epoch():
    rule = TrainRule.create("drw", epochs=10)
    assert rule.name == "DRW" and rule.drw_epoch == 8  # 80% of the epochs by default
    assert rule.class_weights(7, COUNTS) is None
    np.testing.assert_allclose(rule.class_weights(8, COUNTS), effective_number_weights(COUNTS))
    assert TrainRule.create("DRW", epochs=10, drw_epoch=3).class_weights(3, COUNTS) is not None
    assert TrainRule.create("Reweight", epochs=10).class_weights(0, COUNTS) is not None
    assert TrainRule.create("None", epochs=10).class_weights(9, COUNTS) is None
    with pytest.raises(LtcliError, match="--drw-epoch must be in"):
        TrainRule.create("DRW", epochs=10, drw_epoch=10)
    with pytest.raises(LtcliError, match="unknown --train-rule"):
        TrainRule.create("Oversample", epochs=10)


def test_class_weights_change_the_loss_as_weighted_mean():
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    targets = torch.tensor([0, 3])
    loss = create_objective("ERM", COUNTS)
    per_sample = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
    w = effective_number_weights(COUNTS)
    loss.set_class_weights(w)
    expected = (w[0] * per_sample[0] + w[3] * per_sample[1]) / (w[0] + w[3])
    assert loss(logits, targets).item() == pytest.approx(expected.item())


@pytest.mark.parametrize(("rule", "expected"), [
    ("Resample", [0.25, 0.25, 0.25, 0.25]),
    ("SqrtResample", list(np.sqrt(COUNTS) / np.sqrt(COUNTS).sum())),
])
def test_sampled_class_frequencies(rule, expected):
    targets = torch.tensor([c for c, n in enumerate(COUNTS) for _ in range(n)])
    dataset = TensorDataset(torch.zeros(len(targets), 1), targets)
    weights = sample_weights(targets.tolist(), COUNTS, rule)
    drawn = []
    for epoch_seed in range(8):
        loader = make_loader(dataset, 125, True, 0, torch.device("cpu"), seed=epoch_seed, sample_weights=weights)
        drawn += [y for _, batch in loader for y in batch.tolist()]
    frequencies = np.bincount(drawn, minlength=4) / len(drawn)
    # 8 x 625 draws: the standard error of each frequency is below 0.007
    np.testing.assert_allclose(frequencies, expected, atol=0.025)
    assert len(drawn) == 8 * len(targets)


@pytest.mark.parametrize("rule_name", TRAIN_RULES)
@pytest.mark.parametrize("objective_name", list_objectives())
def test_every_rule_objective_pair_is_accepted_or_refused_with_a_reason(rule_name, objective_name):
    objective = create_objective(objective_name, COUNTS)
    rule = TrainRule.create(rule_name, epochs=10)
    entry = get_objective_entry(objective_name)
    prior = entry.cls.corrects_prior
    weights_ok = entry.cls.supports_class_weights
    refused = (rule_name in ("Reweight", "DRW") and (prior or not weights_ok)) or (
        rule_name in ("Resample", "SqrtResample") and prior
    )
    if refused:
        with pytest.raises(LtcliError, match=f"--train-rule {rule.name} with {objective_name} is refused: "):
            rule.check(objective_name, objective)
    else:
        rule.check(objective_name, objective)
        weights = rule.class_weights(9, COUNTS)
        if weights is not None:
            objective.set_class_weights(weights)
