"""Pseudo-labels (Yang & Xu, NeurIPS 2020, "Rethinking the Value of Labels for Improving
Class-Imbalanced Learning", Sec. 3): an intermediate classifier trained on the labelled, imbalanced
data (a finished run, RUN) labels the unlabeled images, and the final model trains on labelled plus
pseudo-labelled images.

The rule, as the authors' code applies it (gen_pseudolabels.py, SemiSupervisedImbalanceCIFAR10):
the pseudo-label is RUN's top-1 class; every unlabeled image is kept; the pseudo-labelled images join
the labelled ones in one training set with the same weight, and the class counts (hence re-weighting
rules and count-based losses) include them. `--pseudo-threshold T` (ltcli's addition, default 0 = the
paper's rule) keeps only images whose top-1 probability is at least T.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from ltcli.atomic import atomic_open
from ltcli.config import TrainConfig
from ltcli.data.files import ImageFiles
from ltcli.data.lists import ListDataset
from ltcli.data.loaders import RobustImageFolder, TrainData
from ltcli.data.source import DataSource
from ltcli.data.split import SPLITS
from ltcli.data.unlabeled import same_bytes, unlabeled_images
from ltcli.engine.classifier import ensemble_caches, ensemble_log_probs, load_run
from ltcli.errors import LtcliError
from ltcli.run_folder import RunFolder
from ltcli.runs import resolve_run_ref

PSEUDO_LABELS_CSV = "pseudo_labels.csv"


@dataclass
class PseudoLabels:
    """RUN's prediction for every readable unlabeled image, and which of them train."""

    unlabeled: str  # the --unlabeled folder or list
    run: str
    threshold: float
    class_names: list[str]
    paths: list[str]
    labels: np.ndarray  # class index of each image (RUN's top-1)
    confidence: np.ndarray  # RUN's probability of that class
    unreadable: int  # images of --unlabeled that do not decode: never labelled

    @property
    def kept(self) -> np.ndarray:
        return self.confidence >= self.threshold

    def kept_samples(self) -> list[tuple[str, int]]:
        return [(p, int(y)) for p, y, k in zip(self.paths, self.labels, self.kept, strict=True) if k]

    def kept_per_class(self) -> dict[str, int]:
        counts = np.bincount(self.labels[self.kept], minlength=len(self.class_names))
        return {name: int(n) for name, n in zip(self.class_names, counts, strict=True)}

    def rows(self) -> list[dict[str, Any]]:
        return [{"path": p, "label": self.class_names[y], "confidence": f"{c:.6f}", "kept": int(k)}
                for p, y, c, k in zip(self.paths, self.labels, self.confidence, self.kept, strict=True)]

    def record(self) -> dict[str, Any]:
        """What config.json says about them."""
        return {"unlabeled": self.unlabeled, "from_run": self.run, "threshold": self.threshold,
                "images": len(self.paths), "kept": int(self.kept.sum()), "unreadable": self.unreadable,
                "kept_per_class": self.kept_per_class(), "file": PSEUDO_LABELS_CSV}


def pseudo_label(unlabeled: str | Path, run_ref: str | Path, class_names: Sequence[str], dataset_root: Path,
                 logs_dir: Path, device: torch.device, threshold: float = 0.0, batch_size: int = 128,
                 workers: int = 0, listed: set[str] | None = None) -> PseudoLabels:
    """Label every image of `unlabeled` with RUN's best checkpoint (through its own evaluation
    transform); RUN must know exactly the dataset's classes, in the same order. `listed`: a list
    dataset's files (every split), none of which --unlabeled may hold."""
    labelling_run = resolve_run_ref(logs_dir, run_ref, option="--pseudo-labels-from")
    member = load_run(labelling_run, device)
    if list(member.class_names) != list(class_names):
        raise LtcliError(f"--pseudo-labels-from {labelling_run.path} predicts {', '.join(member.class_names)}, not the "
                         f"dataset's classes ({', '.join(class_names)}): its labels would be another task's")
    found = unlabeled_images(unlabeled, dataset_root if listed is None else None)
    if listed is not None:  # a list dataset: its images may share a folder with the pool, never a file
        inside = next((p for p in [*found.images, *found.corrupt] if os.path.normpath(str(p)) in listed), None)
        if inside is not None:
            raise LtcliError(f"--unlabeled {unlabeled} holds {inside}, an image of the dataset's lists: its validation "
                             "and test images must stay unseen, and its training images are labelled already")
    dataset_files = listed if listed is not None else (  # the labelled splits, not the split's own unlabeled/ pool
        p for split in SPLITS for p in (dataset_root / split).rglob("*") if p.is_file())
    copy = same_bytes(found.images, dataset_files)
    if copy is not None:
        raise LtcliError(f"--unlabeled {unlabeled} holds {copy[0]}, a copy of the dataset's image {copy[1]} (same "
                         "bytes): its validation and test images must stay unseen, and its training images are "
                         "labelled already (an unlabeled pool must not be the split's own source)")
    caches, _ = ensemble_caches([member], lambda m: ImageFiles(found.images, m.eval_transform()), device,
                                batch_size, workers)
    log_probs = ensemble_log_probs(caches)
    labels = log_probs.argmax(axis=1)
    confidence = np.exp(log_probs[np.arange(labels.size), labels])
    return PseudoLabels(unlabeled=str(unlabeled), run=str(labelling_run.path), threshold=float(threshold),
                        class_names=list(class_names), paths=[str(p) for p in found.images], labels=labels,
                        confidence=confidence, unreadable=len(found.corrupt))


def read_pseudo_labels(path: Path, record: dict[str, Any], class_names: Sequence[str]) -> PseudoLabels:
    """The pseudo-labels a run recorded (pseudo_labels.csv and config.json's `pseudo_labels`): a resumed
    run trains on the same images with the same labels, whatever became of RUN since."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        index = {name: i for i, name in enumerate(class_names)}
        labels = np.array([index[r["label"]] for r in rows], dtype=np.int64)
        confidence = np.array([float(r["confidence"]) for r in rows])
        kept = [r["kept"] == "1" for r in rows]
    except (OSError, KeyError, ValueError) as error:
        raise LtcliError(f"cannot resume: {path} is missing or damaged ({error!r}); it records the pseudo-labels "
                         "this run trains on") from None
    # the threshold recorded decides `kept`; a row whose kept flag disagrees was edited
    pseudo = PseudoLabels(unlabeled=str(record.get("unlabeled")), run=str(record.get("from_run")),
                          threshold=float(record.get("threshold", 0.0)), class_names=list(class_names),
                          paths=[r["path"] for r in rows], labels=labels, confidence=confidence,
                          unreadable=int(record.get("unreadable", 0)))
    if kept != pseudo.kept.tolist():
        raise LtcliError(f"cannot resume: {path}'s kept column disagrees with its threshold {pseudo.threshold}")
    return pseudo


def add_pseudo_labelled(dataset: RobustImageFolder | ListDataset, pseudo: PseudoLabels) -> int:
    """Append the kept images to the training split with their pseudo-labels; returns how many."""
    samples = pseudo.kept_samples()
    dataset.append_files([path for path, _ in samples], [label for _, label in samples])
    return len(samples)


def write_pseudo_labels(path: Path, pseudo: PseudoLabels) -> None:
    """pseudo_labels.csv: path, label, confidence, kept (1/0) of every labelled image, written atomically."""
    with atomic_open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "confidence", "kept"])
        writer.writeheader()
        writer.writerows(pseudo.rows())


def describe(pseudo: PseudoLabels, console: Console) -> None:
    kept = pseudo.kept_per_class()
    per_class = ", ".join(f"{name} {n}" for name, n in kept.items())
    skipped = f"; {pseudo.unreadable} unreadable skipped" if pseudo.unreadable else ""
    console.print(f"pseudo-labels from {pseudo.run}: kept {sum(kept.values())} of {len(pseudo.paths)} unlabeled "
                  f"images ({per_class}){skipped}", highlight=False)


def add_pseudo_labels(config: TrainConfig, source: DataSource, data: TrainData, device: torch.device,
                      console: Console, resume: Path | None = None) -> PseudoLabels | None:
    """With --unlabeled/--pseudo-labels-from: label the images (or, resuming the run folder `resume`,
    read the labels it recorded), add the kept ones to the training split (with the folder's class
    indices, so a binary task maps them like labelled images)."""
    if config.unlabeled is None:
        return None
    root = source.root
    if resume is not None:
        record = RunFolder(resume).read_config().get("pseudo_labels") or {}
        pseudo = read_pseudo_labels(resume / PSEUDO_LABELS_CSV, record, data.class_names)
        add_pseudo_labelled(data.train, pseudo)
        return pseudo
    listed = None
    if source.kind == "lists":
        listed = set().union(*(source.open_split(split, None).resolved_paths() for split in source.splits))
    pseudo = pseudo_label(config.unlabeled, config.pseudo_labels_from, data.class_names, root,
                          Path(config.logs_dir), device, config.pseudo_threshold, config.batch_size, config.workers,
                          listed)
    add_pseudo_labelled(data.train, pseudo)
    describe(pseudo, console)
    return pseudo
