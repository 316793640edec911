"""A training's state to and from checkpoints, and the order the two checkpoint files are written in.

Crash safety: when an epoch improves, checkpoint_best.pt is written BEFORE checkpoint_last.pt.
A kill between the two leaves checkpoint_last.pt at the previous epoch, so `--resume` redoes the
epoch and writes both again; the other order would leave a last checkpoint that believes a best
was saved which never was. On resume, a best checkpoint newer than the last one (such a redone
epoch's) is taken into the bookkeeping, so the files and the recorded best always agree.

Any run's parts can be kept this way (`RunParts`): a `Training`, or the `Pretraining` of `ltcli pretrain`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch
from timm.scheduler.scheduler import Scheduler
from timm.utils import ModelEmaV3
from torch import nn

from ltcli.checkpoint import Checkpoint
from ltcli.engine.assemble import Task
from ltcli.engine.compute import Compute
from ltcli.engine.distributed import Dist
from ltcli.engine.state import capture_rng, restore_rng
from ltcli.errors import LtcliError
from ltcli.metrics import is_improvement
from ltcli.run_folder import RunFolder

REPORTED = ("loss", "acc", "balanced_acc")  # validation values a checkpoint records besides the select metric


class RunParts(Protocol):
    """What a checkpoint is captured from and restored into (a `Training` or a `Pretraining`)."""

    config: Any  # its `select_metric` picks the best epoch
    dist: Dist
    task: Task
    ema: ModelEmaV3 | None
    compute: Compute
    optimizer: torch.optim.Optimizer
    scheduler: Scheduler
    record: dict[str, Any]

    @property
    def checkpointed(self) -> nn.Module:
        """The module whose weights a checkpoint keeps under `model`."""

    @property
    def loaders(self) -> dict[str, Any]: ...


@dataclass
class Progress:
    """Where a run stands: the next epoch and the best value of its select metric so far."""

    next_epoch: int = 0
    best_value: float | None = None
    best_epoch: int | None = None

    def update(self, metric: str, epoch: int, value: float) -> bool:
        """Record an epoch's value; True when it is the new best (the first epoch always is)."""
        improved = is_improvement(metric, value, self.best_value) or epoch == 0
        if improved:
            self.best_value, self.best_epoch = value, epoch
        self.next_epoch = epoch + 1
        return improved


def capture(training: RunParts, progress: Progress, epoch: int, valid_stats: dict[str, float] | None = None
            ) -> Checkpoint:
    """The state after `epoch` (collective under torchrun: every process's RNG state is gathered)."""
    rng = capture_rng(training.loaders)
    config = training.config
    compute, ema, dist = training.compute, training.ema, training.dist
    metrics = None
    if valid_stats is not None:
        metrics = {k: valid_stats[k] for k in (*REPORTED, config.select_metric) if k in valid_stats}
    return Checkpoint(
        model=training.checkpointed.state_dict(), epoch=epoch, class_names=training.task.class_names,
        config=training.record, class_counts=training.task.class_counts, select_metric=config.select_metric,
        best_value=progress.best_value, best_epoch=progress.best_epoch,
        model_ema=ema.module.state_dict() if ema is not None else None,
        optimizer=training.optimizer.state_dict(), scheduler=training.scheduler.state_dict(),
        scaler=compute.scaler.state_dict() if compute.scaler is not None else None,
        rng=dist.gather(rng) if dist.enabled else rng, valid_metrics=metrics,
    )


def save_epoch(run: RunFolder, checkpoint: Checkpoint, improved: bool, is_main: bool = True) -> None:
    """Best first, then last (see the module docstring); only the main process writes."""
    if not is_main:
        return
    if improved:
        checkpoint.save(run.best_checkpoint)
    checkpoint.save(run.last_checkpoint)


def restore(training: RunParts, checkpoint: Checkpoint) -> None:
    """Load a last checkpoint into freshly built parts, so training continues where it stopped."""
    try:
        training.checkpointed.load_state_dict(checkpoint.model)
    except RuntimeError as error:  # e.g. another command's run (a `ltcli pretrain` backbone has no classifier)
        model = training.record.get("model", type(training.checkpointed).__name__)
        raise LtcliError(f"cannot resume: the checkpoint's weights do not fit {model} as this command builds it "
                         f"({str(error).splitlines()[0]})") from None
    training.optimizer.load_state_dict(checkpoint.optimizer)
    training.scheduler.load_state_dict(checkpoint.scheduler)
    rng: Any = checkpoint.rng
    dist = training.dist
    if isinstance(rng, list):  # one state per process of a torchrun run
        rng = rng[dist.rank] if len(rng) == dist.world_size else rng[0]
    restore_rng(rng, training.loaders)
    if training.compute.scaler is not None and checkpoint.scaler:
        training.compute.scaler.load_state_dict(checkpoint.scaler)
    if training.ema is not None and checkpoint.model_ema:
        training.ema.module.load_state_dict(checkpoint.model_ema)


def resume_progress(run: RunFolder, last: Checkpoint, write: bool = True) -> Progress:
    """The progress a last checkpoint records, reconciled with the best checkpoint on disk.

    A best checkpoint newer than the last one was written just before a kill: it holds a real
    epoch, so its value becomes the best to beat. A best checkpoint missing or older than the best
    the last one records comes from an ltcli that wrote last before best and was killed between
    them: then the last checkpoint is that best epoch, and is copied back (by the process that
    writes, `write`)."""
    progress = Progress(last.epoch + 1, last.best_value, last.best_epoch)
    best = Checkpoint.load(run.best_checkpoint) if run.best_checkpoint.is_file() else None
    if best is not None and best.epoch > last.epoch:
        progress.best_value, progress.best_epoch = best.best_value, best.epoch
    elif last.epoch >= 0 and (best is None or not same_value(best.best_value, last.best_value)):
        own = (last.valid_metrics or {}).get(last.select_metric)
        if own is None or not same_value(own, last.best_value):
            raise LtcliError(f"{run.best_checkpoint} is missing or stale and {run.last_checkpoint.name} is not the "
                             "best epoch: the best weights cannot be recovered; train a new run")
        if write:  # the main process of a torchrun run
            last.save(run.best_checkpoint)
        progress.best_epoch = last.epoch
    return progress


def same_value(a: float | None, b: float | None) -> bool:
    """Equal, NaN included (an undefined first epoch's value is kept as the best)."""
    return a == b or (a is not None and b is not None and a != a and b != b)


def refuse_finished(run: RunFolder, epochs_done: int, epochs: int) -> None:
    """A run that has done all its epochs has nothing to resume: one line, whoever asks (`--resume`,
    the app's Resume button before it queues the job)."""
    if epochs_done >= epochs:
        raise LtcliError(f"{run.path} already finished all {epochs} epochs: nothing to resume")


def load_last(run: RunFolder, map_location: Any = "cpu") -> Checkpoint:
    checkpoint = Checkpoint.load(run.last_checkpoint, map_location)
    if checkpoint.optimizer is None or checkpoint.scheduler is None:
        raise LtcliError(f"{run.last_checkpoint} holds no optimizer state: it cannot be resumed")
    return checkpoint
