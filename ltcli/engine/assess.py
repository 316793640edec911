"""Test a trained run: predict a split with its best checkpoint and write the metrics files."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

from ltcli.atomic import atomic_write_text
from ltcli.data.binary import IsPositive, two_class_logits
from ltcli.data.loaders import check_same_classes, image_folder, make_loader
from ltcli.data.transforms import build_transform
from ltcli.engine.checkpoint import load_checkpoint
from ltcli.engine.evaluate import predict
from ltcli.engine.train import resolve_device
from ltcli.errors import LtcliError
from ltcli.metrics import confusion, evaluate_logits, shot_groups, softmax
from ltcli.models import create_model
from ltcli.plots import plot_confusion_matrix
from ltcli.runs import BEST_CHECKPOINT, RunInfo


@dataclass
class TestResult:
    metrics: dict
    files: list[Path]


def per_class_rows(
    class_names: list[str], train_counts: list[int], labels: np.ndarray, preds: np.ndarray, metrics: dict
) -> list[dict]:
    k = len(class_names)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, preds, labels=np.arange(k), zero_division=0
    )
    groups = shot_groups(train_counts)
    return [
        {
            "class": class_names[i], "train_count": train_counts[i], "test_count": int(support[i]),
            "shot_group": groups[i], "recall": metrics["per_class_recall"][i],
            "precision": float(precision[i]), "f1": float(f1[i]),
        }
        for i in range(k)
    ]


def rows_to_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


def test_run(
    run: RunInfo, data_root: Path, split: str = "test", device_name: str = "auto", batch_size: int = 256,
    workers: int = 0,
) -> TestResult:
    """Evaluate `run`'s best checkpoint on `data_root/split` and write metrics into the run folder."""
    split_dir = data_root / split
    if not split_dir.is_dir():
        raise LtcliError(f"{data_root} has no {split}/ split to test on")
    device = resolve_device(device_name)
    checkpoint = load_checkpoint(run.path / BEST_CHECKPOINT)
    config = checkpoint["config"]
    class_names = list(checkpoint["class_names"])
    train_counts = list(checkpoint["class_counts"])
    height, width = config["height"], config["width"]
    dataset = image_folder(split_dir, build_transform(height, width, False, config["augment_resolved"]))
    source_classes = config.get("source_class_names", class_names)
    check_same_classes(source_classes, dataset.classes, split_dir)
    if config.get("positive_classes"):
        dataset.target_transform = IsPositive(source_classes, config["positive_classes"])
    model = create_model(
        config["model"], num_classes=config.get("num_outputs", len(class_names)),
        cosine_head=config.get("cosine_head", False),
    )
    model.load_state_dict(checkpoint["model"])
    model.to(device)
    loader = make_loader(dataset, batch_size, False, workers, device)
    logits, labels = predict(model, loader, device)
    logits = two_class_logits(logits)
    metrics = evaluate_logits(logits, labels, train_counts)
    preds = logits.argmax(axis=1)
    probs = softmax(logits.astype(np.float64))
    rows = per_class_rows(class_names, train_counts, labels, preds, metrics)
    summary = {
        "run": str(run.path), "split": split, "data_root": str(data_root.resolve()),
        "checkpoint": BEST_CHECKPOINT, "checkpoint_epoch": int(checkpoint["epoch"]),
        "class_names": class_names, **metrics,
        # files that did not decode (relative to the split, like predictions.csv): left out of every number
        "skipped_files": [Path(path).relative_to(split_dir).as_posix() for path in dataset.failed_paths()],
    }
    out = run.path
    suffix = "" if split == "test" else f"_{split}"
    files = [out / f"metrics{suffix}.json", out / f"per_class{suffix}.csv", out / f"predictions{suffix}.csv",
             out / f"confusion_matrix{suffix}.svg"]
    atomic_write_text(files[0], json.dumps(summary, indent=2) + "\n")
    atomic_write_text(files[1], rows_to_csv(rows))
    predictions = [
        {"file": str(Path(path).relative_to(split_dir)), "true": class_names[label],
         "predicted": class_names[pred], "probability": float(probs[i, pred])}
        for i, ((path, _), label, pred) in enumerate(zip(dataset.decoded_samples(), labels, preds, strict=True))
    ]
    atomic_write_text(files[2], rows_to_csv(predictions))
    plot_confusion_matrix(confusion(labels, preds, len(class_names)), class_names, files[3],
                          title=f"{run.model} / {run.objective} / {run.stamp} on {split}")
    return TestResult(metrics=summary, files=files)
