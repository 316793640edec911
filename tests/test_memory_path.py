"""The in-memory path decodes like the streaming path and draws from the same augmentation distribution."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch
from conftest import TRAIN_ARGS, only_run, read_csv
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from ltcli.data.memory import BatchAugment, MemoryLoader, decode_images, use_memory_cache
from ltcli.data.samplers import step_batches
from ltcli.data.transforms import build_transform

SIDE = 8  # padding = SIDE // 8 = 1: 3 x 3 crop offsets x 2 flips = 18 outcomes


def outcome_table(image_tensor: torch.Tensor, padding: int) -> dict[bytes, tuple[int, int, bool]]:
    """Every (dy, dx, flip) result of pad-crop-flip, keyed by its normalised pixels, built by hand."""
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_DEFAULT_STD).view(3, 1, 1)
    padded = torch.nn.functional.pad(image_tensor.float(), (padding,) * 4)
    table = {}
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            crop = padded[:, dy : dy + SIDE, dx : dx + SIDE]
            for flip in (False, True):
                view = crop.flip(-1) if flip else crop
                table[np.round(((view / 255 - mean) / std).numpy(), 4).tobytes()] = (dy, dx, flip)
    return table


def test_both_paths_draw_the_same_crops_and_flips(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.permutation(256)[: SIDE * SIDE * 3].reshape(SIDE, SIDE, 3).astype(np.uint8) + 1  # no zeros
    path = tmp_path / "x.png"
    Image.fromarray(pixels).save(path)
    decoded, failed = decode_images([str(path)], SIDE, SIDE)
    assert failed == []
    assert torch.equal(decoded[0], torch.from_numpy(pixels).permute(2, 0, 1))
    table = outcome_table(decoded[0], 1)
    assert len(table) == 18
    draws = 3600
    stream = build_transform(SIDE, SIDE, train=True, augment="cifar", hflip=0.5)
    streamed = Counter(table[np.round(stream(Image.open(path).convert("RGB")).numpy(), 4).tobytes()]
                       for _ in range(draws))
    augment = BatchAugment(1, 0.5, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)
    batch = augment(decoded.repeat(draws, 1, 1, 1), torch.Generator().manual_seed(0))
    in_memory = Counter(table[np.round(view.numpy(), 4).tobytes()] for view in batch)
    # Both hit exactly the 18 outcomes (a KeyError above would mean a pixel-level difference) ...
    assert set(streamed) == set(in_memory) == set(table.values())
    # ... each about 1/18 of the time: 200 expected, standard deviation ~14.
    for counts in (streamed, in_memory):
        assert all(140 <= c <= 260 for c in counts.values()), counts


def test_memory_loader_covers_each_sample_once_per_epoch():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 3, 2, 2).contiguous()
    targets = torch.arange(10)
    loader = MemoryLoader(images, targets, 4, BatchAugment(0, 0.0, (0, 0, 0), (1 / 255,) * 3, train=False),
                          batches=step_batches(10, 4, seed=1), seed=1)
    seen = [t for _, batch in loader for t in batch.tolist()]
    assert sorted(seen) == list(range(10)) and len(loader) == 3
    for x, y in loader:  # normalisation with mean 0, std 1/255 gives back the raw values
        assert torch.equal(x[:, 0, 0, 0], y.float())


def test_memory_loader_shares_give_the_single_process_batches_and_augmentation():
    # Under torchrun each process keeps its share of every step's batch, with the crops and flips
    # drawn for the whole batch: the shares of two processes put together are, image for image,
    # what a single process trains on.
    images = torch.randint(0, 256, (23, 3, 8, 8), dtype=torch.uint8)
    targets = torch.arange(23)
    augment = BatchAugment(2, 0.5, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)

    def loader(rank: int, world_size: int) -> MemoryLoader:
        batches = step_batches(23, 6, seed=5, world_size=world_size)
        return MemoryLoader(images, targets, 6, augment, batches=batches, seed=5, rank=rank, world_size=world_size)

    single, first, second = loader(0, 1), loader(0, 2), loader(1, 2)
    for _ in range(2):  # two epochs: the generators advance alike
        steps = list(zip(single, first, second, strict=True))
        assert len(steps) == 4  # 6+6+6+5: the last batch of 5 still gives each process two images or more
        for (x, y), (x0, y0), (x1, y1) in steps:
            assert len(y0) >= 2 and len(y1) >= 2
            assert torch.equal(torch.cat([y0, y1]), y)
            assert torch.equal(torch.cat([x0, x1]), x)


@pytest.mark.parametrize(("mode", "augment", "n", "expected"), [
    ("auto", "cifar", 50_000, True), ("auto", "cifar", 10**6, False), ("auto", "timm", 10, False),
    ("memory", "cifar", 10**6, True), ("none", "cifar", 10, False),
])
def test_cache_choice(mode, augment, n, expected):
    assert use_memory_cache(mode, augment, n, 32, 32) is expected


@pytest.mark.parametrize("cache", ["memory", "none"])
def test_training_on_either_path(cli, split_dataset, tmp_path, cache):
    cli("train", "--dataset", "colours", "--objective", "ERM", "--data-cache", cache, "--train-rule", "Resample",
        *TRAIN_ARGS)
    run = only_run(tmp_path, "ERM")
    assert json.loads((run / "config.json").read_text())["data_cache_resolved"] == cache
    assert len(read_csv(run / "valid.csv")) == 2


def test_predict_returns_host_arrays_from_device_loaders():
    # MemoryLoader yields labels on the training device; predict must hand numpy arrays back
    # (a CUDA run crashed here before). On CPU the contract is the same: numpy, loader order.
    from ltcli.engine.logits import predict

    images = torch.zeros(5, 3, 4, 4, dtype=torch.uint8)
    loader = MemoryLoader(images, torch.tensor([0, 1, 2, 1, 0]), 2,
                          BatchAugment(0, 0.0, (0, 0, 0), (1, 1, 1), train=False))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 3))
    logits, labels = predict(model, loader, torch.device("cpu"))
    assert isinstance(labels, np.ndarray) and labels.tolist() == [0, 1, 2, 1, 0] and logits.shape == (5, 3)


# fp16 training on the CPU takes several seconds (about 7 s against 0.4 s for bf16): only bf16 is in the
# fast lane.
@pytest.mark.parametrize(("amp", "channels_last"),
                         [("bf16", "on"), pytest.param("fp16", "off", marks=pytest.mark.slow)])
def test_mixed_precision_and_channels_last_train_on_cpu(cli, split_dataset, tmp_path, amp, channels_last):
    cli("train", "--dataset", "colours", "--objective", "LDAM", "--amp", amp, "--channels-last", channels_last,
        *TRAIN_ARGS)
    run = only_run(tmp_path, "LDAM")
    config = json.loads((run / "config.json").read_text())
    assert config["amp_resolved"] == amp and config["channels_last_resolved"] == (channels_last == "on")
    rows = read_csv(run / "train.csv")
    assert len(rows) == 2 and all(np.isfinite(float(r["loss"])) for r in rows)
    checkpoint = torch.load(run / "checkpoint_last.pt", weights_only=True)
    assert (checkpoint["scaler"] is not None) == (amp == "fp16")  # loss scaling only for fp16
    assert all(t.dtype == torch.float32 for t in checkpoint["model"].values() if t.is_floating_point())


def test_bad_amp_is_one_line(cli, split_dataset):
    result = cli("train", "--dataset", "colours", "--amp", "fp8", *TRAIN_ARGS, ok=False)
    assert result.exit_code == 1 and "unknown --amp 'fp8'" in " ".join(result.output.split())
