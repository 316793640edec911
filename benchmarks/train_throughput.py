"""Training images/second: ltcli's engine (in-memory path, batch augmentation) against a bare PyTorch
loop on the same model, batch size and in-memory tensors, measured in one process.

    python benchmarks/train_throughput.py            # full: resnet32, batch 128, 40 timed steps
    python benchmarks/train_throughput.py --quick    # CI: resnet20, 16x16, 6 timed steps

The figure is the ratio ltcli / bare (1.00 = no overhead). Target: >= 0.95 on CPU.
"""

from __future__ import annotations

import argparse
import time

import torch
from rich.progress import Progress
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from ltcli.data.memory import BatchAugment, MemoryLoader
from ltcli.data.samplers import step_batches
from ltcli.engine.loop import train_one_epoch
from ltcli.engine.schedule import create_scheduler
from ltcli.models import create_model
from ltcli.models.heads import TrainStep
from ltcli.objectives import create_objective


def bare_loop(model, images, targets, batch: int, steps: int, device) -> float:
    """The baseline: pre-normalised tensors, no augmentation, no bookkeeping."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x_all = (images.float() / 255 - 0.45) / 0.25
    model.train()
    sync(device)
    start = time.perf_counter()
    for step in range(steps):
        index = slice((step * batch) % len(targets), (step * batch) % len(targets) + batch)
        loss = torch.nn.functional.cross_entropy(model(x_all[index]), targets[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    sync(device)
    return steps * batch / (time.perf_counter() - start)


def ltcli_loop(model, images, targets, batch: int, steps: int, device) -> float:
    """ltcli's train_one_epoch over its MemoryLoader (pad-crop-flip-normalise per batch)."""
    counts = torch.bincount(targets.cpu(), minlength=10).clamp(min=1).tolist()
    objective = create_objective("ERM", counts).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loader = MemoryLoader(images[: steps * batch], targets[: steps * batch], batch,
                          BatchAugment(4, 0.5, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD),
                          batches=step_batches(steps * batch, batch, seed=0))
    scheduler = create_scheduler(optimizer, "step", 1, len(loader), [1], warmup_epochs=0)
    sync(device)
    start = time.perf_counter()
    with Progress(disable=True) as progress:
        train_one_epoch(TrainStep(model, False), objective, loader, optimizer, scheduler, device, 0, progress)
    sync(device)
    return steps * batch / (time.perf_counter() - start)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short mode for CI")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", default=None)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    model_name = args.model or ("resnet20" if args.quick else "resnet32")
    side = 16 if args.quick else 32
    steps = args.steps or (6 if args.quick else 40)
    torch.manual_seed(0)
    images = torch.randint(0, 256, (steps * args.batch, 3, side, side), dtype=torch.uint8, device=device)
    targets = torch.randint(0, 10, (steps * args.batch,), device=device)
    results = {"bare": [], "ltcli": []}
    for repeat in range(args.repeats + 1):  # the first round warms up (allocator, cuDNN autotune)
        for name, loop in (("bare", bare_loop), ("ltcli", ltcli_loop)):
            torch.manual_seed(repeat)
            model = create_model(model_name, num_classes=10).to(device)
            rate = loop(model, images, targets, args.batch, steps, device)
            if repeat > 0:
                results[name].append(rate)
    bare, ours = max(results["bare"]), max(results["ltcli"])
    print(f"device {device}, {model_name}, batch {args.batch}, {side}x{side}, {steps} steps, best of {args.repeats}")
    print(f"bare PyTorch loop : {bare:9.1f} images/s")
    print(f"ltcli engine      : {ours:9.1f} images/s")
    print(f"ratio ltcli/bare  : {ours / bare:.3f}")


if __name__ == "__main__":
    main()
