"""Training images/second: ltcli's engine (in-memory path, batch augmentation) against a bare PyTorch
loop on the same model, batch size and in-memory tensors, measured in one process, in float32 and
in bf16 autocast.

    python benchmarks/train_throughput.py            # full: resnet32, batch 128, 32x32, 40 timed steps
    python benchmarks/train_throughput.py --quick    # CI: resnet20, 16x16, 4 timed steps
    python benchmarks/train_throughput.py --threads 1

Prints, best of --repeats (the loops interleaved, so a change of load hits them alike):
- overhead ratios ltcli / bare, goal >= 0.95: `--amp off` against the bare float32 loop, and `--amp
  bf16` against a bare bf16 loop (autocast, with channels_last when ltcli's `auto` picks it);
- ltcli `--amp auto` (what a user gets) against the bare float32 loop;
- the speed-up of an epoch with `--amp auto` over `--amp off`, goal >= 1.6 on a CPU with native bf16.
"""

from __future__ import annotations

import argparse
import time

import torch
from rich.progress import Progress
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from ltcli.data.memory import BatchAugment, MemoryLoader
from ltcli.data.samplers import step_batches
from ltcli.engine.compute import Compute, prepare_model, resolve_compute
from ltcli.engine.loop import train_one_epoch
from ltcli.engine.schedule import create_scheduler
from ltcli.method import from_objective
from ltcli.models import create_model
from ltcli.objectives import create_objective


def bare_loop(model, images, targets, batch: int, steps: int, compute: Compute) -> float:
    """The baseline: pre-normalised tensors, no augmentation, no bookkeeping; autocast and
    channels_last as `compute` says."""
    device = compute.device
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x_all = (images.float() / 255 - 0.45) / 0.25
    if compute.channels_last:
        model.to(memory_format=torch.channels_last)
        x_all = x_all.contiguous(memory_format=torch.channels_last)
    model.train()
    sync(device)
    start = time.perf_counter()
    for step in range(steps):
        index = slice((step * batch) % len(targets), (step * batch) % len(targets) + batch)
        with compute.autocast():
            logits = model(x_all[index])
        loss = torch.nn.functional.cross_entropy(logits.float(), targets[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    sync(device)
    return steps * batch / (time.perf_counter() - start)


def ltcli_loop(model, images, targets, batch: int, steps: int, compute: Compute) -> float:
    """ltcli's train_one_epoch over its MemoryLoader (pad-crop-flip-normalise per batch), the model
    prepared as `ltcli train` prepares it (prepare_model: channels_last when `compute` says so)."""
    device = compute.device
    counts = torch.bincount(targets.cpu(), minlength=10).clamp(min=1).tolist()
    objective = create_objective("ERM", counts).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loader = MemoryLoader(images[: steps * batch], targets[: steps * batch], batch,
                          BatchAugment(4, 0.5, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD),
                          batches=step_batches(steps * batch, batch, seed=0))
    scheduler = create_scheduler(optimizer, "step", 1, len(loader), [1], warmup_epochs=0)
    step = prepare_model(model, compute, False)
    sync(device)
    start = time.perf_counter()
    with Progress(disable=True) as progress:
        train_one_epoch(step, from_objective("ERM", objective), loader, optimizer, scheduler, device, 0, progress,
                        compute)
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
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (default 3; 1 with --quick)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model_name = args.model or ("resnet20" if args.quick else "resnet32")
    side = 16 if args.quick else 32
    steps = args.steps or (4 if args.quick else 40)
    repeats = args.repeats or (1 if args.quick else 3)
    torch.manual_seed(0)
    images = torch.randint(0, 256, (steps * args.batch, 3, side, side), dtype=torch.uint8, device=device)
    targets = torch.randint(0, 10, (steps * args.batch,), device=device)
    auto = resolve_compute("auto", "auto", device)
    bf16 = resolve_compute("bf16", "auto", device)
    variants = {  # name -> (loop, compute)
        "bare float32": (bare_loop, resolve_compute("off", "auto", device)),
        "bare bf16": (bare_loop, bf16),
        "ltcli --amp off": (ltcli_loop, resolve_compute("off", "auto", device)),
        "ltcli --amp bf16": (ltcli_loop, bf16),
        "ltcli --amp auto": (ltcli_loop, auto),
    }
    same_as = {(c.dtype, c.channels_last): name for name, (_, c) in list(variants.items())[2:4]}
    alias = same_as.get((auto.dtype, auto.channels_last))
    if alias is not None:  # auto is one of the explicit modes here: measured once
        del variants["ltcli --amp auto"]
    results: dict[str, list[float]] = {name: [] for name in variants}
    for repeat in range(repeats + 1):  # the first round warms up (allocator, oneDNN/cuDNN kernels)
        for name, (loop, compute) in variants.items():
            torch.manual_seed(repeat)
            model = create_model(model_name, num_classes=10).to(device)
            rate = loop(model, images, targets, args.batch, steps, compute)
            if repeat > 0:
                results[name].append(rate)
    best = {name: max(rates) for name, rates in results.items()}
    if alias is not None:
        best["ltcli --amp auto"] = best[alias]
    print(f"device {device} ({torch.get_num_threads()} threads), {model_name}, batch {args.batch}, {side}x{side}, "
          f"{steps} steps, best of {repeats}; --amp auto resolves to {auto.amp_name}"
          f"{' + channels_last' if auto.channels_last else ''}, bf16 runs {'with' if bf16.channels_last else 'without'}"
          " channels_last")
    for name, rate in best.items():
        print(f"{name:<20}: {rate:9.1f} images/s")
    print(f"overhead ltcli/bare, float32        : {best['ltcli --amp off'] / best['bare float32']:.3f}  (goal >= 0.95)")
    print(f"overhead ltcli/bare, bf16           : {best['ltcli --amp bf16'] / best['bare bf16']:.3f}  (goal >= 0.95)")
    print(f"ltcli --amp auto / bare float32     : {best['ltcli --amp auto'] / best['bare float32']:.3f}")
    print(f"epoch speed-up --amp auto / off     : {best['ltcli --amp auto'] / best['ltcli --amp off']:.3f}  "
          "(goal >= 1.6 on a CPU with native bf16)")


if __name__ == "__main__":
    main()
