"""fit(): train one run from a TrainConfig. The parts come from `assemble`, the steps from `loop`,
the checkpoints from `persist`, the story of the run (its folder, epochs, interrupts) from `story`;
this file says what a training run adds to it: labelled validation, pseudo labels, its lines.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from ltcli.config import TrainConfig
from ltcli.engine import persist, story
from ltcli.engine.assemble import Training, build_training
from ltcli.engine.distributed import distributed
from ltcli.engine.loop import train_one_epoch, validate
from ltcli.engine.pseudo import PSEUDO_LABELS_CSV, write_pseudo_labels
from ltcli.engine.run_lock import hold_run
from ltcli.engine.runtime import resolve_device
from ltcli.errors import LtcliError
from ltcli.run_folder import LOG_SPLITS, RunFolder
from ltcli.runs import find_run, train_group


def fit(config: TrainConfig, console: Console | None = None, resume: Path | RunFolder | None = None,
        on_start: Callable[[RunFolder], None] | None = None, on_epoch: story.EpochCallback | None = None) -> Path:
    """Train `config` and return the run folder; with `resume`, continue that run from its last
    checkpoint. `on_start(run)` is told the run folder before the first epoch (the web app's jobs
    follow it); `on_epoch(epoch, valid_stats)` each epoch's validation row (it may raise
    `story.Pruned`: a study's search). Launched by torchrun, every process calls this and trains its share."""
    with distributed(config.device) as (dist, device_name):
        console = Console(quiet=True) if not dist.is_main else console or Console()
        training = build_training(config, console, dist, resolve_device(device_name), resume=resume is not None,
                                  run_folder=None if resume is None else as_run(resume).path)
        return story.run_training(TrainingRun(training), console, None if resume is None else as_run(resume),
                                  on_start, on_epoch)


def resume_run(run: RunFolder | Path, console: Console | None = None,
               on_epoch: story.EpochCallback | None = None) -> Path:
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
        persist.refuse_finished(run, last.epoch + 1, config.epochs)
        return fit(config, console, resume=run, on_epoch=on_epoch)


def as_run(folder: RunFolder | Path) -> RunFolder:
    return folder if isinstance(folder, RunFolder) else RunFolder(Path(folder))


class TrainingRun(story.RunKind):
    """`ltcli train`'s part of the run story (`engine.story`)."""

    parts: Training
    command = "train"

    @property
    def group(self) -> str:  # a second stage is filed apart from its first (runs.train_group)
        config = self.parts.config
        source = find_run(Path(config.logs_dir), run=Path(config.init_from)) if config.init_from else None
        return train_group(config.objective, config.recipe, source)

    def write_first(self, run: RunFolder) -> None:
        if self.parts.pseudo is not None:
            write_pseudo_labels(run.path / PSEUDO_LABELS_CSV, self.parts.pseudo)

    def start_line(self, run: RunFolder) -> str:
        training = self.parts
        config, data, dist = training.config, training.data, training.dist
        processes = f", {dist.world_size} processes ({dist.backend})" if dist.enabled else ""
        return (f"run [bold]{run.path}[/]: {config.model} / {config.objective} on {training.dataset_name} "
                f"({len(data.train)} train, {len(data.valid)} {data.valid_split}, {len(training.task.class_names)} "
                f"classes, {training.device}{processes})")

    def train_and_validate(self, epoch: int, bar: Progress) -> tuple[story.Stats, story.Stats]:
        training = self.parts
        config, dist, loaders = training.config, training.dist, training.loaders
        training.objective.set_epoch(epoch)
        if hasattr(loaders["train"].batch_sampler, "set_epoch"):
            loaders["train"].batch_sampler.set_epoch(epoch)
        training.rule.start_epoch(training.objective, epoch, training.task.class_counts)
        train_stats = train_one_epoch(
            training.step, training.method, loaders["train"], training.optimizer, training.scheduler,
            training.device, epoch, bar, training.compute, dist=dist, ema=training.ema, mix=training.mix,
            num_classes=len(training.task.class_names),
        )
        dist.same_buffers(training.network, *([training.ema.module] if training.ema is not None else []))
        valid_stats = validate(training.eval_model, training.method, loaders["valid"],
                               training.task.class_counts, training.device, dist, tpauc=config.ranking_pairs)
        for dataset in (training.data.train, training.data.valid):
            dist.union_(dataset.failed)
        return train_stats, valid_stats

    def valid_row(self, valid_stats: story.Stats, train_stats: story.Stats) -> story.Stats:
        return {**valid_stats, "lr": train_stats["lr"]}  # the rate the epoch trained at

    def valid_note(self, valid_stats: story.Stats) -> str:
        return f" bal {valid_stats['balanced_acc']:.2%}{ranking_note(valid_stats)}"

    def done_line(self, run: RunFolder, progress: persist.Progress) -> str:
        best = "undefined" if progress.best_value is None else f"{progress.best_value:.4f}"
        return (f"done: best {self.parts.data.valid_split} {self.parts.config.select_metric} {best}; checkpoints "
                f"in {run.path}")


def ranking_note(valid_stats: dict[str, float | None]) -> str:
    """' auroc 0.9123' on a binary task (undefined without both classes in the split), else ''."""
    if "auroc" not in valid_stats:
        return ""
    value = valid_stats["auroc"]
    return f" auroc {'undefined' if value is None else f'{value:.4f}'}"
