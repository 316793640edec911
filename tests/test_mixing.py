"""Mixup / CutMix through timm's Mixup, for objectives that take class indices; EMA of the weights
through timm's ModelEmaV3, updated once per optimizer step."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import TRAIN_ARGS, only_run, read_csv
from rich.progress import Progress
from timm.utils import ModelEmaV3
from torch.utils.data import DataLoader, TensorDataset

from ltcli.engine.loop import forward_loss, train_one_epoch
from ltcli.engine.mixing import BatchMix, create_batch_mix
from ltcli.engine.schedule import create_scheduler
from ltcli.errors import LtcliError
from ltcli.method import from_objective
from ltcli.models.heads import TrainStep
from ltcli.objectives import create_objective


def distinct_batch(n: int = 6, size: int = 8) -> torch.Tensor:
    """Images whose every pixel differs between images (image i is all i + 1)."""
    return torch.arange(1, n + 1, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, size, size).clone()


def test_mixup_weight_is_the_one_the_images_were_mixed_with():
    np.random.seed(0)
    images, targets = distinct_batch(), torch.tensor([0, 1, 2, 0, 1, 2])
    mixed_images, mixed = BatchMix(1.0, 0.0, 1.0, 0.5, 3)(images.clone(), targets)
    lam = float(mixed.lam)
    # By hand: image i becomes lam * x_i + (1 - lam) * x_{n-1-i}.
    expected = lam * images + (1 - lam) * images.flip(0)
    assert 0 < lam < 1 and torch.allclose(mixed_images, expected)
    assert torch.equal(mixed.partner, torch.tensor([2, 1, 0, 2, 1, 0]))


def test_cutmix_weight_is_the_share_of_pixels_kept():
    np.random.seed(1)
    images, targets = distinct_batch(size=32), torch.tensor([0, 1, 2, 3, 4, 5])
    cut = BatchMix(0.0, 1.0, 1.0, 0.5, 6)
    shares = []
    for _ in range(5):
        mixed_images, mixed = cut(images.clone(), targets)
        kept = (mixed_images == images).float().mean().item()  # pixels still from the image itself
        assert float(mixed.lam) == pytest.approx(kept)
        shares.append(kept)
    assert min(shares) < 0.9  # boxes were cut


def test_mixed_cross_entropy_equals_the_soft_target_cross_entropy():
    np.random.seed(2)
    objective = create_objective("ERM", [5, 5, 5])
    images, targets = distinct_batch(), torch.tensor([0, 1, 2, 2, 0, 1])
    logits = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    _, mixed = BatchMix(0.8, 0.0, 1.0, 0.5, 3)(images, targets)
    lam = float(mixed.lam)
    soft = lam * F.one_hot(targets, 3) + (1 - lam) * F.one_hot(targets.flip(0), 3)
    by_hand = -(soft * F.log_softmax(logits, dim=1)).sum(1).mean()
    assert torch.isclose(mixed.combine(lambda t: objective(logits, t), targets), by_hand)


def test_forward_loss_with_symmetric_targets_is_the_plain_loss():
    # Every image mixed with one of its own class: lam cannot change the loss.
    np.random.seed(3)
    objective = create_objective("LDAM", [9, 3])
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 2))
    step = TrainStep(model, False)
    images, targets = distinct_batch(4), torch.tensor([0, 1, 1, 0])
    mixed_images, mixed = BatchMix(1.0, 0.0, 1.0, 0.5, 2)(images, targets)
    _, plain = forward_loss(step, objective, mixed_images, targets)
    _, combined = forward_loss(step, objective, mixed_images, targets, mixed=mixed)
    assert torch.isclose(plain, combined)


def test_odd_batches_stay_unmixed_and_odd_process_batches_are_refused():
    images = distinct_batch(5)
    out, mixed = BatchMix(1.0, 0.0, 1.0, 0.5, 5)(images.clone(), torch.arange(5))
    assert mixed is None and torch.equal(out, images)
    assert create_batch_mix(0.0, 0.0, 1.0, 0.5, 3, 7) is None
    with pytest.raises(LtcliError, match=r"batch per process \(7\) must be even"):
        create_batch_mix(0.2, 0.0, 1.0, 0.5, 3, 7)
    with pytest.raises(LtcliError, match="alpha >= 0"):
        create_batch_mix(-1.0, 0.0, 1.0, 0.5, 3, 8)


def test_ema_follows_every_optimizer_step_with_timm_warmup_decay():
    # Reference from timm's documented warmup (inv_gamma 1, power 2/3): at optimizer step t = 1, 2, ...
    # the EMA is a copy for t = 1, then ema = d_t * ema + (1 - d_t) * w_t, d_t = min(d, 1 - t ** (-2/3)).
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    objective = create_objective("ERM", [4, 4, 4])
    data = TensorDataset(torch.randn(12, 4), torch.tensor([0, 1, 2] * 4))
    loader = DataLoader(data, batch_size=4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    scheduler = create_scheduler(optimizer, "step", 1, len(loader), [1], warmup_epochs=0)
    ema = ModelEmaV3(model, decay=0.6, use_warmup=True)
    trained: list[torch.Tensor] = []
    optimizer.register_step_post_hook(lambda *_: trained.append(model.weight.detach().clone()))
    with Progress(disable=True) as progress:
        train_one_epoch(TrainStep(model, False), from_objective("ERM", objective), loader, optimizer, scheduler,
                        torch.device("cpu"), 0, progress, ema=ema)
    assert len(trained) == 3
    expected = trained[0]
    for t, weight in enumerate(trained[1:], start=2):
        decay = min(0.6, 1 - t ** (-2 / 3))
        expected = decay * expected + (1 - decay) * weight
    assert torch.allclose(ema.module.weight, expected, atol=1e-6)
    assert not torch.allclose(ema.module.weight, model.weight, atol=1e-3)


def test_an_ema_run_validates_and_tests_its_ema_weights(cli, split_dataset, tmp_path):
    cli("train", "--dataset", "colours", "--objective", "ERM", "--ema-decay", "0.9", "--mixup", "0.3",
        "--cutmix", "1.0", *TRAIN_ARGS)
    run = only_run(tmp_path, "ERM")
    assert json.loads((run / "config.json").read_text())["ema_decay"] == 0.9
    best = torch.load(run / "checkpoint_best.pt", weights_only=True)
    assert any(not torch.equal(best["model_ema"][k], v) for k, v in best["model"].items() if v.is_floating_point())
    logged = read_csv(run / "valid.csv")[best["epoch"]]
    cli("test", "--run", str(run), "--split", "valid", "--out", str(tmp_path / "tested"), "--device", "cpu")
    tested = json.loads((tmp_path / "tested" / "metrics_valid.json").read_text())
    assert tested["nll"] == pytest.approx(float(logged["nll"]), abs=1e-5)


@pytest.mark.parametrize(("args", "message"), [
    (["--ema-decay", "1.5"], "--ema-decay must be in [0, 1)"),
    (["--mixup", "0.2", "--batchsize", "7"], "must be even"),
])
def test_bad_regulariser_options_are_one_line_errors(cli, split_dataset, args, message):
    result = cli("train", "--dataset", "colours", "--objective", "ERM", *TRAIN_ARGS, *args, ok=False)
    assert result.exit_code == 1 and message in " ".join(result.output.split())
