"""fit(): train one run from a TrainConfig. The parts come from `assemble`, the steps from `loop`,
the checkpoints from `persist`; this file tells the story of a run and keeps its run folder.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from ltcli.checkpoint import Checkpoint
from ltcli.config import TrainConfig
from ltcli.engine import persist
from ltcli.engine.assemble import Training, build_training
from ltcli.engine.distributed import distributed
from ltcli.engine.logger import RunLogger
from ltcli.engine.loop import STOP, run_epochs, train_one_epoch, validate
from ltcli.engine.pseudo import PSEUDO_LABELS_CSV, write_pseudo_labels
from ltcli.engine.run_lock import hold_run
from ltcli.engine.runtime import resolve_device
from ltcli.engine.skipped import SkippedFiles
from ltcli.errors import LtcliError
from ltcli.run_folder import LOG_SPLITS, RunFolder
from ltcli.runs import create_run_dir


def fit(config: TrainConfig, console: Console | None = None, resume: Path | RunFolder | None = None,
        on_start: Callable[[RunFolder], None] | None = None) -> Path:
    """Train `config` and return the run folder; with `resume`, continue that run from its last
    checkpoint. `on_start(run)` is told the run folder before the first epoch (the web app's jobs
    follow it). Launched by torchrun, every process calls this and trains its share."""
    with distributed(config.device) as (dist, device_name):
        console = Console(quiet=True) if not dist.is_main else console or Console()
        training = build_training(config, console, dist, resolve_device(device_name), resume=resume is not None,
                                  run_folder=None if resume is None else as_run(resume).path)
        return train(training, console, None if resume is None else as_run(resume), on_start)


def resume_run(run: RunFolder | Path, console: Console | None = None) -> Path:
    """Continue an interrupted run with the settings it was started with."""
    run = as_run(run)
    is_main = os.environ.get("RANK", "0") == "0"  # under torchrun every process runs this
    if not run.path.is_dir():
        raise LtcliError(f"no run folder {run.path}")
    with hold_run(run.path, is_main):  # before any write: a second resume of the run is refused here
        last = persist.load_last(run)
        config = TrainConfig.from_dict(last.config)
        for split in LOG_SPLITS:  # a corrupt CSV is an error here, on every process, not on rank 0 mid-start
            run.read_log(split)
        # A best checkpoint lost to a kill is put back even when all epochs ran (by one process only:
        # the process group does not exist yet).
        persist.resume_progress(run, last, write=is_main)
        if last.epoch + 1 >= config.epochs:
            raise LtcliError(f"{run.path} already finished all {config.epochs} epochs: nothing to resume")
        return fit(config, console, resume=run)


def as_run(folder: RunFolder | Path) -> RunFolder:
    return folder if isinstance(folder, RunFolder) else RunFolder(Path(folder))


def train(training: Training, console: Console, resume: RunFolder | None = None,
          on_start: Callable[[RunFolder], None] | None = None) -> Path:
    """The epochs of a run, from the start or from `resume`'s last checkpoint."""
    dist = training.dist
    run, progress = open_run(training, resume, console)
    with hold_run(run.path, dist.is_main):
        return train_epochs(training, console, run, progress, resume, on_start)


def train_epochs(training: Training, console: Console, run: RunFolder, progress: persist.Progress,
                 resume: RunFolder | None, on_start: Callable[[RunFolder], None] | None) -> Path:
    config, dist = training.config, training.dist
    if on_start is not None and dist.is_main:
        on_start(run)
    logger = RunLogger(run, resume_after=None if resume is None else progress.next_epoch - 1) if dist.is_main \
        else None
    skipped = SkippedFiles(run, training.root, {"train": training.data.train,
                                                training.data.valid_split: training.data.valid})
    try:
        run_epochs(range(progress.next_epoch, config.epochs),
                   lambda epoch, bar: run_epoch(training, epoch, run, progress, bar, logger, skipped, console),
                   console, run.last_checkpoint, f"ltcli train --resume {run.path}", show=dist.is_main)
    except Exception:
        # A new run that fails before its first epoch ends (a setting the model cannot train with, a full
        # disk) holds nothing worth resuming: leave no run folder behind. An interrupt keeps it.
        if resume is None and progress.next_epoch == 0 and dist.is_main:
            discard_run(run, Path(config.logs_dir))
        raise
    finally:
        if logger is not None:
            logger.close()
    best = "undefined" if progress.best_value is None else f"{progress.best_value:.4f}"
    console.print(f"done: best {training.data.valid_split} {config.select_metric} {best}; checkpoints in {run.path}")
    if skipped.count:
        console.print(skipped.summary())
    return run.path


def open_run(training: Training, resume: RunFolder | None, console: Console) -> tuple[RunFolder, persist.Progress]:
    """A new run folder with its config and an epoch -1 checkpoint (so an interrupt during the first
    epoch still leaves a resumable run), or `resume`'s folder with the parts restored."""
    dist, config = training.dist, training.config
    if resume is None:
        run = None
        if dist.is_main:
            run = create_run_dir(Path(config.logs_dir), config.model, training.dataset_name, config.objective)
        run = RunFolder(Path(dist.broadcast(str(run.path) if run is not None else None)))
        progress = persist.Progress()
        try:
            if dist.is_main:
                run.write_config(training.record)
                if training.pseudo is not None:
                    write_pseudo_labels(run.path / PSEUDO_LABELS_CSV, training.pseudo)
            persist.save_epoch(run, persist.capture(training, progress, -1), improved=False, is_main=dist.is_main)
        except BaseException:  # not even resumable yet (a full disk, Ctrl-C): leave nothing
            if dist.is_main:
                discard_run(run, Path(config.logs_dir))
            raise
    else:
        run = resume
        if dist.is_main:
            run.remove_stray_temps()
        last = persist.load_last(run, map_location=training.device)
        persist.restore(training, last)
        progress = persist.resume_progress(run, last, write=dist.is_main)
        console.print(f"resuming {run.path} at epoch {progress.next_epoch + 1}/{config.epochs}")
        if last.world_size != dist.world_size:
            console.print(f"[yellow]note:[/] the run started with {last.world_size} process(es) and resumes with "
                          f"{dist.world_size}: the data order from here differs from an uninterrupted run's")
    announce(training, run, console)
    return run, progress


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


def announce(training: Training, run: RunFolder, console: Console) -> None:
    config, data, dist = training.config, training.data, training.dist
    processes = f", {dist.world_size} processes ({dist.backend})" if dist.enabled else ""
    console.print(
        f"run [bold]{run.path}[/]: {config.model} / {config.objective} on {training.dataset_name} "
        f"({len(data.train)} train, {len(data.valid)} {data.valid_split}, {len(training.task.class_names)} "
        f"classes, {training.device}{processes})"
    )


def run_epoch(training: Training, epoch: int, run: RunFolder, progress: persist.Progress, bar: Progress,
              logger: RunLogger | None, skipped: SkippedFiles, console: Console) -> None:
    """Train one epoch, validate, log both rows, and keep the checkpoints; stop after it if asked."""
    config, dist, loaders = training.config, training.dist, training.loaders
    started = time.perf_counter()
    training.objective.set_epoch(epoch)
    if hasattr(loaders["train"].batch_sampler, "set_epoch"):
        loaders["train"].batch_sampler.set_epoch(epoch)
    training.rule.start_epoch(training.objective, epoch, training.task.class_counts)
    train_stats = train_one_epoch(
        training.step, training.objective, loaders["train"], training.optimizer, training.scheduler,
        training.device, epoch, bar, training.compute, dist=dist, ema=training.ema, mix=training.mix,
        num_classes=len(training.task.class_names),
    )
    dist.same_buffers(training.model, *([training.ema.module] if training.ema is not None else []))
    valid_stats = validate(training.eval_model, training.objective, loaders["valid"], training.task.class_counts,
                           training.device, dist, tpauc=config.ranking_pairs)
    for dataset in (training.data.train, training.data.valid):
        dist.union_(dataset.failed)
    elapsed = time.perf_counter() - started
    if logger is not None:
        skipped.report(console)
        logger.log("train", epoch, {**train_stats, "time_s": round(elapsed, 3)})
        logger.log("valid", epoch, {**valid_stats, "lr": train_stats["lr"]})  # the rate the epoch trained at
    improved = progress.update(config.select_metric, epoch, valid_stats[config.select_metric])
    checkpoint: Checkpoint = persist.capture(training, progress, epoch, valid_stats)
    persist.save_epoch(run, checkpoint, improved, is_main=dist.is_main)
    STOP.check(dist)
    console.print(
        f"epoch {epoch + 1:>3}/{config.epochs}  train loss {train_stats['loss']:.4f} acc {train_stats['acc']:.2%}  |  "
        f"{training.data.valid_split} loss {valid_stats['loss']:.4f} acc {valid_stats['acc']:.2%} "
        f"bal {valid_stats['balanced_acc']:.2%}{ranking_note(valid_stats)}  |  "
        f"lr {train_stats['lr']:.4g}  {elapsed:.1f}s"
        + ("  [green]best[/]" if improved else "")
    )


def ranking_note(valid_stats: dict[str, float | None]) -> str:
    """' auroc 0.9123' on a binary task (undefined without both classes in the split), else ''."""
    if "auroc" not in valid_stats:
        return ""
    value = valid_stats["auroc"]
    return f" auroc {'undefined' if value is None else f'{value:.4f}'}"
