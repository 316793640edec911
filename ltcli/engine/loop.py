"""The training loop's inner parts: one step, one epoch, one validation pass, and stopping
cleanly on Ctrl-C/SIGTERM. No files: `fit` decides what is kept.
"""

from __future__ import annotations

import contextlib
import functools
import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from timm.utils import ModelEmaV3
from torch import nn
from torch.utils.data import DataLoader

from ltcli.engine.compute import Compute
from ltcli.engine.distributed import Dist
from ltcli.engine.logits import predict_with_features
from ltcli.engine.mixing import BatchMix, MixedTargets
from ltcli.engine.tally import EpochTally
from ltcli.method import Method
from ltcli.metrics import evaluate_logits, valid_columns
from ltcli.models.heads import TrainStep
from ltcli.models.weights import train_mode

SINGLE = Dist()  # a process on its own


Images = torch.Tensor | tuple[torch.Tensor, ...]  # a batch, or the views of it a multi-view objective trains on


def step_outputs(step: nn.Module, images: Images, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """The training module's outputs as {"logits": ..., extra inputs of the objective by name}, in float32.

    `step` is `prepare_model`'s TrainStep (which takes the targets, e.g. for PaCo's queue of labelled
    keys) or a module of `ltcli pretrain` returning (logits, features or None)."""
    out = step(images, targets)
    if not isinstance(out, dict):
        logits, features = out
        out = {"logits": logits, "features": features}
    # Objectives always compute in float32 (or the float64 of tests), whatever autocast produced.
    return {k: v.float() if v.dtype in (torch.float16, torch.bfloat16) else v for k, v in out.items() if v is not None}


def forward_loss(
    step: nn.Module, objective: nn.Module, images: Images, targets: torch.Tensor,
    compute: Compute | None = None, mixed: MixedTargets | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and the objective's loss, `objective(logits, targets, **extra outputs)`; with mixup the
    loss mixes the two targets' losses."""
    with compute.autocast() if compute is not None else contextlib.nullcontext():
        out = step_outputs(step, images, targets)
    logits = out.pop("logits")

    def loss(target: torch.Tensor) -> torch.Tensor:
        return objective(logits, target, **out)

    return logits, loss(targets) if mixed is None else mixed.combine(loss, targets)


def train_one_epoch(
    step: nn.Module,
    method: Method,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler,
    device: torch.device,
    epoch: int,
    progress: Progress,
    compute: Compute | None = None,
    *,
    dist: Dist = SINGLE,
    ema: ModelEmaV3 | None = None,
    mix: BatchMix | None = None,
    num_classes: int | None = None,
) -> dict[str, float]:
    """One pass over the training data; returns sample-weighted loss, acc, top5acc, the rate the
    epoch trained at (`lr`: its first update's; every update's under the step schedule) and, given
    `num_classes`, GM, HM and lowest recall of the epoch's training predictions (against the
    unmixed labels, as acc).

    Running sums stay on the device and are read once at the end: a per-batch `.item()` would make
    the CPU wait for the GPU every step. For the same reason a non-finite loss is remembered on the
    device (its first batch) and reported after the epoch; the previous epoch's checkpoint is intact.
    Under torchrun the sums and the first bad batch are reduced over the processes.
    """
    compute = compute or Compute(device)
    train_mode(step)
    lr = optimizer.param_groups[0]["lr"]  # set by the scheduler for the epoch's first update
    tally = EpochTally.on(device, num_classes)
    task = progress.add_task(f"epoch {epoch + 1}", total=len(loader))
    updates = epoch * len(loader)
    threads = compute.threads
    if threads is not None:
        threads.start_epoch(epoch)
    for batch, item in enumerate(loader):
        # Under torchrun the streaming loader yields None for a share in which no file decoded;
        # then every process skips the step (all must make the same collective calls).
        stop, skip = dist.any(STOP.requested, item is None)
        if stop:
            raise KeyboardInterrupt
        updates += 1
        if not skip:
            images, targets = item
            targets = targets.to(device, non_blocking=True)
            weight = share_weight(targets.numel(), loader, batch, dist.world_size) if dist.enabled else 1.0
            logits, loss = train_step(step, method, optimizer, compute, images.to(device, non_blocking=True),
                                      targets, mix, weight)
            tally.add(batch, loss, logits, targets)
        scheduler.step_update(num_updates=updates)
        if ema is not None and not skip:
            ema.update(ema_source(step), step=updates)
        if threads is not None and not skip:
            threads.after_step(targets.numel())
        progress.update(task, advance=1)
    progress.remove_task(task)
    if threads is not None:
        threads.end_epoch()
    return tally.totals(epoch, dist, lr)


def train_step(step: nn.Module, method: Method, optimizer: torch.optim.Optimizer, compute: Compute,
               images: torch.Tensor, targets: torch.Tensor, mix: BatchMix | None, weight: float = 1.0
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step (two for COT) on a batch; returns the detached logits and loss. `weight`
    scales this process's loss so DDP's gradient average is the whole batch's mean."""
    if images.ndim == 5:  # [B, views, C, H, W]: the views a multi-view objective (train_views > 1) trains on
        images = tuple(compute.images(view) for view in images.unbind(1))
    else:
        images = compute.images(images)
    images, mixed = mix(images, targets) if mix is not None else (images, None)
    logits, loss = forward_loss(step, method.loss, images, targets, compute, mixed)
    optimizer.zero_grad(set_to_none=True)
    compute.backward_step(loss * weight if weight != 1.0 else loss, optimizer)
    if method.second_step is not None:
        # COT's second step: fresh logits from the updated weights, then the complement objective.
        with compute.autocast():
            second_logits = step_outputs(step, images, targets)["logits"]
        second_loss = functools.partial(method.second_step, second_logits)
        second = second_loss(targets) if mixed is None else mixed.combine(second_loss, targets)
        optimizer.zero_grad(set_to_none=True)
        compute.backward_step(second * weight if weight != 1.0 else second, optimizer)
    return logits.detach(), loss.detach()


def share_weight(images: int, loader, step: int, world_size: int) -> float:
    """DDP averages the processes' gradients with equal weights; a process whose share of a step's
    batch is larger or smaller than 1/world_size of it (the epoch's last batch, say 9 and 8 of 17)
    scales its mean loss so the average is the mean over the whole batch, as in one process."""
    return images * world_size / loader.batch_sampler.step_size(step)


def ema_source(step: nn.Module) -> nn.Module:
    """The model inside the training module (under DDP / torch.compile / TrainStep wrappers)."""
    while not isinstance(step, TrainStep):
        step = step.module if hasattr(step, "module") else step._orig_mod
    return step.model


@torch.no_grad()
def validation_loss(
    objective: nn.Module, logits: np.ndarray, labels: np.ndarray, device: torch.device,
    features: np.ndarray | None = None,
) -> float:
    """The objective on the whole validation set at once (for batch-level objectives this is their
    value with the whole set as one batch); `features` given when the method's loss takes them."""
    extra = {} if features is None else {"features": torch.from_numpy(features).to(device)}
    return float(objective(torch.from_numpy(logits).to(device), torch.from_numpy(labels).to(device), **extra))


def validate(model: nn.Module, method: Method, loader: DataLoader, class_counts: list[int],
             device: torch.device, dist: Dist = SINGLE, tpauc: Sequence[tuple[float, float]] | None = None
             ) -> dict[str, float]:
    """The validation row of an epoch: the objective's loss on the whole split, then the metric columns
    (`valid_columns`: with `tpauc` pairs, a binary task's AUROC and TPAUC too). Under torchrun every
    process predicts its shard and the predictions are gathered first."""
    logits, labels, features = dist.concat(predict_with_features(
        model, loader, device, features=method.features
    ))
    # one-logit binary runs included; TPAUC only where asked (it sorts the scores)
    metrics = evaluate_logits(logits, labels, class_counts, tpauc=tpauc or ())
    return {"loss": validation_loss(method.loss, logits, labels, device, features),
            **{k: metrics[k] for k in valid_columns(tpauc)}}


class StopRequest:
    """Ctrl-C and SIGTERM only raise a flag; the loop stops at the next batch boundary, so a signal
    can never land inside a checkpoint write."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: object) -> None:
        self.requested = True

    def check(self, dist: Dist | None = None) -> None:
        """Raise KeyboardInterrupt when asked to stop; under torchrun all processes stop together
        (a signal may reach them a batch apart)."""
        if (dist or SINGLE).any(self.requested)[0]:
            raise KeyboardInterrupt


STOP = StopRequest()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Ctrl-C and SIGTERM only raise STOP's flag while training; the loop stops at a batch boundary."""
    STOP.requested = False
    previous = {sig: signal.signal(sig, STOP) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_epochs(epochs: range, one_epoch: Callable[[int, Progress], None], console: Console, last_checkpoint: Path,
               resume_command: str, show: bool = True) -> None:
    """Run `one_epoch(epoch, bar)` for each epoch with a progress bar, Ctrl-C/SIGTERM stopping at a
    batch boundary; an interrupt says where the last finished epoch is and how to continue."""
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=console, transient=True, disable=not show)
    try:
        with bar, stop_on_signals():
            for epoch in epochs:
                one_epoch(epoch, bar)
    except KeyboardInterrupt:
        # checkpoint_last.pt already holds the last finished epoch (written atomically)
        console.print(f"[yellow]interrupted:[/] {last_checkpoint} holds the last finished epoch; "
                      f"continue with `{resume_command}`")
        raise
