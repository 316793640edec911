"""Stratified, seeded train/valid/test split of a class folder, written as copies or links.

A source that is already split (`train/`, `test/`, maybe `valid/`) keeps its splits as they are.
Either way the train part can then be made long-tailed (`ltcli.data.longtail`) while valid and
test stay untouched.

The source is only ever read: files are copied (or linked) into a new folder, which is built
beside the destination and renamed into place (`ltcli.data.staging`), so a failed split leaves
nothing half-written.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ltcli.atomic import atomic_write_text
from ltcli.data.counts import CountsPlan
from ltcli.data.folder import SPLITS, FolderScan, is_hidden
from ltcli.data.longtail import LongTailPlan, subsample
from ltcli.data.pool import PoolPlan
from ltcli.data.similar import SimilarPlan, write_mixes
from ltcli.data.staging import refuse_non_folder, remove_stale, staged
from ltcli.errors import LtcliError
from ltcli.settings import comma_items

LINK_MODES = ("copy", "hardlink", "symlink")
MANIFEST_NAME = "split.json"
DEFAULT_RATIOS = "0.7,0.15,0.15"


def parse_ratios(text: str | Sequence[float]) -> tuple[float, float, float]:
    """Parse 'train,valid,test' fractions, e.g. '0.7,0.15,0.15' (or a study file's [0.7, 0.15, 0.15])."""
    try:
        values = tuple(float(v) for v in comma_items(text))
    except ValueError:
        raise LtcliError(f"--ratios must be three numbers like 0.7,0.15,0.15, got {text!r}") from None
    if len(values) != 3:
        raise LtcliError(f"--ratios needs three fractions (train,valid,test), got {len(values)}")
    if not all(math.isfinite(v) for v in values):
        raise LtcliError(f"--ratios must be finite numbers, got {text!r}")
    if any(v < 0 for v in values) or values[0] <= 0:
        raise LtcliError(f"--ratios must be >= 0 with a positive train fraction, got {text!r}")
    if not math.isclose(sum(values), 1.0, abs_tol=1e-6):
        raise LtcliError(f"--ratios must sum to 1, got {text!r} (sum {sum(values):g})")
    return values  # type: ignore[return-value]


def allocate(n: int, ratios: Sequence[float]) -> list[int]:
    """Split n items by ratios with the largest-remainder method, at least one per positive ratio."""
    positive = [i for i, r in enumerate(ratios) if r > 0]
    if n < len(positive):
        raise ValueError("too few items")
    exact = [n * r for r in ratios]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(ratios)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    # Give every positive-ratio split one item, taken from the largest split.
    for i in positive:
        if counts[i] == 0:
            donor = max(range(len(counts)), key=lambda j: counts[j])
            counts[donor] -= 1
            counts[i] += 1
    return counts


@dataclass
class SplitPlan:
    """Which source file goes to which split and class."""

    source: Path
    ratios: tuple[float, float, float] | None  # None: the source was already split
    seed: int
    assignment: dict[str, dict[str, list[Path]]] = field(default_factory=dict)  # split -> class -> files
    split_roots: dict[str, Path] = field(default_factory=dict)  # split -> its folder in an already split source
    ignored_folders: list[Path] = field(default_factory=list)  # beside the split folders, in no split
    long_tail: LongTailPlan | None = None
    exact_counts: CountsPlan | None = None
    similar: SimilarPlan | None = None  # mixes written into train/ in place of the files they replace
    pool: PoolPlan | None = None  # Yang & Xu's unlabeled pool, written to unlabeled/ (ltcli.data.pool)

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per split and class as written, the mixes of --similar included."""
        counts = {s: {c: len(files) for c, files in classes.items()} for s, classes in self.assignment.items()}
        for name, mixes in (self.similar.mixes if self.similar is not None else {}).items():
            counts["train"][name] += len(mixes)
        return counts

    def class_root(self, split: str, name: str) -> Path:
        """The source folder of `name` in `split`: file paths below it are kept in the copy."""
        return self.split_roots.get(split, self.source) / name


def plan_split(scan: FolderScan, ratios: Sequence[float], seed: int) -> SplitPlan:
    """Shuffle each class with its own seeded generator and cut it by `ratios`.

    Seeding per class (seed + class name) keeps a class's split unchanged when other classes
    are added or removed.
    """
    needed = sum(1 for r in ratios if r > 0)
    plan = SplitPlan(source=scan.root, ratios=tuple(ratios), seed=seed)  # type: ignore[arg-type]
    plan.assignment = {s: {} for s in SPLITS}
    for name in scan.class_names:
        files = list(scan.images[name])
        if not files:
            raise LtcliError(
                f"class {name!r} has no readable images in {scan.root / name}: add images or remove the folder"
            )
        if len(files) < needed:
            raise LtcliError(
                f"class {name!r} has {len(files)} image(s) but the {needed} splits need one each: "
                "add images, remove the class, or set a ratio to 0 in --ratios"
            )
        random.Random(f"{seed}:{name}").shuffle(files)
        counts = allocate(len(files), ratios)
        start = 0
        for split, count in zip(SPLITS, counts, strict=True):
            plan.assignment[split][name] = sorted(files[start : start + count])
            start += count
    return plan


def plan_presplit(source: Path, scans: dict[str, FolderScan], seed: int) -> SplitPlan:
    """Keep an already split source's splits as they are (every readable image, same place).

    Every split must hold the same classes (see `check_same_classes`), each with at least one
    readable image. Folders beside the split folders (`val/`, a class folder) belong to no split:
    they are not copied, and the plan lists them so the user is told.
    """
    if "train" not in scans:
        raise LtcliError(f"{source} has {', '.join(sorted(scans))}/ but no train/ folder to train on")
    plan = SplitPlan(source=source, ratios=None, seed=seed,
                     split_roots={split: scan.root for split, scan in scans.items()},
                     ignored_folders=folders_beside_splits(source))
    check_same_classes(source, scans)
    for split, scan in scans.items():
        empty = [name for name in scan.class_names if not scan.images[name]]
        if empty:
            raise LtcliError(f"class {empty[0]!r} has no readable images in {scan.root / empty[0]}: "
                             "add images or remove the class from every split")
        plan.assignment[split] = {name: list(scan.images[name]) for name in scan.class_names}
    return plan


def carve_valid(plan: SplitPlan, fraction: float) -> None:
    """A source split into train/ and test/ only: `fraction` of each train class (rounded, at least
    one image, at least one left to train on) becomes valid/, chosen by the same per-class seeded
    shuffle as a raw split's. The long-tail literature validates on the test set; ltcli picks the
    best epoch on valid/ and reports test/ apart."""
    if "valid" in plan.assignment:
        raise LtcliError(f"{plan.source} already has a valid/ folder: drop --valid-from-train")
    plan.assignment["valid"] = {}
    plan.split_roots["valid"] = plan.split_roots["train"]  # the carved files keep their paths below train/
    for name, files in plan.assignment["train"].items():
        if len(files) < 2:
            raise LtcliError(f"class {name!r} has {len(files)} training image(s): --valid-from-train needs two, "
                             "one to train on and one to validate on")
        shuffled = list(files)
        random.Random(f"{plan.seed}:{name}").shuffle(shuffled)
        held = min(max(1, round(fraction * len(files))), len(files) - 1)
        plan.assignment["valid"][name] = sorted(shuffled[:held])
        plan.assignment["train"][name] = sorted(shuffled[held:])


def check_same_classes(source: Path, scans: dict[str, FolderScan], listed: int = 5) -> None:
    """Refuse splits that hold different class folders, naming each class and the split it is missing from.

    Training and testing match classes by folder name, so a class missing from test/ would be
    trained on but silently left out of every per-class and balanced test number, and a class
    missing from train/ could never be predicted: dropping or keeping it quietly gives wrong numbers.
    """
    every = sorted({name for scan in scans.values() for name in scan.class_names})
    gaps = []
    for name in every:
        missing = [split for split, scan in scans.items() if name not in scan.images]
        if missing:
            present = [split for split in scans if split not in missing]
            gaps.append(f"class {name!r} is in {', '.join(s + '/' for s in present)} "
                        f"but missing from {', '.join(s + '/' for s in missing)}")
    if gaps:
        more = f"; and {len(gaps) - listed} more" if len(gaps) > listed else ""
        raise LtcliError(f"the classes of {source} differ between splits: {'; '.join(gaps[:listed])}{more}: "
                         "every split needs the same class folders")


def folders_beside_splits(source: Path) -> list[Path]:
    """Visible folders of an already split source that are not a split folder (train, valid, test)."""
    return sorted(p for p in source.iterdir() if p.is_dir() and not is_hidden(p.name) and p.name not in SPLITS)


def keep_in_train(plan: SplitPlan, targets: dict[str, int]) -> None:
    """Keep `targets[c]` of each class's training files (seeded: a long tail's or --counts'); other splits untouched."""
    train = plan.assignment["train"]
    plan.assignment["train"] = {name: subsample(files, targets[name], plan.seed, name) for name, files in train.items()}


def _place(src: Path, dst: Path, link: str) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if link == "copy":
        shutil.copy2(src, dst)
    elif link == "hardlink":
        os.link(src, dst)
    else:  # symlink (write_split checks the mode first)
        os.symlink(src.resolve(), dst)


def check_destination(source: Path, destination: Path, force: bool) -> None:
    src, dst = source.resolve(), destination.resolve()
    if dst == src or src in dst.parents or dst in src.parents:
        raise LtcliError(f"the split folder {destination} must not overlap the source {source}")
    refuse_non_folder(destination)
    if not destination.exists() or not any(destination.iterdir()):
        return
    if not force:
        raise LtcliError(f"{destination} already exists: pass --force to replace it (the source is never touched)")
    if not (destination / MANIFEST_NAME).is_file():
        # --force replaces a split ltcli wrote, never a raw dataset or any other folder that merely has the name
        raise LtcliError(f"{destination} is not a split written by ltcli (it has no {MANIFEST_NAME}): "
                         "--force replaces only such a split; move it away or choose another NAME")


def write_split(
    plan: SplitPlan,
    scans: Sequence[FolderScan],
    destination: Path,
    link: str = "copy",
    force: bool = False,
    on_file: Callable[[], None] = lambda: None,
) -> dict:
    """Materialise `plan` at `destination` and return the manifest written beside the splits."""
    if link not in LINK_MODES:
        raise LtcliError(f"unknown --link {link!r}: choose one of {', '.join(LINK_MODES)}")
    remove_stale(destination)
    check_destination(plan.source, destination, force)
    with staged(destination) as staging:
        for split, classes in plan.assignment.items():
            for name, files in classes.items():
                class_root = plan.class_root(split, name)
                (staging / split / name).mkdir(parents=True, exist_ok=True)
                for file in files:
                    _place(file, staging / split / name / file.relative_to(class_root), link)
                    on_file()
        if plan.similar is not None:
            write_mixes(plan.similar, staging)
        manifest = {
            "source": str(plan.source.resolve()),
            "layout": "raw" if plan.ratios is not None else "split",
            "seed": plan.seed,
            "ratios": dict(zip(SPLITS, plan.ratios, strict=True)) if plan.ratios is not None else None,
            "link": link,
            "counts": plan.counts(),
            "long_tail": plan.long_tail.to_dict() if plan.long_tail is not None else None,
            "exact_counts": plan.exact_counts.to_dict() if plan.exact_counts is not None else None,
            "similar": plan.similar.to_dict() if plan.similar is not None else None,
            "unlabeled_pool": plan.pool.to_dict() if plan.pool is not None else None,
            "skipped_non_images": [str(p) for scan in scans for p in scan.non_images],
            "skipped_corrupt": [str(p) for scan in scans for p in scan.corrupt],
            "skipped_broken_links": [str(p) for scan in scans for p in scan.broken],
            "ignored_folders": [str(p) for p in plan.ignored_folders],
        }
        atomic_write_text(staging / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
    return manifest

