"""Which settings make a bare ResNet training step fastest on this CPU: float32 or bf16 autocast,
with or without channels_last, with or without torch.compile. The variants run interleaved (round
after round), so a change of load hits them alike; the median of the rounds is reported.

    python benchmarks/cpu_formats.py                              # all variants, torch's threads
    python benchmarks/cpu_formats.py --threads 1 --variants fp32,fp32-cl,bf16,bf16-cl
    python benchmarks/cpu_formats.py --quick                      # resnet20, 16x16, 2 steps, no compile

What `--amp auto` / `--channels-last auto` pick on a CPU (ltcli.engine.compute.resolve_compute) comes
from this script's figures: benchmarks/bf16_cpu_results.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ltcli.models import create_model

VARIANTS = ("fp32", "fp32-cl", "bf16", "bf16-cl", "bf16-compile", "bf16-cl-compile")


def make(variant: str, model_name: str):
    model = create_model(model_name, num_classes=10)
    if "cl" in variant.split("-"):
        model = model.to(memory_format=torch.channels_last)
    step = torch.compile(model) if "compile" in variant else model
    return model, step, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def run(variant: str, state, x: torch.Tensor, y: torch.Tensor, batch: int, steps: int) -> float:
    model, step, optimizer = state
    model.train()
    bf16 = variant.startswith("bf16")
    channels_last = "cl" in variant.split("-")
    start = time.perf_counter()
    for i in range(steps):
        images = x[i * batch:(i + 1) * batch]
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = step(images)
        loss = torch.nn.functional.cross_entropy(logits.float(), y[i * batch:(i + 1) * batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--model", default="resnet32")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--side", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.model, args.side, args.steps, args.rounds, args.batch = "resnet20", 16, 2, 1, 32
        args.variants = "fp32,bf16,bf16-cl"
    if args.threads:
        torch.set_num_threads(args.threads)
    variants = args.variants.split(",")
    torch.manual_seed(0)
    x = torch.randn(args.batch * args.steps, 3, args.side, args.side)
    y = torch.randint(0, 10, (args.batch * args.steps,))
    states = {}
    for variant in variants:
        started = time.perf_counter()
        states[variant] = make(variant, args.model)
        run(variant, states[variant], x, y, args.batch, 2)  # warm-up (and compilation)
        print(f"warm-up {variant}: {time.perf_counter() - started:.1f} s", flush=True)
    rates: dict[str, list[float]] = {v: [] for v in variants}
    for round_index in range(args.rounds):
        for variant in variants:
            with open("/proc/loadavg") as handle:
                load = handle.read().split()[0]
            rates[variant].append(run(variant, states[variant], x, y, args.batch, args.steps))
            print(f"round {round_index} {variant}: {rates[variant][-1]:.0f} images/s (load {load})", flush=True)
    print(f"{args.model}, batch {args.batch}, {args.side}x{args.side}, {torch.get_num_threads()} thread(s)")
    base = statistics.median(rates[variants[0]])
    for variant in variants:
        median = statistics.median(rates[variant])
        print(f"{variant:<16} median {median:7.0f} images/s  x{median / base:.2f} of {variants[0]}  "
              f"rounds {[round(r) for r in rates[variant]]}")


if __name__ == "__main__":
    main()
