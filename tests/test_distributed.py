"""Data-parallel training: how batches are shared between processes, and torchrun on 2 CPU processes
(gloo) against a single-process run of the same settings."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ltcli.data.samplers import EvalShard, PosNegBatchSampler, RankShare, StepBatches, share_of, step_batches
from ltcli.engine.loop import share_weight


@pytest.mark.parametrize("size", range(2, 12))
@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_shares_partition_a_batch(size, world_size):
    batch = list(range(100, 100 + size))
    shares = [batch[share_of(batch, rank, world_size)] for rank in range(world_size)]
    assert sum(shares, []) == batch
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


@pytest.mark.parametrize(("n", "batch", "world_size", "sizes"), [
    (23, 6, 1, [6, 6, 6, 5]),
    (19, 6, 1, [6, 6, 6]),  # a last batch of one image is dropped (BatchNorm)
    (20, 6, 1, [6, 6, 6, 2]),
    (21, 6, 2, [6, 6, 6]),  # 3 images cannot give two processes two each
    (22, 6, 2, [6, 6, 6, 4]),
])
def test_step_batches_keep_a_last_batch_only_when_every_process_gets_two(n, batch, world_size, sizes):
    steps = step_batches(n, batch, seed=0, world_size=world_size)
    assert [len(b) for b in steps] == sizes and len(steps) == len(sizes)
    assert [steps.step_size(i) for i in range(len(sizes))] == sizes


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("world_size", [2, 3])
def test_rank_shares_put_together_are_the_single_process_epoch(weighted, world_size):
    weights = np.linspace(1, 5, 42).tolist() if weighted else None

    def steps(rank: int, world: int):
        batches = step_batches(42, 12, seed=3, sample_weights=weights, world_size=world)  # 12+12+12+6
        return RankShare(batches, rank, world) if world > 1 else batches

    single = steps(0, 1)
    shares = [steps(rank, world_size) for rank in range(world_size)]
    for _ in range(2):  # two epochs: the sampler generators advance alike on every process
        for whole, *parts in zip(single, *shares, strict=True):
            assert sum(parts, []) == whole


def test_eval_shards_cover_every_sample_once():
    shards = [list(EvalShard(11, rank, 3)) for rank in range(3)]
    assert sorted(sum(shards, [])) == list(range(11))


def test_stratified_batches_give_every_process_positives_and_negatives():
    targets = [1] * 5 + [0] * 60
    sampler = PosNegBatchSampler(targets, 12, (1, 3), seed=0, parts=2)
    for batch in sampler:
        assert len(batch) == 12
        for rank in range(2):
            share = [targets[i] for i in batch[share_of(batch, rank, 2)]]
            assert sorted(share) == [0] * 4 + [1] * 2  # 6 per process at 1:3 -> round(1.5)=2 positives


def test_share_weights_make_the_process_average_the_whole_batch_mean():
    # DDP averages the processes' gradients with equal weights; the gradient of a weighted mean
    # loss is the weighted mean gradient, so checking the loss values checks the gradients.
    losses = torch.rand(17, generator=torch.Generator().manual_seed(0))
    batch = list(range(17))
    loader = SimpleNamespace(batch_sampler=StepBatches(range(49), 32, 2))  # steps of 32 and 17
    shares = [losses[share_of(batch, rank, 2)] for rank in range(2)]  # 9 and 8 images
    averaged = sum(share.mean() * share_weight(len(share), loader, 1, 2) for share in shares) / 2
    assert torch.isclose(averaged, losses.mean())
    assert share_weight(16, loader, 0, 2) == 1.0


# --- torchrun, 2 processes on the CPU -----------------------------------------------------------

# A model without BatchNorm (GroupNorm), no augmentation: two processes each computing half of every
# batch then averaging gradients must train the same weights as one process, up to float rounding.
# Rounding grows over training: one process on 1 vs 2 threads ends these 2 epochs with train losses
# 0.1227 and 0.1221, so losses are compared to 1% and weights to 2e-3 (unsynchronised processes, or
# each process on its own half of the data, miss by far more).
EQUAL_ARGS = ["--dataset", "colours", "--model", "test_efficientnet_gn", "--objective", "ERM", "--epochs", "2",
              "--batchsize", "6", "--lrstep", "2", "--warmup", "0", "--height", "16", "--width", "16",
              "--augment", "none", "--hflip", "0", "--workers", "0", "--device", "cpu", "--lr", "0.01",
              "--weight-decay", "0", "--amp", "off"]  # bf16's rounding depends on how a batch is split: float32


def run_ltcli(cwd: Path, *args: str, processes: int = 1) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1",
           "COLUMNS": "400"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    command = [*(launcher if processes > 1 else [sys.executable]), "-m", "ltcli", *args]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def one_run(logs: Path, model: str, objective: str) -> Path:
    (run,) = list((logs / model / "colours" / objective).iterdir())  # rank 1 claimed no folder
    return run


@pytest.mark.slow
@pytest.mark.parametrize("extra", [
    ["--data-cache", "memory"],
    ["--data-cache", "none", "--train-rule", "Resample"],  # class-aware re-sampling, streaming loaders
], ids=["memory", "streaming-resample"])
def test_torchrun_two_processes_train_what_one_process_trains(split_dataset, extra):
    root = split_dataset.parent.parent
    run_ltcli(root, "train", *EQUAL_ARGS, *extra, "--logs-dir", "single")
    output = run_ltcli(root, "train", *EQUAL_ARGS, *extra, "--logs-dir", "ddp", processes=2).stdout
    assert "2 processes (gloo)" in output and output.count("done: best") == 1  # only rank 0 prints

    single = one_run(root / "single", "test_efficientnet_gn", "ERM")
    ddp = one_run(root / "ddp", "test_efficientnet_gn", "ERM")
    assert sorted(p.name for p in ddp.iterdir() if not p.name.startswith("events")) == sorted(
        p.name for p in single.iterdir() if not p.name.startswith("events"))
    config = json.loads((ddp / "config.json").read_text())
    assert config["world_size"] == 2 and config["distributed_backend"] == "gloo"
    for name in ("train.csv", "valid.csv"):
        a, b = rows(single / name), rows(ddp / name)
        assert [r["epoch"] for r in b] == ["0", "1"]
        for row_a, row_b in zip(a, b, strict=True):
            for key in row_a:
                if key not in ("epoch", "time_s"):
                    assert float(row_b[key]) == pytest.approx(float(row_a[key]), rel=1e-2, abs=1e-3), (name, key)
    a = torch.load(single / "checkpoint_last.pt", weights_only=True)
    b = torch.load(ddp / "checkpoint_last.pt", weights_only=True)
    assert a["scheduler"] == b["scheduler"]  # same number of optimizer steps
    for key, tensor in a["model"].items():
        assert torch.allclose(b["model"][key], tensor, atol=2e-3, rtol=1e-2), key
    assert len(b["rng"]) == 2  # each process's random state, for --resume


@pytest.mark.slow
def test_torchrun_validation_metrics_are_those_of_the_whole_valid_split(split_dataset):
    # Each process predicts its shard of valid/; the metrics of the gathered predictions equal a
    # single-process evaluation of the saved weights. BatchNorm model, mixup, EMA and stratified
    # binary batches: the other training paths under torchrun.
    root = split_dataset.parent.parent
    args = ["train", "--dataset", "colours", "--model", "resnet20", "--objective", "SquareAUC", "--epochs", "2",
            "--batchsize", "8", "--lrstep", "2", "--warmup", "0", "--height", "16", "--width", "16", "--workers", "0",
            "--device", "cpu", "--lr", "0.05", "--positive-classes", "sky", "--pos-neg-ratio", "1:3",
            "--mixup", "0.4", "--ema-decay", "0.9", "--logs-dir", "ddp"]
    run_ltcli(root, *args, processes=2)
    run = one_run(root / "ddp", "resnet20", "SquareAUC")
    best = torch.load(run / "checkpoint_best.pt", weights_only=True)
    assert best["model_ema"] is not None
    logged = rows(run / "valid.csv")[best["epoch"]]
    run_ltcli(root, "test", "--run", str(run), "--split", "valid", "--out", "tested", "--device", "cpu")
    tested = json.loads((root / "tested" / "metrics_valid.json").read_text())
    for key in ("acc", "balanced_acc", "nll"):
        assert float(logged[key]) == pytest.approx(tested[key], abs=1e-5), key


def test_a_share_where_nothing_decodes_is_kept_as_none_so_processes_stay_in_step(tmp_path):
    from conftest import write_bad_images, write_image

    from ltcli.data.loaders import image_folder, make_loader

    for name in ("a", "b"):
        for i in range(3):
            write_image(tmp_path / name / f"ok{i}.png", (90, 20 * i, 40), seed=i)
        write_bad_images(tmp_path / name)  # 3 bad files per class
    cpu = torch.device("cpu")
    per_rank = []
    for rank in range(2):
        dataset = image_folder(tmp_path, transform=lambda image: torch.zeros(1))
        loader = make_loader(dataset, 2, True, 0, cpu, seed=0, rank=rank, world_size=2)  # one image per process
        per_rank.append([item is None for item in loader])
    assert len(per_rank[0]) == len(per_rank[1]) == 6  # 12 images, steps of 2: every process sees every step
    assert sum(per_rank[0]) + sum(per_rank[1]) == 6  # the six bad files, each one process's whole share


class TwoProcesses:
    """Dist.concat's logic with a fake gather: rank 1 had an empty shard."""

    enabled, world_size = True, 2

    def gather(self, value):
        return [value, [np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64), None]]


def test_gathered_predictions_ignore_an_empty_shard():
    from ltcli.engine.distributed import Dist

    logits, labels = np.ones((3, 4), dtype=np.float32), np.arange(3)
    out = Dist.concat(TwoProcesses(), [logits, labels, np.ones((3, 2))])  # type: ignore[arg-type]
    assert out[0].shape == (3, 4) and out[1].tolist() == [0, 1, 2] and out[2].shape == (3, 2)


@pytest.mark.slow
def test_sigterm_to_torchrun_then_resume_under_torchrun_matches_an_uninterrupted_run(split_dataset):
    import signal
    import time

    root = split_dataset.parent.parent
    args = ["train", "--dataset", "colours", "--model", "resnet20", "--objective", "ERM", "--epochs", "5",
            "--batchsize", "6", "--lrstep", "3,2", "--warmup", "1", "--height", "16", "--width", "16",
            "--workers", "0", "--device", "cpu", "--lr", "0.05", "--train-rule", "Resample", "--seed", "3"]
    run_ltcli(root, *args, "--logs-dir", "straight", processes=2)

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1",
           "COLUMNS": "400"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "ltcli"]
    interrupted = subprocess.Popen([*launcher, *args, "--logs-dir", "cut"], cwd=root, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline, started = time.time() + 240, False
    while time.time() < deadline and interrupted.poll() is None:
        found = list((root / "cut").glob("resnet20/colours/ERM/*/valid.csv"))
        if found and len(found[0].read_text().splitlines()) >= 2:  # header + epoch 1 done
            started = True
            break
        time.sleep(0.02)
    assert started and interrupted.poll() is None, "the run ended before it could be interrupted"
    interrupted.send_signal(signal.SIGTERM)  # torchrun passes it on to both processes
    output = interrupted.communicate(timeout=120)[0]
    assert interrupted.returncode != 0 and "holds the last finished epoch" in " ".join(output.split()), output
    cut = one_run(root / "cut", "resnet20", "ERM")
    assert torch.load(cut / "checkpoint_last.pt", weights_only=True)["epoch"] < 4

    run_ltcli(root, "train", "--resume", str(cut), "--logs-dir", "cut", processes=2)
    straight = one_run(root / "straight", "resnet20", "ERM")
    for name in ("train.csv", "valid.csv"):
        drop_time = [{k: v for k, v in row.items() if k != "time_s"} for row in rows(cut / name)]
        assert [row["epoch"] for row in drop_time] == ["0", "1", "2", "3", "4"]
        assert drop_time == [{k: v for k, v in row.items() if k != "time_s"} for row in rows(straight / name)]
