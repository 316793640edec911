"""The source tools' commands, names, files and numbers, as their users bring them to ltcli; and
short runs that keep working with the default schedule."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TRAIN_ARGS, make_class_images, only_run, read_csv
from rich.progress import Progress
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ltcli.cli.compat import normalise_args
from ltcli.config import TrainConfig
from ltcli.engine.loop import train_one_epoch
from ltcli.engine.schedule import create_scheduler
from ltcli.errors import LtcliError
from ltcli.method import from_objective
from ltcli.models import create_model
from ltcli.models.heads import TrainStep
from ltcli.models.weights import load_weights
from ltcli.objectives import create_objective, get_objective_entry, list_objectives
from ltcli.schedule_rules import default_schedule

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def captured(monkeypatch):
    """The TrainConfig `ltcli train` would fit, without training (what it says at the run's start is said)."""
    configs: list[TrainConfig] = []

    def fit(config, console, on_start=None, **_):
        configs.append(config)
        if on_start is not None:
            on_start(None)

    monkeypatch.setattr("ltcli.engine.train.fit", fit)
    return configs


def one_line(result) -> str:
    return " ".join(result.output.split())


# --------------------------------------------------------------------------------------------
# The CCE tool's command forms: a bare --warmup, --lrstep as a list
# --------------------------------------------------------------------------------------------
def test_the_cce_tools_readme_command_runs_as_written(cli, captured):
    # README: python ./1_train.py --dataset=D --model_index=36 --objective='ERM' --warmup
    cli("train", "--dataset=D", "--model=resnet32", "--objective=ERM", "--warmup")
    (config,) = captured
    assert (config.dataset, config.model, config.objective, config.warmup_epochs) == ("D", "resnet32", "ERM", 5)
    assert "warmup_epochs" not in config.scaled  # a bare --warmup is given: 5, whatever --epochs


@pytest.mark.parametrize(("args", "warmup"), [
    (("--warmup", "--epochs", "50"), 5),  # bare, before another option
    (("--epochs", "50", "--warmup"), 5),  # bare, last
    (("--epochs", "50", "--warmup", "2"), 2),
    (("--epochs", "50", "--warmup=3"), 3),
])
def test_warmup_with_and_without_a_value(cli, captured, args, warmup):
    cli("train", "--data", "d", *args)
    assert captured[0].warmup_epochs == warmup


def test_a_negative_warmup_is_still_a_value_and_an_error(cli, captured):
    result = cli("train", "--data", "d", "--warmup", "-1", ok=False)
    assert result.exit_code == 1 and "--warmup must be at least 0, got -1" in one_line(result)


@pytest.mark.parametrize("form", [
    ["60,60,40,40"], ["[60, 60, 40, 40]"], ["60", "60", "40", "40"], ["[60,", "60,", "40,", "40]"], ["60 60 40 40"],
])
def test_lrstep_list_forms(cli, captured, form):
    cli("train", "--data", "d", "--lrstep", *form, "--epochs", "200")
    assert captured[0].lr_steps == [60, 60, 40, 40] and captured[0].epochs == 200


def test_lrstep_that_is_not_a_list_of_whole_numbers(cli, captured):
    result = cli("train", "--data", "d", "--lrstep", "[60, x]", ok=False)
    assert "--lrstep takes whole numbers separated by commas or spaces, got '[60, x]'" in one_line(result)


def test_normalise_args_leaves_other_arguments_alone():
    args = ["--data", "d", "--lrstep", "3", "2", "--opt", "gamma=2", "--", "--warmup"]
    assert normalise_args(args) == ["--data", "d", "--lrstep", "3 2", "--opt", "gamma=2", "--", "--warmup"]


@pytest.mark.slow
def test_the_readme_command_through_the_installed_entry_point(tmp_path):
    """`python -m ltcli` (the real argv path): the bare --warmup parses and the run reaches the data.
    The shell has removed the quotes of --objective='ERM' by then."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "ltcli", "train", "--dataset=D", "--model=resnet32", "--objective=ERM", "--warmup",
         "--lrstep", "60", "60", "40", "40"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "requires an argument" not in result.stderr and "dataset folder not found: a_datasets/D" in result.stderr


# --------------------------------------------------------------------------------------------
# The step schedule and the lr column
# --------------------------------------------------------------------------------------------
def test_step_schedule_per_update_rates_by_hand():
    """3 updates per epoch, 1 warmup epoch, stages 2,1 at lr 0.1, decay 0.1: the rate of update t
    (from 0) is set after update t-1. Warmup from 1e-4 (lr * 1e-3) reaches 0.1 at update 3; stage
    one is epochs 0-1 (updates 0-5), stage two epoch 2 (updates 6-8) at 0.01; update 5, the last of
    stage one, still runs at 0.1."""
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = create_scheduler(optimizer, "step", 3, 3, [2, 1], lr_decay=0.1, warmup_epochs=1)
    rates = []
    for update in range(9):
        rates.append(optimizer.param_groups[0]["lr"])
        scheduler.step_update(num_updates=update + 1)
    step = (0.1 - 1e-4) / 3
    expected = [1e-4, 1e-4 + step, 1e-4 + 2 * step, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01]
    assert rates == pytest.approx(expected, rel=1e-12)


def test_the_lr_column_is_the_rate_each_epoch_trained_at(cli, split_dataset, tmp_path):
    args = [a for a in TRAIN_ARGS]
    args[args.index("--epochs") + 1] = "3"
    args[args.index("--lrstep") + 1] = "1,2"
    args[args.index("--warmup") + 1] = "0"
    cli("train", "--dataset", "colours", "--objective", "ERM", *args)  # --lr 0.05
    run = only_run(tmp_path, "ERM")
    for split in ("train", "valid"):
        rows = read_csv(run / f"{split}.csv")
        assert [float(r["lr"]) for r in rows] == pytest.approx([0.05, 0.005, 0.005], rel=1e-12), split
    train = read_csv(run / "train.csv")
    for row in train:  # GM, HM and lowest recall of the training predictions: HM <= GM, lowest <= HM
        lowest, hmean, gmean = (float(row[k]) for k in ("lowest_recall", "hmean_recall", "gmean_recall"))
        assert 0 <= lowest <= hmean + 1e-12 and hmean <= gmean + 1e-12 and gmean <= 1


def test_train_recall_summary_comes_from_the_epochs_predictions():
    """With a learning rate of 0 the model is fixed, so the epoch's predictions are its predictions
    on the whole training set: GM, HM and lowest recall follow from them by hand."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 3))
    images = torch.randn(40, 2, 2, 2)
    with torch.no_grad():
        predicted = model(images).argmax(dim=1).numpy()
    labels = torch.from_numpy(predicted.copy())
    labels[::3] = (labels[::3] + 1) % 3  # every third one wrong: recalls differ by class, none is 0
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    loader = DataLoader(TensorDataset(images, labels), batch_size=7)
    scheduler = create_scheduler(optimizer, "step", 1, len(loader), [1], warmup_epochs=0)
    objective = create_objective("ERM", np.bincount(labels.numpy(), minlength=3).tolist())
    with Progress(disable=True) as progress:
        stats = train_one_epoch(TrainStep(model, False), from_objective("ERM", objective), loader, optimizer, scheduler,
                                torch.device("cpu"), 0, progress, num_classes=3)
    recalls = [float(np.mean(predicted[labels.numpy() == c] == c)) for c in range(3)]
    assert min(recalls) > 0 and len(set(recalls)) == 3  # a case where the three numbers differ
    assert stats["lowest_recall"] == pytest.approx(min(recalls))
    assert stats["gmean_recall"] == pytest.approx(math.prod(recalls) ** (1 / 3))
    assert stats["hmean_recall"] == pytest.approx(3 / sum(1 / r for r in recalls))


# --------------------------------------------------------------------------------------------
# CCE's gamma against the source tool's formula
# --------------------------------------------------------------------------------------------
def source_cce(logits: np.ndarray, targets: np.ndarray, gamma: float) -> float:
    """The CCE tool's loss as its README documents it, term by term: CE + gamma * sum_i sum_{j != y_i}
    q_ij log q_ij / (N K), q_ij = p_ij / (1 - p_iy)."""
    n, k = logits.shape
    total_ce, total_qlogq = 0.0, 0.0
    for i in range(n):
        p = np.exp(logits[i] - logits[i].max())
        p /= p.sum()
        y = targets[i]
        total_ce -= math.log(p[y])
        for j in range(k):
            if j != y:
                q = p[j] / (1 - p[y])
                total_qlogq += q * math.log(q)
    return total_ce / n + gamma * total_qlogq / (n * k)


@pytest.mark.parametrize("classes", [10, 3])
def test_the_source_ccegamma_5_is_ltclis_plus_5_k_minus_1_over_k(classes):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (16, classes))
    targets = rng.integers(0, classes, 16)
    source = source_cce(logits, targets, 5.0)
    converted = 5.0 * (classes - 1) / classes  # +4.5 for 10 classes
    loss = create_objective("CCE", [1] * classes, gamma=converted)
    ours = float(loss(torch.from_numpy(logits), torch.from_numpy(targets)))
    assert ours == pytest.approx(source, abs=1e-10)
    flipped = float(create_objective("CCE", [1] * classes, gamma=-converted)(
        torch.from_numpy(logits), torch.from_numpy(targets)))
    assert abs(flipped - source) > 0.05


# --------------------------------------------------------------------------------------------
# The course app's names: CE, Focal, imbalance factor 0.01
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("alias", "name"), [("CE", "ERM"), ("ce", "ERM"), ("Focal", "FL"), ("FOCAL", "FL")])
def test_course_app_objective_names_are_aliases(cli, captured, alias, name):
    assert get_objective_entry(alias).name == name
    cli("train", "--data", "d", "--objective", alias)
    assert captured[0].objective == name  # the run folder is logs/<model>/<dataset>/ERM/...
    assert alias not in list_objectives()


def test_objectives_lists_the_aliases(cli):
    text = one_line(cli("objectives"))
    assert "ERM (alias CE)" in text and "FL (alias Focal)" in text


def train_counts(root: Path) -> dict[str, list[str]]:
    return {c.name: sorted(p.name for p in c.iterdir()) for c in sorted((root / "train").iterdir())}


def test_split_takes_either_form_of_the_imbalance_factor(cli, tmp_path):
    make_class_images({"a": 30, "b": 30, "c": 30}, tmp_path / "data_split" / "shapes")
    for name, factor in (("max-min", "10"), ("min-max", "0.1")):
        cli("split", "shapes", "--src", "data_split/shapes", "--imbalance-factor", factor, "--seed", "1")
        (tmp_path / "a_datasets" / "shapes").rename(tmp_path / "a_datasets" / name)
    ours, app = (train_counts(tmp_path / "a_datasets" / n) for n in ("max-min", "min-max"))
    assert ours == app and [len(v) for v in ours.values()] == [21, 6, 2]  # 21 * (1/10)^(i/2): 21, 6.6, 2.1
    for name in ("max-min", "min-max"):
        assert json.loads((tmp_path / "a_datasets" / name / "split.json").read_text())["long_tail"][
            "imbalance_factor"] == 10.0


def test_demo_data_takes_either_form_of_the_imbalance_factor(cli, tmp_path):
    cli("demo-data", "--imbalance-factor", "100", "--root", "a")
    cli("demo-data", "--imbalance-factor", "0.01", "--root", "b")
    counts = [{d.name: len(list(d.iterdir())) for d in (tmp_path / r / "digits-lt").iterdir()} for r in "ab"]
    assert counts[0] == counts[1] and counts[0]["0"] == 174 and counts[0]["9"] == 1  # int(174 / 100)


# --------------------------------------------------------------------------------------------
# The course app's ResNet-32 files, and files that mostly do not fit
# --------------------------------------------------------------------------------------------
def classic_layout(state: dict[str, torch.Tensor], blocks_per_stage: int = 5) -> dict[str, torch.Tensor]:
    """ltcli's CIFAR ResNet keys as Idelbayev's resnet_cifar.py names them (LDAM-DRW, the course app):
    layers.{i}. -> layer{i // n + 1}.{i % n}., fc. -> linear."""
    renamed = {}
    for key, value in state.items():
        if key.startswith("layers."):
            index, rest = key[len("layers."):].split(".", 1)
            stage, block = divmod(int(index), blocks_per_stage)
            key = f"layer{stage + 1}.{block}.{rest}"
        elif key.startswith("fc."):
            key = "linear." + key[len("fc."):]
        renamed[key] = value
    return renamed


@pytest.mark.parametrize("prefix", ["", "module."])  # LDAM-DRW saves its DataParallel model
def test_the_classic_resnet32_layout_loads_every_tensor(tmp_path, prefix):
    torch.manual_seed(0)
    source = create_model("resnet32", num_classes=10)
    classic = classic_layout(source.state_dict())
    assert {"conv1.weight", "bn1.running_var", "layer1.2.conv1.weight", "layer3.4.bn2.bias",
            "linear.weight", "linear.bias"} <= set(classic) and len(classic) == 188
    torch.save({prefix + k: v for k, v in classic.items()}, tmp_path / "course.pt")
    target = create_model("resnet32", num_classes=10)
    report = load_weights(target, tmp_path / "course.pt")
    assert report.loaded == 188 and not report.missing and not report.unexpected
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


def test_ldams_normed_linear_loads_transposed_into_the_cosine_head(tmp_path):
    torch.manual_seed(0)
    source = create_model("resnet32", num_classes=10, cosine_head=True)
    classic = classic_layout(source.state_dict())
    classic["linear.weight"] = classic["linear.weight"].t().contiguous()  # NormedLinear: [in, out], no bias
    torch.save(classic, tmp_path / "ldam.pt")
    target = create_model("resnet32", num_classes=10, cosine_head=True)
    report = load_weights(target, tmp_path / "ldam.pt")
    assert report.loaded == len(source.state_dict()) == 187 and not report.missing and not report.reinitialised
    assert torch.equal(target.fc.weight, source.fc.weight)
    images = torch.randn(2, 3, 32, 32)
    assert torch.equal(target.eval()(images), source.eval()(images))


def stem_only_file(path: Path, model_name: str = "resnet20") -> Path:
    """A file whose blocks are named as no known layout (only the stem and classifier fit), like the
    course app's files before ltcli knew their layout: 6 backbone tensors of 114 for ResNet-20."""
    state = create_model(model_name, num_classes=3).state_dict()
    torch.save({k.replace("layers.", "blocks."): v for k, v in state.items()}, path)
    return path


def test_a_mostly_mismatched_file_is_an_error_unless_allowed(tmp_path):
    path = stem_only_file(tmp_path / "foreign.pt")
    model = create_model("resnet20", num_classes=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(LtcliError, match=r"only 6 of the model's 114 backbone tensors are in .*foreign.pt .*"
                                         r"\(108 of its tensors fit nothing\).*--allow-partial"):
        load_weights(model, path)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())  # nothing loaded
    report = load_weights(model, path, allow_partial=True)
    assert (report.loaded, report.backbone_loaded, report.backbone_total) == (8, 6, 114)
    assert "only 6 of the backbone's 114" in report.summary(path)


def test_train_stops_on_a_mostly_mismatched_file_before_any_run(cli, split_dataset, tmp_path):
    path = stem_only_file(tmp_path / "foreign.pt")
    result = cli("train", "--dataset", "colours", "--weights", str(path), *TRAIN_ARGS, ok=False)
    assert result.exit_code == 1 and "only 6 of the model's 114 backbone tensors" in one_line(result)
    assert not (tmp_path / "logs").exists()


def test_allow_partial_is_a_saved_option(cli, captured):
    cli("train", "--data", "d", "--weights", "w.pt", "--allow-partial")
    assert captured[0].allow_partial and captured[0].to_dict()["allow_partial"] is True
    result = cli("train", "--data", "d", "--allow-partial", ok=False)
    assert "--allow-partial applies to the weights of --init-from RUN or --weights FILE" in one_line(result)


# --------------------------------------------------------------------------------------------
# Short runs: the default schedule scales to --epochs
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("epochs", "warmup", "stages"), [
    (200, 5, [60, 60, 40, 40]),  # the defaults themselves
    (400, 5, [120, 120, 80, 80]),  # warmup at most 5
    (30, 1, [9, 9, 6, 6]),  # round(30 * 5/200) = round(0.75); drops at round(9), round(18), round(24)
    (4, 0, [1, 1, 1, 1]),  # drops at round(1.2), round(2.4), round(3.2)
    (3, 0, [1, 1, 1]),  # drops at 1, 2 and round(2.4) = 2 again: one drop fewer
    (1, 0, [1]),
])
def test_default_schedule_scales_by_hand(epochs, warmup, stages):
    assert default_schedule(epochs) == (warmup, stages)


def test_every_scaled_schedule_fits_its_run():
    for epochs in range(1, 401):
        config = TrainConfig(dataset="d", epochs=epochs)  # the checks pass: no drop after the end
        assert sum(config.lr_stages) == epochs and min(config.lr_stages) >= 1
        assert config.warmup_epochs == 0 or config.warmup_epochs < epochs


def test_a_short_run_gets_cosine_to_zero_and_says_so(cli, captured):
    """No schedule flags and not 200 epochs: cosine decay to 0 with the scaled warmup (budgeted training)."""
    result = cli("train", "--data", "d", "--epochs", "4")
    (config,) = captured
    assert (config.sched, config.warmup_epochs, config.min_lr) == ("cosine", 0, 0.0)
    saved = config.to_dict()
    assert (saved["sched"], saved["warmup_epochs"], saved["schedule_scaled"]) == (
        "cosine", 0, ["sched", "warmup_epochs", "lr_steps"])
    assert "schedule: cosine to 0 over 4 epochs, warmup 0 (the default for 4 epochs: --sched/--warmup not given)" \
        in one_line(result)


def test_a_200_epoch_run_keeps_the_cce_tools_steps(cli, captured):
    result = cli("train", "--data", "d")
    (config,) = captured
    assert (config.epochs, config.sched, config.warmup_epochs, config.lr_stages) == (200, "step", 5, [60, 60, 40, 40])
    assert "schedule: step, stages 60,60,40,40 (x0.1 after each), warmup 5" in one_line(result)


def test_a_short_step_run_gets_the_scaled_stages(cli, captured):
    result = cli("train", "--data", "d", "--epochs", "4", "--sched", "step")
    (config,) = captured
    assert (config.sched, config.warmup_epochs, config.lr_stages, config.scaled) == (
        "step", 0, [1, 1, 1, 1], ("warmup_epochs", "lr_steps"))
    assert "schedule: step, stages 1,1,1,1 (x0.1 after each), warmup 0" in one_line(result)


@pytest.mark.parametrize(("args", "sched", "stages", "scaled"), [
    (("--epochs", "10", "--warmup", "1"), "cosine", [3, 3, 2, 2], ("sched", "lr_steps")),  # warmup alone: still cosine
    (("--epochs", "10", "--lrstep", "8,2"), "step", [8, 2], ("sched", "warmup_epochs")),  # stages imply step
    (("--epochs", "200", "--sched", "cosine"), "cosine", [60, 60, 40, 40], ("warmup_epochs", "lr_steps")),
    (("--epochs", "200", "--lrstep", "160,20,20"), "step", [160, 20, 20], ("sched", "warmup_epochs")),
])
def test_a_given_part_of_the_schedule_is_kept(cli, captured, args, sched, stages, scaled):
    cli("train", "--data", "d", *args)
    assert (captured[0].sched, captured[0].lr_stages, captured[0].scaled) == (sched, stages, scaled)


@pytest.mark.parametrize(("args", "message"), [
    (("--epochs", "4", "--warmup"), "--warmup 5 lasts the whole run (--epochs 4)"),
    (("--epochs", "4", "--warmup", "4"), "--warmup 4 lasts the whole run (--epochs 4)"),
    (("--epochs", "4", "--lrstep", "60,60,40,40"), "--lrstep 60,60,40,40 drops the rate at epoch(s) 60, 120, 160"),
])
def test_a_given_schedule_that_does_not_fit_is_an_error(cli, captured, args, message):
    result = cli("train", "--data", "d", *args, ok=False)
    assert result.exit_code == 1 and message in one_line(result) and not captured


def test_replace_rescales_only_what_was_scaled():
    assert TrainConfig(dataset="d").replace(epochs=4).warmup_epochs == 0
    assert TrainConfig(dataset="d", epochs=30, warmup_epochs=2).replace(epochs=60).warmup_epochs == 2
    assert TrainConfig(dataset="d", epochs=4).replace(epochs=200).sched == "step"  # the default for 200 epochs
    assert TrainConfig(dataset="d", epochs=4, sched="cosine").replace(epochs=200).sched == "cosine"  # as given
    saved = TrainConfig.from_dict(TrainConfig(dataset="d", epochs=4).to_dict())
    assert saved.scaled == ("sched", "warmup_epochs", "lr_steps") and saved.sched == "cosine"
