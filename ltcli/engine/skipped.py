"""Files that fail to decode during a run: checked up front with --strict, else skipped and counted.

Kept out of the training loop so `fit` only calls `require_decodable` and `SkippedFiles.report`.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from ltcli.data.folder import image_decodes
from ltcli.data.loaders import RobustImageFolder, TrainData, undecodable_files
from ltcli.errors import LtcliError
from ltcli.run_folder import RunFolder

LISTED_IN_ERROR = 3


def require_decodable(data: TrainData, console: Console) -> None:
    """`--strict`: decode every training and validation file before anything is written, and
    refuse to start if one fails, rather than skipping it mid-epoch."""
    datasets = [data.train, data.valid]
    progress = Progress(TextColumn("checking images"), BarColumn(), MofNCompleteColumn(),
                        console=console, transient=True)
    with progress:
        task = progress.add_task("check", total=sum(len(d) for d in datasets))
        bad = undecodable_files(datasets, on_file=lambda: progress.advance(task))
    if bad:
        more = len(bad) - LISTED_IN_ERROR
        listed = ", ".join(bad[:LISTED_IN_ERROR]) + (f" and {more} more" if more > 0 else "")
        raise LtcliError(
            f"--strict: {len(bad)} image file(s) do not decode: {listed}; remove or replace them "
            "(`ltcli stats` lists them all), or train without --strict to skip them"
        )


def require_any_decodable(dataset: RobustImageFolder, where: Path, purpose: str = "validation needs") -> None:
    """Decode files until one works (normally the first), so a split where nothing decodes is an
    error before any work (training, or testing), not a crash after it."""
    if not any(image_decodes(Path(path)) for path, _ in dataset.samples):
        raise LtcliError(f"no image in {where} decodes ({len(dataset.samples)} file(s) tried): {purpose} at least "
                         "one (`ltcli stats` lists the bad files)")


class SkippedFiles:
    """Undecodable files met during a run: each warned about once, all listed in the run folder."""

    def __init__(self, run: RunFolder, data_root: Path, datasets: dict[str, RobustImageFolder]) -> None:
        self.run = run
        self.data_root = Path(data_root)
        self.datasets = datasets
        self.files: dict[str, list[str]] = {split: [] for split in datasets}  # relative to data_root

    @property
    def count(self) -> int:
        return sum(len(paths) for paths in self.files.values())

    def report(self, console: Console) -> None:
        """Warn about files that failed since the last call and rewrite the run's record of them."""
        for split, dataset in self.datasets.items():
            for path in dataset.failed_paths():
                under = Path(path).is_relative_to(self.data_root)  # a pseudo-labelled image may lie elsewhere
                relative = Path(path).relative_to(self.data_root).as_posix() if under else str(path)
                if relative not in self.files[split]:
                    self.files[split].append(relative)
                    reason = "does not decode" if Path(path).exists() else "is missing"  # a list's line may name none
                    console.print(f"[yellow]warning:[/] skipped {path} ({split}): the file {reason}",
                                  highlight=False)
        self.write()

    def write(self) -> None:
        self.run.write_skipped({"count": self.count, "data_root": str(self.data_root.resolve()), "files": self.files})

    def summary(self) -> str:
        return f"[yellow]skipped {self.count} file(s) that do not decode[/] (listed in {self.run.skipped_path})"
