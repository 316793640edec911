"""Registry behaviour and hand-computed values for the objectives of the end-to-end issue."""

from __future__ import annotations

import inspect
import math

import pytest
import torch

from ltcli.errors import LtcliError
from ltcli.objectives import Objective, create_objective, get_objective_entry, list_objectives


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


# --- every registered objective, from the registry -----------------------------------------------
FLAGS = ("needs_features", "has_second_step", "needs_cosine_head", "supports_class_weights", "corrects_prior",
         "single_logit_binary")


def batch(name: str, counts: list[int]) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """A seeded batch with every class present; cosine logits and features where the objective declares them."""
    generator = torch.Generator().manual_seed(5)
    targets = torch.arange(2 * len(counts)) % len(counts)
    logits = torch.randn(len(targets), len(counts), generator=generator, dtype=torch.float64)
    cls = get_objective_entry(name).cls
    if cls.needs_cosine_head:
        logits = torch.tanh(logits)
    features = torch.randn(len(targets), 4, generator=generator, dtype=torch.float64)
    return logits, targets, ({"features": features} if cls.needs_features else {})


@pytest.mark.parametrize("name", list_objectives())
def test_every_objective_builds_from_defaults_and_honours_its_flags(name):
    entry = get_objective_entry(name)
    assert issubclass(entry.cls, Objective) and all(isinstance(getattr(entry.cls, f), bool) for f in FLAGS)
    assert all(default is not inspect.Parameter.empty for default in entry.options.values()), entry.options
    counts = [50, 20, 5]
    objective = create_objective(name, counts)
    logits, targets, inputs = batch(name, counts)
    value = objective(logits, targets, **inputs)
    assert value.dim() == 0 and torch.isfinite(value)

    if entry.cls.supports_class_weights:
        objective.set_class_weights([1.0, 2.0, 4.0])
        weighted = objective(logits, targets, **inputs)
        assert torch.isfinite(weighted) and not math.isclose(weighted.item(), value.item(), rel_tol=1e-6)
        objective.set_class_weights(None)
        assert objective(logits, targets, **inputs).item() == pytest.approx(value.item(), rel=1e-12)
    else:
        with pytest.raises(ValueError, match="does not take per-class weights"):
            objective.set_class_weights([1.0, 2.0, 4.0])

    if entry.cls.has_second_step:
        second = objective.second_step(logits, targets)
        assert second.dim() == 0 and torch.isfinite(second)
    else:
        with pytest.raises(NotImplementedError):
            objective.second_step(logits, targets)

    if entry.cls.corrects_prior:  # the loss depends on the training prior it corrects
        uniform = create_objective(name, [25, 25, 25])(logits, targets, **inputs)
        assert not math.isclose(uniform.item(), value.item(), rel_tol=1e-6)

    if entry.cls.single_logit_binary:  # one output per sample on a binary task
        binary = create_objective(name, [9, 3])
        one_logit = torch.randn(8, 1, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
        out = binary(one_logit, torch.tensor([0, 1, 0, 0, 1, 0, 0, 0]))
        assert out.dim() == 0 and torch.isfinite(out)
