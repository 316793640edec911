"""The Method record (`ltcli.method`): every objective and every pretext task yields one; the momentum
encoder MoCo and PaCo share follows k = m k + (1 - m) q; and a method defined only in this file trains
through `fit` and is rebuilt by `ltcli test` (a new method touches its own files and no loop)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import read_csv
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import nn

from ltcli.checkpoint import Checkpoint
from ltcli.method import Method, unwrapped
from ltcli.models import create_model
from ltcli.objectives import Objective, get_objective_entry, list_objectives, register_objective
from ltcli.objectives import registry as objective_registry
from ltcli.pretrain.methods import PRETEXTS
from ltcli.pretrain.parts import PRETEXT_STATE

COUNTS = [9, 5, 2]


# --- every registered method yields a Method -----------------------------------------------------------

@pytest.mark.parametrize("name", list_objectives())
def test_every_objective_yields_a_method_record(name):
    entry = get_objective_entry(name)
    if name == "PaCo":
        pytest.importorskip("lightly")
    method = entry.method(COUNTS)
    assert isinstance(method, Method) and method.name == entry.name
    assert isinstance(method.loss, entry.cls) and method.views == entry.cls.train_views
    assert method.make_batch is None and method.state is None  # labels are the targets; state lives in the model
    overrides = entry.cls.wraps_backbone()
    assert method.wraps_backbone == overrides
    backbone = create_model("resnet20", num_classes=len(COUNTS))
    network = method.wrap(backbone)
    assert (network is backbone) == (not overrides)
    assert network(torch.randn(2, 3, 8, 8)).shape == (2, len(COUNTS))  # an ordinary classifier at test time
    # what the loop and the model factory need is on the record, from the class's declarations
    cls = entry.cls
    assert (method.features, method.cosine_head, method.single_logit) == (
        cls.needs_features, cls.needs_cosine_head, cls.single_logit_binary)
    assert (method.second_step is not None) == cls.has_second_step


def test_the_loop_reads_the_second_step_and_features_from_the_method():
    """COT's complement step is taken when the Method names one, whatever the loss class says; a
    pretext loss (MoCo's) declares nothing and gets its features because its Method asks for them."""
    from ltcli.engine.compute import Compute
    from ltcli.engine.loop import train_step
    from ltcli.models.heads import TrainStep

    model = nn.Linear(4, 3)
    seen = []

    def second(logits, targets):
        seen.append(logits.shape)
        return logits.square().mean()

    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    images, targets = torch.randn(6, 4), torch.tensor([0, 1, 2] * 2)
    cpu = Compute(torch.device("cpu"))
    train_step(TrainStep(model, False), Method("plain", nn.CrossEntropyLoss()), optimizer, cpu, images, targets, None)
    assert seen == []
    steps = []
    optimizer.register_step_post_hook(lambda *_: steps.append(1))
    train_step(TrainStep(model, False), Method("two", nn.CrossEntropyLoss(), second_step=second), optimizer, cpu,
               images, targets, None)
    assert seen == [(6, 3)] and len(steps) == 2
    from ltcli.pretrain.moco import ContrastiveLoss  # a plain module: no flags faked for the loop

    assert not hasattr(ContrastiveLoss, "needs_features") and not hasattr(ContrastiveLoss, "has_second_step")


@pytest.mark.parametrize("name", list(PRETEXTS))
def test_every_pretext_yields_a_method_whose_state_round_trips(name):
    from ltcli.pretrain.config import PretrainConfig

    if name == "moco":
        pytest.importorskip("lightly")
    config = PretrainConfig(dataset="d", method=name, height=8, width=8,
                            **({"moco_queue": 8, "moco_dim": 4} if name == "moco" else {}))
    method = PRETEXTS[name].method(config, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)
    assert isinstance(method, Method) and method.name == name and method.paper == PRETEXTS[name].paper
    assert method.wraps_backbone and method.make_batch is not None and method.state is PRETEXT_STATE
    torch.manual_seed(0)
    network = method.wrap(create_model("resnet20", num_classes=0))
    inputs, targets = method.make_batch(torch.randn(4, 3, 8, 8))
    network.eval()
    logits, features = network(inputs)
    loss = method.loss(logits, targets, **({"features": features} if features is not None else {}))
    assert logits.shape[0] == targets.shape[0] and torch.isfinite(loss)
    saved = method.save_state(network)
    assert saved and not any(key.startswith("backbone.") for key in saved)  # the backbone is saved apart
    fresh = PRETEXTS[name].method(config, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)
    torch.manual_seed(1)
    rebuilt = fresh.wrap(create_model("resnet20", num_classes=0))
    fresh.load_state(rebuilt, saved, "a checkpoint")
    assert all(torch.equal(fresh.save_state(rebuilt)[key], tensor) for key, tensor in saved.items())


# --- one momentum encoder, k = m k + (1 - m) q ------------------------------------------------------------

def test_the_momentum_update_by_hand_on_two_numbers():
    pytest.importorskip("lightly")
    from ltcli.models.momentum import MomentumEncoder

    encoder = MomentumEncoder(nn.Linear(2, 1, bias=False), nn.Linear(1, 1, bias=False), momentum=0.75)
    with torch.no_grad():
        encoder.backbone.weight.copy_(torch.tensor([[1.0, 2.0]]))
        encoder.key_backbone.weight.copy_(torch.tensor([[3.0, -1.0]]))
        encoder.projection.weight.fill_(4.0)
        encoder.key_projection.weight.fill_(0.0)
    encoder.update_key_encoder()
    # 0.75 * [3, -1] + 0.25 * [1, 2] = [2.5, -0.25] and 0.75 * 0 + 0.25 * 4 = 1, exact in binary
    assert encoder.key_backbone.weight.tolist() == [[2.5, -0.25]] and encoder.key_projection.weight.item() == 1.0
    assert encoder.backbone.weight.tolist() == [[1.0, 2.0]] and encoder.projection.weight.item() == 4.0
    assert not encoder.key_backbone.weight.requires_grad and not encoder.key_projection.weight.requires_grad


def spread_keys(network: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Move every key parameter away from its query (as after training) and return both, cloned."""
    with torch.no_grad():
        for parameter in [*network.key_backbone.parameters(), *network.key_projection.parameters()]:
            parameter.add_(0.1 * torch.randn_like(parameter))
    query = {f"{part}.{n}": p.detach().clone() for part in ("backbone", "projection")
             for n, p in getattr(network, part).named_parameters()}
    key = {f"{part}.{n}": p.detach().clone() for part in ("backbone", "projection")
           for n, p in getattr(network, f"key_{part}").named_parameters()}
    return query, key


def assert_momentum_rule(network: nn.Module, query: dict, key: dict, m: float) -> None:
    now = {f"{part}.{n}": p.detach() for part in ("backbone", "projection")
           for n, p in getattr(network, f"key_{part}").named_parameters()}
    assert set(now) == set(key) and len(now) > 10
    for name, before in key.items():
        torch.testing.assert_close(now[name], m * before + (1 - m) * query[name], atol=1e-6, rtol=0)


def test_moco_and_paco_share_the_momentum_encoder_and_its_rule():
    pytest.importorskip("lightly")
    from ltcli.models.contrastive import PaCoNet
    from ltcli.models.momentum import MomentumEncoder
    from ltcli.pretrain.moco import MoCoNet

    m = 0.9
    torch.manual_seed(0)
    moco = MoCoNet(create_model("resnet20", num_classes=0), dim=4, queue=8, momentum=m, temperature=0.2)
    paco = get_objective_entry("PaCo").method(COUNTS, queue=8, dim=4, momentum=m).wrap(
        create_model("resnet20", num_classes=3))
    assert isinstance(moco, MomentumEncoder) and isinstance(paco, PaCoNet) and isinstance(paco, MomentumEncoder)
    # MoCo: its training forward moves the key encoder before anything else
    query, key = spread_keys(moco)
    moco.train()
    moco(torch.randn(4, 3, 8, 8))
    assert_momentum_rule(moco, query, key, m)
    # PaCo: the same, in its forward_train
    query, key = spread_keys(paco)
    paco.train()
    paco.forward_train(torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0]))
    assert_momentum_rule(paco, query, key, m)


# --- a method of this file only trains through fit and is rebuilt by `ltcli test` ------------------------

FORWARD_TRAIN_CALLS: list[tuple[torch.Tensor, torch.Tensor]] = []


class TwinNet(nn.Module):
    """One backbone seeing two views of each image in training; counts its training steps in a buffer
    (so the checkpoint shows the wrapper was trained and kept)."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images)

    def forward_train(self, first: torch.Tensor, second: torch.Tensor, targets: torch.Tensor) -> dict:
        FORWARD_TRAIN_CALLS.append((first.detach(), second.detach()))
        self.steps += 1
        return {"logits": self.backbone(first), "second_logits": self.backbone(second)}


class ToyTwin(Objective):
    """Toy: the mean cross-entropy of two views of each image (one view in validation)."""

    train_views = 2

    @classmethod
    def network(cls, model: nn.Module, **options) -> nn.Module:
        return TwinNet(model)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, second_logits: torch.Tensor | None = None
                ) -> torch.Tensor:
        loss = F.cross_entropy(logits, targets)
        return loss if second_logits is None else (loss + F.cross_entropy(second_logits, targets)) / 2


@pytest.fixture
def toy_method():
    register_objective("ToyTwin")(ToyTwin)
    FORWARD_TRAIN_CALLS.clear()
    yield get_objective_entry("ToyTwin")
    objective_registry._REGISTRY.pop("toytwin")


def test_a_method_defined_in_a_test_file_trains_through_fit_and_tests(toy_method, cli, split_dataset, tmp_path):
    from ltcli.config import TrainConfig
    from ltcli.engine.train import fit

    method = toy_method.method(COUNTS)
    assert method.views == 2 and method.wraps_backbone and method.wrap is not unwrapped
    config = TrainConfig(dataset="colours", model="resnet20", objective="ToyTwin", epochs=1, batch_size=8,
                         lr_steps=[1], warmup_epochs=0, height=16, width=16, workers=0, device="cpu", lr=0.05,
                         datasets_dir=str(tmp_path / "a_datasets"), logs_dir=str(tmp_path / "logs"))
    run = fit(config)
    assert run.parent.name == "ToyTwin"
    recorded = json.loads((run / "config.json").read_text())
    assert recorded["model_wrapper"] == "TwinNet" and recorded["train_views"] == 2
    best = Checkpoint.load(run / "checkpoint_best.pt")
    # every training step went through the wrapper with two differently augmented views
    assert int(best.model["steps"]) == len(FORWARD_TRAIN_CALLS) > 0
    assert any(not torch.equal(a, b) for a, b in FORWARD_TRAIN_CALLS)
    assert all(a.shape == b.shape and a.shape[1:] == (3, 16, 16) for a, b in FORWARD_TRAIN_CALLS)
    # `ltcli test` rebuilds the wrapper from the record: on valid/ it scores what training logged; the
    # logged validation loss is the single-view cross-entropy, i.e. the test's NLL
    logged = read_csv(Path(run) / "valid.csv")[0]
    cli("test", "--run", str(run), "--split", "valid")
    tested = json.loads((run / "metrics_valid.json").read_text())
    assert tested["acc"] == pytest.approx(float(logged["acc"]), abs=1e-6)
    assert tested["nll"] == pytest.approx(float(logged["loss"]), rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("name, options, wrapper", [
    ("RIDE", {"num_experts": 2, "reweight_epoch": 3}, "RIDEExperts"), ("PaCo", {"queue": 8, "dim": 4}, "PaCoNet"),
])
def test_ltcli_test_rebuilds_the_network_from_options_without_building_the_loss(monkeypatch, name, options, wrapper):
    """The wrapper is the objective's `network` of its options; the loss (whose class counts a test does
    not need) is never constructed: its constructor is made to fail here."""
    from ltcli.engine.classifier import build_model
    from ltcli.models import create_model

    entry = get_objective_entry(name)
    trained = entry.create([9, 5, 2], **options).wrap_model(create_model("resnet20", num_classes=3))
    assert type(trained).__name__ == wrapper
    monkeypatch.setattr(entry.cls, "__init__", lambda *a, **k: (_ for _ in ()).throw(AssertionError("loss built")))
    config = {"model": "resnet20", "objective": name, "objective_options": options, "model_wrapper": wrapper}
    rebuilt = build_model(config, 3, trained.state_dict())
    assert type(rebuilt).__name__ == wrapper
    assert all(torch.equal(a, b) for a, b in zip(rebuilt.state_dict().values(), trained.state_dict().values(),
                                                   strict=True))
