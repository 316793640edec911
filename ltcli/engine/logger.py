"""Per-epoch scalars to `train.csv` / `valid.csv` and TensorBoard, with the same names in both."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ltcli.atomic import atomic_write_text


class RunLogger:
    """Keeps every row and rewrites each CSV atomically, so a crash never leaves a torn file."""

    def __init__(self, run_dir: Path, tensorboard: bool = True, resume_after: int | None = None) -> None:
        """`resume_after=E` continues a run whose epochs 0..E are done: rows after E (from an
        interrupted epoch) are dropped, so the CSVs have no duplicates and no gaps."""
        self.run_dir = Path(run_dir)
        self.rows: dict[str, list[dict]] = {"train": [], "valid": []}
        if resume_after is not None:
            for split in self.rows:
                self.rows[split] = [row for row in self._read_csv(split) if int(row["epoch"]) <= resume_after]
                self._write_csv(split)
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge = None if resume_after is None else resume_after + 1
            self.writer = SummaryWriter(log_dir=str(self.run_dir), purge_step=purge)

    def log(self, split: str, epoch: int, values: dict[str, float | int | None]) -> None:
        row = {"epoch": epoch, **values}
        self.rows[split].append(row)
        self._write_csv(split)
        if self.writer is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and value is not None:
                    self.writer.add_scalar(f"{split}/{key}", value, epoch)
            self.writer.flush()

    def _read_csv(self, split: str) -> list[dict]:
        path = self.run_dir / f"{split}.csv"
        if not path.is_file():
            return []
        with open(path, newline="", encoding="utf-8") as handle:
            return [{k: (None if v == "" else v) for k, v in row.items()} for row in csv.DictReader(handle)]

    def _write_csv(self, split: str) -> None:
        rows = self.rows[split]
        columns: list[str] = []
        for row in rows:
            columns += [key for key in row if key not in columns]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        atomic_write_text(self.run_dir / f"{split}.csv", buffer.getvalue())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
