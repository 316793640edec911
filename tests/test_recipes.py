"""recipes/: every file loads through `ltcli train --config`, validates, names its paper and number, and
its learning-rate schedule is the published one (computed from ltcli's own scheduler, per epoch)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from ltcli.config import TrainConfig
from ltcli.engine.schedule import create_scheduler

ALL_RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*/*.yaml"))
RECIPES = [p for p in ALL_RECIPES if p.parent.name.startswith("cifar")]
# GPU-scale recipes on list datasets: the authors' configs (github.com/facebookresearch/classifier-balancing),
# dataset folder -> (weight decay, {stem: epochs}); all batch 512, lr 0.2, cosine, 224 px.
LARGE = {"imagenet-lt": (5e-4, {"erm-resnext50": 90, "erm-resnet50": 90, "crt": 10, "lws": 5}),
         "inat2018": (1e-4, {"erm-resnet50": 90, "crt": 30})}
# Training images of the long-tailed sets (Cao et al.'s exp profile, IF 100), for updates per epoch.
TRAIN_IMAGES = {"cifar10-lt": 12406, "cifar100-lt": 10847}
# The rate of each stage after warmup, as a multiple of lr, in the authors' code: Cao et al.'s
# cifar_train.py (0.01 after epoch 160, 0.0001 after 180), shared by every single-stage recipe but
# MiSLAS's stage one (its train_stage1.py: 0.1 and 0.01) and PaCo (below).
CAO_FACTORS = (1.0, 0.01, 0.0001)


@dataclass(frozen=True)
class Published:
    """A method's published optimisation settings (the authors' configs), as the schedule test checks them."""

    lr: float = 0.1
    weight_decay: float = 2e-4
    epochs: int = 200
    warmup: int = 5
    drops: tuple[int, int] = (160, 180)
    factors: tuple[float, float, float] = CAO_FACTORS


# RIDE: configs/config_imbalance_cifar100_ride.json (wd 5e-4, CustomLR x0.01 at 160 and 180);
# PaCo: PaCo/LT/sh/CIFAR100_train_imb0.01.sh and paco_cifar.py (lr 0.05, wd 5e-4, 400 epochs,
# warmup 10, x0.1 after 320 and x0.01 after 360).
PUBLISHED = {
    "mislas-stage1": Published(factors=(1.0, 0.1, 0.01)),
    "ride": Published(weight_decay=5e-4),
    "paco": Published(lr=0.05, weight_decay=5e-4, epochs=400, warmup=10, drops=(320, 360), factors=(1.0, 0.1, 0.01)),
}


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[TrainConfig]:
    import ltcli.engine.train

    configs: list[TrainConfig] = []
    monkeypatch.setattr(ltcli.engine.train, "fit", lambda config, console=None, **_: configs.append(config))
    return configs


def load(cli, captured: list[TrainConfig], path: Path, *extra: str) -> TrainConfig:
    """The config `ltcli train --config PATH` builds (a second stage gets a stage-one run to start from)."""
    stage_two = ("--init-from", "logs/resnet32/stage-one") if re.search(r"^recipe:", path.read_text(), re.M) else ()
    before = len(captured)
    cli("train", "--config", path, *stage_two, *extra)
    assert len(captured) == before + 1
    return captured[-1]


def test_there_are_recipes_for_both_datasets_and_every_method():
    names = {(p.parent.name, p.stem) for p in RECIPES}
    for dataset in ("cifar10-lt", "cifar100-lt"):
        for method in ("erm", "bsce", "la", "ldam-drw", "crt", "lws", "mislas-stage1", "mislas-stage2", "ride", "paco"):
            assert (dataset, method) in names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_recipe_validates_and_names_its_paper_and_number(cli, captured, path):
    config = load(cli, captured, path)
    assert config.dataset == path.parent.name and config.model == "resnet32"
    published = PUBLISHED.get(path.stem, Published())
    assert (config.batch_size, config.lr, config.weight_decay, config.height) == (
        128, published.lr, published.weight_decay, 32)
    text = path.read_text()
    assert re.search(r"^# paper: .+ \d{4}$", text, re.M), "each recipe names its paper"
    assert re.search(r"^# published: (\d+\.\d+|unverified|none)", text, re.M), "and the number it reports"
    other = load(cli, captured, path, "--dataset", "my-cifar")  # the dataset is the user's to choose
    assert other.dataset == "my-cifar"


@pytest.mark.parametrize("path", [p for p in RECIPES if "recipe:" not in p.read_text()],
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_single_stage_recipe_runs_the_published_schedule(cli, captured, path):
    """ResNet-32, the authors' epochs and warmup (200 and 5 for most), drops at their epochs (160 and 180
    for most) by their factors."""
    config = load(cli, captured, path)
    settings = PUBLISHED.get(path.stem, Published())
    assert (config.epochs, config.sched, config.warmup_epochs, config.momentum) == (
        settings.epochs, "step", settings.warmup, 0.9)
    updates = math.ceil(TRAIN_IMAGES[path.parent.name] / config.batch_size)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=config.lr)
    scheduler = create_scheduler(optimizer, config.sched, config.epochs, updates, config.lr_stages,
                                 config.lr_decay, config.warmup_epochs, config.min_lr)
    mid_epoch = []  # the rate half way through each epoch: the rate that epoch trains at
    for update in range(config.epochs * updates):
        scheduler.step_update(update)
        if update % updates == updates // 2:
            mid_epoch.append(optimizer.param_groups[0]["lr"])
    first, second = settings.drops
    factors = settings.factors
    published = [settings.lr * factors[0 if epoch < first else 1 if epoch < second else 2]
                 for epoch in range(settings.epochs)]
    warm = settings.warmup
    assert mid_epoch[warm:] == pytest.approx(published[warm:], rel=1e-6)
    warmup = mid_epoch[:warm]
    assert all(a < b for a, b in zip(warmup, warmup[1:], strict=False)) and warmup[-1] < config.lr
    assert warmup[0] == pytest.approx(config.lr * 0.5 / warm, rel=0.01)  # linear from ~0 to lr over the warmup
    if config.train_rule == "DRW":
        assert config.drw_epoch == 160  # re-weighting from the first drop, as Cao et al.


def test_a_recipe_value_typed_on_the_command_line_wins(cli, captured):
    path = next(p for p in RECIPES if p.parent.name == "cifar10-lt" and p.stem == "ldam-drw")
    config = load(cli, captured, path, "--epochs", "20", "--lrstep", "16,2,2", "--drw-epoch", "16", "--seed", "3")
    assert (config.epochs, config.lr_steps, config.drw_epoch, config.seed) == (20, [16, 2, 2], 16, 3)
    assert (config.objective, config.train_rule, config.objective_options["max_margin"]) == ("LDAM", "DRW", 0.5)


@pytest.mark.parametrize("path", [p for p in ALL_RECIPES if p.parent.name in LARGE],
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_gpu_scale_recipe_is_the_authors_config_on_lists(cli, captured, path):
    config = load(cli, captured, path)
    weight_decay, epochs = LARGE[path.parent.name]
    assert (config.batch_size, config.lr, config.weight_decay, config.epochs, config.sched, config.warmup_epochs) == (
        512, 0.2, weight_decay, epochs[path.stem], "cosine", 0)
    assert (config.height, config.width, config.augment, config.model) == (
        224, 224, "timm", "resnext50_32x4d" if "resnext" in path.stem or (
            path.parent.name == "imagenet-lt" and path.stem in ("crt", "lws")) else "resnet50")
    assert config.data and config.dataset is None  # a lists folder, given with --data
    text = path.read_text()
    assert "GPU-scale" in text.splitlines()[0]
    assert re.search(r"^# paper: .+ \d{4}$", text, re.M)
    assert re.search(r"^# published: (\d+\.\d+|unverified)", text, re.M)
    if "recipe:" in text:
        assert config.train_rule == "Resample" and config.freeze != "none"
    other = load(cli, captured, path, "--data", "elsewhere", "--data-root", "images")
    assert (other.data, other.data_root) == ("elsewhere", "images")
