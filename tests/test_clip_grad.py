"""--clip-grad: one declaration (RunSettings.clip_grad) reaches the step; the clipped SGD update equals
the one computed by hand from the gradient's norm (rescale by c / ||g|| when ||g|| > c)."""

from __future__ import annotations

import pytest
import torch

from ltcli.config import TrainConfig
from ltcli.engine.compute import Compute, resolve_compute
from ltcli.errors import LtcliError
from ltcli.pretrain.config import PretrainConfig


def one_step(clip: float | None, scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(weights before, their gradient, weights after) of one plain SGD step (lr 0.5) on a linear model."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 2)
    before = torch.cat([layer.weight.detach().flatten(), layer.bias.detach()]).clone()
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)
    loss = scale * (layer(torch.ones(4, 3)) ** 2).sum()
    Compute(torch.device("cpu"), clip_grad=clip).backward_step(loss, optimizer)
    after = torch.cat([layer.weight.detach().flatten(), layer.bias.detach()])
    # The gradient by hand: d/dW sum_n (W x + b)^2 = 2 sum_n (W x + b) x^T, x = 1 (4 rows alike).
    with torch.no_grad():
        out = layer.weight.new_tensor(before[:6]).view(2, 3) @ torch.ones(3) + before[6:]
        grad = scale * torch.cat([(8 * out)[:, None].expand(2, 3).flatten(), 8 * out])
    return before, grad, after


@pytest.mark.parametrize("clip, scale", [(1.0, 1.0), (0.1, 3.0), (1e6, 1.0)])
def test_clipped_step_matches_the_hand_computed_update(clip, scale):
    before, grad, after = one_step(clip, scale)
    norm = grad.norm()
    factor = min(1.0, clip / (float(norm) + 1e-6))  # torch's clip_grad_norm_ coefficient, capped at 1
    assert torch.allclose(after, before - 0.5 * factor * grad, atol=1e-5)
    if clip < norm:
        assert ((after - before) / 0.5).norm() == pytest.approx(clip, rel=1e-4)


def test_no_clip_is_the_plain_step():
    before, grad, after = one_step(None, 1.0)
    assert torch.allclose(after, before - 0.5 * grad, atol=1e-5)


def test_declared_once_for_train_pretrain_and_the_step():
    assert TrainConfig.create(dataset="d", clip_grad=2.5).clip_grad == 2.5
    assert PretrainConfig(dataset="d", clip_grad=2.5).clip_grad == 2.5
    assert TrainConfig.create(dataset="d").clip_grad is None
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(LtcliError, match="--clip-grad must be above 0"):
            TrainConfig.create(dataset="d", clip_grad=bad)
    assert resolve_compute("off", "off", torch.device("cpu"), 2.5).clip_grad == 2.5
