"""Per-epoch scalars to `train.csv` / `valid.csv` and TensorBoard, with the same names in both."""

from __future__ import annotations

from ltcli.run_folder import LOG_SPLITS, RunFolder


class RunLogger:
    """Keeps every row and rewrites each CSV atomically (through the run folder), so a crash never
    leaves a torn file."""

    def __init__(self, run: RunFolder, tensorboard: bool = True, resume_after: int | None = None) -> None:
        """`resume_after=E` continues a run whose epochs 0..E are done: rows after E (from an
        interrupted epoch) are dropped, so the CSVs have no duplicates and no gaps."""
        self.run = run
        self.rows: dict[str, list[dict]] = {split: [] for split in LOG_SPLITS}
        if resume_after is not None:
            for split in self.rows:
                self.rows[split] = [row for row in run.read_log(split) if int(float(row["epoch"])) <= resume_after]
                run.write_log(split, self.rows[split])
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge = None if resume_after is None else resume_after + 1
            self.writer = SummaryWriter(log_dir=str(run.path), purge_step=purge)

    def log(self, split: str, epoch: int, values: dict[str, float | int | None]) -> None:
        self.rows[split].append({"epoch": epoch, **values})
        self.run.write_log(split, self.rows[split])
        if self.writer is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and value is not None:
                    self.writer.add_scalar(f"{split}/{key}", value, epoch)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
