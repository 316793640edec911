"""pretrain(): one self-supervised pre-training run, told like `engine.train`: parts from `assemble`,
epochs from the engine's own loop (`train_one_epoch`, unchanged), checkpoints in train's crash-safe
order (`persist`), rows through `RunLogger`, Ctrl-C/SIGTERM through `STOP`. What differs is the
validation (the pretext's loss and accuracy on the validation images, labels unused) and what a
checkpoint holds beside the backbone (the pretext task's heads, key encoder and queue).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import Progress

from ltcli.checkpoint import Checkpoint
from ltcli.engine import persist
from ltcli.engine.compute import Compute
from ltcli.engine.logger import RunLogger
from ltcli.engine.loop import STOP, forward_loss, run_epochs, topk_correct, train_one_epoch
from ltcli.engine.run_lock import hold_run
from ltcli.engine.runtime import resolve_device
from ltcli.engine.skipped import SkippedFiles
from ltcli.engine.train import as_run, discard_run
from ltcli.errors import LtcliError
from ltcli.pretrain.assemble import Pretraining, build_pretraining
from ltcli.pretrain.config import PretrainConfig
from ltcli.pretrain.parts import load_pretext_state, pretext_state
from ltcli.run_folder import RunFolder
from ltcli.runs import create_run_dir


def pretrain(config: PretrainConfig, console: Console | None = None, resume: Path | RunFolder | None = None) -> Path:
    """Pre-train `config`'s backbone and return the run folder; with `resume`, continue that run."""
    console = console or Console()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise LtcliError("ltcli pretrain runs in one process: start it without torchrun")
    parts = build_pretraining(config, console, resolve_device(config.device))
    return run_pretraining(parts, console, None if resume is None else as_run(resume))


def resume_pretraining(run: RunFolder | Path, console: Console | None = None) -> Path:
    """Continue an interrupted pre-training run with the settings it was started with."""
    run = as_run(run)
    last = persist.load_last(run)
    if last.config.get("command") != "pretrain":
        raise LtcliError(f"{run.path} is a training run, not a pre-training one: continue it with "
                         f"`ltcli train --resume {run.path}`")
    config = PretrainConfig.from_dict(last.config)
    with hold_run(run.path):  # one process trains a run at a time
        persist.resume_progress(run, last)  # a best checkpoint lost to a kill is put back even when all epochs ran
        if last.epoch + 1 >= config.epochs:
            raise LtcliError(f"{run.path} already finished all {config.epochs} epochs: nothing to resume")
        return pretrain(config, console, resume=run)


def run_pretraining(parts: Pretraining, console: Console, resume: RunFolder | None = None) -> Path:
    """The epochs of a run, from the start or from `resume`'s last checkpoint."""
    run, progress = open_run(parts, resume, console)
    with hold_run(run.path):
        return pretrain_epochs(parts, console, run, progress, resume)


def pretrain_epochs(parts: Pretraining, console: Console, run: RunFolder, progress: persist.Progress,
                    resume: RunFolder | None) -> Path:
    config = parts.config
    logger = RunLogger(run, resume_after=None if resume is None else progress.next_epoch - 1)
    skipped = SkippedFiles(run, parts.files_root, {"train": parts.data.train, parts.data.valid_split: parts.data.valid})
    try:
        run_epochs(range(progress.next_epoch, config.epochs),
                   lambda epoch, bar: run_epoch(parts, epoch, run, progress, bar, logger, skipped, console),
                   console, run.last_checkpoint, f"ltcli pretrain --resume {run.path}")
    except Exception:  # failed before its first epoch ended: nothing worth resuming (see engine.train)
        if resume is None and progress.next_epoch == 0:
            discard_run(run, Path(config.logs_dir))
        raise
    finally:
        logger.close()
    console.print(f"done: best {parts.data.valid_split} pretext loss {progress.best_value:.4f} (epoch "
                  f"{progress.best_epoch + 1}); start training from its backbone with "
                  f"`ltcli train --init-from {run.path}`")
    if skipped.count:
        console.print(skipped.summary())
    return run.path


def capture(parts: Pretraining, progress: persist.Progress, epoch: int,
            valid_stats: dict[str, float] | None = None) -> Checkpoint:
    """train's checkpoint of the backbone (`model`, timm's names), plus the pretext task's state."""
    checkpoint = persist.capture(parts, progress, epoch, valid_stats)
    checkpoint.pretext = pretext_state(parts.pretext.network)
    return checkpoint


def open_run(parts: Pretraining, resume: RunFolder | None, console: Console) -> tuple[RunFolder, persist.Progress]:
    """A new run folder with its config and an epoch -1 checkpoint, or `resume`'s with the parts restored."""
    config = parts.config
    if resume is None:
        run = create_run_dir(Path(config.logs_dir), config.model, parts.dataset_name, config.run_group)
        progress = persist.Progress()
        try:
            run.write_config(parts.record)
            persist.save_epoch(run, capture(parts, progress, -1), improved=False)
        except BaseException:
            discard_run(run, Path(config.logs_dir))
            raise
    else:
        run = resume
        run.remove_stray_temps()
        last = persist.load_last(run, map_location=parts.device)
        persist.restore(parts, last)
        load_pretext_state(parts.pretext.network, last.pretext, run.last_checkpoint)
        progress = persist.resume_progress(run, last)
        console.print(f"resuming {run.path} at epoch {progress.next_epoch + 1}/{config.epochs}")
    extra = f" + {parts.extra_images} unlabeled" if parts.extra_images else ""
    console.print(
        f"run [bold]{run.path}[/]: {config.method} pre-training of {config.model} on {parts.dataset_name} "
        f"({len(parts.data.train) - parts.extra_images} train{extra}, {len(parts.data.valid)} "
        f"{parts.data.valid_split} images, labels unused, {parts.device})"
    )
    return run, progress


def run_epoch(parts: Pretraining, epoch: int, run: RunFolder, progress: persist.Progress, bar: Progress,
              logger: RunLogger, skipped: SkippedFiles, console: Console) -> None:
    """Train one epoch of the pretext task, validate it, log both rows, keep the checkpoints; stop
    after it if asked."""
    config, loaders, pretext = parts.config, parts.loaders, parts.pretext
    started = time.perf_counter()
    train_stats = train_one_epoch(pretext.network, pretext.objective, loaders["train"], parts.optimizer,
                                  parts.scheduler, parts.device, epoch, bar, parts.compute)
    valid_stats = validate_pretext(pretext.network, pretext.objective, loaders["valid"], parts.compute, config.seed)
    elapsed = time.perf_counter() - started
    skipped.report(console)
    logger.log("train", epoch, {**train_stats, "time_s": round(elapsed, 3)})
    logger.log("valid", epoch, valid_stats)
    improved = progress.update(config.select_metric, epoch, valid_stats[config.select_metric])
    persist.save_epoch(run, capture(parts, progress, epoch, valid_stats), improved)
    STOP.check()
    console.print(
        f"epoch {epoch + 1:>3}/{config.epochs}  train loss {train_stats['loss']:.4f} acc {train_stats['acc']:.2%}  |  "
        f"{parts.data.valid_split} loss {valid_stats['loss']:.4f} acc {valid_stats['acc']:.2%}  |  "
        f"lr {train_stats['lr']:.4g}  {elapsed:.1f}s" + ("  [green]best[/]" if improved else "")
    )


@torch.no_grad()
def validate_pretext(network: torch.nn.Module, objective: torch.nn.Module, loader, compute: Compute,
                     seed: int) -> dict[str, float]:
    """The pretext's loss, top-1 and top-5 accuracy on the validation images (sample-weighted means).

    Random pretext inputs (MoCo's views) are drawn from a generator reset to `seed` every time, so
    each epoch is scored on the same inputs and the training's random stream is left as it was.
    """
    network.eval()
    device = compute.device
    sums = torch.zeros(3, device=device, dtype=torch.float64)  # loss * n, top-1 hits, top-5 hits
    seen = 0
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        for inputs, targets in loader:
            logits, loss = forward_loss(network, objective, compute.images(inputs), targets, compute)
            sums += torch.cat([(loss.double() * targets.numel()).view(1), topk_correct(logits, targets)])
            seen += targets.numel()
    if seen == 0:
        raise LtcliError("no validation image decoded: the pretext cannot be validated")
    total_loss, top1, top5 = (sums / seen).tolist()
    return {"loss": total_loss, "acc": top1, "top5acc": top5}
