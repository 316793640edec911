"""RIDE's multi-expert network and PaCo's encoder pair: the modules the objectives wrap around a
backbone, a short training run of each (the loss falls), `ltcli train/test/predict` on their runs,
an interrupted run resumed to the uninterrupted one's weights, and the refusals."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TRAIN_ARGS, only_run, read_csv
from rich.progress import Progress
from torch.utils.data import DataLoader, TensorDataset

from ltcli.checkpoint import Checkpoint
from ltcli.engine.loop import train_one_epoch
from ltcli.engine.schedule import create_scheduler
from ltcli.errors import LtcliError
from ltcli.method import from_objective
from ltcli.models import create_model
from ltcli.models.heads import TrainStep
from ltcli.objectives import create_objective, get_objective_entry, list_objectives

pytest.importorskip("lightly")  # PaCo's momentum update

WRAPPING_TRAINED = {"RIDE", "PaCo"}  # objectives with a model of their own, trained by this file


def test_every_objective_that_wraps_the_model_is_trained_here():
    wrapping = {name for name in list_objectives() if get_objective_entry(name).cls.wraps_backbone()}
    assert wrapping == WRAPPING_TRAINED


# --- RIDE's experts --------------------------------------------------------------------------------

@pytest.mark.parametrize(("options", "width"), [({}, 48), ({"reduce_dimension": False}, 64)])
def test_ride_experts_share_stage_one_of_a_cifar_resnet(options, width):
    torch.manual_seed(0)
    backbone = create_model("resnet32", num_classes=4)
    model = create_objective("RIDE", [40, 20, 8, 3], **options).wrap_model(backbone)
    assert len(model.experts) == 3 and all(len(expert) == 10 for expert in model.experts)  # stages 2 and 3
    assert list(model.shared)[3:] == list(backbone.layers)[:5]  # stage 1 (after conv, bn, relu) is shared
    assert {c.in_features for c in model.classifiers} == {width}  # reduce_dimension: 3/4 of 64
    first, second = (dict(expert.named_parameters()) for expert in model.experts[:2])
    assert not torch.equal(first["0.conv1.weight"], second["0.conv1.weight"])  # experts start apart
    images = torch.randn(5, 3, 16, 16)
    model.eval()
    experts = model.expert_logits(images)
    assert experts.shape == (3, 5, 4) and experts.abs().max() <= 30.0  # s times cosines
    assert torch.equal(model(images), experts.mean(0))
    assert torch.equal(model.forward_train(images)["logits"], experts.mean(0))


def test_ride_experts_copy_the_late_stages_of_a_timm_resnet():
    torch.manual_seed(0)
    backbone = create_model("resnet18", num_classes=3)
    model = create_objective("RIDE", [9, 5, 2], num_experts=2).wrap_model(backbone)
    assert model.shared[4] is backbone.layer1 and model.shared[5] is backbone.layer2
    assert len(model.experts) == 2 and model.classifiers[0].in_features == 512
    a, b = (expert[0][0].conv1.weight for expert in model.experts)  # layer3, block 0 of each expert
    assert a.shape == backbone.layer3[0].conv1.weight.shape and not torch.equal(a, b)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3)
    with pytest.raises(LtcliError, match="timm's ResNets keep their width"):
        create_objective("RIDE", [9, 5, 2], reduce_dimension=True).wrap_model(create_model("resnet18", num_classes=3))


def test_ride_refuses_a_backbone_it_cannot_split():
    with pytest.raises(LtcliError, match="RIDE builds its experts from a CIFAR ResNet .* or a timm ResNet"):
        create_objective("RIDE", [9, 5]).wrap_model(create_model("test_efficientnet_gn", num_classes=2))


# --- PaCo's encoder pair and queue -----------------------------------------------------------------

def test_paco_queues_the_keys_and_moves_the_key_encoder_by_momentum():
    torch.manual_seed(0)
    model = create_objective("PaCo", [9, 5, 2], queue=5, dim=4, momentum=0.9).wrap_model(
        create_model("resnet20", num_classes=3))
    assert not any(p.requires_grad for p in model.key_backbone.parameters())
    model.train()
    images, labels = torch.randn(3, 3, 8, 8), torch.tensor([0, 2, 1])
    first = model.forward_train(images, images.flip(-1), targets=labels)
    assert first["queries"].shape == first["keys"].shape == (3, 4)
    torch.testing.assert_close(first["queries"].norm(dim=1), torch.ones(3))
    assert torch.equal(model.queue[:3], first["keys"]) and model.queue_labels[:3].tolist() == [0, 2, 1]

    with torch.no_grad():  # an optimizer step, say: the key encoder follows by k <- m k + (1 - m) q
        model.backbone.fc.weight.add_(1.0)
    key_before = model.key_backbone.fc.weight.clone()
    second = model.forward_train(images, images, targets=torch.tensor([1, 1, 0]))
    torch.testing.assert_close(model.key_backbone.fc.weight, 0.9 * key_before + 0.1 * model.backbone.fc.weight)
    assert torch.equal(second["queue"][:3], first["keys"])  # the loss sees the queue before this batch
    # slots 3, 4 and (wrapping around) 0 hold the second batch; the pointer is at 1
    assert torch.equal(model.queue[[3, 4, 0]], second["keys"]) and model.queue_labels.tolist() == [0, 2, 1, 1, 1]
    assert int(model.queue_pointer) == 1
    model.eval()
    assert torch.equal(model(images), model.backbone(images))  # test/predict: the classifier alone


def test_paco_without_lightly_is_a_one_line_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightly.models.utils", None)
    with pytest.raises(LtcliError, match=r'needs the lightly package .*: pip install "ltcli\[ssl\]"'):
        create_objective("PaCo", [9, 5]).wrap_model(create_model("resnet20", num_classes=2))


# --- a short training run: the loss falls ----------------------------------------------------------

def colour_batches(views: int, seed: int = 0) -> DataLoader:
    """42 noisy 8x8 images of three colours, 24/12/6 per class; `views` noisy views of each."""
    generator = torch.Generator().manual_seed(seed)
    colours = torch.tensor([[1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]])
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate((24, 12, 6))])
    base = colours[labels][:, :, None, None].expand(-1, -1, 8, 8)
    images = torch.stack([base + 0.8 * torch.randn(base.shape, generator=generator) for _ in range(views)], 1)
    dataset = TensorDataset(images[:, 0] if views == 1 else images, labels)
    return DataLoader(dataset, batch_size=14, shuffle=True, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(("name", "options"), [("RIDE", {"epochs": 8}), ("PaCo", {"queue": 32, "dim": 8})])
def test_a_short_run_lowers_the_training_loss(name, options):
    torch.manual_seed(0)
    objective = create_objective(name, [24, 12, 6], **options)
    model = objective.wrap_model(create_model("resnet20", num_classes=3))
    loader = colour_batches(objective.train_views)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05, momentum=0.9)
    scheduler = create_scheduler(optimizer, "step", 8, len(loader), [8], warmup_epochs=0)
    losses = []
    with Progress(disable=True) as progress:
        for epoch in range(8):
            objective.set_epoch(epoch)
            stats = train_one_epoch(TrainStep(model, False), from_objective(name, objective), loader, optimizer,
                                    scheduler, torch.device("cpu"), epoch, progress)
            losses.append(stats["loss"])
    assert losses[-1] < 0.7 * losses[0], losses
    assert stats["acc"] > 0.8


# --- the command line: train, test, predict, resume ------------------------------------------------

def rows(path: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "time_s"} for row in read_csv(path)]


@pytest.mark.parametrize(("name", "wrapper", "extra"), [
    ("RIDE", "RIDEExperts", ("--opt", "num_experts=2")),
    ("PaCo", "PaCoNet", ("--opt", "queue=16", "--opt", "dim=8")),
])
def test_train_test_and_predict_a_run(cli, split_dataset, tmp_path, name, wrapper, extra):
    cli("train", "--dataset", "colours", *TRAIN_ARGS, "--objective", name, *extra)
    run = only_run(tmp_path, name)
    config = json.loads((run / "config.json").read_text())
    assert config["model_wrapper"] == wrapper and config["train_views"] == (2 if name == "PaCo" else 1)
    assert config["data_cache_resolved"] == ("none" if name == "PaCo" else "memory")  # auto: views need streaming
    best = Checkpoint.load(run / "checkpoint_best.pt")
    logged = read_csv(run / "valid.csv")[best.epoch]
    # `ltcli test` rebuilds the wrapped model from the config: on valid/ it scores what training logged
    cli("test", "--run", str(run), "--split", "valid")
    tested = json.loads((run / "metrics_valid.json").read_text())
    for key in ("acc", "balanced_acc", "nll"):
        assert tested[key] == pytest.approx(float(logged[key]), rel=1e-5, abs=1e-5), key
    images = split_dataset / "test" / "sky"
    cli("predict", "--run", str(run), str(images), "--out", str(tmp_path / "p.csv"))
    with open(tmp_path / "p.csv", newline="") as handle:
        predicted = list(csv.DictReader(handle))
    assert len(predicted) == 4 and all(row["class_1"] in ("apple", "leaf", "sky") for row in predicted)
    # a new run of the same method starts from this one's weights, experts (or encoders and queue) included
    started = cli("train", "--dataset", "colours", *TRAIN_ARGS, "--objective", name, *extra, "--epochs", "1",
                  "--lrstep", "1", "--warmup", "0", "--init-from", str(run))
    assert f"loaded {len(best.model)} tensors" in " ".join(started.output.split())


@pytest.mark.parametrize(("args", "message"), [
    (("--objective", "PaCo", "--data-cache", "memory"), "--data-cache memory draws one crop-and-flip view"),
    (("--objective", "PaCo", "--mixup", "0.4"), "PaCo trains on 2 views of each image"),
    (("--objective", "RIDE", "--train-rule", "DRW"), "--train-rule DRW with RIDE is refused"),
    (("--objective", "RIDE", "--model", "test_efficientnet_gn"), "RIDE builds its experts from"),
])
def test_refusals_are_one_line_and_write_nothing(cli, split_dataset, tmp_path, args, message):
    result = cli("train", "--dataset", "colours", *TRAIN_ARGS, *args, ok=False)
    assert result.exit_code == 1 and message in " ".join(result.output.split())
    assert "Traceback" not in result.output and not (tmp_path / "logs").exists()


@pytest.mark.parametrize(("name", "extra"), [
    ("RIDE", ("--opt", "num_experts=2", "--opt", "reweight_epoch=1")),
    ("PaCo", ("--opt", "queue=16", "--opt", "dim=8")),
])
def test_an_interrupted_run_resumes_to_the_uninterrupted_result(cli, split_dataset, tmp_path, monkeypatch, name,
                                                                  extra):
    args = ("train", "--dataset", "colours", *TRAIN_ARGS, "--height", "8", "--width", "8", "--objective", name,
            "--seed", "3", *extra)
    cli(*args, "--logs-dir", "straight")
    real_save, saves = Checkpoint.save, [0]

    def save(self, path):  # Ctrl-C right after epoch 0's checkpoints (saves: epoch -1, best 0, last 0)
        real_save(self, path)
        saves[0] += 1
        if saves[0] == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "save", save)
    assert cli(*args, "--logs-dir", "cut", ok=False).exit_code == 130
    monkeypatch.setattr(Checkpoint, "save", real_save)
    (cut,) = (tmp_path / "cut" / "resnet20" / "colours" / name).iterdir()
    cli("train", "--resume", str(cut))
    (straight,) = (tmp_path / "straight" / "resnet20" / "colours" / name).iterdir()
    for csv_name in ("train.csv", "valid.csv"):
        assert rows(cut / csv_name) == rows(straight / csv_name)
    ours, theirs = Checkpoint.load(cut / "checkpoint_last.pt"), Checkpoint.load(straight / "checkpoint_last.pt")
    assert ours.epoch == theirs.epoch == 1 and set(ours.model) == set(theirs.model)
    for key, tensor in theirs.model.items():  # PaCo's queue and key encoder included
        assert torch.equal(ours.model[key], tensor), key


# --- torchrun --------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", ["RIDE", "PaCo"])
def test_torchrun_two_processes(split_dataset, name):
    """Two gloo processes train each method and `ltcli test` reads the run; PaCo's queue takes the
    keys of both processes' shares (its pointer counts every image of every step)."""
    root = split_dataset.parent.parent
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1",
           "COLUMNS": "400"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "ltcli",
               "train", "--dataset", "colours", *TRAIN_ARGS, "--objective", name, "--opt", "dim=8" if name == "PaCo"
               else "num_experts=2", "--logs-dir", "ddp"]
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 processes (gloo)" in result.stdout
    (run,) = (root / "ddp" / "resnet20" / "colours" / name).iterdir()
    last = Checkpoint.load(run / "checkpoint_last.pt")
    if name == "PaCo":  # 42 training images, batches of 8 over both processes (the last, 2 images, is dropped:
        # under torchrun every process needs two), 2 epochs, a queue of 1024: 2 x 40 keys, 20 from each process
        assert int(last.model["queue_pointer"]) == 2 * 40
    tested = subprocess.run([sys.executable, "-m", "ltcli", "test", "--run", str(run), "--device", "cpu"], cwd=root,
                            env=env, capture_output=True, text=True, timeout=300)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert json.loads((run / "metrics.json").read_text())["acc"] >= 0
