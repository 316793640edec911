"""The story of a run, told once for `ltcli train` (engine.train) and `ltcli pretrain` (pretrain.run):

1. a new run folder with its config and an epoch -1 checkpoint (so an interrupt during the first
   epoch still leaves a resumable run), or a resumed run's folder with its parts restored;
2. the epochs (`loop.run_epochs`: a progress bar, Ctrl-C/SIGTERM stopping at a batch boundary), each
   trained, validated, logged (`RunLogger`, skipped files) and checkpointed in the crash-safe order
   (`persist`);
3. a new run that fails before its first epoch ends leaves no folder; the closing lines.

What differs between the kinds of run is a `RunKind`: how an epoch is trained and validated, what the
run folder is grouped under, its lines; what its method adds to the checkpoints is the `Method`
record's (`ltcli.method`).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from rich.console import Console
from rich.progress import Progress
from torch import nn

from ltcli.checkpoint import Checkpoint
from ltcli.engine import persist
from ltcli.engine.logger import RunLogger
from ltcli.engine.loop import STOP, run_epochs
from ltcli.engine.run_lock import hold_run
from ltcli.engine.skipped import SkippedFiles
from ltcli.engine.threads import ThreadTuner, describe
from ltcli.method import Method
from ltcli.run_folder import RunFolder
from ltcli.runs import create_run_dir

Stats = dict[str, Any]
EpochCallback = Callable[[int, Stats], None]  # told each epoch's validation row (a search's pruner)


class Pruned(Exception):
    """Raised by an `on_epoch` callback to end a run after an epoch: the run folder is kept whole
    (checkpoints, logs) and marked pruned (`RunFolder.mark_pruned`), and `run_training` returns normally."""


class StoryParts(persist.RunParts, Protocol):
    """A Training or a Pretraining, as the story reads it."""

    dataset_name: str
    data: Any  # TrainData: train, valid, valid_split
    method: Method
    device: Any

    @property
    def network(self) -> nn.Module: ...  # the module the method built around the backbone

    @property
    def files_root(self) -> Path: ...  # skipped files are listed relative to it


@dataclass
class RunKind:
    """What a kind of run brings to the shared story; subclasses say what differs (the defaults are
    a run that keeps nothing beside its config, logs validation as measured and notes nothing more)."""

    parts: StoryParts
    command: ClassVar[str]  # the ltcli command that resumes it: "train" or "pretrain"

    @property
    def group(self) -> str:  # the run folder's third level: the objective, or pretrain-<method>
        raise NotImplementedError

    def write_first(self, run: RunFolder) -> None:
        """Files a new run keeps beside its config."""

    def start_line(self, run: RunFolder) -> str:  # the line naming the run and its data
        raise NotImplementedError

    def train_and_validate(self, epoch: int, bar: Progress) -> tuple[Stats, Stats]:
        raise NotImplementedError

    def valid_row(self, valid_stats: Stats, train_stats: Stats) -> Stats:  # the valid.csv row
        return valid_stats

    def valid_note(self, valid_stats: Stats) -> str:  # the epoch line's extra validation values
        return ""

    def done_line(self, run: RunFolder, progress: persist.Progress) -> str:
        raise NotImplementedError


def run_training(kind: RunKind, console: Console, resume: RunFolder | None = None,
         on_start: Callable[[RunFolder], None] | None = None, on_epoch: EpochCallback | None = None) -> Path:
    """The epochs of a run, from the start or from `resume`'s last checkpoint; returns the run folder.
    `on_start(run)` is told the run folder before the first epoch; `on_epoch(epoch, valid_stats)`
    after each epoch is checkpointed, and may raise `Pruned` to end the run there."""
    run, progress = open_run(kind, resume, console)
    with hold_run(run.path, kind.parts.dist.is_main):
        return train_epochs(kind, console, run, progress, resume, on_start, on_epoch)


def train_epochs(kind: RunKind, console: Console, run: RunFolder, progress: persist.Progress,
                resume: RunFolder | None, on_start: Callable[[RunFolder], None] | None = None,
                on_epoch: EpochCallback | None = None) -> Path:
    parts = kind.parts
    config, dist, data = parts.config, parts.dist, parts.data
    if on_start is not None and dist.is_main:
        on_start(run)
    logger = RunLogger(run, resume_after=None if resume is None else progress.next_epoch - 1) if dist.is_main \
        else None
    skipped = SkippedFiles(run, parts.files_root, {"train": data.train, data.valid_split: data.valid})

    def one_epoch(epoch: int, bar: Progress) -> None:
        valid_stats = run_epoch(kind, epoch, run, progress, bar, logger, skipped, console)
        if on_epoch is not None:
            on_epoch(epoch, valid_stats)

    try:
        run_epochs(range(progress.next_epoch, config.epochs), one_epoch,
                   console, run.last_checkpoint, f"ltcli {kind.command} --resume {run.path}", show=dist.is_main)
    except Pruned as pruned:  # after a whole epoch: the run stays, resumable, marked
        if dist.is_main:
            run.mark_pruned(progress.next_epoch, str(pruned))
        console.print(f"[yellow]pruned[/] after epoch {progress.next_epoch}/{config.epochs}: {pruned}; "
                      f"checkpoints in {run.path}")
        return run.path
    except Exception:
        # A new run that fails before its first epoch ends (a setting the model cannot train with, a full
        # disk) holds nothing worth resuming: leave no run folder behind. An interrupt keeps it.
        if resume is None and progress.next_epoch == 0 and dist.is_main:
            discard_run(run, Path(config.logs_dir))
        raise
    finally:
        if logger is not None:
            logger.close()
    console.print(kind.done_line(run, progress))
    if skipped.count:
        console.print(skipped.summary())
    return run.path


def open_run(kind: RunKind, resume: RunFolder | None, console: Console) -> tuple[RunFolder, persist.Progress]:
    """A new run folder with its config and an epoch -1 checkpoint, or `resume`'s folder with the
    parts (and the method's own state) restored."""
    parts = kind.parts
    dist, config = parts.dist, parts.config
    if resume is None:
        run = None
        if dist.is_main:
            run = create_run_dir(Path(config.logs_dir), config.model, parts.dataset_name, kind.group)
        run = RunFolder(Path(dist.broadcast(str(run.path) if run is not None else None)))
        progress = persist.Progress()
        try:
            if dist.is_main:
                run.write_config(parts.record)
                kind.write_first(run)
            persist.save_epoch(run, capture(kind, progress, -1), improved=False, is_main=dist.is_main)
        except BaseException:  # not even resumable yet (a full disk, Ctrl-C): leave nothing
            if dist.is_main:
                discard_run(run, Path(config.logs_dir))
            raise
    else:
        run = resume
        if dist.is_main:
            run.remove_stray_temps()
            run.clear_pruned()  # continued on purpose: no longer a pruned run
        last = persist.load_last(run, map_location=parts.device)
        persist.restore(parts, last)
        parts.method.load_state(parts.network, last.pretext, run.last_checkpoint)
        progress = persist.resume_progress(run, last, write=dist.is_main)
        console.print(f"resuming {run.path} at epoch {progress.next_epoch + 1}/{config.epochs}")
        if last.world_size != dist.world_size:
            console.print(f"[yellow]note:[/] the run started with {last.world_size} process(es) and resumes with "
                          f"{dist.world_size}: the data order from here differs from an uninterrupted run's")
    console.print(kind.start_line(run))
    return run, progress


def capture(kind: RunKind, progress: persist.Progress, epoch: int, valid_stats: Stats | None = None) -> Checkpoint:
    """persist's checkpoint of the parts, plus what the method keeps beside the backbone."""
    parts = kind.parts
    checkpoint = persist.capture(parts, progress, epoch, valid_stats)
    checkpoint.pretext = parts.method.save_state(parts.network)
    return checkpoint


def run_epoch(kind: RunKind, epoch: int, run: RunFolder, progress: persist.Progress, bar: Progress,
              logger: RunLogger | None, skipped: SkippedFiles, console: Console) -> Stats:
    """Train one epoch, validate, log both rows, and keep the checkpoints; stop after it if asked.
    Returns the epoch's validation row."""
    parts = kind.parts
    config, dist = parts.config, parts.dist
    started = time.perf_counter()
    train_stats, valid_stats = kind.train_and_validate(epoch, bar)
    elapsed = time.perf_counter() - started
    report_threads(parts.compute.threads, run, console, dist.is_main)
    if logger is not None:
        skipped.report(console)
        logger.log("train", epoch, {**train_stats, "time_s": round(elapsed, 3)})
        logger.log("valid", epoch, kind.valid_row(valid_stats, train_stats))
    improved = progress.update(config.select_metric, epoch, valid_stats[config.select_metric])
    persist.save_epoch(run, capture(kind, progress, epoch, valid_stats), improved, is_main=dist.is_main)
    STOP.check(dist)
    console.print(
        f"epoch {epoch + 1:>3}/{config.epochs}  train loss {train_stats['loss']:.4f} acc {train_stats['acc']:.2%}  |  "
        f"{parts.data.valid_split} loss {valid_stats['loss']:.4f} acc {valid_stats['acc']:.2%}"
        f"{kind.valid_note(valid_stats)}  |  lr {train_stats['lr']:.4g}  {elapsed:.1f}s"
        + ("  [green]best[/]" if improved else "")
    )
    return valid_stats


def report_threads(tuner: ThreadTuner | None, run: RunFolder, console: Console, is_main: bool) -> None:
    """Print the epoch's thread choices and append them to config.json's `thread_choices`."""
    events = tuner.events() if tuner is not None else []
    if not events or not is_main:
        return
    for event in events:
        console.print(describe(event), highlight=False)
    record = run.read_config()
    record["thread_choices"] = [*record.get("thread_choices", []), *events]
    run.write_config(record)


def discard_run(run: RunFolder, logs_dir: Path) -> None:
    """Remove a run folder this process created, and the parent folders that only held it."""
    shutil.rmtree(run.path, ignore_errors=True)
    logs_dir = logs_dir.resolve()
    for parent in run.path.resolve().parents:
        if parent == logs_dir or logs_dir not in parent.parents:
            break
        try:
            parent.rmdir()  # only when empty: another run's folder stops it
        except OSError:
            break
