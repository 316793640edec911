"""Two-stage methods: --reinit-head, --freeze modes (shift learning), the LWS head, the LAS objective,
and the crt / lws / mislas recipes, from unit level to a stage-two run on a stage-one checkpoint."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import only_run
from rich.console import Console

from ltcli.config import TrainConfig
from ltcli.engine.assemble import build_training
from ltcli.engine.distributed import Dist
from ltcli.errors import LtcliError
from ltcli.models import create_model
from ltcli.models.weights import FREEZE_MODES, freeze, load_weights, train_mode
from ltcli.objectives import create_objective

# TRAIN_ARGS without a schedule: the recipes' schedule applies unless a test gives one.
BASE = ("--model", "resnet20", "--batchsize", "8", "--height", "16", "--width", "16", "--workers", "0",
        "--device", "cpu", "--lr", "0.05")
STAGE_ONE = (*BASE, "--objective", "ERM", "--epochs", "1", "--lrstep", "1", "--warmup", "0")


# --------------------------------------------------------------------------------------------
# LAS: label-aware smoothing
# --------------------------------------------------------------------------------------------
# counts [100, 10, 1]: r = (n - 1) / 99 = [1, 1/11, 0]; head 0.4, tail 0.1, so eps = 0.1 + 0.3 g(r)
# with sin(pi/22) = 0.1423148382732851 and cos(pi/22) = 0.9898214418809327.
@pytest.mark.parametrize(("shape", "power", "middle"), [
    ("concave", None, 0.1 + 0.3 * 0.1423148382732851),
    ("linear", None, 0.1 + 0.3 / 11),
    ("convex", None, 0.1 + 0.3 * (1 - 0.9898214418809327)),
    ("exp", 2.0, 0.1 + 0.3 / 121),
    ("exp", 0.5, 0.1 + 0.3 * (1 / 11) ** 0.5),
])
def test_las_smoothing_per_class(shape, power, middle):
    options = {"power": power} if power is not None else {}
    loss = create_objective("LAS", [100, 10, 1], smooth_head=0.4, smooth_tail=0.1, shape=shape, **options)
    np.testing.assert_allclose(loss.smoothing.numpy(), [0.4, middle, 0.1], rtol=1e-12)


def test_las_smoothing_with_equal_counts_is_the_head_value():
    loss = create_objective("LAS", [5, 5, 5], smooth_head=0.25, smooth_tail=0.05)
    np.testing.assert_allclose(loss.smoothing.numpy(), [0.25, 0.25, 0.25])


def test_las_loss_equals_a_naive_computation():
    # two samples, counts [3, 1] (linear: eps = [0.3, 0.1]); soft target q = (1 - eps_y) onehot + eps_y / K
    logits = np.array([[math.log(3.0), 0.0], [0.5, -0.5]])
    targets = [0, 1]
    eps = {0: 0.3, 1: 0.1}
    total = 0.0
    for row, y in zip(logits, targets, strict=True):
        p = np.exp(row) / np.exp(row).sum()
        q = np.full(2, eps[y] / 2)
        q[y] += 1 - eps[y]
        total += -(q * np.log(p)).sum()
    loss = create_objective("LAS", [3, 1], smooth_head=0.3, smooth_tail=0.1, shape="linear")
    value = loss(torch.tensor(logits), torch.tensor(targets))
    assert value.item() == pytest.approx(total / 2, rel=1e-12)


@pytest.mark.parametrize("shape", ["concave", "linear", "convex"])
@pytest.mark.parametrize("weights", [None, [0.2, 1.0, 3.0]])
def test_las_without_smoothing_is_cross_entropy(shape, weights):
    torch.manual_seed(0)
    logits, targets = torch.randn(9, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 0, 1, 2, 2, 0])
    loss = create_objective("LAS", [50, 7, 2], smooth_head=0.0, smooth_tail=0.0, shape=shape)
    loss.set_class_weights(weights)
    weight = None if weights is None else torch.tensor(weights, dtype=torch.float64)
    torch.testing.assert_close(loss(logits, targets), F.cross_entropy(logits, targets, weight=weight))


# --------------------------------------------------------------------------------------------
# freezing, LWS head, --reinit-head
# --------------------------------------------------------------------------------------------
# What each --freeze mode must change after a few steps of an LWS-headed ResNet-20 in train_mode:
# conv weights, BatchNorm affine, BatchNorm running statistics, classifier weights, LWS scales.
CHANGES = {
    "none": {"conv", "bn_affine", "bn_stats", "classifier", "scales"},
    "backbone": {"classifier", "scales"},
    "backbone-except-bn": {"bn_affine", "bn_stats", "classifier", "scales"},
    "backbone+classifier": {"scales"},
    "all": {"bn_affine", "bn_stats"},
}


def kind(key: str) -> str:
    if key.startswith("fc."):
        return "scales" if key == "fc.scales" else "classifier"
    if "bn" in key:
        return "bn_stats" if key.rsplit(".", 1)[1].startswith(("running_", "num_batches")) else "bn_affine"
    return "conv"


def test_the_freeze_table_is_tested_whole():
    assert set(CHANGES) == set(FREEZE_MODES)


@pytest.mark.parametrize("mode", list(CHANGES))
def test_freeze_modes_train_exactly_their_parts(mode):
    torch.manual_seed(0)
    model = create_model("resnet20", num_classes=3, head="lws")
    freeze(model, mode)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    for _ in range(3):
        train_mode(model)
        loss = F.cross_entropy(model(torch.randn(8, 3, 16, 16)), torch.randint(0, 3, (8,)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    changed = {kind(k) for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    unchanged = {kind(k) for k, v in model.state_dict().items() if torch.equal(v, before[k])}
    assert changed == CHANGES[mode]
    assert not (unchanged & CHANGES[mode]), "a part only partly trained"


@pytest.mark.parametrize(("model_head", "mode", "message"), [
    ("plain", "backbone+classifier", "trains only an LWS head's scales (--head lws), which this model lacks"),
])
def test_a_mode_with_nothing_to_train_is_an_error(model_head, mode, message):
    with pytest.raises(LtcliError, match=message.replace("(", r"\(").replace(")", r"\)")):
        freeze(create_model("resnet20", num_classes=3, head=model_head), mode)


def test_lws_head_scales_the_logits_and_loads_plain_weights_both_ways(tmp_path):
    torch.manual_seed(0)
    plain = create_model("resnet20", num_classes=3).eval()
    torch.save(plain.state_dict(), tmp_path / "plain.pt")
    lws = create_model("resnet20", num_classes=3, head="lws").eval()
    report = load_weights(lws, tmp_path / "plain.pt")
    assert report.missing == ["fc.scales"] and not report.unexpected and not report.reinitialised
    assert torch.equal(lws.fc.classifier.weight, plain.fc.weight) and torch.equal(lws.fc.scales, torch.ones(3))
    images = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        lws.fc.scales.copy_(torch.tensor([2.0, 0.5, -1.0]))
        torch.testing.assert_close(lws(images), plain(images) * torch.tensor([2.0, 0.5, -1.0]))
    torch.save(lws.state_dict(), tmp_path / "lws.pt")
    back = create_model("resnet20", num_classes=3)
    report = load_weights(back, tmp_path / "lws.pt")
    assert report.unexpected == ["fc.scales"] and not report.missing
    assert torch.equal(back.fc.weight, plain.fc.weight)


@pytest.mark.parametrize("head", ["plain", "lws"])
def test_reinit_head_keeps_the_fresh_classifier(tmp_path, head):
    torch.manual_seed(123)
    stage_one = create_model("resnet20", num_classes=3)
    torch.save({"model": stage_one.state_dict()}, tmp_path / "stage_one.pt")
    torch.manual_seed(0)
    fresh = create_model("resnet20", num_classes=3, head=head)
    torch.manual_seed(0)
    model = create_model("resnet20", num_classes=3, head=head)
    report = load_weights(model, tmp_path / "stage_one.pt", reinit_head=True)
    assert report.fresh_head and all(k.startswith("fc.") for k in report.fresh_head)
    assert "--reinit-head" in report.summary(tmp_path / "stage_one.pt")
    own, fresh_state, loaded = model.state_dict(), fresh.state_dict(), stage_one.state_dict()
    for key in own:
        if key.startswith("fc."):
            assert torch.equal(own[key], fresh_state[key]), key
        else:
            assert torch.equal(own[key], loaded[key]), key
    assert not torch.equal(model.get_classifier()(torch.ones(1, 64)), stage_one.fc(torch.ones(1, 64)))


def test_reinit_head_starts_where_a_fresh_run_with_the_same_seed_starts(split_dataset, tmp_path):
    torch.manual_seed(7)
    torch.save(create_model("resnet20", num_classes=3).state_dict(), tmp_path / "stage_one.pt")
    common = dict(data=str(split_dataset), model="resnet20", objective="ERM", epochs=1, batch_size=8, height=16,
                  width=16, workers=0, device="cpu", seed=3, logs_dir=str(tmp_path / "logs"))
    scratch = build_training(TrainConfig(**common), Console(quiet=True), Dist(), torch.device("cpu")).network
    crt = build_training(TrainConfig(**common, weights=str(tmp_path / "stage_one.pt"), reinit_head=True),
                         Console(quiet=True), Dist(), torch.device("cpu")).network
    assert torch.equal(crt.fc.weight, scratch.fc.weight) and torch.equal(crt.fc.bias, scratch.fc.bias)
    assert not torch.equal(crt.conv1.weight, scratch.conv1.weight)  # the backbone came from the file


# --------------------------------------------------------------------------------------------
# recipes: resolution and errors
# --------------------------------------------------------------------------------------------
def test_a_recipe_fills_only_what_was_not_given():
    config = TrainConfig.create(dataset="d", weights="w.pt", recipe="crt", epochs=3, train_rule="None")
    assert (config.freeze, config.reinit_head, config.objective, config.sched, config.warmup_epochs) == (
        "backbone", True, "ERM", "cosine", 0)
    assert (config.epochs, config.train_rule, config.recipe) == (3, "None", "crt")
    # a saved config is taken as it is: no recipe value comes back over an override
    assert TrainConfig.from_dict(config.to_dict()).to_dict() == config.to_dict()


@pytest.fixture
def captured(monkeypatch):
    """The TrainConfig `ltcli train` would fit, without training."""
    configs: list[TrainConfig] = []
    monkeypatch.setattr("ltcli.engine.train.fit", lambda config, console, **_: configs.append(config))
    return configs


@pytest.mark.parametrize(("recipe", "expected"), [
    ("crt", {"freeze": "backbone", "reinit_head": True, "head": "plain", "objective": "ERM"}),
    ("lws", {"freeze": "backbone+classifier", "reinit_head": False, "head": "lws", "objective": "ERM"}),
    ("mislas", {"freeze": "backbone-except-bn", "reinit_head": False, "head": "plain", "objective": "LAS"}),
])
def test_recipes_resolve_on_the_command_line(cli, captured, recipe, expected):
    result = cli("train", "--data", "d", "--weights", "w.pt", "--recipe", recipe)
    (config,) = captured
    assert {k: getattr(config, k) for k in expected} == expected
    shared = {"epochs": 10, "sched": "cosine", "warmup_epochs": 0, "train_rule": "Resample", "recipe": recipe}
    assert {k: getattr(config, k) for k in shared} == shared
    assert f"recipe {recipe}:" in result.output


def test_options_given_on_the_command_line_win_over_the_recipe(cli, captured):
    # each override equals TrainConfig's default, so only knowing it was typed can keep it
    cli("train", "--data", "d", "--init-from", "run", "--recipe", "crt", "--train-rule", "None", "--no-reinit-head",
        "--warmup", "5", "--sched", "step", "--objective", "CCE", "--ccegamma", "2", "--epochs", "6", "--lrstep", "6")
    (config,) = captured
    assert (config.train_rule, config.reinit_head, config.warmup_epochs, config.sched) == ("None", False, 5, "step")
    assert (config.objective, config.objective_options, config.epochs) == ("CCE", {"gamma": 2.0}, 6)
    assert config.freeze == "backbone"  # not given: the recipe's


@pytest.mark.parametrize(("args", "message"), [
    (("--recipe", "magic", "--weights", "w.pt"), "unknown --recipe 'magic': choose one of crt, lws, mislas"),
    (("--recipe", "crt"), "--recipe crt trains the second stage of a run: give --init-from RUN"),
    (("--recipe", "LWS"), "--recipe lws trains the second stage of a run"),
    (("--reinit-head",), "--reinit-head re-initialises the classifier of --init-from RUN or --weights FILE"),
    (("--freeze", "backbone+classifier", "--weights", "w.pt"), "trains only an LWS head's scales: add --head lws"),
    (("--head", "cosine"), "unknown --head 'cosine': choose one of plain, lws"),
    (("--freeze", "bn"), "unknown --freeze 'bn'"),
    (("--objective", "LAS", "--opt", "smooth_head=1.0"), "objective LAS: smooth_head must be in [0, 1), got 1.0"),
    (("--objective", "LAS", "--opt", "smooth_tail=-0.1"), "objective LAS: smooth_tail must be in [0, 1), got -0.1"),
    (("--objective", "LAS", "--opt", "shape=wavy"), "shape must be one of concave, linear, convex, exp"),
    (("--objective", "LAS", "--opt", "shape=exp"), "shape exp takes a power above 0"),
    (("--objective", "LAS", "--opt", "power=2"), "shape exp takes a power above 0 (power=P), and only it does"),
    (("--recipe", "mislas", "--init-from", "run", "--opt", "smooth_head=-1"), "smooth_head must be in [0, 1)"),
])
def test_bad_two_stage_options_are_one_line_errors_before_anything_is_written(cli, split_dataset, tmp_path, args,
                                                                             message):
    result = cli("train", "--dataset", "colours", *args, ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert text.startswith("error:") and message in text, text
    assert not (tmp_path / "logs").exists()


# --------------------------------------------------------------------------------------------
# stage two on a real stage-one run
# --------------------------------------------------------------------------------------------
def stage_two(cli, tmp_path: Path, *args: str) -> tuple[dict, dict, dict]:
    """(stage-one best weights, stage-two last weights, stage-two config.json) of a stage-two run."""
    cli("train", "--dataset", "colours", *STAGE_ONE)
    first = only_run(tmp_path, "ERM")
    result = cli("train", "--dataset", "colours", *BASE, "--init-from", str(first), *args)
    second = next(p for p in tmp_path.glob("logs/resnet20/colours/*/*") if p != first)
    start = torch.load(first / "checkpoint_best.pt", weights_only=True)["model"]
    end = torch.load(second / "checkpoint_last.pt", weights_only=True)["model"]
    assert "recipe" not in args or "recipe" in result.output
    return start, end, json.loads((second / "config.json").read_text())


def test_crt_keeps_every_backbone_tensor_and_retrains_a_fresh_classifier(cli, split_dataset, tmp_path):
    start, end, config = stage_two(cli, tmp_path, "--recipe", "crt", "--epochs", "1")
    for key, value in start.items():
        if not key.startswith("fc."):  # conv weights and BatchNorm affine and running statistics alike
            assert torch.equal(end[key], value), key
    assert not torch.equal(end["fc.weight"], start["fc.weight"])
    expected = {"recipe": "crt", "freeze": "backbone", "reinit_head": True, "train_rule": "Resample", "epochs": 1,
                "sched": "cosine", "warmup_epochs": 0, "objective": "ERM", "head": "plain"}
    assert {k: config[k] for k in expected} == expected


@pytest.mark.slow
def test_lws_trains_only_the_scales(cli, split_dataset, tmp_path):
    start, end, config = stage_two(cli, tmp_path, "--recipe", "lws", "--epochs", "1")
    assert (config["recipe"], config["head"], config["freeze"]) == ("lws", "lws", "backbone+classifier")
    for key, value in start.items():
        own = "fc.classifier." + key[3:] if key.startswith("fc.") else key
        assert torch.equal(end[own], value), key
    assert not torch.equal(end["fc.scales"], torch.ones(3))


@pytest.mark.slow
def test_an_lws_run_tests_like_any_run(cli, split_dataset, tmp_path):
    stage_two(cli, tmp_path, "--recipe", "lws", "--epochs", "1")
    run = only_run(tmp_path, "ERM+lws")  # filed apart from its first stage (issue 31, A7)
    assert json.loads((run / "config.json").read_text())["head"] == "lws"
    cli("test", "--run", str(run))
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["acc"] <= 1.0


@pytest.mark.slow
def test_mislas_shifts_batchnorm_and_retrains_the_classifier_with_las(cli, split_dataset, tmp_path):
    start, end, config = stage_two(cli, tmp_path, "--recipe", "mislas", "--epochs", "1")
    assert (config["objective"], config["freeze"], config["train_rule"]) == ("LAS", "backbone-except-bn", "Resample")
    changed = {kind(k) for k, v in start.items() if not torch.equal(end[k], v)}
    unchanged = {kind(k) for k, v in start.items() if torch.equal(end[k], v)}
    assert changed == {"bn_affine", "bn_stats", "classifier"} and unchanged == {"conv"}
