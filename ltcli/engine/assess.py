"""Test trained runs: predict a split with the best checkpoint of one run (or the averaged
probabilities of several) and write the metrics files and figures."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltcli.atomic import atomic_write_text
from ltcli.data.binary import IsPositive
from ltcli.data.loaders import check_same_classes, image_folder
from ltcli.engine.inference import LoadedRun, ensemble_log_probs, load_runs
from ltcli.engine.train import resolve_device
from ltcli.errors import LtcliError
from ltcli.metrics import SUMMARY_KEYS, TPAUC_DEFAULT, binary_roc, confusion, evaluate_log_probs, shot_groups
from ltcli.plots import plot_confusion_matrix, plot_per_class_recall, plot_roc_curves
from ltcli.runs import RunInfo

PER_CLASS_COLUMNS = ("class", "train_count", "test_count", "shot_group", "recall", "precision", "f1")


@dataclass
class TestResult:
    metrics: dict
    files: list[Path]
    out_dir: Path


def output_files(out_dir: Path, split: str, binary: bool) -> dict[str, Path]:
    """The files `ltcli test` writes; a `valid` split gets a `_valid` suffix so test results stay."""
    suffix = "" if split == "test" else f"_{split}"
    names = {
        "metrics": f"metrics{suffix}.json", "per_class": f"per_class{suffix}.csv",
        "predictions": f"predictions{suffix}.csv", "confusion": f"confusion_matrix{suffix}.svg",
        "recall": f"per_class_recall{suffix}.svg",
    }
    if binary:
        names["roc"] = f"roc_curve{suffix}.svg"
    return {key: out_dir / name for key, name in names.items()}


def refuse_to_overwrite(files: Sequence[Path], force: bool) -> None:
    """A user-chosen --out folder may hold other results: never replace them silently."""
    existing = [p for p in files if p.exists()]
    if existing and not force:
        raise LtcliError(f"{existing[0].parent} already holds {', '.join(p.name for p in existing)}: "
                         "pass --force to replace, or choose another --out")


def per_class_rows(class_names: Sequence[str], train_counts: Sequence[int], groups: Sequence[str], metrics: dict
                   ) -> list[dict]:
    """One row per class for per_class.csv (test_count: samples of the class in the evaluated split)."""
    return [
        {
            "class": class_names[i], "train_count": train_counts[i], "test_count": metrics["per_class_support"][i],
            "shot_group": groups[i], "recall": metrics["per_class_recall"][i],
            "precision": metrics["per_class_precision"][i], "f1": metrics["per_class_f1"][i],
        }
        for i in range(len(class_names))
    ]


def prediction_rows(files: Sequence[str], class_names: Sequence[str], labels: np.ndarray, log_probs: np.ndarray
                    ) -> list[dict]:
    """One row per sample: file, true label, predicted label and the predicted label's probability."""
    preds = log_probs.argmax(axis=1)
    probs = np.exp(log_probs[np.arange(preds.size), preds])
    return [
        {"file": file, "true": class_names[label], "predicted": class_names[pred], "probability": float(prob)}
        for file, label, pred, prob in zip(files, labels, preds, probs, strict=True)
    ]


def rows_to_csv(rows: list[dict], columns: Sequence[str] | None = None) -> str:
    """CSV text; None (an undefined metric) becomes an empty cell."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns or rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


def results_label(members: Sequence[LoadedRun]) -> str:
    if len(members) == 1:
        return members[0].info.label
    return f"ensemble of {len(members)}: " + " + ".join(m.info.label for m in members)


def member_record(member: LoadedRun, metrics: dict) -> dict[str, Any]:
    """A member of an ensemble in metrics.json: which run, and how it scores on its own."""
    return {**member.describe(), **{k: metrics.get(k) for k in SUMMARY_KEYS if k in metrics}}


def test_runs(
    infos: Sequence[RunInfo],
    data_root: Path,
    split: str = "test",
    device_name: str = "auto",
    out_dir: Path | None = None,
    force: bool = False,
    metric_options: dict[str, Any] | None = None,
    batch_size: int = 256,
    workers: int = 0,
) -> TestResult:
    """Evaluate the best checkpoint of each run in `infos` on `data_root/split`, averaging their
    probabilities when there are several, and write the results.

    One run writes into its own folder unless `out_dir` is given; an ensemble needs `out_dir` (the
    CLI claims a fresh one), so no member's own results are replaced.
    """
    if not infos:
        raise LtcliError("no run to test")
    split_dir = data_root / split
    if not split_dir.is_dir():
        raise LtcliError(f"{data_root} has no {split}/ split to test on")
    if out_dir is None and len(infos) > 1:
        raise LtcliError("an ensemble needs an output folder (--out)")
    device = resolve_device(device_name)
    members = load_runs(infos, device)
    class_names = members[0].class_names
    train_counts = members[0].class_counts
    options = {"tpauc": TPAUC_DEFAULT, **(metric_options or {})}

    datasets = {}

    def split_for(member: LoadedRun):
        dataset = image_folder(split_dir, member.eval_transform())
        # a binary run was trained on the folder's classes mapped to negative/positive
        source_classes = member.config.get("source_class_names", class_names)
        check_same_classes(source_classes, dataset.classes, split_dir)
        if member.config.get("positive_classes"):
            dataset.target_transform = IsPositive(source_classes, member.config["positive_classes"])
        datasets[member.info.path] = dataset
        return dataset

    log_probs, member_probs, labels = ensemble_log_probs(members, split_for, device, batch_size, workers)
    metrics = evaluate_log_probs(log_probs, labels, train_counts, **options)
    summary: dict[str, Any] = {
        "label": results_label(members), "split": split, "data_root": str(data_root.resolve()),
        "class_names": class_names, "class_counts": list(train_counts),
    }
    if len(members) == 1:
        described = members[0].describe()
        summary.update(run=described["run"], checkpoint=described["checkpoint"],
                       checkpoint_epoch=described["checkpoint_epoch"])
    if len(members) > 1:
        summary["members"] = [member_record(m, evaluate_log_probs(p, labels, train_counts, **options))
                              for m, p in zip(members, member_probs, strict=True)]
    else:
        summary["members"] = [members[0].describe()]
    summary.update(metrics)
    target = out_dir if out_dir is not None else infos[0].path
    files = output_files(target, split, binary=len(class_names) == 2)
    if out_dir is not None:
        refuse_to_overwrite(list(files.values()), force)
    dataset = datasets[members[0].info.path]
    # files that did not decode are left out of every number (and listed, relative to the split)
    summary["skipped_files"] = [Path(path).relative_to(split_dir).as_posix() for path in dataset.failed_paths()]
    sample_files = [str(Path(path).relative_to(split_dir)) for path, _ in dataset.decoded_samples()]
    write_results(files, summary, class_names, train_counts, labels, log_probs, member_probs, members, sample_files,
                  options)
    return TestResult(metrics=summary, files=list(files.values()), out_dir=target)


def write_results(
    files: dict[str, Path],
    summary: dict,
    class_names: list[str],
    train_counts: list[int],
    labels: np.ndarray,
    log_probs: np.ndarray,
    member_probs: list[np.ndarray],
    members: Sequence[LoadedRun],
    sample_files: list[str],
    options: dict[str, Any],
) -> None:
    """metrics.json, per_class.csv, predictions.csv and the figures, each written atomically."""
    shot_options = {k: options[k] for k in ("many_min", "few_max") if k in options}
    groups = shot_groups(train_counts, **shot_options)
    title = f"{summary['label']} on {summary['split']}"
    atomic_write_text(files["metrics"], json.dumps(summary, indent=2) + "\n")
    atomic_write_text(files["per_class"], rows_to_csv(per_class_rows(class_names, train_counts, groups, summary),
                                                      PER_CLASS_COLUMNS))
    atomic_write_text(files["predictions"], rows_to_csv(prediction_rows(sample_files, class_names, labels, log_probs)))
    preds = log_probs.argmax(axis=1)
    plot_confusion_matrix(confusion(labels, preds, len(class_names)), class_names, files["confusion"], title=title)
    plot_per_class_recall(class_names, summary["per_class_recall"], train_counts, groups, files["recall"],
                          title=f"per-class recall: {title}")
    if "roc" in files:
        curves = []
        if len(members) > 1:
            for member, probs in zip(members, member_probs, strict=True):
                roc = binary_roc(probs, labels)
                if roc is not None:
                    curves.append((member.info.label, *roc, None))
        roc = binary_roc(log_probs, labels)
        if roc is not None:
            curves.append(("ensemble" if len(members) > 1 else summary["label"], *roc, summary["auroc"]))
        plot_roc_curves(curves, files["roc"], tpauc_region=tuple(options["tpauc"][0]) if options["tpauc"] else None,
                        title=f"ROC: {title} (positive class {class_names[1]})")
