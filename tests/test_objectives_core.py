"""Registry behaviour and hand-computed values for the objectives of the end-to-end issue."""

from __future__ import annotations

import math

import pytest
import torch

from ltcli.errors import LtcliError
from ltcli.objectives import create_objective, get_objective_entry, list_objectives


def probs_to_logits(rows):
    return torch.log(torch.tensor(rows, dtype=torch.float64))


def test_cce_against_hand_computed_values():
    # Sample 1: p = (0.1, 0.2, 0.7), label 0. CE = ln 10; complement q = (2/9, 7/9).
    # Sample 2: p = (0.5, 0.25, 0.25), label 0. CE = ln 2; q = (1/2, 1/2), H = ln 2.
    logits = probs_to_logits([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]])
    targets = torch.tensor([0, 0])
    h1 = -(2 / 9 * math.log(2 / 9) + 7 / 9 * math.log(7 / 9))
    h2 = math.log(2)
    ce = (math.log(10) + math.log(2)) / 2
    for gamma in (0.0, 1.0, 2.5):
        expected = ce - gamma / (3 - 1) * (h1 + h2) / 2
        value = create_objective("CCE", [10, 5, 2], gamma=gamma)(logits, targets)
        assert value.item() == pytest.approx(expected, rel=1e-12)
    # the default gamma is the paper's 1
    assert create_objective("cce", [10, 5, 2])(logits, targets).item() == pytest.approx(ce - (h1 + h2) / 4)


def test_cce_rewards_flat_wrong_class_probabilities():
    # Same true-class probability, flatter wrong classes -> lower CCE, equal CE.
    flat = probs_to_logits([[0.4, 0.2, 0.2, 0.2]])
    peaked = probs_to_logits([[0.4, 0.5, 0.05, 0.05]])
    target = torch.tensor([0])
    cce = create_objective("CCE", [1, 1, 1, 1])
    erm = create_objective("ERM", [1, 1, 1, 1])
    assert erm(flat, target).item() == pytest.approx(erm(peaked, target).item())
    assert cce(flat, target) < cce(peaked, target)


def test_cce_gradient_is_finite_for_confident_predictions():
    logits = torch.tensor([[40.0, -40.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    loss = create_objective("CCE", [3, 2, 1])(logits, torch.tensor([0, 1]))
    loss.backward()
    assert torch.isfinite(logits.grad).all()


def test_erm_is_cross_entropy_with_label_smoothing():
    logits = probs_to_logits([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    targets = torch.tensor([2, 1])
    plain = (-math.log(0.7) - math.log(0.3)) / 2
    assert create_objective("ERM", [1, 1, 1])(logits, targets).item() == pytest.approx(plain)
    eps = 0.3  # smoothed target: (1 - eps) on the label + eps/K everywhere
    smooth = sum(
        -(1 - eps) * math.log(p[t]) - eps / 3 * sum(math.log(q) for q in p)
        for p, t in (([0.1, 0.2, 0.7], 2), ([0.6, 0.3, 0.1], 1))
    ) / 2
    assert create_objective("ERM", [1, 1, 1], label_smoothing=eps)(logits, targets).item() == pytest.approx(smooth)


def test_registry_is_case_insensitive_and_errors_are_clear():
    assert {"ERM", "CCE"} <= set(list_objectives())
    assert get_objective_entry("cCe").name == "CCE"
    assert get_objective_entry("CCE").options == {"gamma": 1.0}
    with pytest.raises(LtcliError, match="unknown objective 'nope'"):
        create_objective("nope", [1, 2])
    with pytest.raises(LtcliError, match="does not take tau"):
        create_objective("CCE", [1, 2], tau=1.0)
    with pytest.raises(LtcliError, match="at least one training image"):
        create_objective("ERM", [3, 0])


def test_gml_stays_finite_when_class_probabilities_underflow():
    # Float32 logits so extreme that the true-class balanced-softmax probabilities underflow to 0:
    # the loss must stay finite (the mean is taken in log space) and equal -mean_c log mean p.
    logits = torch.tensor([[0.0, 120.0], [0.0, 130.0], [0.0, -5.0]], requires_grad=True)
    targets = torch.tensor([0, 0, 1])
    loss = create_objective("GML", [1, 1])(logits, targets)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    log_p0 = torch.log_softmax(logits.detach().double(), 1)[:2, 0]
    log_p1 = torch.log_softmax(logits.detach().double(), 1)[2, 1]
    expected = -((torch.logsumexp(log_p0, 0) - math.log(2)) + log_p1) / 2
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
