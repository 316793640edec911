"""Load time and memory of a list dataset's index at iNaturalist 2018's scale: a generated train list of
437,513 lines over 8,142 classes (iNat's `train_val2018/<super>/<id>/<hash>.jpg` paths), hard links to
a few real JPEGs standing in for the images.

    python benchmarks/list_index.py            # 437,513 lines, every line a hard link
    python benchmarks/list_index.py --quick    # the same 437,513-line list, hard links for 2,000 lines

Measured: parsing and checking the train and val lists the way `ltcli train` opens them (no file is
opened or stat-ed), the index's memory (tracemalloc: the arrays kept, and the peak while parsing),
the process's RSS growth, and for contrast the memory of the naive index (a list of (path, label)
tuples). Then a few random samples are loaded lazily, to show the lines resolve to images.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from PIL import Image

from ltcli.data.source import open_source

TRAIN_LINES, VAL_LINES, CLASSES = 437_513, 24_426, 8_142
SUPERCATEGORIES = ("Plantae", "Insecta", "Aves", "Reptilia", "Mammalia", "Fungi", "Amphibia", "Mollusca",
                   "Animalia", "Arachnida", "Actinopterygii", "Chromista", "Protozoa", "Bacteria")


def long_tail_labels(lines: int, classes: int, seed: int = 0) -> np.ndarray:
    """Labels with every class present and a long tail (counts ~ 1/rank), shuffled."""
    weights = 1.0 / np.arange(1, classes + 1)
    counts = 1 + np.floor(weights / weights.sum() * (lines - classes)).astype(np.int64)
    counts[0] += lines - counts.sum()
    labels = np.repeat(np.arange(classes, dtype=np.int32), counts)
    np.random.default_rng(seed).shuffle(labels)
    return labels


def write_list(path: Path, labels: np.ndarray, split: str) -> list[str]:
    rng = np.random.default_rng(len(labels))
    names = [f"train_val2018/{SUPERCATEGORIES[label % len(SUPERCATEGORIES)]}/{label}/"
             f"{rng.bytes(16).hex()}.jpg" for label in labels.tolist()]
    path.write_text("".join(f"{name} {label}\n" for name, label in zip(names, labels.tolist(), strict=True)))
    return names


def link_images(root: Path, names: list[str], count: int) -> None:
    """Hard links to real JPEGs for the first `count` lines (the rest stay missing: nothing stats them);
    one original per 50,000 links, since file systems cap a file's links (ext4: 65,000)."""
    originals = []
    for i in range(max(4, -(-count // 50_000))):
        path = root / f"original{i}.jpg"
        Image.fromarray(np.full((375, 500, 3), (60 * i) % 256, dtype=np.uint8)).save(path)
        originals.append(path)
    for i, name in enumerate(names[:count]):
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(originals[i % len(originals)], target)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="hard links for 2,000 lines only")
    parser.add_argument("--lines", type=int, default=TRAIN_LINES)
    args = parser.parse_args()
    linked = 2_000 if args.quick else args.lines
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        train_labels = long_tail_labels(args.lines, CLASSES)
        names = write_list(root / "iNaturalist18_train.txt", train_labels, "train")
        write_list(root / "iNaturalist18_val.txt", np.repeat(np.arange(CLASSES, dtype=np.int32), 3), "val")
        link_images(root, names, linked)
        del names
        made = time.perf_counter() - start
        size_mb = (root / "iNaturalist18_train.txt").stat().st_size / 2**20

        rss_before = rss_mb()
        start = time.perf_counter()
        source = open_source(root)
        train = source.open_split("train")
        valid = source.open_split("valid")
        elapsed = time.perf_counter() - start
        rss_after = rss_mb()
        tracemalloc.start()  # a second, traced pass: tracing slows allocation, so it is not timed
        traced = open_source(root)
        traced_splits = (traced.open_split("train"), traced.open_split("valid"))
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del traced, traced_splits
        kept = sum(d.index.buffer.__sizeof__() + d.index.offsets.nbytes + d.index.labels.nbytes
                   + d.index.line_numbers.nbytes for d in (train, valid))

        tracemalloc.start()
        naive = [(train.file_path(i), int(label)) for i, label in enumerate(train.targets.tolist())]
        naive_mb = tracemalloc.get_traced_memory()[0] / 2**20
        tracemalloc.stop()
        del naive

        indices = random.Random(0).sample(range(linked), 32)
        start = time.perf_counter()
        loaded = sum(train[i] is not None for i in indices)
        load_ms = (time.perf_counter() - start) / len(indices) * 1000
        print(f"list: {len(train):,} train + {len(valid):,} val lines, {len(source.class_names()):,} classes "
              f"({size_mb:.1f} MB train list; {linked:,} lines hard-linked to real JPEGs; made in {made:.1f} s)")
        print(f"open + parse + check (train and val, no file opened): {elapsed:.2f} s")
        print(f"index memory: {kept / 2**20:.1f} MB kept (tracemalloc current {current / 2**20:.1f} MB, "
              f"peak while parsing {peak / 2**20:.1f} MB); max RSS {rss_before:.0f} -> {rss_after:.0f} MB")
        print(f"naive index, a list of (path, label) tuples: {naive_mb:.1f} MB")
        print(f"lazy loading: {loaded}/{len(indices)} random linked samples decoded, {load_ms:.1f} ms each; "
              f"failures so far: {int(train.failed.sum())}")
        print(f"load: {os.getloadavg()[0]:.1f}; command: python benchmarks/list_index.py{' --quick' * args.quick}")


if __name__ == "__main__":
    main()
