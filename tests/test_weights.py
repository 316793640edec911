"""Starting points: local weights with the usual prefixes and a new head, freezing, --init-from."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import TRAIN_ARGS, only_run

from ltcli.errors import LtcliError
from ltcli.models import create_model
from ltcli.models.weights import freeze, load_weights, train_mode


@pytest.mark.parametrize("wrap", [
    lambda sd: sd,
    lambda sd: {f"module.{k}": v for k, v in sd.items()},  # DataParallel
    lambda sd: {"state_dict": {f"_orig_mod.{k}": v for k, v in sd.items()}},  # compiled, in a checkpoint
    lambda sd: {"model": {f"module.model.{k}": v for k, v in sd.items()}, "epoch": 3},
])
def test_weights_load_through_prefixes_and_a_new_head(tmp_path, wrap):
    source = create_model("resnet20", num_classes=10)
    torch.save(wrap(source.state_dict()), tmp_path / "w.pt")
    target = create_model("resnet20", num_classes=3)
    head_before = target.fc.weight.clone()
    report = load_weights(target, tmp_path / "w.pt")
    assert report.reinitialised == ["fc.bias", "fc.weight"]
    assert report.loaded == len(source.state_dict()) - 2 and not report.unexpected
    assert torch.equal(target.conv1.weight, source.conv1.weight)
    assert torch.equal(target.fc.weight, head_before)  # the new head keeps its own initialisation
    assert "re-initialised fc.bias, fc.weight" in report.summary(tmp_path / "w.pt")


def test_weights_errors(tmp_path):
    model = create_model("resnet20", num_classes=3)
    with pytest.raises(LtcliError, match="not found"):
        load_weights(model, tmp_path / "none.pt")
    torch.save({"other.weight": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(LtcliError, match="no tensor in .* fits this model"):
        load_weights(model, tmp_path / "foreign.pt")


def test_frozen_backbone_does_not_change_but_the_head_learns():
    torch.manual_seed(0)
    model = create_model("resnet20", num_classes=3)
    trainable = freeze(model, "backbone")
    assert trainable == sum(p.numel() for p in model.fc.parameters())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    train_mode(model)
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(torch.randn(8, 3, 16, 16)), torch.randint(0, 3, (8,)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = model.state_dict()
    for key, value in before.items():
        if key.startswith("fc."):
            assert not torch.equal(after[key], value), key
        else:  # weights and BatchNorm running statistics alike
            assert torch.equal(after[key], value), key
    # --freeze all trains only BatchNorm (shift learning, tests/test_two_stage.py): a ViT has none
    with pytest.raises(LtcliError, match="--freeze all leaves nothing to train: it trains only BatchNorm layers"):
        freeze(create_model("test_vit", num_classes=3), "all")


def test_init_from_an_earlier_run_with_frozen_backbone(cli, split_dataset, tmp_path):
    cli("train", "--dataset", "colours", "--objective", "ERM", *TRAIN_ARGS)
    first = only_run(tmp_path, "ERM")
    result = cli("train", "--dataset", "colours", "--objective", "BSCE", "--init-from", str(first),
                 "--freeze", "backbone", *TRAIN_ARGS)
    assert "re-initialised" not in result.output  # same classes: every tensor fits
    assert "checkpoint_best.pt" in "".join(result.output.split())
    second = only_run(tmp_path, "BSCE+stage2")  # a second stage: its own folder (issue 31, A7)
    assert json.loads((second / "config.json").read_text())["freeze"] == "backbone"
    start = torch.load(first / "checkpoint_best.pt", weights_only=True)["model"]
    end = torch.load(second / "checkpoint_last.pt", weights_only=True)["model"]
    assert torch.equal(start["conv1.weight"], end["conv1.weight"])  # backbone kept from the first run
    assert not torch.equal(start["fc.weight"], end["fc.weight"])  # classifier re-trained
