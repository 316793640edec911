"""Multi-expert and contrastive methods (RIDE, PaCo) beside ERM, BSCE and LDAM-DRW, at one fixed
budget, on CIFAR-10-LT (IF 100).

    python benchmarks/experts.py                         # ../shared/data/cifar10-lt-if100, 5 epochs each
    python benchmarks/experts.py --epochs 200 --device cuda   # the papers' schedule length (lr steps at 80%, 90%)
    python benchmarks/experts.py --per-class 500 --epochs 10  # at most 500 training images per class
    python benchmarks/experts.py --quick                 # 40 images per class, 16x16, 1 epoch: a smoke run

Every row runs through the `ltcli` command line with the same model, input size, batch, optimizer,
schedule and seed; only the objective (and what it brings: LDAM's DRW rule, RIDE's experts, PaCo's
second view and momentum encoder) differs. The best epoch is chosen on a validation split carved from
the training images (10% of each class, at least one); the full balanced test set is scored once.

Prints a markdown table (test accuracy, many/medium/few-shot accuracy, lowest recall, seconds per
epoch: training and validation, the mean over the run's epochs) and writes it to --out. Skips cleanly
when the dataset is absent.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from two_stage import DEFAULT_DATA, Chain, carve, markdown_table, publish  # noqa: E402  (the same carving, runner, table)

# name -> the objective and what comes with it
METHODS = {
    "ERM": ("ERM",),
    "BSCE": ("BSCE",),
    "LDAM-DRW": ("LDAM", "--train-rule", "DRW"),
    "RIDE": ("RIDE", "--opt", "num_experts=3"),
    "PaCo": ("PaCo",),
}
COLUMNS = ("acc", "many_shot_acc", "medium_shot_acc", "few_shot_acc", "lowest_recall")


def seconds_per_epoch(run: Path) -> float:
    with open(run / "train.csv", newline="") as handle:
        times = [float(row["time_s"]) for row in csv.DictReader(handle)]
    return sum(times) / len(times)


def table(rows: list[dict], budget: str) -> str:
    headers = ("test acc", "many", "medium", "few", "lowest recall", "s / epoch")
    return markdown_table(rows, budget, COLUMNS, headers, "seconds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--quick", action="store_true", help="40 images per class, 16x16, 1 epoch")
    parser.add_argument("--model", default="resnet32")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--per-class", type=int, default=None, help="at most this many training images per class")
    parser.add_argument("--every", type=int, default=1,
                        help="keep every N-th training image of each class (the same imbalance profile, N times fewer)")
    parser.add_argument("--rows", default=",".join(METHODS), help=f"comma list of {', '.join(METHODS)}")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("logs/benchmarks/experts.md"))
    args = parser.parse_args()
    if not (args.data / "train").is_dir():
        print(f"skipped: no dataset at {args.data}")
        return
    epochs = 1 if args.quick else args.epochs
    per_class = 40 if args.quick else args.per_class
    side = "16" if args.quick else "32"
    # the long-tail papers' step schedule: lr / 10 at 80% and again at 90% of the epochs (160/180 of 200)
    stages = [max(1, round(0.8 * epochs))] + ([max(1, round(0.1 * epochs))] if epochs > 2 else [])
    stages += [epochs - sum(stages)] if epochs > sum(stages) else []
    base = ["--model", args.model, "--batchsize", "128", "--lr", str(args.lr), "--weight-decay", "2e-4",
            "--height", side, "--width", side, "--device", args.device, "--workers", str(args.workers), "--seed", "0"]
    schedule = ["--epochs", str(epochs), "--lrstep", ",".join(map(str, stages)), "--warmup", str(min(5, epochs // 4))]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        carve(args.data, work / "data", 0.1, per_class, args.every)
        chain = Chain(work, base, schedule)
        for name in args.rows.split(","):
            run = chain.train(*METHODS[name])
            metrics = chain.test(run)
            rows.append({"method": name, **{k: metrics.get(k) for k in COLUMNS}, "seconds": seconds_per_epoch(run)})
            print(table(rows[-1:], f"{name} done"), flush=True)
    budget = (f"Budget: {args.model} {side}x{side}, {epochs} epoch(s) (lr {args.lr}, steps {stages}, batch 128, "
              f"weight decay 2e-4), device {args.device}, training images per class: {per_class or 'all'}, "
              f"one in {args.every} of them kept (same profile); "
              "valid/ = 10% of each training class. RIDE: 3 experts (reduced width); PaCo: lightly's momentum "
              "update, queue 1024, RandAugment query view (streaming data path).")
    publish(table(rows, budget), args.out)


if __name__ == "__main__":
    main()
