"""pretrain(): one self-supervised pre-training run, told by the engine's run story (`engine.story`,
as `ltcli train`'s): the same run folder, epochs, crash-safe checkpoints, logs and interrupts. What
differs is said here: the validation (the pretext's loss and accuracy on the validation images, labels
unused), the pretext's state beside the backbone in checkpoints (its `Method` record's), the lines.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import Progress

from ltcli.engine import persist, story
from ltcli.engine.compute import Compute
from ltcli.engine.loop import forward_loss, train_one_epoch
from ltcli.engine.run_lock import hold_run
from ltcli.engine.runtime import resolve_device
from ltcli.engine.tally import topk_correct
from ltcli.engine.train import as_run
from ltcli.errors import LtcliError
from ltcli.pretrain.assemble import Pretraining, build_pretraining
from ltcli.pretrain.config import PretrainConfig
from ltcli.run_folder import RunFolder


def pretrain(config: PretrainConfig, console: Console | None = None, resume: Path | RunFolder | None = None) -> Path:
    """Pre-train `config`'s backbone and return the run folder; with `resume`, continue that run."""
    console = console or Console()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise LtcliError("ltcli pretrain runs in one process: start it without torchrun")
    parts = build_pretraining(config, console, resolve_device(config.device))
    return story.run_training(PretrainingRun(parts), console, None if resume is None else as_run(resume))


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
        persist.refuse_finished(run, last.epoch + 1, config.epochs)
        return pretrain(config, console, resume=run)


class PretrainingRun(story.RunKind):
    """`ltcli pretrain`'s part of the run story (`engine.story`)."""

    parts: Pretraining
    command = "pretrain"

    @property
    def group(self) -> str:
        return self.parts.config.run_group

    def start_line(self, run: RunFolder) -> str:
        parts, config = self.parts, self.parts.config
        extra = f" + {parts.extra_images} unlabeled" if parts.extra_images else ""
        return (f"run [bold]{run.path}[/]: {config.method} pre-training of {config.model} on {parts.dataset_name} "
                f"({len(parts.data.train) - parts.extra_images} train{extra}, {len(parts.data.valid)} "
                f"{parts.data.valid_split} images, labels unused, {parts.device})")

    def train_and_validate(self, epoch: int, bar: Progress) -> tuple[story.Stats, story.Stats]:
        parts = self.parts
        loss, loaders = parts.method.loss, parts.loaders
        train_stats = train_one_epoch(parts.network, parts.method, loaders["train"], parts.optimizer, parts.scheduler,
                                      parts.device, epoch, bar, parts.compute)
        return train_stats, validate_pretext(parts.network, loss, loaders["valid"], parts.compute, parts.config.seed)

    def done_line(self, run: RunFolder, progress: persist.Progress) -> str:
        return (f"done: best {self.parts.data.valid_split} pretext loss {progress.best_value:.4f} (epoch "
                f"{progress.best_epoch + 1}); start training from its backbone with "
                f"`ltcli train --init-from {run.path}`")


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
