"""Self-supervised pre-training (`ltcli pretrain`): the rotation batch, MoCo's momentum rule and loss, a
tiny run's files, `train --init-from` a pre-training run, bit-exact resume, and one-line errors."""

from __future__ import annotations

import ast
import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from rich.console import Console

from ltcli.checkpoint import Checkpoint
from ltcli.engine.compute import Compute
from ltcli.engine.loop import train_step
from ltcli.errors import LtcliError
from ltcli.method import Method
from ltcli.models import create_model
from ltcli.pretrain.rotation import rotate_batch
from ltcli.pretrain.views import TwoViews

LTCLI = Path(__file__).resolve().parents[1] / "ltcli"
# A tiny run: CIFAR ResNet-20 on 8x8 images, in memory, on the CPU.
ARGS = ("--dataset", "shapes", "--model", "resnet20", "--batchsize", "8", "--warmup", "0", "--height", "8",
        "--width", "8", "--workers", "0", "--device", "cpu", "--lr", "0.05", "--seed", "3")
MOCO = ("--method", "moco", "--moco-queue", "16", "--moco-dim", "16")


def write_oriented_image(path: Path, colour: tuple[int, int, int], seed: int, size: int = 8) -> None:
    """A colour whose top half is bright and bottom half dark, plus noise: which way is up can be seen."""
    rng = np.random.default_rng(seed)
    shade = np.where(np.arange(size)[:, None, None] < size // 2, 1.0, 0.25)
    pixels = np.clip(np.array(colour)[None, None, :] * shade + rng.normal(0, 12, (size, size, 3)), 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8), "RGB").save(path)


def make_shapes(root: Path) -> Path:
    """root/{train,valid,test}/<class>/*.png, a long-tailed train split of oriented images."""
    colours = {"apple": (230, 40, 40), "leaf": (40, 210, 60), "sky": (50, 70, 240)}
    counts = {"train": {"apple": 16, "leaf": 8, "sky": 4}, "valid": dict.fromkeys(colours, 3),
              "test": dict.fromkeys(colours, 3)}
    for split_index, (split, per_class) in enumerate(counts.items()):
        for index, (name, count) in enumerate(per_class.items()):
            for i in range(count):
                write_oriented_image(root / split / name / f"{i:03d}.png", colours[name],
                                     seed=10_000 * split_index + 100 * index + i)
    return root


@pytest.fixture
def shapes(tmp_path: Path) -> Path:
    return make_shapes(tmp_path / "a_datasets" / "shapes")


def runs_of(tmp_path: Path, method: str, logs: str = "logs") -> list[Path]:
    folder = tmp_path / logs / "resnet20" / "shapes" / f"pretrain-{method}"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return [{k: v for k, v in row.items() if k != "time_s"} for row in csv.DictReader(handle)]


def one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


# --- the rotation batch ------------------------------------------------------------------------------

def test_rotation_batch_of_a_2x2_image_by_hand():
    image = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    other = image + 10
    inputs, labels = rotate_batch(torch.cat([image, other]))
    assert inputs.shape == (8, 1, 2, 2)
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]  # rotation-major: all images at k, then k+1
    by_hand = [  # torch.rot90 turns counter-clockwise: the top row comes from the right column
        [[1, 2], [3, 4]],  # 0 degrees
        [[2, 4], [1, 3]],  # 90
        [[4, 3], [2, 1]],  # 180
        [[3, 1], [4, 2]],  # 270
    ]
    for k, expected in enumerate(by_hand):
        assert inputs[2 * k, 0].tolist() == expected, k
        assert inputs[2 * k + 1, 0].tolist() == (torch.tensor(expected) + 10).tolist(), k


# --- MoCo ---------------------------------------------------------------------------------------------

def test_two_views_are_random_reproducible_and_exact_without_augmentation():
    images = torch.randn(4, 3, 8, 8)
    views = TwoViews(mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    torch.manual_seed(1)
    inputs, targets = views(images)
    assert inputs.shape == (8, 3, 8, 8) and targets.tolist() == [0, 0, 0, 0]
    assert not torch.allclose(inputs[:4], inputs[4:])  # query and key views differ
    torch.manual_seed(1)
    assert torch.equal(views(images)[0], inputs)  # drawn from the (checkpointed) default generator
    plain = TwoViews(mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3), hflip=0.0, scale=(1.0, 1.0), ratio=(1.0, 1.0),
                     jitter=0.0, gray_prob=0.0)
    inside = torch.rand(4, 3, 8, 8) * 0.8 + 0.1  # in [0, 1] once de-normalised
    normalised = (inside - torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)) / torch.tensor([0.2, 0.25, 0.3]).view(
        1, 3, 1, 1)
    torch.testing.assert_close(plain(normalised)[0][:4], normalised, atol=1e-5, rtol=0)  # a full crop is the image


def moco_net(momentum: float = 0.9):
    pytest.importorskip("lightly")  # the `ssl` extra (in `dev`, so CI has it)
    from ltcli.pretrain.moco import ContrastiveLoss, MoCoNet

    torch.manual_seed(0)
    net = MoCoNet(create_model("resnet20", num_classes=0), dim=16, queue=8, momentum=momentum, temperature=0.2)
    return net, ContrastiveLoss(net.contrastive)


def test_moco_step_trains_the_query_encoder_and_moves_the_key_encoder_by_the_momentum_rule():
    m = 0.9
    net, objective = moco_net(m)
    with torch.no_grad():  # keys differ from queries, as after some training
        for parameter in net.key_backbone.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    assert not any(p.requires_grad for p in [*net.key_backbone.parameters(), *net.key_projection.parameters()])
    query0 = net.backbone.conv1.weight.detach().clone()
    key0 = net.key_backbone.conv1.weight.detach().clone()
    head_query0 = net.projection.layers[0].weight.detach().clone()
    head_key0 = net.key_projection.layers[0].weight.detach().clone()
    queue0 = net.contrastive.memory_bank.bank.clone()
    optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    net.train()
    moco = Method("moco", objective, features=True)
    logits, loss = train_step(net, moco, optimizer, Compute(torch.device("cpu")), torch.randn(8, 3, 8, 8),
                              torch.zeros(4, dtype=torch.long), None)
    assert logits.shape == (4, 1 + 8) and torch.isfinite(loss)
    assert not torch.allclose(net.backbone.conv1.weight, query0)  # SGD moved the query encoder
    # key <- m key + (1 - m) query, by hand (up to float rounding of lightly's fused update)
    torch.testing.assert_close(net.key_backbone.conv1.weight.detach(), m * key0 + (1 - m) * query0, atol=1e-6, rtol=0)
    torch.testing.assert_close(net.key_projection.layers[0].weight.detach(), m * head_key0 + (1 - m) * head_query0,
                               atol=1e-6, rtol=0)
    assert not torch.equal(net.key_backbone.conv1.weight, key0)
    assert int(net.contrastive.memory_bank.bank_ptr) == 4  # the 4 keys entered the queue
    assert not torch.equal(net.contrastive.memory_bank.bank[:4], queue0[:4])
    assert torch.equal(net.contrastive.memory_bank.bank[4:], queue0[4:])


def test_moco_accuracy_logits_are_those_of_lightlys_loss():
    net, objective = moco_net()
    net.eval()
    queue0 = net.contrastive.memory_bank.bank.clone()
    with torch.no_grad():
        logits, features = net(torch.randn(8, 3, 8, 8))
        loss = objective(logits, None, features)
    expected = F.cross_entropy(logits, torch.zeros(4, dtype=torch.long))
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-5)
    assert torch.equal(net.contrastive.memory_bank.bank, queue0)  # validation never enqueues


# --- lightly stays optional ---------------------------------------------------------------------------

def test_no_module_imports_lightly_at_import_time():
    for path in LTCLI.rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:  # module level only
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "lightly" or n.startswith("lightly.") for n in names), path


def test_missing_lightly_is_a_one_line_error(cli, shapes, tmp_path, monkeypatch):
    for name in ("lightly", "lightly.loss", "lightly.models", "lightly.models.modules", "lightly.models.utils"):
        monkeypatch.setitem(sys.modules, name, None)  # `import lightly` now fails, as when it is not installed
    from ltcli.pretrain.config import PretrainConfig

    with pytest.raises(LtcliError, match=r'pip install "ltcli\[ssl\]"'):
        PretrainConfig(dataset="shapes", method="moco")
    result = cli("pretrain", *ARGS, "--method", "moco", "--epochs", "1", ok=False)
    assert result.exit_code == 1
    assert 'pip install "ltcli[ssl]"' in one_line(result.output)
    assert not (tmp_path / "logs").exists()
    PretrainConfig(dataset="shapes", method="rotation")  # rotation needs no lightly


# --- bad input -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (("--lr", "-1"), "--lr must be above 0"),
    (("--method", "jigsaw"), "unknown --method 'jigsaw': choose one of rotation, moco"),
    (("--width", "16"), "--method rotation turns images by 90 degrees: it needs square inputs"),
    (("--moco-queue", "64"), "--moco-queue applies to --method moco, not rotation"),
    ((*MOCO, "--temperature", "0"), "--temperature must be above 0"),
    ((*MOCO, "--moco-momentum", "1"), "--moco-momentum must be in [0, 1)"),
    (("--epochs", "0"), "--epochs must be at least 1"),
    (("--sched", "step", "--lrstep", "5,5", "--epochs", "2"), "drops the rate at epoch(s) 5"),
    (("--dataset", "nowhere"), "dataset folder not found"),
    (("--model", "resnet_nope"), "unknown model 'resnet_nope'"),
    (("--extra-unlabeled", "missing"), "--extra-unlabeled folder not found"),
    (("--extra-unlabeled", "a_datasets/shapes/test"), "overlaps the dataset"),
])
def test_bad_input_is_one_line_before_anything_is_written(cli, shapes, tmp_path, args, message):
    result = cli("pretrain", *ARGS, "--epochs", "1", *args, ok=False)
    assert result.exit_code == 1
    assert message in one_line(result.output)
    assert not (tmp_path / "logs").exists()


def test_resume_refuses_the_other_commands_runs(cli, shapes, tmp_path):
    from ltcli.run_folder import RunFolder

    run = RunFolder(tmp_path / "logs" / "resnet20" / "shapes" / "ERM" / "2026-01-01-00-00-00")
    run.path.mkdir(parents=True)
    run.write_config({"model": "resnet20"})
    Checkpoint(model={}, epoch=0, class_names=["a", "b"], config={"model": "resnet20", "epochs": 3},
               optimizer={}, scheduler={}).save(run.last_checkpoint)
    result = cli("pretrain", "--resume", str(run.path), ok=False)
    assert "is a training run, not a pre-training one" in one_line(result.output)
    Checkpoint(model={}, epoch=0, class_names=["a", "b"], config={"model": "resnet20", "epochs": 3,
               "command": "pretrain"}, optimizer={}, scheduler={}).save(run.last_checkpoint)
    result = cli("train", "--resume", str(run.path), ok=False)
    assert "continue it with `ltcli pretrain --resume`" in one_line(result.output)


@pytest.mark.parametrize("where", ["run", "copy"])
def test_predict_on_a_pretraining_checkpoint_names_the_way_to_start_from_it(cli, tmp_path, where):
    """In its run folder: --init-from the run. Copied elsewhere: its folder is no run, so --weights FILE."""
    in_run = "logs/resnet20/shapes/pretrain-rotation/2026-01-01-00-00-00"
    folder = tmp_path / (in_run if where == "run" else "elsewhere")
    folder.mkdir(parents=True)
    if where == "run":
        (folder / "config.json").write_text(json.dumps({"command": "pretrain", "model": "resnet20"}))
    checkpoint = folder / ("checkpoint_best.pt" if where == "run" else "copy.pt")
    Checkpoint(model={}, epoch=0, class_names=["a", "b"], config={"model": "resnet20", "command": "pretrain"},
               optimizer={}, scheduler={}).save(checkpoint)
    image = tmp_path / "x.png"
    Image.new("RGB", (8, 8)).save(image)
    result = cli("predict", str(image), "--run", str(folder if where == "run" else checkpoint), "--device", "cpu",
                 ok=False)
    expected = (f"error: {folder} is a pre-training run (`ltcli pretrain`): it has no classifier of the dataset's "
                f"classes; train one from it with `ltcli train --init-from {folder}`" if where == "run" else
                f"error: {checkpoint} is a pre-training checkpoint (`ltcli pretrain`): it has no classifier of the "
                f"dataset's classes; train one from it with `ltcli train --weights {checkpoint}`")
    assert result.exit_code == 1 and " ".join(result.output.split()) == expected


# --- a tiny run, and training from it ------------------------------------------------------------------

def test_rotation_run_learns_and_writes_a_complete_run_folder(cli, shapes, tmp_path):
    started = time.perf_counter()
    result = cli("pretrain", *ARGS, "--epochs", "4")
    elapsed = time.perf_counter() - started
    (run,) = runs_of(tmp_path, "rotation")
    assert f"ltclitrain--init-from{run.relative_to(tmp_path)}" in "".join(result.output.split())
    for name in ("config.json", "train.csv", "valid.csv", "checkpoint_best.pt", "checkpoint_last.pt",
                 "skipped_files.json"):
        assert (run / name).stat().st_size > 0, name
    assert list(run.glob("events.out.tfevents.*")) and list(run.glob("events.out.tfevents.*"))[0].stat().st_size > 0
    config = json.loads((run / "config.json").read_text())
    assert config["command"] == "pretrain" and config["method"] == "rotation" and config["select_metric"] == "loss"
    assert config["class_names"] == ["apple", "leaf", "sky"] and config["class_counts"] == [16, 8, 4]
    train, valid = rows(run / "train.csv"), rows(run / "valid.csv")
    assert [r["epoch"] for r in train] == [r["epoch"] for r in valid] == ["0", "1", "2", "3"]
    assert set(train[0]) == {"epoch", "loss", "acc", "top5acc", "lr"} and set(valid[0]) == {"epoch", "loss", "acc",
                                                                                             "top5acc"}
    assert all(0 <= float(r["acc"]) <= 1 and float(r["top5acc"]) == 1.0 for r in train + valid)  # 4 rotations
    # a weak but real check: the pretext is learned (the images show which way is up)
    assert float(train[-1]["loss"]) < float(train[0]["loss"]) or float(train[-1]["acc"]) > float(train[0]["acc"])
    best, last = Checkpoint.load(run / "checkpoint_best.pt"), Checkpoint.load(run / "checkpoint_last.pt")
    assert last.epoch == 3 and best.class_names == ["apple", "leaf", "sky"]
    assert best.best_value == min(float(r["loss"]) for r in valid)
    assert set(last.model) == set(create_model("resnet20", num_classes=0).state_dict())  # timm's own names
    assert set(last.pretext) == {"head.weight", "head.bias"}
    listing = cli("runs", "--dataset", "shapes")
    assert "pretrain-rotation" in listing.output and "4/4" in listing.output
    print(f"tiny rotation run: {elapsed:.2f}s in-process")


def test_train_init_from_a_pretrain_run_starts_from_its_backbone_with_a_new_classifier(cli, shapes, tmp_path):
    from ltcli.config import TrainConfig
    from ltcli.engine.assemble import build_model
    from ltcli.engine.distributed import Dist
    from ltcli.objectives import get_objective_entry

    cli("pretrain", *ARGS, "--epochs", "1")
    (run,) = runs_of(tmp_path, "rotation")
    backbone = Checkpoint.load(run / "checkpoint_best.pt").model
    config = TrainConfig(dataset="shapes", model="resnet20", objective="ERM", init_from=str(run),
                         logs_dir=str(tmp_path / "logs"))
    torch.manual_seed(5)
    fresh = create_model("resnet20", num_classes=3).fc.state_dict()
    console = Console(record=True, width=400)
    torch.manual_seed(5)  # the same classifier initialisation as `fresh`
    _, network = build_model(config, 3, get_objective_entry("ERM").method([16, 8, 4]), Dist(), torch.device("cpu"),
                             console, resume=False)
    line = console.export_text()
    assert f"loaded {len(backbone)} tensors" in line
    assert "classifier freshly initialised: fc.bias, fc.weight not in the file" in line
    state = network.state_dict()
    assert set(state) - set(backbone) == {"fc.weight", "fc.bias"}
    for key, tensor in backbone.items():  # every backbone tensor, BatchNorm statistics included
        assert torch.equal(state[key], tensor), key
    for key, tensor in fresh.items():  # the classifier is the new model's own initialisation
        assert torch.equal(state[f"fc.{key}"], tensor), key


def test_extra_unlabeled_images_join_the_pretext_training_set(shapes, tmp_path, monkeypatch):
    from ltcli.pretrain.assemble import UNLABELED, build_pretraining
    from ltcli.pretrain.config import PretrainConfig

    monkeypatch.chdir(tmp_path)
    for i in range(5):
        write_oriented_image(tmp_path / "more" / "nested" / f"{i}.png", (120, 120, 120), seed=i)
    (tmp_path / "more" / "notes.txt").write_text("not an image")
    config = PretrainConfig(dataset="shapes", model="resnet20", height=8, width=8, workers=0, device="cpu",
                            batch_size=8, epochs=1, extra_unlabeled=str(tmp_path / "more"))
    parts = build_pretraining(config, Console(quiet=True), torch.device("cpu"))
    assert parts.extra_images == 5 and len(parts.data.train) == 28 + 5
    assert parts.data.train.targets[-5:] == [UNLABELED] * 5 and parts.task.class_counts == [16, 8, 4]
    assert parts.record["extra_unlabeled_images"] == 5 and parts.record["train_images"] == 33
    inputs, targets = next(iter(parts.loaders["train"]))
    assert inputs.shape == (32, 3, 8, 8) and sorted(set(targets.tolist())) == [0, 1, 2, 3]
    assert parts.files_root == tmp_path.resolve()


@pytest.mark.slow
def test_moco_run_and_train_from_it_through_the_cli(cli, shapes, tmp_path):
    pytest.importorskip("lightly")
    cli("pretrain", *ARGS, *MOCO, "--epochs", "2", "--data-cache", "none")
    (run,) = runs_of(tmp_path, "moco")
    last = Checkpoint.load(run / "checkpoint_last.pt")
    assert last.epoch == 1 and math.isfinite(float(rows(run / "valid.csv")[-1]["loss"]))
    assert {"contrastive.memory_bank.bank", "contrastive.memory_bank.bank_ptr"} <= set(last.pretext)
    assert any(k.startswith("key_backbone.") for k in last.pretext)
    trained = cli("train", "--dataset", "shapes", "--model", "resnet20", "--objective", "ERM", "--epochs", "1",
                  "--lrstep", "1", "--warmup", "0", "--batchsize", "8", "--height", "8", "--width", "8",
                  "--workers", "0", "--device", "cpu", "--init-from", str(run))
    assert "classifierfreshlyinitialised:fc.bias,fc.weightnotinthefile" in "".join(trained.output.split())


# --- never lose a run ------------------------------------------------------------------------------------

def interrupted_run(cli, tmp_path, monkeypatch, args: tuple[str, ...], after_save: int) -> Path:
    """Run with Checkpoint.save raising KeyboardInterrupt (Ctrl-C) right after its Nth write, then resume."""
    real_save = Checkpoint.save
    count = [0]

    def save(self, path):
        real_save(self, path)
        count[0] += 1
        if count[0] == after_save:
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "save", save)
    stopped = cli("pretrain", *args, "--logs-dir", "cut", ok=False)
    assert stopped.exit_code == 130, stopped.output
    assert "continuewith`ltclipretrain--resume" in "".join(stopped.output.split())
    monkeypatch.setattr(Checkpoint, "save", real_save)
    (run,) = runs_of(tmp_path, args[args.index("--method") + 1], "cut")
    resumed = cli("pretrain", "--resume", str(run), "--logs-dir", "cut")
    assert f"resuming{run}" in "".join(resumed.output.split())  # (rich wraps long paths anywhere)
    return run


def assert_same_run(run: Path, straight: Path) -> None:
    for name in ("train.csv", "valid.csv"):
        assert rows(run / name) == rows(straight / name), name
    for name in ("checkpoint_best.pt", "checkpoint_last.pt"):
        ours, theirs = Checkpoint.load(run / name), Checkpoint.load(straight / name)
        assert (ours.epoch, ours.best_epoch, ours.best_value) == (theirs.epoch, theirs.best_epoch, theirs.best_value)
        for weights in ("model", "pretext"):
            mine, other = getattr(ours, weights), getattr(theirs, weights)
            assert set(mine) == set(other)
            for key, tensor in other.items():
                assert torch.equal(mine[key], tensor), (name, key)


# Saves of a 3-epoch run: 1 = epoch -1's last, then best (when the loss improves) and last per epoch;
# 2 stops between epoch 0's best and last, 3 right after epoch 0.
@pytest.mark.slow
@pytest.mark.parametrize(("method", "after_save"), [("rotation", 3), ("rotation", 2), ("moco", 3)])
def test_interrupted_pretraining_resumes_to_the_uninterrupted_result(cli, shapes, tmp_path, monkeypatch, method,
                                                                     after_save):
    if method == "moco":
        pytest.importorskip("lightly")
    args = (*ARGS, *(MOCO if method == "moco" else ("--method", "rotation")), "--epochs", "3")
    cli("pretrain", *args, "--logs-dir", "straight")
    (straight,) = runs_of(tmp_path, method, "straight")
    run = interrupted_run(cli, tmp_path, monkeypatch, args, after_save)
    assert_same_run(run, straight)


@pytest.mark.slow
def test_sigterm_then_resume_matches_an_uninterrupted_run(shapes, tmp_path):
    """The real thing, as tests/test_resume.py: SIGTERM to a running process, streaming loader, MoCo."""
    pytest.importorskip("lightly")
    env = {**os.environ, "PYTHONPATH": str(LTCLI.parent), "OMP_NUM_THREADS": "1", "COLUMNS": "400"}
    args = [*ARGS, *MOCO, "--epochs", "5", "--data-cache", "none"]

    def ltcli(*extra: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "ltcli", "pretrain", *extra], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    straight = ltcli(*args, "--logs-dir", "straight")
    assert straight.wait(timeout=300) == 0, straight.stdout.read()
    interrupted = ltcli(*args, "--logs-dir", "cut")
    deadline = time.time() + 240
    while time.time() < deadline and interrupted.poll() is None:
        found = list((tmp_path / "cut").glob("resnet20/shapes/pretrain-moco/*/valid.csv"))
        if found and len(found[0].read_text().splitlines()) >= 2:  # header + epoch 1 done
            break
        time.sleep(0.02)
    assert interrupted.poll() is None, "the run ended before it could be interrupted"
    interrupted.send_signal(signal.SIGTERM)
    output = interrupted.communicate(timeout=120)[0]
    assert interrupted.returncode == 130, output
    (run,) = runs_of(tmp_path, "moco", "cut")
    assert 0 <= Checkpoint.load(run / "checkpoint_last.pt").epoch < 4
    resumed = ltcli("--resume", str(run))
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, output
    (straight_run,) = runs_of(tmp_path, "moco", "straight")
    assert_same_run(run, straight_run)
