"""Every registered objective trains: a few epochs of the real engine loop lower its training loss."""

from __future__ import annotations

import pytest
import torch
from rich.progress import Progress
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ltcli.engine.loop import forward_loss, train_one_epoch
from ltcli.engine.schedule import create_scheduler
from ltcli.method import Method, from_objective
from ltcli.models.heads import TrainStep, use_cosine_classifier
from ltcli.objectives import create_objective, get_objective_entry, list_objectives

COUNTS = [60, 25, 10]
EPOCHS = 10


class TinyNet(nn.Module):
    """A two-layer MLP with timm's forward_features / forward_head / get_classifier interface."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 32), nn.ReLU())
        self.fc = nn.Linear(32, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))


def blobs() -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    xs, ys = [], []
    for c, n in enumerate(COUNTS):
        xs.append(centres[c] + 0.8 * torch.randn(n, 2, generator=generator))
        ys.append(torch.full((n,), c))
    return TensorDataset(torch.cat(xs), torch.cat(ys))


def dataset_loss(model, objective, dataset) -> float:
    model.eval()
    with torch.no_grad():
        _, loss = forward_loss(TrainStep(model, objective.needs_features), objective, *dataset.tensors)
    return float(loss)


def wraps_model(name: str) -> bool:
    """Objectives that train a module of their own around the backbone (RIDE's experts, PaCo's encoder
    pair) need a real image backbone: tests/test_experts.py trains them (`WRAPPING_TRAINED` there)."""
    return get_objective_entry(name).cls.wraps_backbone()


@pytest.mark.parametrize("name", [name for name in list_objectives() if not wraps_model(name)])
def test_objective_lowers_training_loss(name):
    torch.manual_seed(0)
    dataset = blobs()
    # an objective with an `epochs` option (a curriculum horizon, found by its signature) gets this run's
    options = {"epochs": EPOCHS} if "epochs" in get_objective_entry(name).options else {}
    objective = create_objective(name, COUNTS, **options)
    model = TinyNet(len(COUNTS))
    if objective.needs_cosine_head:
        use_cosine_classifier(model)
    loader = DataLoader(dataset, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = create_scheduler(optimizer, "step", EPOCHS, len(loader), [EPOCHS], warmup_epochs=0)
    objective.set_epoch(0)
    before = dataset_loss(model, objective, dataset)
    with Progress(disable=True) as progress:
        for epoch in range(EPOCHS):
            objective.set_epoch(epoch)
            cpu = torch.device("cpu")
            step = TrainStep(model, objective.needs_features)
            stats = train_one_epoch(step, from_objective("test", objective), loader, optimizer, scheduler, cpu, epoch,
                                    progress)
    objective.set_epoch(0)  # compare at the same pacing / curriculum point
    after = dataset_loss(model, objective, dataset)
    assert after < before - 0.05 * abs(before), (before, after)
    assert stats["acc"] > 0.7


class NaNOnThirdBatch(torch.nn.Module):
    """A stand-in objective whose loss turns NaN on its third call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        loss = torch.nn.functional.cross_entropy(logits, targets)
        return loss * float("nan") if self.calls == 3 else loss


def test_non_finite_loss_stops_with_epoch_and_batch():
    from ltcli.errors import LtcliError

    dataset = blobs()
    model = TinyNet(len(COUNTS))
    loader = DataLoader(dataset, batch_size=16)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    scheduler = create_scheduler(optimizer, "step", 2, len(loader), [2], warmup_epochs=0)
    with Progress(disable=True) as progress, pytest.raises(LtcliError, match="at epoch 2, batch 3"):
        step, cpu = TrainStep(model, False), torch.device("cpu")
        train_one_epoch(step, Method("nan", NaNOnThirdBatch()), loader, optimizer, scheduler, cpu, 1, progress)
