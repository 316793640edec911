"""fit(): train one run from a TrainConfig, top to bottom, writing everything into its run folder."""

from __future__ import annotations

import contextlib
import functools
import json
import platform
import random
import signal
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import convert_sync_batchnorm
from timm.utils import ModelEmaV3
from torch import nn
from torch.utils.data import DataLoader

import ltcli
from ltcli.atomic import atomic_write_text
from ltcli.config import TrainConfig
from ltcli.data.binary import BINARY_CLASS_NAMES, IsPositive, parse_positive_classes
from ltcli.data.loaders import TrainData, open_train_data, resolve_data_root
from ltcli.data.pipeline import build_pipeline
from ltcli.data.samplers import PosNegBatchSampler, parse_pos_neg_ratio
from ltcli.data.transforms import build_transform, resolve_augment
from ltcli.engine.checkpoint import load_checkpoint, save_checkpoint
from ltcli.engine.compute import Compute, prepare_model, resolve_compute
from ltcli.engine.distributed import Dist, distributed
from ltcli.engine.evaluate import predict_with_features
from ltcli.engine.logger import RunLogger
from ltcli.engine.mixing import BatchMix, MixedTargets, create_batch_mix
from ltcli.engine.schedule import create_scheduler
from ltcli.engine.skipped import SkippedFiles, require_decodable
from ltcli.engine.state import capture_rng, restore_rng
from ltcli.errors import LtcliError
from ltcli.metrics import evaluate_logits, is_improvement
from ltcli.models import create_model
from ltcli.models.heads import WithFeatures
from ltcli.models.weights import freeze, load_weights, train_mode
from ltcli.objectives import Objective, create_objective, get_objective_entry
from ltcli.rebalance import TrainRule, sample_weights
from ltcli.runs import BEST_CHECKPOINT, CONFIG_NAME, LAST_CHECKPOINT, create_run_dir, find_run

SINGLE = Dist()  # a process on its own

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


def forward_loss(
    step: nn.Module, objective: Objective, images: torch.Tensor, targets: torch.Tensor,
    compute: Compute | None = None, mixed: MixedTargets | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and the objective's loss. `step` is the training module of `prepare_model`
    (images -> (logits, features or None)); with mixup the loss mixes the two targets' losses."""
    with compute.autocast() if compute is not None else contextlib.nullcontext():
        logits, features = step(images)
    # Objectives always compute in float32 (or the float64 of tests), whatever autocast produced.
    logits = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    if features is not None:
        features = features.float()

    def loss(target: torch.Tensor) -> torch.Tensor:
        return objective(logits, target) if features is None else objective(logits, target, features=features)

    return logits, loss(targets) if mixed is None else mixed.combine(loss, targets)


NO_BAD_BATCH = 2**62  # "no non-finite loss yet", larger than any batch number (reduced with min)


def train_one_epoch(
    step: nn.Module,
    objective: Objective,
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
) -> dict[str, float]:
    """One pass over the training data; returns sample-weighted loss, acc, top5acc and the final lr.

    Running sums stay on the device and are read once at the end: a per-batch `.item()` would make
    the CPU wait for the GPU every step. For the same reason a non-finite loss is remembered on the
    device (its first batch) and reported after the epoch; the previous epoch's checkpoint is intact.
    Under torchrun the sums and the first bad batch are reduced over the processes.
    """
    compute = compute or Compute(device)
    train_mode(step)
    sums = torch.zeros(3, device=device, dtype=torch.float64)  # loss * n, top-1 hits, top-5 hits
    seen = 0
    first_bad = torch.full((), NO_BAD_BATCH, device=device, dtype=torch.long)
    task = progress.add_task(f"epoch {epoch + 1}", total=len(loader))
    updates = epoch * len(loader)
    for batch, item in enumerate(loader):
        # Under torchrun the streaming loader yields None for a share in which no file decoded;
        # then every process skips the step (all must make the same collective calls).
        stop, skip = dist.any(STOP.requested, item is None)
        if stop:
            raise KeyboardInterrupt
        updates += 1
        if skip:
            scheduler.step_update(num_updates=updates)
            progress.update(task, advance=1)
            continue
        images, targets = item
        images = compute.images(images.to(device, non_blocking=True))
        targets = targets.to(device, non_blocking=True)
        images, mixed = mix(images, targets) if mix is not None else (images, None)
        logits, loss = forward_loss(step, objective, images, targets, compute, mixed)
        first_bad = torch.where((first_bad == NO_BAD_BATCH) & ~torch.isfinite(loss.detach()), batch, first_bad)
        weight = share_weight(targets.numel(), loader, batch, dist.world_size) if dist.enabled else 1.0
        optimizer.zero_grad(set_to_none=True)
        compute.backward_step(loss * weight if weight != 1.0 else loss, optimizer)
        if objective.has_second_step:
            # COT's second step: fresh logits from the updated weights, then the complement objective.
            with compute.autocast():
                second_logits = step(images)[0].float()
            second_loss = functools.partial(objective.second_step, second_logits)
            second = second_loss(targets) if mixed is None else mixed.combine(second_loss, targets)
            optimizer.zero_grad(set_to_none=True)
            compute.backward_step(second * weight if weight != 1.0 else second, optimizer)
        scheduler.step_update(num_updates=updates)
        if ema is not None:
            ema.update(ema_source(step), step=updates)
        sums += torch.cat([(loss.detach().double() * targets.numel()).view(1), topk_correct(logits.detach(), targets)])
        seen += targets.numel()
        progress.update(task, advance=1)
    progress.remove_task(task)
    bad_batch = int(dist.min_(first_bad))
    if bad_batch != NO_BAD_BATCH:
        raise LtcliError(
            f"the loss became NaN or infinite at epoch {epoch + 1}, batch {bad_batch + 1}: stopped; the last "
            "good checkpoint is checkpoint_last.pt (try a lower --lr)"
        )
    totals = torch.cat([sums, torch.tensor([seen], dtype=torch.float64).to(device)])
    total_loss, top1, top5, seen = dist.sum_(totals).tolist()
    if seen == 0:
        raise LtcliError(
            f"no training image of epoch {epoch + 1} decoded: every file failed to load "
            "(`ltcli stats` lists the bad files)"
        )
    return {
        "loss": total_loss / max(seen, 1),
        "acc": top1 / max(seen, 1),
        "top5acc": top5 / max(seen, 1),
        "lr": optimizer.param_groups[0]["lr"],
    }


def share_weight(images: int, loader, step: int, world_size: int) -> float:
    """DDP averages the processes' gradients with equal weights; a process whose share of a step's
    batch is larger or smaller than 1/world_size of it (the epoch's last batch, say 9 and 8 of 17)
    scales its mean loss so the average is the mean over the whole batch, as in one process."""
    return images * world_size / loader.batch_sampler.step_size(step)


def ema_source(step: nn.Module) -> nn.Module:
    """The model inside the training module (under DDP / torch.compile / WithFeatures wrappers)."""
    while not isinstance(step, WithFeatures):
        step = step.module if hasattr(step, "module") else step._orig_mod
    return step.model


def topk_correct(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """[top-1 hits, top-5 hits] of a batch as a device tensor (single-logit binary: z > 0 is positive)."""
    if logits.shape[1] == 1:
        logits = torch.cat([torch.zeros_like(logits), logits], dim=1)
    top = logits.topk(min(5, logits.shape[1]), dim=1).indices
    hits = top == targets[:, None]
    return torch.stack([hits[:, 0].sum(), hits.any(dim=1).sum()])


@torch.no_grad()
def validation_loss(
    objective: Objective, logits: np.ndarray, labels: np.ndarray, device: torch.device,
    features: np.ndarray | None = None,
) -> float:
    """The objective on the whole validation set at once (for batch-level objectives this is their
    value with the whole set as one batch)."""
    args = (torch.from_numpy(logits).to(device), torch.from_numpy(labels).to(device))
    if objective.needs_features and features is not None:
        return float(objective(*args, features=torch.from_numpy(features).to(device)))
    return float(objective(*args))


def task_labels(data: TrainData, positive_classes: list[str] | None) -> tuple[list[str], list[int], list[str]]:
    """Class names and training targets of the task: the folder's classes, or, with
    --positive-classes, negative/positive (the datasets then map their targets to 0/1)."""
    if not positive_classes:
        return data.class_names, list(data.train.targets), []
    positive = parse_positive_classes(positive_classes, data.class_names)
    to_binary = IsPositive(data.class_names, positive)
    data.train.target_transform = data.valid.target_transform = to_binary
    return BINARY_CLASS_NAMES, [to_binary(t) for t in data.train.targets], positive


def build_objective(config: TrainConfig, class_counts: list[int]) -> Objective:
    """The objective with the run's options; an objective paced over training gets --epochs."""
    entry = get_objective_entry(config.objective)
    options = dict(config.objective_options)
    if "epochs" in entry.options and "epochs" not in options:
        options["epochs"] = config.epochs
    return create_objective(entry.name, class_counts, **options)


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


def restore_training_state(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler, loaders: dict, device: torch.device,
    compute: Compute | None = None, ema: ModelEmaV3 | None = None, dist: Dist = SINGLE,
) -> tuple[int, float | None, int]:
    """Load a run's last checkpoint into the freshly built objects; returns (next epoch, best value,
    the number of processes that wrote it)."""
    checkpoint = load_checkpoint(path, map_location=device)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    rng = checkpoint["rng"]
    if isinstance(rng, list):  # one state per process of a torchrun run
        rng = rng[dist.rank] if len(rng) == dist.world_size else rng[0]
    restore_rng(rng, loaders)
    if compute is not None and compute.scaler is not None and checkpoint.get("scaler"):
        compute.scaler.load_state_dict(checkpoint["scaler"])
    if ema is not None and checkpoint.get("model_ema"):
        ema.module.load_state_dict(checkpoint["model_ema"])
    return int(checkpoint["epoch"]) + 1, checkpoint.get("best_value"), int(checkpoint["config"].get("world_size", 1))


def resume_run(run_dir: Path, console: Console | None = None) -> Path:
    """Continue an interrupted run with the settings it was started with."""
    checkpoint = load_checkpoint(Path(run_dir) / LAST_CHECKPOINT)
    config = TrainConfig.from_dict(checkpoint["config"])
    if int(checkpoint["epoch"]) + 1 >= config.epochs:
        raise LtcliError(f"{run_dir} already finished all {config.epochs} epochs: nothing to resume")
    return fit(config, console, resume=Path(run_dir))


def fit(config: TrainConfig, console: Console | None = None, resume: Path | None = None) -> Path:
    """Train `config` and return the run folder; with `resume`, continue that run from its last
    checkpoint. Launched by torchrun, every process calls this and trains its share."""
    with distributed(config.device) as (dist, device_name):
        if not dist.is_main:
            console = Console(quiet=True)
        return _fit(config, console or Console(), resume, dist, resolve_device(device_name))


def check_batch_split(config: TrainConfig, dist: Dist) -> int:
    """The batch each process trains on: --batchsize is the images per optimizer step over all processes."""
    if not dist.enabled:
        return config.batch_size
    if config.batch_size % dist.world_size or config.batch_size < 2 * dist.world_size:
        raise LtcliError(
            f"--batchsize {config.batch_size} is the batch of each step over all {dist.world_size} processes: "
            f"it must split evenly, at least 2 images each"
        )
    return config.batch_size // dist.world_size


def _fit(config: TrainConfig, console: Console, resume: Path | None, dist: Dist, device: torch.device) -> Path:
    check_select_metric(config.select_metric)
    per_process_batch = check_batch_split(config, dist)
    seed_everything(config.seed + dist.rank)  # samplers are seeded alike on all processes, below
    root, dataset_name = resolve_data_root(
        config.dataset, Path(config.data) if config.data else None, Path(config.datasets_dir)
    )
    augment = resolve_augment(config.augment, config.height, config.width)
    data = open_train_data(
        root,
        build_transform(config.height, config.width, True, augment, config.hflip),
        build_transform(config.height, config.width, False, augment, config.hflip),
    )
    if config.strict:
        require_decodable(data, console)
    if data.valid_split == "test":
        console.print(f"[yellow]note:[/] {root} has no valid/ split: validation (best-epoch choice) uses test/")
    class_names, train_targets, positive = task_labels(data, config.positive_classes)
    class_counts = np.bincount(train_targets, minlength=len(class_names)).tolist()
    if min(class_counts) == 0:
        empty = [n for n, c in zip(class_names, class_counts, strict=True) if c == 0]
        raise LtcliError(f"class(es) with no training image: {', '.join(empty)}")
    objective = build_objective(config, class_counts).to(device)
    rule = TrainRule.create(config.train_rule, config.epochs, config.drw_epoch, config.cb_beta)
    rule.check(config.objective, objective)
    mix = create_batch_mix(config.mixup, config.cutmix, config.mix_prob, config.mix_switch_prob,
                           len(class_names), per_process_batch)
    num_outputs = 1 if positive and objective.single_logit_binary else len(class_names)
    model = create_model(
        config.model, num_classes=num_outputs, pretrained=config.pretrained,
        cosine_head=objective.needs_cosine_head,
    ).to(device)
    weights_file = Path(config.weights) if config.weights else None
    if config.init_from:
        weights_file = find_run(Path(config.logs_dir), run=Path(config.init_from)).path / BEST_CHECKPOINT
    if weights_file is not None and resume is None:
        console.print(load_weights(model, weights_file).summary(weights_file))
    freeze(model, config.freeze)
    if config.sync_bn:
        if not (dist.enabled and device.type == "cuda"):
            raise LtcliError("--sync-bn shares BatchNorm statistics between the GPUs of a torchrun run: "
                             "it needs torchrun and CUDA")
        model = convert_sync_batchnorm(model)  # timm's: keeps BatchNormAct2d's activation
    compute = resolve_compute(config.amp, config.channels_last, device)
    step = prepare_model(model, compute, config.compile, objective.needs_features, dist)
    ema = ModelEmaV3(model, decay=config.ema_decay, use_warmup=True) if config.ema_decay > 0 else None
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=config.lr, momentum=config.momentum,
        weight_decay=config.weight_decay, nesterov=config.nesterov,
    )
    batch_sampler = None
    if config.pos_neg_ratio is not None:
        if not positive:
            raise LtcliError("--pos-neg-ratio stratifies binary tasks: give --positive-classes too")
        if rule.samples:
            raise LtcliError(f"--pos-neg-ratio already decides the batches: drop --train-rule {rule.name}")
        batch_sampler = PosNegBatchSampler(
            train_targets, config.batch_size, parse_pos_neg_ratio(config.pos_neg_ratio), config.seed,
            parts=dist.world_size,
        )
    to_task = data.valid.target_transform or (lambda t: t)
    pipeline = build_pipeline(
        data, train_targets, [to_task(t) for t in data.valid.targets], cache_mode=config.data_cache,
        augment=augment, height=config.height, width=config.width, hflip=config.hflip,
        mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD, batch_size=config.batch_size,
        workers=config.workers, device=device, seed=config.seed,
        sample_weights=sample_weights(train_targets, class_counts, rule.name) if rule.samples else None,
        batch_sampler=batch_sampler, console=console, rank=dist.rank, world_size=dist.world_size,
    )
    train_loader, valid_loader = pipeline.train, pipeline.valid
    if len(train_loader) == 0:
        raise LtcliError(
            f"the training split has {len(data.train)} image(s): too few for one step of at least 2 images "
            f"per process"
        )
    scheduler = create_scheduler(
        optimizer, config.sched, config.epochs, len(train_loader), config.lr_steps,
        config.lr_decay, config.warmup_epochs, config.min_lr,
    )
    run_record = {
        **config.to_dict(),
        "dataset_name": dataset_name,
        "dataset_root": str(root.resolve()),
        "valid_split": data.valid_split,
        "augment_resolved": augment,
        "data_cache_resolved": pipeline.cache,
        "amp_resolved": compute.amp_name,
        "channels_last_resolved": compute.channels_last,
        "device_resolved": str(device),
        "world_size": dist.world_size,
        "distributed_backend": dist.backend,
        "class_names": class_names,
        "source_class_names": data.class_names,
        "positive_classes": positive,
        "num_outputs": num_outputs,
        "class_counts": class_counts,
        "cosine_head": objective.needs_cosine_head,
        "drw_epoch_resolved": rule.drw_epoch if rule.name == "DRW" else None,
        "versions": library_versions(),
    }
    loaders = {"train": train_loader, "valid": valid_loader}
    start_epoch, best_value = 0, None  # best_value: of config.select_metric
    if resume is None:
        run_dir = None
        if dist.is_main:
            run_dir = create_run_dir(Path(config.logs_dir), config.model, dataset_name, config.objective)
            atomic_write_text(run_dir / CONFIG_NAME, json.dumps(run_record, indent=2) + "\n")
        run_dir = Path(dist.broadcast(str(run_dir)))
    else:
        run_dir = Path(resume)
        start_epoch, best_value, started_with = restore_training_state(
            run_dir / LAST_CHECKPOINT, model, optimizer, scheduler, loaders, device, compute, ema, dist
        )
        console.print(f"resuming {run_dir} at epoch {start_epoch + 1}/{config.epochs}")
        if started_with != dist.world_size:
            console.print(f"[yellow]note:[/] the run started with {started_with} process(es) and resumes with "
                          f"{dist.world_size}: the data order from here differs from an uninterrupted run's")
    processes = f", {dist.world_size} processes ({dist.backend})" if dist.enabled else ""
    console.print(
        f"run [bold]{run_dir}[/]: {config.model} / {config.objective} on {dataset_name} "
        f"({len(data.train)} train, {len(data.valid)} {data.valid_split}, {len(class_names)} classes, "
        f"{device}{processes})"
    )
    logger = RunLogger(run_dir, resume_after=None if resume is None else start_epoch - 1) if dist.is_main else None
    skipped = SkippedFiles(run_dir, root, {"train": data.train, data.valid_split: data.valid})
    eval_model = ema.module if ema is not None else model

    def training_state(epoch: int) -> dict:
        """Collective under torchrun (every process's RNG state is gathered); rank 0 saves it."""
        rng = capture_rng(loaders)
        return {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "model_ema": ema.module.state_dict() if ema is not None else None,
            "epoch": epoch, "class_names": class_names, "class_counts": class_counts, "config": run_record,
            "select_metric": config.select_metric, "best_value": best_value,
            "rng": dist.gather(rng) if dist.enabled else rng,
            "scaler": compute.scaler.state_dict() if compute.scaler is not None else None,
        }

    def save(path: Path, state: dict) -> None:
        if dist.is_main:
            save_checkpoint(path, state)

    if resume is None:  # epoch -1: an interrupt during the first epoch still leaves a resumable run
        save(run_dir / LAST_CHECKPOINT, training_state(-1))
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, transient=True, disable=not dist.is_main,
    )
    STOP.requested = False
    previous = {sig: signal.signal(sig, STOP) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with progress:
            for epoch in range(start_epoch, config.epochs):
                started = time.perf_counter()
                objective.set_epoch(epoch)
                if hasattr(train_loader.batch_sampler, "set_epoch"):
                    train_loader.batch_sampler.set_epoch(epoch)
                if objective.supports_class_weights:
                    objective.set_class_weights(rule.class_weights(epoch, class_counts))
                train_stats = train_one_epoch(
                    step, objective, train_loader, optimizer, scheduler, device, epoch, progress, compute,
                    dist=dist, ema=ema, mix=mix,
                )
                dist.same_buffers(model, *([ema.module] if ema is not None else []))
                logits, labels, features = dist.concat(predict_with_features(
                    eval_model, valid_loader, device, features=objective.needs_features
                ))
                for dataset in (data.train, data.valid):
                    dist.union_(dataset.failed)
                if dist.is_main:
                    skipped.report(console)
                metrics = evaluate_logits(logits, labels, class_counts)  # one-logit binary runs included
                valid_stats = {
                    "loss": validation_loss(objective, logits, labels, device, features),
                    **{k: metrics[k] for k in VALID_COLUMNS},
                }
                elapsed = time.perf_counter() - started
                if logger is not None:
                    logger.log("train", epoch, {**train_stats, "time_s": round(elapsed, 3)})
                    logger.log("valid", epoch, valid_stats)
                selected = valid_stats[config.select_metric]
                improved = is_improvement(config.select_metric, selected, best_value) or epoch == 0
                if improved:
                    best_value = selected
                state = training_state(epoch)
                reported = ("loss", "acc", "balanced_acc", config.select_metric)
                state["valid_metrics"] = {k: valid_stats[k] for k in reported}
                save(run_dir / LAST_CHECKPOINT, state)
                if improved:
                    save(run_dir / BEST_CHECKPOINT, state)
                STOP.check(dist)
                console.print(
                    f"epoch {epoch + 1:>3}/{config.epochs}  train loss {train_stats['loss']:.4f} "
                    f"acc {train_stats['acc']:.2%}  |  {data.valid_split} loss {valid_stats['loss']:.4f} "
                    f"acc {valid_stats['acc']:.2%} bal {valid_stats['balanced_acc']:.2%}  |  "
                    f"lr {train_stats['lr']:.4g}  {elapsed:.1f}s" + ("  [green]best[/]" if improved else "")
                )
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: checkpoint_last.pt already holds the last finished epoch (written atomically).
        console.print(f"[yellow]interrupted:[/] {run_dir / LAST_CHECKPOINT} holds the last finished epoch; "
                      f"continue with `ltcli train --resume {run_dir}`")
        raise
    finally:
        if logger is not None:
            logger.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    best_text = "undefined" if best_value is None else f"{best_value:.4f}"
    console.print(f"done: best {data.valid_split} {config.select_metric} {best_text}; checkpoints in {run_dir}")
    if skipped.count:
        console.print(skipped.summary())
    return run_dir
