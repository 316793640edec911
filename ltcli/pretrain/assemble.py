"""Assemble a pre-training run's parts from its config: the images (labels set aside), the backbone,
the pretext task on it, optimizer and schedule. The data side is train's own (`engine.assemble`,
`data.pipeline`); nothing is written here, so every check runs before a run folder exists.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.scheduler.scheduler import Scheduler
from torch import nn

from ltcli.data.folder import is_image_name, iter_class_files
from ltcli.data.list_index import parse_list
from ltcli.data.loaders import TrainData
from ltcli.data.pipeline import Pipeline, build_pipeline
from ltcli.data.source import DataSource, open_source, open_train_data
from ltcli.data.split import SPLITS
from ltcli.data.transforms import resolve_augment
from ltcli.data.unlabeled import same_bytes
from ltcli.engine.assemble import Task, check_data, image_transforms, locate_data
from ltcli.engine.compute import Compute, resolve_compute
from ltcli.engine.distributed import Dist
from ltcli.engine.record import shared_record
from ltcli.engine.runtime import seed_everything
from ltcli.engine.schedule import create_optimization
from ltcli.engine.threads import create_thread_tuner
from ltcli.errors import LtcliError
from ltcli.method import Method
from ltcli.models import create_model
from ltcli.pretrain.config import PretrainConfig
from ltcli.pretrain.methods import get_pretext
from ltcli.pretrain.parts import PretextLoader, feature_size

UNLABELED = -1  # the target of an --extra-unlabeled image in the data pipeline (never read)


@dataclass
class Pretraining:
    """Everything a pre-training run drives; `persist` captures and restores it as it does a Training.
    As there, `backbone` is the bare model (timm's, here without classifier) and `network` what the
    method wraps around it and trains (the rotation head, MoCo's encoders)."""

    config: PretrainConfig
    device: torch.device
    root: Path
    dataset_name: str
    data: TrainData
    task: Task  # the dataset's classes and training counts: recorded in checkpoints, never trained on
    extra_images: int
    backbone: nn.Module
    method: Method  # the pretext task: its loss, network, batches and checkpoint state
    network: nn.Module  # what the loop steps and the optimizer trains
    compute: Compute
    optimizer: torch.optim.Optimizer
    scheduler: Scheduler
    pipeline: Pipeline
    record: dict[str, Any] = field(default_factory=dict)
    source: DataSource | None = None
    dist: Dist = field(default_factory=Dist)  # one process
    ema: None = None

    @property
    def checkpointed(self) -> nn.Module:
        """The module whose weights checkpoints keep under `model`: the backbone, with timm's own
        names, so `ltcli train --init-from` loads them (the rest of the network: the method's `state`)."""
        return self.backbone

    @property
    def loaders(self) -> dict[str, PretextLoader]:
        """The pipeline's loaders, yielding the pretext task's inputs and targets."""
        make = self.method.make_batch
        return {"train": PretextLoader(self.pipeline.train, make, self.device),
                "valid": PretextLoader(self.pipeline.valid, make, self.device)}

    @property
    def files_root(self) -> Path:
        """The folder that skipped files are listed relative to: the dataset's, or one that also holds
        the --extra-unlabeled folder."""
        if self.config.extra_unlabeled is None:
            return self.root
        return Path(os.path.commonpath([self.root, Path(self.config.extra_unlabeled).resolve()]))


def unlabeled_files(extra: Path) -> list[str]:
    """The images of --extra-unlabeled: every image file under a folder (any layout; hidden files
    skipped, as everywhere), or the lines of a list file (paths relative to its folder; labels ignored)."""
    if extra.is_file():
        index = parse_list(extra, labelled=False)
        return [str(extra.parent / index.path(i)) for i in range(len(index))]
    if not extra.is_dir():
        raise LtcliError(f"--extra-unlabeled folder not found (nor a list file): {extra}")
    return [str(path) for path in iter_class_files(extra) if is_image_name(path)]


def dataset_files(root: Path, own_lists: Sequence[Path]) -> list[Path]:
    """Every image file of the dataset, as --extra-unlabeled is compared with it: the splits' folders,
    or the files a list dataset's lists name."""
    if own_lists:
        return [root / index.path(i) for index in (parse_list(p) for p in own_lists) for i in range(len(index))]
    return [p for split in SPLITS for p in (root / split).rglob("*") if p.is_file()]


def add_unlabeled(dataset: Any, extra: Path, root: Path, own_lists: Sequence[Path] = ()) -> int:
    """Append the --extra-unlabeled images to the training split, without a label. Returns how many."""
    extra = extra.resolve()
    if extra.is_file():
        if extra in {p.resolve() for p in own_lists}:
            raise LtcliError(f"--extra-unlabeled {extra} is one of the dataset's own lists: its training images are "
                             "used already, and its validation and test images must stay unseen")
    elif extra == root or root in extra.parents or extra in root.parents:
        raise LtcliError(f"--extra-unlabeled {extra} overlaps the dataset {root}: its training images are used "
                         "already, and its validation and test images must stay unseen")
    files = unlabeled_files(extra)
    if not files:
        raise LtcliError(f"--extra-unlabeled {extra} holds no image files")
    copy = same_bytes([Path(f) for f in files], dataset_files(root, own_lists))
    if copy is not None:
        raise LtcliError(f"--extra-unlabeled {extra} holds {copy[0]}, a copy of the dataset's image {copy[1]} (same "
                         "bytes): its validation and test images must stay unseen")
    dataset.append_files(files, [UNLABELED] * len(files))
    return len(files)


def open_images(config: PretrainConfig, augment: str, console: Console) -> tuple[DataSource, str, TrainData, int]:
    """The dataset (its folders resolved, so files from --extra-unlabeled and from the dataset share one
    form), its name, train and validation splits, and the number of extra unlabeled images."""
    source, dataset_name = locate_data(config)
    source = open_source(source.root.resolve(), source.image_root.resolve() if source.lists is not None else None)
    root = source.image_root
    data = open_train_data(source, *image_transforms(config.height, config.width, augment, config.hflip))
    if len(data.class_names) < 2:
        raise LtcliError(f"{source.where('train')} has {len(data.class_names)} class(es): the backbone is for a "
                         "classifier, and its checkpoints name at least two classes")
    own_lists = list(source.lists.splits.values()) if source.lists is not None else []
    extra = add_unlabeled(data.train, Path(config.extra_unlabeled), root, own_lists) if config.extra_unlabeled else 0
    check_data(config, source, data, console, validation="the pretext's validation")
    return source, dataset_name, data, extra


def build_pretraining(config: PretrainConfig, console: Console, device: torch.device) -> Pretraining:
    """Every part of a pre-training run, built in a fixed order from a seed (so a resumed run rebuilds
    the same parts before its checkpoint is loaded)."""
    seed_everything(config.seed)
    pretext_task = get_pretext(config.method)
    augment = resolve_augment(pretext_task.augment(config), config.height, config.width)
    source, dataset_name, data, extra = open_images(config, augment, console)
    root = source.image_root
    labelled = [t for t in data.train.targets if t != UNLABELED]
    counts = np.bincount(labelled, minlength=len(data.class_names)).tolist()
    task = Task(list(data.class_names), labelled, [], counts)
    backbone = create_model(config.model, num_classes=0)
    method = pretext_task.method(config, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)
    network = method.wrap(backbone).to(device)
    method.loss.to(device)
    compute = resolve_compute(config.amp, config.channels_last, device, config.clip_grad)
    if compute.channels_last:
        network.to(memory_format=torch.channels_last)
    pipeline = build_pipeline(
        data, list(data.train.targets), list(data.valid.targets), cache_mode=config.data_cache, augment=augment,
        height=config.height, width=config.width, hflip=config.hflip, mean=IMAGENET_DEFAULT_MEAN,
        std=IMAGENET_DEFAULT_STD, batch_size=config.batch_size, workers=config.workers, device=device,
        seed=config.seed, sample_weights=None, batch_sampler=None, console=console,
    )
    if len(pipeline.train) == 0:
        raise LtcliError(f"the training split has {len(data.train)} image(s): too few for one step of at least "
                         "2 images")
    compute.threads = create_thread_tuner(config.threads, device, pipeline.train)
    optimizer, scheduler = create_optimization(config, network, pipeline.train)
    parts = Pretraining(config, device, root, dataset_name, data, task, extra, backbone, method, network, compute,
                        optimizer, scheduler, pipeline, source=source)
    parts.record = run_record(parts, augment)
    return parts


def run_record(parts: Pretraining, augment: str) -> dict[str, Any]:
    """config.json: the settings, then how each `auto` was resolved and what the data held."""
    config = parts.config
    return {
        **config.to_dict(), "command": "pretrain", "paper": parts.method.paper, "select_metric": config.select_metric,
        **shared_record(parts, augment), "train_images": len(parts.data.train),
        "extra_unlabeled_images": parts.extra_images, "feature_size": feature_size(parts.backbone),
        "lr_steps_resolved": config.lr_stages,
    }
