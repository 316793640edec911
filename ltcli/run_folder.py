"""Every file of a run folder (and of an ensemble's results folder): its name, its writer, its reader.

One owner, so the commands that write a run (train, test) and those that read it (runs, plot,
test, predict, resume) can never disagree on a name or a format. Writes are atomic. A file that
cannot be read raises RunFileError naming the file and the reason, so a caller listing many runs
can report one corrupt run and still show the others.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltcli.atomic import atomic_write_text
from ltcli.errors import LtcliError

CONFIG_NAME = "config.json"
BEST_CHECKPOINT = "checkpoint_best.pt"
LAST_CHECKPOINT = "checkpoint_last.pt"
SKIPPED_NAME = "skipped_files.json"
PRUNED_NAME = "pruned.json"  # a run a study's search stopped early (engine.story.Pruned)
LOG_SPLITS = ("train", "valid")
PER_CLASS_COLUMNS = ("class", "train_count", "test_count", "shot_group", "recall", "precision", "f1")


class RunFileError(LtcliError):
    """A run's file exists but cannot be read (truncated, not JSON/CSV, wrong columns)."""


def csv_text(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """CSV text with a header; None (an undefined metric) becomes an empty cell."""
    if columns is None:
        columns = []
        for row in rows:
            columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


def read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunFileError(f"{path} is unreadable ({type(error).__name__}: {error})") from None
    if not isinstance(value, dict):
        raise RunFileError(f"{path} is unreadable (not a JSON object)")
    return value


def read_csv_rows(path: Path) -> list[dict[str, str | None]]:
    """Rows as dicts, an empty cell as None."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (UnicodeDecodeError, csv.Error) as error:
        raise RunFileError(f"{path} is unreadable ({type(error).__name__}: {error})") from None
    for number, row in enumerate(rows, start=2):
        if None in row:  # csv.DictReader files the cells beyond the header under the key None
            raise RunFileError(f"{path} is unreadable (line {number} has more cells than the header)")
    return [{k: (None if v == "" else v) for k, v in row.items()} for row in rows]


def to_number(path: Path, column: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except (TypeError, ValueError):
        raise RunFileError(f"{path} is unreadable (column {column!r} holds {text!r}, not a number)") from None


def nan_if_none(value: float | None) -> float:
    return float("nan") if value is None else value


def results_suffix(split: str, tag: str = "") -> str:
    """Results on test/ keep the plain names; any other split gets `_<split>`, so test results stay.
    Corrected results (post-hoc corrections, ensemble temperatures) put their tag first, `_<tag>`,
    so they never replace plain results: metrics_taunorm.json, per_class_logitadjust_valid.csv."""
    return (f"_{tag}" if tag else "") + ("" if split == "test" else f"_{split}")


TAG_PATTERN = re.compile(r"[a-z0-9]+(_[a-z0-9]+)*")


@dataclass(frozen=True)
class ResultsFolder:
    """A folder that holds `ltcli test` results: a run folder, or an ensemble's logs/ensembles/D/STAMP.

    `tag` names results made with corrections (`corrected`): every file name then carries it.
    """

    path: Path
    tag: str = field(default="", kw_only=True)

    def corrected(self, tag: str) -> ResultsFolder:
        """The same folder, for results whose names carry `tag` ('' for plain results), e.g. 'taunorm'."""
        if tag and not TAG_PATTERN.fullmatch(tag):
            raise ValueError(f"a results tag is lowercase words joined by '_', got {tag!r}")
        return dataclasses.replace(self, tag=tag)

    def results_files(self, split: str, binary: bool) -> dict[str, Path]:
        """The files `ltcli test` writes for `split` (a binary task adds the ROC curve)."""
        suffix = results_suffix(split, self.tag)
        names = {
            "metrics": f"metrics{suffix}.json", "per_class": f"per_class{suffix}.csv",
            "predictions": f"predictions{suffix}.csv", "confusion": f"confusion_matrix{suffix}.svg",
            "recall": f"per_class_recall{suffix}.svg",
        }
        if binary:
            names["roc"] = f"roc_curve{suffix}.svg"
        return {key: self.path / name for key, name in names.items()}

    def metrics_path(self, split: str = "test") -> Path:
        return self.results_files(split, False)["metrics"]

    def per_class_path(self, split: str = "test") -> Path:
        return self.results_files(split, False)["per_class"]

    def write_metrics(self, split: str, summary: dict[str, Any]) -> None:
        atomic_write_text(self.metrics_path(split), json.dumps(summary, indent=2) + "\n")

    def read_metrics(self, split: str = "test") -> dict[str, Any]:
        """The metrics of `split`, {} if never tested; every headline metric a number or None."""
        from ltcli.metrics import SUMMARY_KEYS

        path = self.metrics_path(split)
        if not path.is_file():
            return {}
        metrics = read_json(path)
        for key, value in metrics.items():
            headline = key in SUMMARY_KEYS or key.startswith("tpauc_")
            if headline and value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise RunFileError(f"{path} is unreadable ({key} is {value!r}, not a number)")
        if not isinstance(metrics.get("shot_groups", {}), dict):
            raise RunFileError(f"{path} is unreadable (shot_groups is not an object)")
        return metrics

    def write_per_class(self, split: str, rows: Sequence[dict]) -> None:
        atomic_write_text(self.per_class_path(split), csv_text(rows, PER_CLASS_COLUMNS))

    def read_per_class(self, split: str = "test") -> tuple[list[str], list[int], list[float | None]]:
        """(class names, training counts, recalls) of `split`'s per-class results."""
        path = self.per_class_path(split)
        rows = read_csv_rows(path)
        try:
            names = [str(r["class"]) for r in rows]
            counts = [int(r["train_count"] or "") for r in rows]
        except (KeyError, ValueError) as error:
            raise RunFileError(f"{path} is unreadable (bad or missing column: {error})") from None
        return names, counts, [to_number(path, "recall", r.get("recall")) for r in rows]

    def write_predictions(self, split: str, rows: Sequence[dict]) -> None:
        atomic_write_text(self.results_files(split, False)["predictions"], csv_text(rows))

    def label(self, split: str = "test") -> str:
        """How figures name these results: the label `ltcli test` recorded, else the folder's name."""
        return str(self.read_metrics(split).get("label", self.path.name))


@dataclass(frozen=True)
class RunFolder(ResultsFolder):
    """logs/<model>/<dataset>/<objective>/<stamp>/: a training run, its checkpoints and its results.

    `checkpoint_name` is the checkpoint `ltcli test` and `ltcli predict` load (the best one unless
    the user named another .pt of the run).
    """

    checkpoint_name: str = BEST_CHECKPOINT

    @staticmethod
    def holds_run(path: Path) -> bool:
        return (Path(path) / CONFIG_NAME).is_file()

    @property
    def model(self) -> str:
        return self.path.parent.parent.parent.name

    @property
    def dataset(self) -> str:
        return self.path.parent.parent.name

    @property
    def objective(self) -> str:
        return self.path.parent.name

    @property
    def stamp(self) -> str:
        return self.path.name

    def label(self, split: str = "test") -> str:  # noqa: ARG002  (same call as a results folder's)
        return f"{self.objective} {self.stamp}"

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_NAME

    @property
    def checkpoint_path(self) -> Path:
        return self.path / self.checkpoint_name

    @property
    def best_checkpoint(self) -> Path:
        return self.path / BEST_CHECKPOINT

    @property
    def last_checkpoint(self) -> Path:
        return self.path / LAST_CHECKPOINT

    @property
    def skipped_path(self) -> Path:
        return self.path / SKIPPED_NAME

    def log_path(self, split: str) -> Path:
        return self.path / f"{split}.csv"

    def write_config(self, record: dict[str, Any]) -> None:
        atomic_write_text(self.config_path, json.dumps(record, indent=2) + "\n")

    def read_config(self) -> dict[str, Any]:
        return read_json(self.config_path)

    def write_log(self, split: str, rows: Sequence[dict]) -> None:
        """Rewrite train.csv or valid.csv whole (atomically: a crash never leaves a torn file)."""
        atomic_write_text(self.log_path(split), csv_text(rows))

    def read_log(self, split: str) -> list[dict[str, str | None]]:
        """The rows of train.csv or valid.csv ([] before the first epoch), each with an integer epoch."""
        path = self.log_path(split)
        if not path.is_file():
            return []
        rows = read_csv_rows(path)
        for row in rows:
            if to_number(path, "epoch", row.get("epoch")) is None:
                raise RunFileError(f"{path} is unreadable (a row has no epoch)")
        return rows

    def read_log_columns(self, split: str) -> dict[str, list[float]]:
        """Each column of train.csv or valid.csv as numbers (NaN where a cell is empty: undefined)."""
        path = self.log_path(split)
        rows = self.read_log(split)
        columns = list(rows[0]) if rows else []
        return {c: [nan_if_none(to_number(path, c, row.get(c))) for row in rows] for c in columns}

    def remove_stray_temps(self) -> int:
        """Remove temp files of training's own writes that a kill interrupted: only the training
        process writes these files, so when a run is resumed their temp files are stray (a test's
        result files, which another command may be writing right now, are left alone). Returns how many."""
        own = (BEST_CHECKPOINT, LAST_CHECKPOINT, CONFIG_NAME, SKIPPED_NAME, *(f"{s}.csv" for s in LOG_SPLITS))
        stray = [p for name in own for p in self.path.glob(f".{glob.escape(name)}.*.tmp") if p.is_file()]
        for path in stray:
            path.unlink(missing_ok=True)
        return len(stray)

    @property
    def pruned_path(self) -> Path:
        return self.path / PRUNED_NAME

    def mark_pruned(self, epochs_done: int, reason: str) -> None:
        """Record that the run was stopped on purpose after `epochs_done` epochs (a search's pruner)."""
        record = {"epochs_done": epochs_done, "reason": reason}
        atomic_write_text(self.pruned_path, json.dumps(record, indent=2) + "\n")

    def read_pruned(self) -> dict[str, Any] | None:
        """The pruned record, or None for a run that was never pruned (or was resumed since)."""
        return read_json(self.pruned_path) if self.pruned_path.is_file() else None

    def clear_pruned(self) -> None:
        self.pruned_path.unlink(missing_ok=True)

    def write_skipped(self, record: dict[str, Any]) -> None:
        atomic_write_text(self.skipped_path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
