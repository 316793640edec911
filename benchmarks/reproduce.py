"""Run recipe files (recipes/) over seeds and tabulate test accuracy next to the published numbers.

    python benchmarks/reproduce.py                                   # CIFAR-10-LT ERM, BSCE, LA, LDAM-DRW
    python benchmarks/reproduce.py recipes/cifar10-lt/erm.yaml --epochs 20 --seeds 1 2 3 --device cpu
    python benchmarks/reproduce.py --epochs 1 --max-train-images 2000   # a CPU-sized proof run
    python benchmarks/reproduce.py --quick                           # smoke run on a tiny subsample (~1 minute)

Data: --data DIR holds train/ and test/ (default ../shared/data/cifar10-lt-if100). Nothing is copied:
ltcli's split machinery writes symlink folders in a temporary work folder, with a validation split
carved from the training images (--valid-share of each class, stratified and seeded, at least one).

Each recipe and seed trains twice on the same training images with the same seed:
- picked on valid: valid/ is the carved split; the best epoch (by balanced accuracy, as the test set
  is balanced and valid/ is not) is tested on test/ with `ltcli test`. This is the table's number.
- picked on test (what most papers do): valid/ is test/; the best test accuracy over the epochs.
With the same seed both runs train the same weights (exactly so on the CPU; the table says whether
their training losses matched), so the difference is what choosing the epoch on the test set adds.

--epochs N runs a shorter (or longer: the warmup then stays) schedule scaled in proportion: the warmup, the drops and
DRW's start move to the same fraction of the run, as ltcli scales its default schedule
(`ltcli.workflows.rescaled_schedule`). Every run trains through the `ltcli` command line and is tested
by `ltcli.workflows.run_test` (what `ltcli test` calls); results are read through `RunFolder`.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import at_least_one  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cifar10-lt-if100"
DEFAULT_RECIPES = [ROOT / "recipes" / "cifar10-lt" / f"{name}.yaml" for name in ("erm", "bsce", "la", "ldam-drw")]
TEST_COLUMNS = ("acc", "many_shot_acc", "medium_shot_acc", "few_shot_acc", "lowest_recall")


@dataclass
class Data:
    picked: Path  # train/ (carved), valid/ (carved), test/
    literature: Path  # train/ (the same), valid/ = test/
    counts: dict[str, int]


def published(recipe: Path) -> float | None:
    """The `# published: NUMBER` line of a recipe (None when it says unverified or none)."""
    match = re.search(r"^# published: (\d+(?:\.\d+)?)", recipe.read_text(encoding="utf-8"), re.M)
    return float(match.group(1)) if match else None


def scaled_schedule(values: dict[str, Any], epochs: int | None) -> list[str]:
    """Options that run the recipe's schedule in `epochs` epochs (`ltcli.workflows.rescaled_schedule`:
    warmup, drops and DRW's start at the same fractions of the run, as ltcli scales its default
    schedule). No options when `epochs` is None (the recipe's own schedule)."""
    from ltcli.workflows import rescaled_schedule

    if epochs is None:
        return []
    scaled = rescaled_schedule(values, epochs)
    options = ["--epochs", str(epochs), "--lrstep", ",".join(map(str, scaled["lr_steps"])),
               "--warmup", str(scaled["warmup_epochs"])]
    return options + (["--drw-epoch", str(scaled["drw_epoch"])] if "drw_epoch" in scaled else [])


def prepare_data(source: Path, work: Path, valid_share: float, max_train: int | None, max_test: int | None,
                 seed: int) -> Data:
    """Two symlink folders under `work` (see the module docstring), built by ltcli's split code."""
    from ltcli.data.folder import scan_class_folders
    from ltcli.data.split import SplitPlan, plan_split, write_split

    train, test = scan_class_folders(source / "train", verify=False), scan_class_folders(source / "test", verify=False)
    subsample_scan(train, max_train, seed, minimum=2)
    subsample_scan(test, max_test, seed, minimum=1)
    plan = plan_split(train, (1 - valid_share, valid_share, 0.0), seed)
    plan.assignment["test"], plan.split_roots["test"] = dict(test.images), test.root
    write_split(plan, [train, test], work / "picked-on-valid", "symlink")
    twin = SplitPlan(source=train.root, ratios=None, seed=seed,
                     assignment={"train": plan.assignment["train"], "valid": dict(test.images)},
                     split_roots={"valid": test.root})
    write_split(twin, [train, test], work / "picked-on-test", "symlink")
    counts = {split: sum(map(len, files.values())) for split, files in plan.assignment.items()}
    return Data(work / "picked-on-valid", work / "picked-on-test", counts)


def subsample_scan(scan: Any, limit: int | None, seed: int, minimum: int) -> None:
    """Keep about `limit` images in all, each class in proportion (at least `minimum`), seeded."""
    from ltcli.data.longtail import subsample

    total = sum(map(len, scan.images.values()))
    if limit is None or limit >= total:
        return
    for name, files in scan.images.items():
        keep = min(len(files), max(minimum, round(len(files) * limit / total)))
        scan.images[name] = subsample(files, keep, seed, name)


def ltcli(*args: Any) -> None:
    """One `ltcli` command, in this process (no start-up cost per run)."""
    from ltcli.cli import app

    code = app([str(a) for a in args], standalone_mode=False)
    if code not in (None, 0):
        raise RuntimeError(f"ltcli {' '.join(map(str, args))} failed with exit code {code}")


def train(recipe: Path, data: Path, logs: Path, options: list[str]) -> Path:
    from ltcli.runs import list_runs

    before = {run.path for run in list_runs(logs)}
    ltcli("train", "--config", recipe, "--data", data, "--logs-dir", logs, *options)
    (new,) = {run.path for run in list_runs(logs)} - before
    return new


def tested(run: Path, device: str = "auto") -> dict[str, Any]:
    """`ltcli test` of the run (ltcli.workflows.run_test) and its headline test numbers (metrics.json)."""
    from ltcli.run_folder import RunFolder
    from ltcli.workflows import run_test

    metrics = run_test([RunFolder(run)], device=device).metrics
    return {k: metrics.get(k) for k in TEST_COLUMNS}


def run_one(recipe: Path, seed: int, data: Data, logs: Path, common: list[str], test_picked: bool) -> dict[str, Any]:
    """One recipe and seed: the run picked on valid (tested), and its twin picked on test."""
    from ltcli.config_file import read_config_file
    from ltcli.run_folder import RunFolder

    values = read_config_file(recipe)
    if values.get("recipe") is not None:
        raise SystemExit(f"{recipe} is a second stage (recipe: {values['recipe']}): it needs --init-from a first "
                         "stage's run; reproduce.py runs single-stage recipes")
    options = [*scaled_schedule(values, common_epochs(common)), *strip_epochs(common), "--seed", str(seed)]
    started = time.perf_counter()
    run = train(recipe, data.picked, logs, [*options, "--select-metric", "balanced_acc"])
    row: dict[str, Any] = tested(run, common[common.index("--device") + 1] if "--device" in common else "auto")
    row["minutes"] = (time.perf_counter() - started) / 60
    row["test_picked"] = row["same_trajectory"] = None
    if test_picked:
        twin = RunFolder(train(recipe, data.literature, logs, [*options, "--select-metric", "acc"]))
        row["test_picked"] = max(twin.read_log_columns("valid")["acc"])
        losses = [[r["loss"] for r in RunFolder(folder).read_log("train")] for folder in (run, twin.path)]
        row["same_trajectory"] = losses[0] == losses[1]
    return row


def common_epochs(common: list[str]) -> int | None:
    return int(common[common.index("--epochs") + 1]) if "--epochs" in common else None


def strip_epochs(common: list[str]) -> list[str]:
    """`common` without --epochs (scaled_schedule gives it with the schedule)."""
    if "--epochs" not in common:
        return common
    at = common.index("--epochs")
    return common[:at] + common[at + 2:]


def spread(values: list[float | None], scale: float = 100.0) -> str:
    """mean ± sample standard deviation (mean alone for one value), in percent by default."""
    numbers = [v * scale for v in values if v is not None]
    if not numbers:
        return "n/a"
    mean = statistics.fmean(numbers)
    if len(numbers) == 1:
        return f"{mean:.1f}"
    return f"{mean:.1f} ± {statistics.stdev(numbers):.1f}"


def table(results: dict[Path, list[dict[str, Any]]], budget: str) -> str:
    header = ("| recipe | published | test acc (picked on valid) | many | medium | few | lowest recall "
              "| test acc (picked on test) | minutes |\n|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for recipe, rows in results.items():
        paper = published(recipe)
        cells = [spread([r[k] for r in rows]) for k in TEST_COLUMNS]
        picked_on_test = spread([r["test_picked"] for r in rows])
        minutes = spread([r["minutes"] for r in rows], scale=1.0)
        lines.append(f"| {recipe.parent.name}/{recipe.stem} | {'n/a' if paper is None else f'{paper:.1f}'} | "
                     + " | ".join(cells) + f" | {picked_on_test} | {minutes} |")
    same = [r["same_trajectory"] for rows in results.values() for r in rows if r["same_trajectory"] is not None]
    note = ("" if not same else "\n\nThe twin runs (picked on valid / picked on test) trained identically (same "
            "training losses every epoch): " + ("yes, in every run." if all(same) else
                                                f"no, in {same.count(False)} of {len(same)} runs (GPU "
                                                "non-determinism): the two columns come from close, not equal, "
                                                "trajectories."))
    return f"{budget}\n\n{header}" + "\n".join(lines) + note + "\n"


def reproduce(args: argparse.Namespace) -> str:
    """Every recipe over every seed; returns the markdown table (also written to --out)."""
    common = ["--device", args.device, "--workers", str(args.workers)]
    if args.epochs is not None:
        common += ["--epochs", str(args.epochs)]
    if args.size is not None:
        common += ["--height", str(args.size), "--width", str(args.size)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = prepare_data(args.data, work, args.valid_share, args.max_train_images, args.max_test_images,
                            args.split_seed)
        results = {recipe: [run_one(recipe, seed, data, work / "logs", common, args.test_picked)
                            for seed in args.seeds] for recipe in args.recipes}
    schedule = "each recipe's own schedule" if args.epochs is None else f"{args.epochs} epoch(s), schedule scaled"
    budget = (f"Budget: {schedule}; data {args.data.name}: {data.counts['train']} train, {data.counts['valid']} "
              f"valid ({args.valid_share:g} of each class, split seed {args.split_seed}), {data.counts['test']} test"
              + (f"; inputs {args.size}x{args.size}" if args.size else "")
              + f"; seeds {', '.join(map(str, args.seeds))}; device {args.device}. Accuracies in %, mean ± "
              "standard deviation over seeds; many/medium/few: classes with > 100, 20-100, < 20 training images.")
    text = table(results, budget)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    return text


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*", type=Path, default=DEFAULT_RECIPES, help="recipe files")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with train/ and test/")
    parser.add_argument("--epochs", type=int, help="run every schedule in this many epochs (scaled)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--max-train-images", type=at_least_one,
                        help="subsample the training images (per class, in proportion)")
    parser.add_argument("--max-test-images", type=at_least_one,
                        help="subsample the test images (per class, in proportion)")
    parser.add_argument("--valid-share", type=float, default=0.1, help="of each class's training images")
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--size", type=int, help="input height and width (default: the recipe's)")
    parser.add_argument("--no-test-picked", dest="test_picked", action="store_false",
                        help="skip the twin runs that pick the epoch on test (halves the time)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("logs/benchmarks/reproduce.md"))
    parser.add_argument("--quick", action="store_true", help="smoke run: ERM and LDAM-DRW (unless recipes are "
                        "given), 1 epoch, 200 train / 100 test images, 16x16, seed 1, CPU")
    args = parser.parse_args(argv)
    if args.quick:
        if args.recipes == DEFAULT_RECIPES:
            args.recipes = [DEFAULT_RECIPES[0], DEFAULT_RECIPES[-1]]
        args.epochs, args.seeds, args.size, args.device = 1, [1], 16, "cpu"
        args.max_train_images = args.max_train_images or 200
        args.max_test_images = args.max_test_images or 100
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if not (args.data / "train").is_dir() or not (args.data / "test").is_dir():
        print(f"skipped: no train/ and test/ at {args.data}")
        return
    text = reproduce(args)
    print(text)
    print(f"written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
