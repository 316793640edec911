"""Learning-rate schedules from timm's factory: linear warmup, then step or cosine decay."""

from __future__ import annotations

import itertools

from timm.scheduler import create_scheduler_v2
from timm.scheduler.scheduler import Scheduler
from torch.optim import Optimizer

from ltcli.errors import LtcliError

SCHEDULES = ("step", "cosine")


def step_milestones(stage_epochs: list[int]) -> list[int]:
    """--lrstep gives the length of each stage; the rate drops at the end of every stage but the last.

    60,60,40,40 -> drops at epochs 60, 120 and 160.
    """
    if not stage_epochs or any(n <= 0 for n in stage_epochs):
        raise LtcliError(f"--lrstep needs positive stage lengths, got {stage_epochs}")
    return list(itertools.accumulate(stage_epochs))[:-1]


def create_scheduler(
    optimizer: Optimizer,
    sched: str,
    epochs: int,
    updates_per_epoch: int,
    lr_steps: list[int],
    lr_decay: float = 0.1,
    warmup_epochs: int = 5,
    min_lr: float = 0.0,
) -> Scheduler:
    """A timm scheduler stepped once per optimizer update (`step_update`), so warmup is smooth."""
    if sched not in SCHEDULES:
        raise LtcliError(f"unknown --sched {sched!r}: choose one of {', '.join(SCHEDULES)}")
    base_lr = optimizer.param_groups[0]["lr"]
    common = dict(
        num_epochs=epochs,
        warmup_epochs=warmup_epochs,
        warmup_lr=base_lr * 1e-3 if warmup_epochs > 0 else base_lr,
        min_lr=min_lr,
        step_on_epochs=False,
        updates_per_epoch=updates_per_epoch,
    )
    if sched == "step":
        scheduler, _ = create_scheduler_v2(
            optimizer, sched="multistep", decay_milestones=step_milestones(lr_steps), decay_rate=lr_decay, **common
        )
    else:
        scheduler, _ = create_scheduler_v2(optimizer, sched="cosine", **common)
    return scheduler
