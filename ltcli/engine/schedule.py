"""Learning-rate schedules from timm's factory: linear warmup, then step or cosine decay."""

from __future__ import annotations

import bisect
import itertools
from typing import Any

import torch
from timm.scheduler import MultiStepLRScheduler, create_scheduler_v2
from timm.scheduler.scheduler import Scheduler
from torch import nn
from torch.optim import Optimizer

from ltcli.choices import SCHEDULES
from ltcli.errors import LtcliError


def step_milestones(stage_epochs: list[int]) -> list[int]:
    """--lrstep gives the length of each stage; the rate drops at the end of every stage but the last.

    60,60,40,40 -> drops at epochs 60, 120 and 160.
    """
    if not stage_epochs or any(n <= 0 for n in stage_epochs):
        raise LtcliError(f"--lrstep needs positive stage lengths, got {stage_epochs}")
    return list(itertools.accumulate(stage_epochs))[:-1]


class StageStepScheduler(MultiStepLRScheduler):
    """timm's multi-step schedule with each drop on the first update of the new stage.

    timm compares a milestone m with t + 1 (its documented convention), so stepped per update the
    last update of a stage already ran at the next stage's rate: with 600 updates in a stage, update
    599 (counting from 0). Here update t runs at base * decay^(number of milestones <= t), so a stage
    of E epochs is E whole epochs at its rate, as --lrstep's stage lengths say.
    """

    def get_curr_decay_steps(self, t: int) -> int:
        return bisect.bisect_right(self.decay_t, t)


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
    """A timm scheduler stepped once per optimizer update (`step_update`), so warmup is smooth: the
    rate of update t (counting from 0) is set by `step_update(num_updates=t)` after update t - 1."""
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
        scheduler = StageStepScheduler(
            optimizer, decay_t=[m * updates_per_epoch for m in step_milestones(lr_steps)], decay_rate=lr_decay,
            warmup_t=warmup_epochs * updates_per_epoch, warmup_lr_init=common["warmup_lr"], warmup_prefix=False,
            t_in_epochs=False,
        )
    else:
        scheduler, _ = create_scheduler_v2(optimizer, sched="cosine", **common)
    return scheduler


def create_optimization(config: Any, network: nn.Module, train_loader: Any) -> tuple[torch.optim.SGD, Scheduler]:
    """The optimizer and schedule of a `ltcli train` or `ltcli pretrain` run, built the same way for both:
    SGD over the trainable parameters (Nesterov where the config asks), the schedule stepped per update
    over `train_loader`'s batches."""
    optimizer = torch.optim.SGD([p for p in network.parameters() if p.requires_grad], lr=config.lr,
                                momentum=config.momentum, weight_decay=config.weight_decay,
                                nesterov=getattr(config, "nesterov", False))
    scheduler = create_scheduler(optimizer, config.sched, config.epochs, len(train_loader), config.lr_stages,
                                 config.lr_decay, config.warmup_epochs, config.min_lr)
    return optimizer, scheduler
