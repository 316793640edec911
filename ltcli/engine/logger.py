"""Per-epoch scalars to `train.csv` / `valid.csv` and TensorBoard, with the same names in both."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ltcli.atomic import atomic_write_text


class RunLogger:
    """Keeps every row and rewrites each CSV atomically, so a crash never leaves a torn file."""

    def __init__(self, run_dir: Path, tensorboard: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.rows: dict[str, list[dict]] = {"train": [], "valid": []}
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(self.run_dir))

    def log(self, split: str, epoch: int, values: dict[str, float | int | None]) -> None:
        row = {"epoch": epoch, **values}
        self.rows[split].append(row)
        self._write_csv(split)
        if self.writer is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and value is not None:
                    self.writer.add_scalar(f"{split}/{key}", value, epoch)
            self.writer.flush()

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
