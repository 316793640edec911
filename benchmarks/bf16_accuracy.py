"""Does bf16 autocast cost accuracy? The same short runs (ERM and LDAM-DRW, 3 seeds) trained in float32
(`--amp off`) and in bf16 (`--amp bf16`) on a small long-tailed set; test accuracy mean and standard
deviation of each, and whether the means agree within one standard deviation.

    python benchmarks/bf16_accuracy.py                 # digits (bench_data.digits), ResNet-20 16x16, 10 epochs
    python benchmarks/bf16_accuracy.py --data cifar --epochs 10   # a CIFAR-10-LT subset, 32x32
    python benchmarks/bf16_accuracy.py --quick         # 1 seed, 1 epoch: a smoke run

Writes a markdown file (--out) with the command, the date and the load. Accuracy, not timing: it
may run beside other jobs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_data  # noqa: E402

METHODS = {"ERM": ["--objective", "ERM"], "LDAM-DRW": ["--objective", "LDAM", "--train-rule", "DRW"]}


def ltcli(*args: object) -> None:
    from ltcli.cli import app

    code = app([str(a) for a in args], standalone_mode=False)
    if code not in (None, 0):
        raise RuntimeError(f"ltcli {' '.join(map(str, args))} failed with exit code {code}")


def train_and_test(data: Path, logs: Path, method: list[str], amp: str, seed: int, common: list[str]) -> dict:
    before = set(logs.glob("*/*/*/*/config.json"))
    ltcli("train", "--data", data, "--logs-dir", logs, *method, "--amp", amp, "--seed", seed, *common)
    (config,) = set(logs.glob("*/*/*/*/config.json")) - before
    ltcli("test", "--run", config.parent)
    metrics = json.loads((config.parent / "metrics.json").read_text())
    return {"acc": metrics["acc"], "amp": json.loads(config.read_text())["amp_resolved"]}


def summary(values: list[float]) -> tuple[float, float]:
    numbers = [100 * v for v in values]
    return statistics.fmean(numbers), statistics.stdev(numbers) if len(numbers) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("digits", "cifar"), default="digits")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--every", type=int, default=8, help="cifar: keep every N-th training image")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: polite beside other jobs, "
                        "and no thread oversubscription on a shared machine)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("logs/benchmarks/bf16_accuracy.md"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.quick:
        args.epochs, args.seeds = 1, [1]
    started, load_before = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), bench_data.load()
    side = 16 if args.data == "digits" else 32
    model = "resnet20"
    common = ["--model", model, "--epochs", args.epochs, "--batchsize", 64, "--lr", 0.05, "--height", side,
              "--width", side, "--workers", 0, "--device", "cpu", "--select-metric", "balanced_acc"]
    if args.data == "digits":
        common += ["--hflip", 0]  # a flipped digit is another digit (or none)
    results: dict[tuple[str, str], list[dict]] = {}
    clock = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.data == "digits":
            data = bench_data.digits(work / "digits")
        else:
            if not (bench_data.CIFAR / "train").is_dir():
                print(f"skipped: no dataset at {bench_data.CIFAR}")
                return
            data = bench_data.cifar(work / "cifar", args.every, 2)
        sizes = {split: bench_data.counts(data, split) for split in ("train", "valid", "test")}
        for name, method in METHODS.items():
            for seed in args.seeds:  # interleaved: a change of load hits both precisions alike
                for amp in ("off", "bf16"):
                    results.setdefault((name, amp), []).append(
                        train_and_test(data, work / "logs", method, amp, seed, common))
    minutes = (time.perf_counter() - clock) / 60
    lines = ["| method | float32 acc (mean ± sd) | bf16 acc (mean ± sd) | difference | within one sd |",
             "|---|---|---|---|---|"]
    for name in METHODS:
        (m32, s32), (m16, s16) = (summary([r["acc"] for r in results[(name, amp)]]) for amp in ("off", "bf16"))
        agree = abs(m32 - m16) <= max(s32, s16)
        lines.append(f"| {name} | {m32:.1f} ± {s32:.1f} | {m16:.1f} ± {s16:.1f} | {m16 - m32:+.1f} | "
                     f"{'yes' if agree else 'no'} |")
    per_seed = ["", "Per seed (test acc %, float32 / bf16):", ""]
    for name in METHODS:
        pairs = zip(results[(name, "off")], results[(name, "bf16")], strict=True)
        per_seed.append(f"- {name}: " + ", ".join(f"seed {s}: {100 * a['acc']:.1f} / {100 * b['acc']:.1f}"
                                                  for s, (a, b) in zip(args.seeds, pairs, strict=True)))
    text = "\n".join([
        "# bf16 autocast against float32: accuracy", "",
        f"Command: `python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}`".replace(" `", "`", 0),
        f"Date: {started}; /proc/loadavg before: {load_before}, after: {bench_data.load()}; {minutes:.1f} minutes.",
        "",
        f"Data: {args.data} ({sizes['train']} train, {sizes['valid']} valid, {sizes['test']} balanced test); "
        f"{model} at {side}x{side}, {args.epochs} epoch(s), batch 64, lr 0.05, the default schedule, CPU; "
        f"seeds {', '.join(map(str, args.seeds))}; best epoch by balanced accuracy on valid/, tested on test/.",
        "", *lines, *per_seed, ""])
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
