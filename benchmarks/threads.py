"""Epoch time of `--threads auto` against 1 thread and all usable threads, on an idle machine and
beside one competing busy process started in another session (setsid: its own kernel autogroup, as a
browser or a second job in another login would be).

    python benchmarks/threads.py                 # ~2,500-image CIFAR-10-LT subset, ResNet-32, 4 epochs
    python benchmarks/threads.py --quick         # CI: generated 16x16 images, 2 epochs (a smoke run)

Every run is a real `ltcli train` in a subprocess; its time is the sum of train.csv's `time_s` over
all epochs, so `auto` pays for its measuring steps. Prints a table, each condition's best fixed count
and the ratio auto / best (the goal: at most 1.2 in both conditions). Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_data  # noqa: E402
from bench_data import at_least_one  # noqa: E402

from ltcli.engine.threads import usable_cpus  # noqa: E402

BUSY = "while True: pass"


def generated(into: Path, per_class: int = 24, side: int = 16) -> Path:
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("valid", 4)):
        for label in range(4):
            folder = into / split / f"c{label}"
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = np.clip(rng.normal(60 * label, 40, (side, side, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return into


def train_seconds(data: Path, logs: Path, threads: str, args: argparse.Namespace) -> tuple[float, list]:
    """Seconds of training (all epochs) of one `ltcli train --threads THREADS` run, and its choices."""
    side = "16" if args.quick else "32"
    command = [sys.executable, "-m", "ltcli", "train", "--data", str(data), "--model", args.model,
               "--epochs", str(args.epochs), "--batchsize", "128", "--height", side, "--width", side,
               "--warmup", "0", "--sched", "cosine", "--workers", "0", "--device", "cpu", "--threads", threads,
               "--logs-dir", str(logs)]
    env = {k: v for k, v in os.environ.items() if k != "LTCLI_CPUS"}
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    (run,) = [p.parent for p in logs.rglob("train.csv")]
    with open(run / "train.csv", newline="") as handle:
        seconds = sum(float(row["time_s"]) for row in csv.DictReader(handle))
    return seconds, json.loads((run / "config.json").read_text()).get("thread_choices", [])


def two_at_once(data: Path, logs: Path, args: argparse.Namespace) -> float:
    """Training seconds of two `--threads 1` runs side by side, the slower one's (the other way to
    use 2 CPUs for 2 rows)."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda i: train_seconds(data, logs / f"pair-{i}", "1", args), range(2)))
    return max(seconds for seconds, _ in runs)


def start_competitor() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", BUSY], start_new_session=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=at_least_one, default=None)
    parser.add_argument("--every", type=int, default=5, help="CIFAR-10-LT: every Nth training image")
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the table here (markdown)")
    args = parser.parse_args()
    args.epochs = args.epochs or (2 if args.quick else 4)
    args.model = args.model or ("resnet20" if args.quick else "resnet32")
    cpus = usable_cpus()
    modes = ["auto", "1"] + ([str(cpus)] if cpus > 1 else [])
    started, load_before = datetime.datetime.now().isoformat(timespec="minutes"), bench_data.load()
    results: dict[str, dict[str, float]] = {}
    choices: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        quick = args.quick or not bench_data.CIFAR.is_dir()
        data = generated(Path(tmp) / "data") if quick else bench_data.cifar(Path(tmp) / "data", args.every, 50)
        for condition in ("alone", "beside a busy process"):
            competitor = start_competitor() if condition != "alone" else None
            try:
                time.sleep(0.5 if competitor else 0)
                for mode in modes:
                    seconds, made = train_seconds(data, Path(tmp) / f"logs-{condition[:5]}-{mode}", mode, args)
                    results.setdefault(condition, {})[mode] = seconds
                    choices[f"{condition}, {mode}"] = [(c["epoch"], c["threads"]) for c in made]
            finally:
                if competitor is not None:
                    os.killpg(competitor.pid, signal.SIGKILL)
                    competitor.wait()
        pair = two_at_once(data, Path(tmp) / "pairs", args) if cpus > 1 else None
        images = bench_data.counts(data, "train")
    lines = [f"{started}, load before {load_before}, after {bench_data.load()}; {cpus} usable CPUs; "
             f"{'generated 16x16' if quick else f'CIFAR-10-LT every {args.every}th'} ({images} train images), "
             f"{args.model}, batch 128, {args.epochs} epochs, seconds of training summed over epochs",
             "", "| condition | " + " | ".join(f"--threads {m}" for m in modes) + " | best fixed | auto / best |",
             "|---" * (len(modes) + 3) + "|"]
    for condition, seconds in results.items():
        best = min((m for m in modes if m != "auto"), key=seconds.get)
        lines.append(f"| {condition} | " + " | ".join(f"{seconds[m]:.1f}" for m in modes)
                     + f" | {best} | {seconds['auto'] / seconds[best]:.2f} |")
    if pair is not None:
        alone = results["alone"]["auto"]
        lines += ["", f"Two rows: one after the other at --threads auto {2 * alone:.1f} s of training; both at once at "
                  f"--threads 1, {pair:.1f} s (the slower of the two): ratio {pair / (2 * alone):.2f}"]
    lines += ["", "auto's choices (epoch, threads): " + "; ".join(
        f"{k}: {v}" for k, v in choices.items() if k.endswith("auto"))]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
