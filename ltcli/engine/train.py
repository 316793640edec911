"""fit(): train one run from a TrainConfig, top to bottom, writing everything into its run folder."""

from __future__ import annotations

import json
import platform
import random
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn
from torch.utils.data import DataLoader

import ltcli
from ltcli.atomic import atomic_write_text
from ltcli.config import TrainConfig
from ltcli.data.loaders import make_loader, open_train_data, resolve_data_root
from ltcli.data.transforms import build_transform, resolve_augment
from ltcli.engine.checkpoint import save_checkpoint
from ltcli.engine.evaluate import predict
from ltcli.engine.logger import RunLogger
from ltcli.engine.schedule import create_scheduler
from ltcli.errors import LtcliError
from ltcli.metrics import evaluate_logits, is_improvement, topk_accuracy
from ltcli.models import create_model
from ltcli.objectives import Objective, create_objective
from ltcli.runs import BEST_CHECKPOINT, CONFIG_NAME, LAST_CHECKPOINT, create_run_dir

# Validation columns logged each epoch besides the loss (the lowest-recall column is named so it
# cannot be read as the learning rate).
VALID_COLUMNS = (
    "acc", "top5acc", "balanced_acc", "macro_f1", "nll", "ece", "gmean_recall", "hmean_recall", "lowest_recall",
)


def check_select_metric(name: str) -> None:
    """--select-metric must name a logged validation column (the loss included)."""
    if name not in ("loss", *VALID_COLUMNS):
        raise LtcliError(f"unknown --select-metric {name!r}: choose one of loss, {', '.join(VALID_COLUMNS)}")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise LtcliError("--device cuda asked for, but PyTorch sees no CUDA GPU: use --device cpu")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise LtcliError(f"unknown --device {name!r}: use auto, cpu or cuda[:N]")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def library_versions() -> dict[str, str]:
    import sklearn
    import timm
    import torchvision

    versions = {
        "ltcli": ltcli.__version__, "python": platform.python_version(), "torch": torch.__version__,
        "torchvision": torchvision.__version__, "timm": timm.__version__, "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }
    # torch.__version__ is a str subclass that weights_only checkpoint loading refuses: store plain str.
    return {name: str(version) for name, version in versions.items()}


def train_one_epoch(
    model: nn.Module,
    objective: Objective,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler,
    device: torch.device,
    epoch: int,
    progress: Progress,
) -> dict[str, float]:
    """One pass over the training data; returns sample-weighted loss, acc, top5acc and the final lr."""
    model.train()
    total_loss, seen = 0.0, 0
    logits_seen: list[np.ndarray] = []
    labels_seen: list[np.ndarray] = []
    task = progress.add_task(f"epoch {epoch + 1}", total=len(loader))
    updates = epoch * len(loader)
    for batch, (images, targets) in enumerate(loader):
        images = images.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        logits = model(images)
        loss = objective(logits, targets)
        if not torch.isfinite(loss):
            raise LtcliError(f"loss became {loss.item()} at epoch {epoch + 1}, batch {batch + 1}: lower --lr?")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if objective.has_second_step:
            second = objective.second_step(model(images), targets)
            optimizer.zero_grad(set_to_none=True)
            second.backward()
            optimizer.step()
        updates += 1
        scheduler.step_update(num_updates=updates)
        total_loss += loss.item() * targets.numel()
        seen += targets.numel()
        logits_seen.append(logits.detach().float().cpu().numpy())
        labels_seen.append(targets.cpu().numpy())
        progress.update(task, advance=1)
    progress.remove_task(task)
    all_logits, all_labels = np.concatenate(logits_seen), np.concatenate(labels_seen)
    return {
        "loss": total_loss / max(seen, 1),
        "acc": float((all_logits.argmax(1) == all_labels).mean()),
        "top5acc": topk_accuracy(all_logits, all_labels, 5),
        "lr": optimizer.param_groups[0]["lr"],
    }


@torch.no_grad()
def validation_loss(objective: Objective, logits: np.ndarray, labels: np.ndarray, device: torch.device) -> float:
    """The objective on the whole validation set at once (for batch-level objectives this is their
    value with the whole set as one batch)."""
    value = objective(torch.from_numpy(logits).to(device), torch.from_numpy(labels).to(device))
    return float(value)


def fit(config: TrainConfig, console: Console | None = None) -> Path:
    """Train `config` and return the run folder."""
    check_select_metric(config.select_metric)
    console = console or Console()
    device = resolve_device(config.device)
    seed_everything(config.seed)
    root, dataset_name = resolve_data_root(
        config.dataset, Path(config.data) if config.data else None, Path(config.datasets_dir)
    )
    augment = resolve_augment(config.augment, config.height, config.width)
    data = open_train_data(
        root,
        build_transform(config.height, config.width, True, augment, config.hflip),
        build_transform(config.height, config.width, False, augment, config.hflip),
    )
    if data.valid_split == "test":
        console.print(f"[yellow]note:[/] {root} has no valid/ split: validation (best-epoch choice) uses test/")
    class_counts = data.class_counts
    if min(class_counts) == 0:
        empty = [n for n, c in zip(data.class_names, class_counts, strict=True) if c == 0]
        raise LtcliError(f"class(es) with no training image: {', '.join(empty)}")
    model = create_model(config.model, num_classes=len(data.class_names), pretrained=config.pretrained).to(device)
    objective = create_objective(config.objective, class_counts, **config.objective_options).to(device)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum,
        weight_decay=config.weight_decay, nesterov=config.nesterov,
    )
    train_loader = make_loader(data.train, config.batch_size, True, config.workers, device, config.seed)
    valid_loader = make_loader(data.valid, config.batch_size, False, config.workers, device, config.seed)
    scheduler = create_scheduler(
        optimizer, config.sched, config.epochs, len(train_loader), config.lr_steps,
        config.lr_decay, config.warmup_epochs, config.min_lr,
    )
    run_dir = create_run_dir(Path(config.logs_dir), config.model, dataset_name, config.objective)
    run_record = {
        **config.to_dict(),
        "dataset_name": dataset_name,
        "dataset_root": str(root.resolve()),
        "valid_split": data.valid_split,
        "augment_resolved": augment,
        "device_resolved": str(device),
        "class_names": data.class_names,
        "class_counts": class_counts,
        "versions": library_versions(),
    }
    atomic_write_text(run_dir / CONFIG_NAME, json.dumps(run_record, indent=2) + "\n")
    console.print(
        f"run [bold]{run_dir}[/]: {config.model} / {config.objective} on {dataset_name} "
        f"({len(data.train)} train, {len(data.valid)} {data.valid_split}, {len(data.class_names)} classes, {device})"
    )
    logger = RunLogger(run_dir)
    best_value: float | None = None  # of config.select_metric
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, transient=True,
    )
    try:
        with progress:
            for epoch in range(config.epochs):
                started = time.perf_counter()
                objective.set_epoch(epoch)
                train_stats = train_one_epoch(
                    model, objective, train_loader, optimizer, scheduler, device, epoch, progress
                )
                logits, labels = predict(model, valid_loader, device)
                metrics = evaluate_logits(logits, labels, class_counts)
                valid_stats = {
                    "loss": validation_loss(objective, logits, labels, device),
                    **{k: metrics[k] for k in VALID_COLUMNS},
                }
                elapsed = time.perf_counter() - started
                logger.log("train", epoch, {**train_stats, "time_s": round(elapsed, 3)})
                logger.log("valid", epoch, valid_stats)
                state = {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch,
                    "class_names": data.class_names,
                    "class_counts": class_counts,
                    "config": run_record,
                    "valid_metrics": {k: valid_stats[k] for k in ("loss", "acc", "balanced_acc", config.select_metric)},
                    "select_metric": config.select_metric,
                }
                save_checkpoint(run_dir / LAST_CHECKPOINT, state)
                selected = valid_stats[config.select_metric]
                improved = is_improvement(config.select_metric, selected, best_value) or epoch == 0
                if improved:
                    best_value = selected
                    save_checkpoint(run_dir / BEST_CHECKPOINT, state)
                console.print(
                    f"epoch {epoch + 1:>3}/{config.epochs}  train loss {train_stats['loss']:.4f} "
                    f"acc {train_stats['acc']:.2%}  |  {data.valid_split} loss {valid_stats['loss']:.4f} "
                    f"acc {valid_stats['acc']:.2%} bal {valid_stats['balanced_acc']:.2%}  |  "
                    f"lr {train_stats['lr']:.4g}  {elapsed:.1f}s" + ("  [green]best[/]" if improved else "")
                )
    finally:
        logger.close()
    best_text = "undefined" if best_value is None else f"{best_value:.4f}"
    console.print(f"done: best {data.valid_split} {config.select_metric} {best_text}; checkpoints in {run_dir}")
    return run_dir
