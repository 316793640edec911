"""Epoch time of a real dataset through each input path: in memory (decode once, batch augmentation
on the device) versus streaming (DataLoader workers decoding every epoch), in one process.

    python benchmarks/epoch_time.py                       # ../shared/data/cifar10-lt-if100, 2 epochs
    python benchmarks/epoch_time.py --quick               # CI: 40 images per class, 16x16, 2 epochs

Prints each path's training time per epoch (from train.csv, the first epoch excluded when there
are several) and the ratio streaming / memory. Skips cleanly when the dataset is absent.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
from pathlib import Path

from bench_data import at_least_one
from rich.console import Console

from ltcli.config import TrainConfig
from ltcli.engine.train import fit

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-lt-if100"


def subset(root: Path, per_class: int, into: Path) -> Path:
    """Symlink the first `per_class` images of every class of every split (the source is untouched)."""
    for split in ("train", "test"):
        for class_dir in sorted((root / split).iterdir()):
            target = into / split / class_dir.name
            target.mkdir(parents=True)
            for image in sorted(class_dir.iterdir())[:per_class]:
                os.symlink(image.resolve(), target / image.name)
    return into


def epoch_seconds(run_dir: Path) -> float:
    with open(run_dir / "train.csv", newline="") as handle:
        times = [float(row["time_s"]) for row in csv.DictReader(handle)]
    timed = times[1:] if len(times) > 1 else times
    return sum(timed) / len(timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=at_least_one, default=None)
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    if not (args.data / "train").is_dir():
        print(f"skipped: no dataset at {args.data}")
        return
    epochs = args.epochs or 2  # the first epoch (one-time start-up costs) is not timed
    side = 16 if args.quick else 32
    with tempfile.TemporaryDirectory() as tmp:
        data = subset(args.data, 40, Path(tmp) / "data") if args.quick else args.data
        seconds = {}
        for cache in ("memory", "none"):
            config = TrainConfig(
                data=str(data), model="resnet20" if args.quick else "resnet32", objective="ERM", epochs=epochs,
                warmup_epochs=0, height=side, width=side, data_cache=cache, workers=args.workers,
                device=args.device, logs_dir=str(Path(tmp) / f"logs-{cache}"),
            )
            seconds[cache] = epoch_seconds(fit(config, Console(quiet=True)))
    print(f"{data} ({'quick subset' if args.quick else 'full'}), {epochs} epoch(s), {side}x{side}, "
          f"{args.workers} workers")
    print(f"in memory : {seconds['memory']:7.2f} s/epoch")
    print(f"streaming : {seconds['none']:7.2f} s/epoch")
    print(f"ratio streaming/memory: {seconds['none'] / seconds['memory']:.3f}")


if __name__ == "__main__":
    main()
