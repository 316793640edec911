"""One meaning of each part of a run (issue 28, item 3): a `Training` and a `Pretraining` both hold
`backbone` (the bare model) and `network` (what the method wraps around it and trains), and neither a
`model` whose meaning depends on the command. Checkpoints keep the layout earlier ltcli versions wrote:
the same keys, the network's weights under `model` for a training run and the backbone's (timm's own
names) for a pre-training run, and such a file restores into freshly built parts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from conftest import make_dataset
from rich.console import Console

from ltcli.checkpoint import Checkpoint
from ltcli.config import TrainConfig
from ltcli.engine import persist
from ltcli.engine.assemble import Training, build_training
from ltcli.engine.distributed import Dist
from ltcli.engine.state import capture_rng
from ltcli.models import create_model
from ltcli.pretrain.assemble import Pretraining, build_pretraining
from ltcli.pretrain.config import PretrainConfig

# The keys of a checkpoint file as ltcli wrote them before this round (a literal: the file format).
CHECKPOINT_KEYS = ("model", "epoch", "class_names", "config", "class_counts", "select_metric", "best_value",
                   "best_epoch", "model_ema", "optimizer", "scheduler", "scaler", "rng", "valid_metrics", "pretext")
CPU = torch.device("cpu")
COMMON = dict(model="resnet20", epochs=2, batch_size=8, height=8, width=8, workers=0, device="cpu", threads=1)


def build(kind: str, root: Path, seed: int = 3) -> Training | Pretraining:
    """Freshly built parts of a tiny run: train with ERM (the backbone trained as it is) or RIDE (a
    network of experts around it), or pretrain with rotation (a head around a classifier-less backbone)."""
    data = str(root / "colours")
    logs = str(root / "logs")
    if kind == "pretrain":
        config = PretrainConfig(data=data, method="rotation", seed=seed, logs_dir=logs, **COMMON)
        return build_pretraining(config, Console(quiet=True), CPU)
    config = TrainConfig(data=data, objective=kind, seed=seed, logs_dir=logs, **COMMON)
    return build_training(config, Console(quiet=True), Dist(), CPU)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    make_dataset(tmp_path / "colours")
    return tmp_path


def test_both_kinds_of_parts_declare_backbone_and_network_and_no_model():
    for cls in (Training, Pretraining):
        names = {f.name for f in dataclasses.fields(cls)}
        assert {"backbone", "network"} <= names and "model" not in names, cls.__name__
        assert not hasattr(cls, "model"), cls.__name__


@pytest.mark.parametrize(("kind", "wrapped", "whole", "kept"), [
    ("ERM", False, True, "network"), ("RIDE", True, False, "network"), ("pretrain", True, True, "backbone"),
])
def test_backbone_and_network_mean_the_same_in_train_and_pretrain(root, kind, wrapped, whole, kept):
    parts = build(kind, root)
    backbone, network = parts.backbone, parts.network
    assert (network is not backbone) == wrapped
    own, trained_in_network = {id(p) for p in backbone.parameters()}, {id(p) for p in network.parameters()}
    # The network holds the backbone (RIDE: its shared stem; the experts are fresh copies of its late stages).
    assert (own <= trained_in_network) == whole and own & trained_in_network
    expected_outputs = 0 if kind == "pretrain" else 3  # pretrain: timm's model without classifier
    assert backbone.num_classes == expected_outputs
    trained = {id(p) for group in parts.optimizer.param_groups for p in group["params"]}
    assert trained == {id(p) for p in network.parameters() if p.requires_grad}  # the network is what trains
    assert parts.checkpointed is getattr(parts, kept)
    checkpoint = persist.capture(parts, persist.Progress(), epoch=-1)
    weights = (network if kept == "network" else backbone).state_dict()
    assert checkpoint.model.keys() == weights.keys()
    if kind == "pretrain":  # timm's own names: `ltcli train --init-from` loads them
        assert set(checkpoint.model) == set(create_model("resnet20", num_classes=0).state_dict())


@pytest.mark.parametrize("kind", ["ERM", "RIDE", "pretrain"])
def test_a_checkpoint_file_keeps_the_keys_it_always_had(root, tmp_path, kind):
    parts = build(kind, root)
    path = tmp_path / "checkpoint.pt"
    persist.capture(parts, persist.Progress(), epoch=-1).save(path)
    assert tuple(torch.load(path, weights_only=True)) == CHECKPOINT_KEYS
    assert tuple(f.name for f in dataclasses.fields(Checkpoint)) == CHECKPOINT_KEYS


@pytest.mark.parametrize("kind", ["ERM", "RIDE", "pretrain"])
def test_a_checkpoint_in_the_earlier_layout_restores_into_fresh_parts(root, tmp_path, kind):
    """A file written as earlier versions wrote it (a plain dict, by hand here: a training run's network
    under `model`, a pre-training run's backbone) loads into parts built with another seed."""
    saved = build(kind, root, seed=11)
    module = saved.backbone if kind == "pretrain" else saved.network
    raw = {"model": module.state_dict(), "epoch": 0, "class_names": ["apple", "leaf", "sky"],
           "config": saved.record, "optimizer": saved.optimizer.state_dict(),
           "scheduler": saved.scheduler.state_dict(), "rng": capture_rng(saved.loaders),
           "pretext": saved.method.save_state(saved.network)}
    torch.save(raw, tmp_path / "old.pt")
    fresh = build(kind, root, seed=4)
    before = {k: v.clone() for k, v in fresh.network.state_dict().items()}
    checkpoint = Checkpoint.load(tmp_path / "old.pt")
    persist.restore(fresh, checkpoint)
    fresh.method.load_state(fresh.network, checkpoint.pretext, tmp_path / "old.pt")
    restored, expected = fresh.network.state_dict(), saved.network.state_dict()
    assert restored.keys() == expected.keys()
    for key, tensor in expected.items():
        assert torch.equal(restored[key], tensor), key
    assert any(not torch.equal(before[key], tensor) for key, tensor in expected.items())  # the seeds differ
