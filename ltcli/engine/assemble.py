"""Assemble a run's parts from its config: data, task labels, objective, rule, backbone and the
network the method trains around it, optimizer, schedule. Nothing is written here, so every check
runs before a run folder exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import convert_sync_batchnorm
from timm.scheduler.scheduler import Scheduler
from timm.utils import ModelEmaV3
from torch import nn

from ltcli.config import TrainConfig
from ltcli.data.binary import BINARY_CLASS_NAMES, IsPositive, parse_positive_classes
from ltcli.data.fastjpeg import draft_loader
from ltcli.data.images import load_rgb
from ltcli.data.loaders import TrainData
from ltcli.data.pipeline import Pipeline, build_pipeline
from ltcli.data.samplers import PosNegBatchSampler, parse_pos_neg_ratio
from ltcli.data.source import DataSource, open_train_data, resolve_source
from ltcli.data.transforms import build_transform, resolve_augment
from ltcli.data.views import multi_view_transform
from ltcli.engine.compute import Compute, prepare_model, resolve_compute
from ltcli.engine.distributed import Dist
from ltcli.engine.mixing import BatchMix, create_batch_mix
from ltcli.engine.pseudo import PseudoLabels, add_pseudo_labels
from ltcli.engine.record import num_outputs, run_record
from ltcli.engine.runtime import seed_everything
from ltcli.engine.schedule import create_optimization
from ltcli.engine.skipped import require_any_decodable, require_decodable
from ltcli.engine.threads import create_thread_tuner
from ltcli.errors import LtcliError
from ltcli.method import Method, from_objective
from ltcli.models import create_model
from ltcli.models.weights import freeze, load_weights
from ltcli.objectives import Objective
from ltcli.rebalance import TrainRule
from ltcli.runs import check_logs_outside, find_run


@dataclass
class Task:
    """What the model learns: the folder's classes, or negative/positive with --positive-classes."""

    class_names: list[str]
    train_targets: list[int]
    positive: list[str]  # the source classes counted positive ([] for a multi-class task)
    class_counts: list[int]


@dataclass
class Training:
    """Everything `fit` drives, built by `build_training`; `record` is the run's config.json. As in a
    `Pretraining`: `backbone` is the bare model (timm's, here with its head) and `network` what the
    method wraps around it and trains (the backbone itself unless the method wraps it: PaCo's encoder
    pair; RIDE's experts, which share only the backbone's stem and train copies of its late stages)."""

    config: TrainConfig
    dist: Dist
    device: torch.device
    root: Path  # where the images are: skipped files are listed relative to it
    dataset_name: str
    data: TrainData
    task: Task
    method: Method  # the objective's record: its loss, the model wrapper, the views it trains on
    rule: TrainRule
    mix: BatchMix | None
    backbone: nn.Module
    network: nn.Module  # optimised, validated and checkpointed
    step: nn.Module  # the module the loop calls: (images, targets) -> {"logits": ..., extra outputs}
    ema: ModelEmaV3 | None
    compute: Compute
    optimizer: torch.optim.Optimizer
    scheduler: Scheduler
    pipeline: Pipeline
    record: dict[str, Any]
    pseudo: PseudoLabels | None = None  # unlabeled images labelled by another run, the kept ones in data.train
    source: DataSource | None = None

    @property
    def objective(self) -> Objective:
        return self.method.loss

    @property
    def checkpointed(self) -> nn.Module:
        """The module whose weights checkpoints keep under `model`: the network, which `ltcli test`
        rebuilds from the run's config (`model_wrapper`)."""
        return self.network

    @property
    def files_root(self) -> Path:
        """The folder skipped files are listed relative to."""
        return self.root

    @property
    def eval_model(self) -> nn.Module:
        """The weights validated and kept as the best: the EMA when there is one."""
        return self.ema.module if self.ema is not None else self.network

    @property
    def loaders(self) -> dict[str, Any]:
        return {"train": self.pipeline.train, "valid": self.pipeline.valid}


def locate_data(config: Any) -> tuple[DataSource, str]:
    """A run's dataset (folder or lists) and its name, refused when the logs folder lies inside it."""
    source, dataset_name = resolve_source(
        config.dataset, Path(config.data) if config.data else None, Path(config.datasets_dir),
        Path(config.data_root) if config.data_root else None,
    )
    check_logs_outside(Path(config.logs_dir), source.image_root)
    return source, dataset_name


def check_data(config: Any, source: DataSource, data: TrainData, console: Console,
               validation: str = "validation") -> None:
    """--strict's full decode, a decodable validation image at least, and a note when test/ stands in for valid/."""
    if config.strict:
        require_decodable(data, console)
    require_any_decodable(data.valid, source.where(data.valid_split), purpose=f"{validation} needs")
    if data.valid_split == "test":
        console.print(f"[yellow]note:[/] {source.root} has no valid split: {validation} (best-epoch choice) uses test")


def image_transforms(height: int, width: int, augment: str, hflip: float) -> tuple[Any, Any]:
    """The train and eval transforms of a run."""
    return (build_transform(height, width, True, augment, hflip), build_transform(height, width, False, augment, hflip))


def open_data(config: TrainConfig, console: Console) -> tuple[DataSource, str, TrainData, str]:
    """The dataset, its name, its train and validation splits (read through Pillow's draft), and the augmentation."""
    source, dataset_name = locate_data(config)
    augment = resolve_augment(config.augment, config.height, config.width)
    train_tf, eval_tf = image_transforms(config.height, config.width, augment, config.hflip)
    (train_loader, train_tf), (eval_loader, eval_tf) = draft_loader(train_tf), draft_loader(eval_tf)
    data = open_train_data(source, train_tf, eval_tf, train_loader, eval_loader)
    check_data(config, source, data, console)
    return source, dataset_name, data, augment


def task_labels(data: TrainData, positive_classes: list[str] | None) -> Task:
    """Class names and training targets of the task: the folder's classes, or, with
    --positive-classes, negative/positive (the datasets then map their targets to 0/1)."""
    if not positive_classes:
        names, targets, positive = data.class_names, np.asarray(data.train.targets).tolist(), []
    else:
        positive = parse_positive_classes(positive_classes, data.class_names)
        to_binary = IsPositive(data.class_names, positive)
        data.train.target_transform = data.valid.target_transform = to_binary
        names, targets = BINARY_CLASS_NAMES, [to_binary(t) for t in np.asarray(data.train.targets).tolist()]
    counts = np.bincount(targets, minlength=len(names)).tolist()
    if min(counts) == 0:
        empty = [n for n, c in zip(names, counts, strict=True) if c == 0]
        raise LtcliError(f"class(es) with no training image: {', '.join(empty)}")
    return Task(list(names), targets, positive, counts)


def build_model(config: TrainConfig, num_outputs: int, method: Method, dist: Dist, device: torch.device,
                console: Console, resume: bool) -> tuple[nn.Module, nn.Module]:
    """The backbone with its head (--head), and the network the method trains around it (`method.wrap`:
    RIDE's experts, PaCo's encoder pair), started from --weights/--init-from (not when resuming;
    the classifier left fresh with --reinit-head), frozen as asked, with SyncBatchNorm under
    torchrun on GPUs (converted in place: the backbone stays the network's)."""
    backbone = create_model(config.model, num_classes=num_outputs, pretrained=config.pretrained,
                            cosine_head=method.cosine_head, head=config.head)
    network = method.wrap(backbone).to(device)
    weights_file = Path(config.weights) if config.weights else None
    if config.init_from:
        if Path(config.init_from).is_file():
            raise LtcliError(f"--init-from takes a run folder, and {config.init_from} is a file: start from it with "
                             f"--weights {config.init_from}")
        weights_file = find_run(Path(config.logs_dir), run=Path(config.init_from)).best_checkpoint
    if weights_file is not None and not resume:
        report = load_weights(network, weights_file, reinit_head=config.reinit_head, allow_partial=config.allow_partial)
        console.print(report.summary(weights_file), markup=False, highlight=False)
    freeze(network, config.freeze)
    if config.sync_bn:
        if not (dist.enabled and device.type == "cuda"):
            raise LtcliError("--sync-bn shares BatchNorm statistics between the GPUs of a torchrun run: "
                             "it needs torchrun and CUDA")
        network = convert_sync_batchnorm(network)  # timm's: keeps BatchNormAct2d's activation
    return backbone, network


def per_process_batch(config: TrainConfig, dist: Dist) -> int:
    """The batch each process trains on: --batchsize is the images per optimizer step over all processes."""
    if not dist.enabled:
        return config.batch_size
    if config.batch_size % dist.world_size or config.batch_size < 2 * dist.world_size:
        raise LtcliError(
            f"--batchsize {config.batch_size} is the batch of each step over all {dist.world_size} processes: "
            f"it must split evenly, at least 2 images each"
        )
    return config.batch_size // dist.world_size


def build_pipeline_for(config: TrainConfig, data: TrainData, task: Task, rule: TrainRule, augment: str,
                       dist: Dist, device: torch.device, console: Console, views: int = 1) -> Pipeline:
    """Training and validation loaders: the rule's sampling or --pos-neg-ratio batches, sharded over
    processes; `views` augmented views of each training image (an objective's `train_views`)."""
    batch_sampler = None
    if config.pos_neg_ratio is not None:
        batch_sampler = PosNegBatchSampler(task.train_targets, config.batch_size,
                                           parse_pos_neg_ratio(config.pos_neg_ratio), config.seed,
                                           parts=dist.world_size)
    to_task = data.valid.target_transform or (lambda t: t)
    if views > 1:  # the streaming path's dataset yields every view of an image, stacked, each its own crop
        base = build_transform(config.height, config.width, True, augment, config.hflip)
        data.train.loader = load_rgb
        data.train.transform = multi_view_transform(base, views, config.height, config.width, augment, config.hflip)
    pipeline = build_pipeline(
        data, task.train_targets, [to_task(t) for t in data.valid.targets], cache_mode=config.data_cache,
        augment=augment, height=config.height, width=config.width, hflip=config.hflip,
        mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD, batch_size=config.batch_size,
        workers=config.workers, device=device, seed=config.seed,
        sample_weights=rule.sample_weights(task.train_targets, task.class_counts),
        batch_sampler=batch_sampler, console=console, rank=dist.rank, world_size=dist.world_size, views=views,
    )
    if len(pipeline.train) == 0:
        raise LtcliError(f"the training split has {len(data.train)} image(s): too few for one step of at least "
                         "2 images per process")
    return pipeline


def build_training(config: TrainConfig, console: Console, dist: Dist, device: torch.device,
                   resume: bool = False, run_folder: Path | None = None) -> Training:
    """Every part of a run, in the order that keeps the random streams of earlier ltcli runs;
    `run_folder`: the run being resumed (what it recorded is reused)."""
    batch = per_process_batch(config, dist)
    seed_everything(config.seed + dist.rank)  # samplers are seeded alike on all processes, below
    source, dataset_name, data, augment = open_data(config, console)
    pseudo = add_pseudo_labels(config, source, data, device, console, run_folder)
    task = task_labels(data, config.positive_classes)
    # The objective with the run's --opt options (one rule for both: TrainConfig.build_objective), as the
    # run loop's Method record; the rule was built and checked with it by the config's validation.
    method = from_objective(config.objective, config.build_objective(task.class_counts))
    method.loss.to(device)
    rule = config.rule
    mix = create_batch_mix(config.mixup, config.cutmix, config.mix_prob, config.mix_switch_prob,
                           len(task.class_names), batch)
    backbone, network = build_model(config, num_outputs(task, method), method, dist, device, console, resume)
    compute = resolve_compute(config.amp, config.channels_last, device, config.clip_grad)
    step = prepare_model(network, compute, config.compile, method.features, dist)
    ema = ModelEmaV3(network, decay=config.ema_decay, use_warmup=True) if config.ema_decay > 0 else None
    pipeline = build_pipeline_for(config, data, task, rule, augment, dist, device, console, method.views)
    compute.threads = create_thread_tuner(config.threads, device, pipeline.train)
    optimizer, scheduler = create_optimization(config, network, pipeline.train)
    training = Training(config, dist, device, source.image_root, dataset_name, data, task, method, rule, mix,
                        backbone, network, step, ema, compute, optimizer, scheduler, pipeline, record={}, pseudo=pseudo,
                        source=source)
    training.record = run_record(training, augment)
    return training
