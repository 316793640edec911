"""The default schedule at small budgets: the old default (the 200-epoch step schedule scaled in
proportion, `--sched step` without `--lrstep`) against the new one (no schedule flags: cosine to 0,
the budgeted-training choice of Li et al., ICLR 2020), at 4, 10 and 30 epochs.

    python benchmarks/schedule_budget.py                     # digits (seeds 1-3) and a CIFAR-10-LT subset (seed 1)
    python benchmarks/schedule_budget.py --datasets cifar --every 4 --cifar-seeds 1 2 3
    python benchmarks/schedule_budget.py --quick             # digits, 2 epochs: a smoke run

Same settings otherwise (ResNet-20, batch 64, lr 0.05, the scaled warmup); best epoch by balanced
accuracy on valid/, tested on a balanced test/. Writes a markdown file (--out) with the command, the
date and the load. Accuracy, not timing: it may run beside other jobs.
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

SCHEDULES = {"old default (step, scaled)": ["--sched", "step"], "new default (cosine to 0)": []}


def ltcli(*args: object) -> str:
    from ltcli.cli import app

    code = app([str(a) for a in args], standalone_mode=False)
    if code not in (None, 0):
        raise RuntimeError(f"ltcli {' '.join(map(str, args))} failed with exit code {code}")
    return ""


def run(data: Path, logs: Path, options: list, seed: int) -> tuple[float, str]:
    """Test accuracy of the epoch picked on valid/, and the schedule the run recorded."""
    before = set(logs.glob("*/*/*/*/config.json"))
    ltcli("train", "--data", data, "--logs-dir", logs, "--seed", seed, *options)
    (config,) = set(logs.glob("*/*/*/*/config.json")) - before
    ltcli("test", "--run", config.parent)
    saved = json.loads(config.read_text())
    got = (f"step {','.join(map(str, saved['lr_steps']))}" if saved["sched"] == "step" else "cosine") + \
        f", warmup {saved['warmup_epochs']}"
    return json.loads((config.parent / "metrics.json").read_text())["acc"], got


def cell(values: list[float]) -> str:
    numbers = [100 * v for v in values]
    if len(numbers) == 1:
        return f"{numbers[0]:.1f}"
    return f"{statistics.fmean(numbers):.1f} ± {statistics.stdev(numbers):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=("digits", "cifar"), default=["digits", "cifar"])
    parser.add_argument("--budgets", type=int, nargs="+", default=[4, 10, 30])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--cifar-seeds", type=int, nargs="+", default=[1], help="seeds of the (slower) CIFAR rows")
    parser.add_argument("--every", type=int, default=10, help="cifar: keep every N-th training image")
    parser.add_argument("--test-every", type=int, default=4, help="cifar: keep every N-th test image")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: polite beside other jobs, "
                        "and no thread oversubscription on a shared machine)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("logs/benchmarks/schedule_budget.md"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.quick:
        args.datasets, args.budgets, args.seeds = ["digits"], [2], [1]
    seeds_of = {"digits": args.seeds, "cifar": args.cifar_seeds}
    started, load_before = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), bench_data.load()
    clock = time.perf_counter()
    sections: list[str] = []

    def publish(final: bool) -> str:
        """The results so far, written after every row (a long run that is stopped keeps its rows)."""
        minutes = (time.perf_counter() - clock) / 60
        text = "\n".join([
            "# Default schedule at small budgets: proportional step against cosine to 0", "",
            f"Command: `python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}`",
            f"Date: {started}; /proc/loadavg before: {load_before}, now: {bench_data.load()}; {minutes:.1f} minutes"
            + ("." if final else " so far (still running)."), "",
            "Test accuracy (%) of the epoch picked by balanced accuracy on valid/; the default objective (CCE), "
            "batch 64, lr 0.05, CPU, "
            f"{args.threads} thread(s); mean ± sd over seeds when several. Each cell names the schedule the run "
            "recorded in config.json; the warmup is the default scaled one in both columns.", "",
            "\n\n".join(sections), ""])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        return text

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for dataset in args.datasets:
            if dataset == "digits":
                data, side, extra = bench_data.digits(work / "digits"), 16, ["--hflip", "0"]
            elif (bench_data.CIFAR / "train").is_dir():
                data, side, extra = bench_data.cifar(work / "cifar", args.every, args.test_every), 32, []
            else:
                sections.append(f"cifar: skipped, no dataset at {bench_data.CIFAR}")
                continue
            sizes = ", ".join(f"{bench_data.counts(data, s)} {s}" for s in ("train", "valid", "test"))
            seeds = ", ".join(map(str, seeds_of[dataset]))
            lines = [f"### {dataset} ({sizes}; resnet20 at {side}x{side}; seeds {seeds})", "",
                     "| epochs | " + " | ".join(SCHEDULES) + " | gain |", "|---|---|---|---|"]
            sections.append("")
            for epochs in args.budgets:
                common = ["--model", "resnet20", "--epochs", epochs, "--batchsize", 64, "--lr", 0.05, "--height",
                          side, "--width", side, "--workers", 0, "--device", "cpu", "--select-metric",
                          "balanced_acc", *extra]
                accs: dict[str, list[float]] = {}
                got: dict[str, str] = {}
                for seed in seeds_of[dataset]:
                    for name, schedule in SCHEDULES.items():
                        acc, got[name] = run(data, work / "logs", [*common, *schedule], seed)
                        accs.setdefault(name, []).append(acc)
                old, new = (statistics.fmean(accs[name]) for name in SCHEDULES)
                lines.append(f"| {epochs} | " + " | ".join(f"{cell(accs[n])} ({got[n]})" for n in SCHEDULES)
                             + f" | {100 * (new - old):+.1f} |")
                sections[-1] = "\n".join(lines)
                publish(final=False)
    print(publish(final=True))


if __name__ == "__main__":
    main()
