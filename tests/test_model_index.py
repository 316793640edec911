"""`ltcli train --model_index N`: the CCE tool's get_model.py numbers mapped to timm models that are the
same networks (checked against torchvision's constructors, built on the meta device: no weights)."""

from __future__ import annotations

import pytest
import timm
import torch

from ltcli.models.source_index import SOURCE_MODELS, model_for_index

MAPPED = [(i, network, model) for i, (network, model) in enumerate(SOURCE_MODELS[:35]) if model is not None]


def test_the_tools_order():
    """The issue's anchors: 0-34 torchvision's alexnet..mnasnet1_3, 35-39 small ResNets, 40 SqueezeNet."""
    assert len(SOURCE_MODELS) == 41
    assert (SOURCE_MODELS[0][0], SOURCE_MODELS[34][0]) == ("alexnet", "mnasnet1_3")
    assert [SOURCE_MODELS[i][0].split()[0] for i in range(35, 41)] == [
        "ResNet18", "ResNet34", "ResNet50", "ResNet101", "ResNet152", "SqueezeNet"]
    assert SOURCE_MODELS[9] == ("resnet18", "resnet18") and SOURCE_MODELS[30] == ("mobilenet_v2", "mobilenetv2_100")


@pytest.mark.parametrize(("index", "network", "model"), MAPPED)
def test_each_mapped_index_is_torchvisions_network_in_timm(index, network, model):
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        # The tool's inception_v3 adds torchvision's auxiliary head in training; the network itself is compared.
        extra = {"aux_logits": False, "init_weights": False} if network == "inception_v3" else {}
        theirs = getattr(torchvision.models, network)(num_classes=7, **extra)
        ours = timm.create_model(model, num_classes=7)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    assert model_for_index(index) == model


def test_an_unmapped_torchvision_network_really_is_missing_from_timm():
    for network, model in SOURCE_MODELS[:35]:
        if model is None:
            assert not timm.is_model(network), network
    assert not timm.is_model("mnasnet_130")


@pytest.mark.parametrize(("index", "message"), [
    (0, "--model_index 0 is the CCE tool's alexnet, which ltcli has no model for"),
    (40, "--model_index 40 is the CCE tool's SqueezeNet (small images)"),
    (41, "--model_index takes 0-40"),
    (-1, "--model_index takes 0-40"),
])
def test_an_index_without_a_model_is_one_line_naming_the_list(cli, index, message):
    result = cli("train", "--data", "d", f"--model_index={index}", ok=False)
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and message in text and "ltcli models --index" in text
    assert "Traceback" not in result.output


@pytest.mark.parametrize("form", [["--model_index=9"], ["--model_index", "9"], ["--model-index", "9"]])
def test_model_index_forms_pick_the_model(cli, monkeypatch, form):
    seen = []
    monkeypatch.setattr("ltcli.engine.train.fit", lambda config, console, **_: seen.append(config))
    cli("train", "--data", "d", *form, "--objective=ERM")
    assert seen[0].model == "resnet18"


# The tool's small-image ResNets (b_models/resnet.py): torchvision's ResNet but for the stem, a 3x3
# stride-1 convolution (64 channels, no bias) in place of the 7x7 stride-2 one, and no max-pool. Its
# "ResNet50" is built from basic blocks 3,4,6,3: torchvision's resnet34 layout.
SMALL = [(35, "resnet18"), (36, "resnet34"), (37, "resnet34"), (38, "resnet101"), (39, "resnet152")]


@pytest.mark.parametrize(("index", "layout"), SMALL)
def test_small_image_resnets_are_the_tools_networks(index, layout):
    torchvision = pytest.importorskip("torchvision")
    model = model_for_index(index)
    with torch.device("meta"):
        reference = getattr(torchvision.models, layout)(num_classes=7)
        ours = timm.create_model(model, num_classes=7)
    stem_change = 64 * 3 * (7 * 7 - 3 * 3)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters()) - stem_change
    assert ours.conv1.kernel_size == (3, 3) and ours.conv1.stride == (1, 1)
    assert isinstance(ours.maxpool, torch.nn.Identity)


def test_a_small_image_resnet_keeps_the_full_input_in_its_first_stage():
    model = timm.create_model("resnet18_small", num_classes=3).eval()
    with torch.no_grad():
        first = model.layer1(model.act1(model.bn1(model.conv1(torch.zeros(1, 3, 32, 32)))))
        logits = model(torch.zeros(2, 3, 32, 32))
    assert first.shape == (1, 64, 32, 32)  # timm's resnet18: 8x8 here (stride-2 stem and max-pool)
    assert model.forward_features(torch.zeros(1, 3, 32, 32)).shape == (1, 512, 4, 4)
    assert logits.shape == (2, 3)


def test_the_readme_example_index_36_trains_the_small_resnet34(cli, monkeypatch):
    seen = []
    monkeypatch.setattr("ltcli.engine.train.fit", lambda config, console, **_: seen.append(config))
    cli("train", "--dataset=D", "--model_index=36", "--objective=ERM", "--warmup")
    assert (seen[0].model, seen[0].objective, seen[0].warmup_epochs) == ("resnet34_small", "ERM", 5)


def test_model_and_model_index_together_is_an_error(cli):
    result = cli("train", "--data", "d", "--model", "resnet32", "--model_index", "9", ok=False)
    assert result.exit_code == 1 and "give --model NAME or --model_index N, not both" in result.output


def test_models_index_lists_every_number(cli):
    result = cli("models", "--index")
    rows = [line.split() for line in result.output.splitlines() if line.strip()[:1].isdigit()]
    assert [int(r[0]) for r in rows] == list(range(41))
    assert rows[9][1:] == ["resnet18", "resnet18"] and rows[0][-1] == "(none)"


@pytest.mark.parametrize("command", ["test", "predict"])
def test_test_and_predict_take_the_tools_model_index(cli, tmp_path, command):
    """The CCE tool's test line `test --dataset D --model_index=36 --objective ERM --datetime STAMP`:
    --model_index narrows the run lookup as --model does (a run of resnet34_small, 36's model)."""
    import json

    from conftest import make_class_images

    from ltcli.checkpoint import Checkpoint
    from ltcli.models import create_model

    stamp = "2026-01-01-00-00-00"
    for model in ("resnet34_small", "resnet20"):  # two runs share the stamp: the model tells them apart
        run = tmp_path / "logs" / model / "D" / "ERM" / stamp
        run.mkdir(parents=True)
        config = {"model": model, "objective": "ERM", "dataset": "D", "height": 8, "width": 8}
        (run / "config.json").write_text(json.dumps(config))
        Checkpoint(model=create_model(model, num_classes=2).state_dict(), epoch=0, class_names=["apple", "leaf"],
                   config=config, optimizer={}, scheduler={}, class_counts=[3, 3]).save(run / "checkpoint_best.pt")
    for split in ("train", "valid", "test"):
        make_class_images({"apple": 3, "leaf": 3}, tmp_path / "a_datasets" / "D" / split)
    image = tmp_path / "a_datasets" / "D" / "test" / "apple" / "img000.png"
    if command == "test":
        cli("test", "--dataset", "D", "--model_index=36", "--objective", "ERM", "--datetime", stamp, "--device", "cpu")
        assert (tmp_path / "logs" / "resnet34_small" / "D" / "ERM" / stamp / "metrics.json").is_file()
        assert not (tmp_path / "logs" / "resnet20" / "D" / "ERM" / stamp / "metrics.json").exists()
    else:
        cli("predict", str(image), "--model_index", "36", "--dataset", "D", "--run", stamp, "--device", "cpu")
        assert "img000.png" in (tmp_path / "predictions.csv").read_text()
        unnarrowed = cli("predict", str(image), "--dataset", "D", "--run", stamp, "--force", ok=False)
        assert unnarrowed.exit_code == 1 and "resnet34_small" in unnarrowed.output  # two runs: the index chose
    both = cli(command, *([str(image)] if command == "predict" else []), "--model", "resnet20", "--model_index=36",
               ok=False)
    assert both.exit_code == 1 and both.output.strip() == "error: give --model NAME or --model_index N, not both"
