"""`ltcli study` search (Optuna) against the recipe defaults, at the same CPU time, on CIFAR-10-LT (IF 100).

    python benchmarks/search_cifar10lt.py                 # ../shared/data/cifar10-lt-if100, a 2-hour search
    python benchmarks/search_cifar10lt.py --quick         # a tenth of the images, 16x16, a 1-minute search
    python benchmarks/search_cifar10lt.py --every 4 --budget 900 --epochs 10   # a quarter, a 15-minute search

The search: method (ERM, re-sampling, BSCE, LA, LDAM-DRW) x lr x weight decay, TPE, median pruning on
valid balanced accuracy, until --budget is spent; its best trial (picked on valid) is tested once on test.
The baseline: the ERM recipe (recipes/cifar10-lt/erm.yaml: lr 0.1, weight decay 2e-4, its step schedule
scaled to the run) trained for as many epochs as the search trained in all its trials together, pruned
ones included (every epoch costs the same: same network, data and batch size), its best epoch picked on
valid balanced accuracy, tested once. Both measured in CPU seconds of their processes (getrusage).
Validation is a seeded 10% of each training class, never test/. Prints a markdown table and writes it
to --out. Skips cleanly when the dataset is absent.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_data
import yaml
from bench_data import at_least_one
from published_table import write_keeping_notes
from two_stage import COLUMNS, DEFAULT_DATA, carve

ROOT = Path(__file__).resolve().parents[1]
METHODS = {"ERM": {"objective": "ERM"}, "RS": {"objective": "ERM", "train_rule": "Resample"},
           "BSCE": {"objective": "BSCE"}, "LA": {"objective": "LA"},
           "LDAM-DRW": {"objective": "LDAM", "train_rule": "DRW"}}


def ltcli(work: Path, *args: str) -> tuple[str, float]:
    """Run `ltcli ARGS` in `work`; returns its output and the CPU seconds it used (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run([sys.executable, "-m", "ltcli", *args], cwd=work, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"ltcli {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def shared_train(args: argparse.Namespace) -> dict:
    return {"data": "data", "model": args.model, "height": args.size, "width": args.size, "augment": "cifar",
            "hflip": 0.5, "batchsize": 128, "workers": 0, "device": "cpu", "select_metric": "balanced_acc"}


def run_search(work: Path, args: argparse.Namespace) -> tuple[dict, float, int]:
    """The search; returns its best row (with test metrics), its CPU seconds and the epochs it trained."""
    study = {"name": "search", "train": {**shared_train(args), "epochs": args.epochs, "sched": "cosine",
                                         "warmup": 0, "momentum": 0.9},
             "search": {"budget": f"{args.budget}s", "metric": "balanced_acc", "sampler": "tpe", "seed": 0,
                        "pruner": {"name": "median", "startup_trials": 3, "warmup_epochs": 1},
                        "parameters": {"method": {"choices": METHODS}, "lr": {"low": 0.01, "high": 0.5, "log": True},
                                       "weight_decay": {"low": 1e-5, "high": 1e-3, "log": True}}}}
    (work / "search.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
    _, cpu = ltcli(work, "study", "search.yaml")
    with open(work / "logs" / "studies" / "search" / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    best = next(r for r in rows if r["best"] == "True")
    best["test"] = json.loads((work / best["run"] / "metrics.json").read_text())
    best["trials"] = f"{len(rows)} trials ({sum(r['state'] == 'pruned' for r in rows)} pruned)"
    return best, cpu, sum(int(r["epochs"]) for r in rows)


def run_baseline(work: Path, args: argparse.Namespace, epochs: int) -> tuple[dict, float]:
    """The ERM recipe's settings for `epochs` epochs (its schedule scaled), tested; (metrics, CPU seconds)."""
    sys.path.insert(0, str(ROOT))
    from ltcli.config_file import read_config_file
    from ltcli.workflows import rescaled_schedule

    recipe = read_config_file(ROOT / "recipes" / "cifar10-lt" / "erm.yaml")
    values = {k: v for k, v in recipe.items() if k not in ("dataset", "model", "height", "width", "batch_size")}
    values.update(rescaled_schedule(recipe, epochs))
    config = {**shared_train(args), **values, "logs_dir": "baseline"}
    (work / "baseline.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    _, cpu = ltcli(work, "train", "--config", "baseline.yaml")
    (run,) = (p.parent for p in (work / "baseline").rglob("config.json"))
    _, test_cpu = ltcli(work, "test", "--run", str(run))
    return json.loads((run / "metrics.json").read_text()), cpu + test_cpu


def table(rows: list[tuple[str, dict, float, str]], args: argparse.Namespace, seconds: float, load: str) -> str:
    subset = "every training image" if args.every == 1 else f"every {args.every}th training image"
    lines = [f"Measured {datetime.date.today()} by `python benchmarks/search_cifar10lt.py {' '.join(sys.argv[1:])}`; "
             f"load average before {load}, after {bench_data.load()}.", "",
             f"CIFAR-10-LT (IF 100){' --quick' if args.quick else ''}: {subset}, {args.model} at "
             f"{args.size}x{args.size}, search budget {args.budget} s of wall time, {args.epochs} epochs a trial; "
             f"{seconds / 60:.1f} min in all.", "",
             "| row | CPU s | runs | " + " | ".join(f"test {c}" for c in COLUMNS) + " |",
             "|" + "---|" * (3 + len(COLUMNS))]
    for label, metrics, cpu, runs in rows:
        cells = [f"{100 * metrics[c]:.2f}" if metrics.get(c) is not None else "n/a" for c in COLUMNS]
        lines.append(f"| {label} | {cpu:.0f} | {runs} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--quick", action="store_true", help="a tenth of the images, 16x16, a 60 s search")
    parser.add_argument("--budget", type=at_least_one, help="search budget in seconds [7200; quick 60]")
    parser.add_argument("--epochs", type=at_least_one, help="epochs of a search trial [30; quick 3]")
    parser.add_argument("--every", type=at_least_one, help="every Nth training image: a subset [1; quick 10]")
    parser.add_argument("--size", type=at_least_one, help="input side in pixels [32; quick 16]")
    parser.add_argument("--model", help="the network [resnet32; quick resnet20]")
    parser.add_argument("--out", type=Path, help="where the table goes [benchmarks/search_cifar10lt_results.md; "
                        "quick: a temporary folder]")
    args = parser.parse_args()
    if not (args.data / "train").is_dir():
        print(f"skipped: no dataset at {args.data}")
        return
    args.budget = args.budget or (60 if args.quick else 7200)
    args.epochs = args.epochs or (3 if args.quick else 30)
    quick = (10, 16, "resnet20") if args.quick else (1, 32, "resnet32")
    args.every, args.size, args.model = (given or default for given, default in
                                         zip((args.every, args.size, args.model), quick, strict=True))
    started, load = time.monotonic(), bench_data.load()
    with tempfile.TemporaryDirectory(prefix="search-bench-") as folder:
        work = Path(folder)
        carve(args.data, work / "data", 0.1, None, args.every)
        if args.quick:  # 100 test images a class: the quick run's test pass stays short
            for class_dir in (work / "data" / "test").iterdir():
                for link in sorted(class_dir.iterdir())[100:]:
                    link.unlink()
        best, search_cpu, epochs = run_search(work, args)
        baseline, baseline_cpu = run_baseline(work, args, epochs)
        params = f"{best['method']}, lr {float(best['lr']):.3g}, wd {float(best['weight_decay']):.2g}"
        rows = [(f"search best ({params})", best["test"], search_cpu, best["trials"]),
                (f"ERM recipe defaults, {epochs} epochs", baseline, baseline_cpu, "1 run")]
        text = table(rows, args, time.monotonic() - started, load)
    print(text)
    out = args.out or (None if args.quick else ROOT / "benchmarks" / "search_cifar10lt_results.md")
    if out is not None:
        write_keeping_notes(out, text)  # the findings below its notes line stay
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
