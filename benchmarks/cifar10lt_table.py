"""The CIFAR-10-LT (IF 100) table at a budget where the methods separate: ERM, BSCE, LA, LDAM-DRW,
ERM -> cRT (and, with --rows, RIDE and PaCo) trained on all 12,406 training images of
../shared/data/cifar10-lt-if100 with ResNet-32 at 32x32, every run through the `ltcli` command line.

    python benchmarks/cifar10lt_table.py --epochs 20            # the table (about an hour on 2 idle cores)
    python benchmarks/cifar10lt_table.py --epochs 20 --rows erm,bsce,la,ldam-drw,crt,ride,paco
    python benchmarks/cifar10lt_table.py --quick                # 300 train / 200 test images, 16x16, 1 epoch

Each single-stage row is its recipe (recipes/cifar10-lt/*.yaml: Cao et al.'s shared schedule) run
in --epochs epochs, the warmup, the rate drops, DRW's start and RIDE's re-weighting epoch moved to
the same fraction of the run (benchmarks/reproduce.py's scaled_schedule). ERM -> cRT re-trains a fresh
classifier on the ERM row's frozen backbone (`--recipe crt`, --stage2-epochs epochs, class-balanced
sampling). The best epoch is picked by balanced accuracy on valid/, 10% of each training class carved
off (stratified, seeded, at least one image), then tested once on the full balanced test/ (10,000).
Writes a markdown file (--out) with the exact command, the date, /proc/loadavg before and after,
the resolved precision, and the table. Run it alone on the machine: the minutes are part of it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_data  # noqa: E402
import reproduce  # noqa: E402
from bench_data import at_least_one  # noqa: E402

from ltcli.run_folder import RunFolder  # noqa: E402

RECIPES = Path(__file__).resolve().parents[1] / "recipes" / "cifar10-lt"
SINGLE = {"erm": "ERM", "bsce": "BSCE", "la": "LA", "ldam-drw": "LDAM-DRW", "ldam-drw-x0.1": "LDAM-DRW (x0.1 drops)",
          "ride": "RIDE", "paco": "PaCo"}
ROWS = ("erm", "bsce", "la", "ldam-drw", "ldam-drw-x0.1", "crt", "ride", "paco")
# Rows that are a recipe run with other options: Cao et al.'s x0.01 drops leave DRW's deferred phase 2 epochs
# at lr 0.001 when 200 epochs shrink to 20; x0.1 drops (most re-implementations) give it lr 0.01.
VARIANTS = {"ldam-drw-x0.1": ("ldam-drw", ["--lr-decay", "0.1"])}


def objective_options(values: dict[str, Any], epochs: int) -> list[str]:
    """The recipe's objective options, with an epoch among them (RIDE's reweight_epoch) scaled to the
    run as the schedule is (a given --opt replaces the file's whole set, hence all of them)."""
    options = dict(values.get("objective_options") or {})
    planned = int(values.get("epochs", 200))
    if "reweight_epoch" in options:
        options["reweight_epoch"] = min(int(options["reweight_epoch"] * epochs / planned + 0.5), epochs - 1)
    text = {k: str(v).lower() if isinstance(v, bool) else v for k, v in options.items()}
    return [a for k, v in text.items() for a in ("--opt", f"{k}={v}")]


def device_of(common: list[str]) -> str:
    return common[common.index("--device") + 1]


def single_stage(name: str, data: Path, logs: Path, common: list[str], epochs: int, seed: int) -> tuple[dict, Path]:
    from ltcli.config_file import read_config_file

    base, extra = VARIANTS.get(name, (name, []))
    recipe = RECIPES / f"{base}.yaml"
    values = read_config_file(recipe)
    options = [*reproduce.scaled_schedule(values, epochs), *objective_options(values, epochs), *common, *extra,
               "--seed", str(seed), "--select-metric", "balanced_acc"]
    started = time.perf_counter()
    run = reproduce.train(recipe, data, logs, options)
    row = reproduce.tested(run, device_of(common)) | {"minutes": (time.perf_counter() - started) / 60}
    return row, run


def crt(erm_run: Path, data: Path, logs: Path, common: list[str], epochs: int, seed: int) -> dict:
    before = set(logs.glob("*/*/*/*/config.json"))
    started = time.perf_counter()
    reproduce.ltcli("train", "--data", data, "--logs-dir", logs, "--objective", "ERM", "--recipe", "crt",
                    "--init-from", erm_run, "--epochs", epochs, "--seed", seed, "--select-metric", "balanced_acc",
                    *common)
    (config,) = set(logs.glob("*/*/*/*/config.json")) - before
    return reproduce.tested(config.parent, device_of(common)) | {"minutes": (time.perf_counter() - started) / 60}


def table(rows: dict[str, list[dict]]) -> str:
    lines = ["| method | acc | many | medium | few | lowest recall | minutes |", "|---|---|---|---|---|---|---|"]
    for name, results in rows.items():
        cells = [reproduce.spread([r[k] for r in results]) for k in reproduce.TEST_COLUMNS]
        minutes = reproduce.spread([r["minutes"] for r in results], scale=1.0)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {minutes} |")
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=bench_data.CIFAR, help="folder with train/ and test/")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of every single-stage row (>= 20 for the table)")
    parser.add_argument("--stage2-epochs", type=int, default=10, help="epochs of cRT (the papers' 10)")
    parser.add_argument("--rows", default="erm,bsce,la,ldam-drw,crt", help=f"comma list of {', '.join(ROWS)}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--max-train-images", type=at_least_one, help="subsample train/ (in proportion per class)")
    parser.add_argument("--max-test-images", type=at_least_one, help="subsample test/")
    parser.add_argument("--valid-share", type=float, default=0.1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--amp", default="auto", help="--amp of every run (auto: bf16 on a CPU with native bf16)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/cifar10lt_results.md"))
    parser.add_argument("--quick", action="store_true", help="smoke run: 300 train / 200 test images, 16x16, "
                        "1 epoch each, out to logs/benchmarks/cifar10lt_quick.md")
    args = parser.parse_args(argv)
    unknown = set(args.rows.split(",")) - set(ROWS)
    if unknown:
        parser.error(f"unknown rows {', '.join(sorted(unknown))}: choose from {', '.join(ROWS)}")
    if args.quick:
        args.epochs, args.stage2_epochs, args.size = 1, 1, 16
        args.max_train_images, args.max_test_images = args.max_train_images or 300, args.max_test_images or 200
        if args.out == parser.get_default("out"):
            args.out = Path("logs/benchmarks/cifar10lt_quick.md")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if not (args.data / "train").is_dir() or not (args.data / "test").is_dir():
        print(f"skipped: no train/ and test/ at {args.data}")
        return
    wanted = args.rows.split(",")
    command = "python benchmarks/cifar10lt_table.py " + " ".join(sys.argv[1:] if argv is None else argv)
    started, load_before, clock = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), bench_data.load(), time.time()
    common = ["--device", args.device, "--workers", str(args.workers), "--amp", args.amp,
              "--height", str(args.size), "--width", str(args.size)]
    rows: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = reproduce.prepare_data(args.data, work, args.valid_share, args.max_train_images,
                                      args.max_test_images, 0)
        resolved = ""
        for seed in args.seeds:
            erm_run = None
            for name in wanted:
                if name == "crt":
                    if erm_run is None:
                        _, erm_run = single_stage("erm", data.picked, work / "logs", common, args.epochs, seed)
                    row = crt(erm_run, data.picked, work / "logs", common, args.stage2_epochs, seed)
                    rows.setdefault("ERM → cRT", []).append(row)
                    report(args, rows, command, started, load_before, clock, data.counts, resolved, done=False)
                    continue
                row, run = single_stage(name, data.picked, work / "logs", common, args.epochs, seed)
                rows.setdefault(SINGLE[name], []).append(row)
                erm_run = run if name == "erm" else erm_run
                saved = RunFolder(run).read_config()
                resolved = (f"{saved['amp_resolved']}" + (" + channels_last" if saved["channels_last_resolved"]
                                                          else "") + f" on {saved['device_resolved']}")
                report(args, rows, command, started, load_before, clock, data.counts, resolved, done=False)
    report(args, rows, command, started, load_before, clock, data.counts, resolved, done=True)


def report(args: argparse.Namespace, rows: dict[str, list[dict]], command: str, started: str, load_before: str,
           clock: float, counts: dict[str, int], resolved: str, done: bool) -> None:
    """Write the table so far (after every row: a run stopped midway keeps what it measured)."""
    rows = {name: [dict(row) for row in results] for name, results in rows.items()}
    if "ERM" in rows and "ERM → cRT" in rows:
        for erm, second in zip(rows["ERM"], rows["ERM → cRT"], strict=False):
            second["minutes"] += erm["minutes"]  # the chain's time: stage one is the ERM row's run
    text = "\n".join([
        "# CIFAR-10-LT (IF 100): long-tail methods at a CPU budget", "",
        f"Command: `{command.strip()}`",
        f"Date: {started}; /proc/loadavg before: {load_before}, after: {bench_data.load()}; "
        f"{(time.time() - clock) / 60:.1f} minutes in all" + ("." if done else " so far (not finished)."), "",
        f"Data: {args.data.name}: {counts['train']} train, {counts['valid']} valid ({args.valid_share:g} "
        f"of each class, split seed 0), {counts['test']} test. ResNet-32 at {args.size}x{args.size}; each "
        f"single-stage row its recipe's schedule scaled to {args.epochs} epoch(s); cRT {args.stage2_epochs} "
        f"epoch(s) on the ERM row's backbone (minutes include stage one); precision {resolved or args.amp}; "
        f"seeds {', '.join(map(str, args.seeds))}. Test accuracy in % (mean ± sd when several seeds) of the "
        "epoch picked by balanced accuracy on valid/; many/medium/few: classes with > 100, 20-100, < 20 "
        "training images (the full CIFAR-10-LT has no few-shot class: its rarest keeps 45 after the carve).", "",
        table(rows), ""])
    if done:
        print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
