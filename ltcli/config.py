"""A run's settings in one dataclass: the CLI fills it, the engine reads it, the run folder keeps it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainConfig:
    """Every option of `ltcli train`, with the defaults of the original CCE tool where it had them."""

    dataset: str | None = None
    data: str | None = None
    model: str = "resnet32"
    objective: str = "CCE"
    objective_options: dict[str, Any] = field(default_factory=dict)
    train_rule: str = "None"
    drw_epoch: int | None = None
    cb_beta: float = 0.9999
    positive_classes: list[str] | None = None
    pos_neg_ratio: str | None = None
    epochs: int = 200
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    sched: str = "step"
    lr_steps: list[int] = field(default_factory=lambda: [60, 60, 40, 40])
    lr_decay: float = 0.1
    warmup_epochs: int = 5
    min_lr: float = 0.0
    height: int = 32
    width: int = 32
    augment: str = "auto"
    data_cache: str = "auto"
    amp: str = "auto"
    channels_last: str = "auto"
    compile: bool = False
    hflip: float = 0.5
    mixup: float = 0.0  # Beta(alpha, alpha) of timm's Mixup; 0 = off
    cutmix: float = 0.0
    mix_prob: float = 1.0  # chance a batch is mixed at all
    mix_switch_prob: float = 0.5  # chance of CutMix instead of mixup when both are on
    ema_decay: float = 0.0  # exponential moving average of the weights (timm ModelEmaV3); 0 = off
    sync_bn: bool = False  # torchrun on CUDA: BatchNorm statistics over all processes' batches
    pretrained: bool = False
    weights: str | None = None
    init_from: str | None = None
    freeze: str = "none"
    seed: int = 0
    device: str = "auto"
    workers: int = 2
    strict: bool = False  # decode every image before training; a corrupt file is then an error
    datasets_dir: str = "a_datasets"
    logs_dir: str = "logs"
    select_metric: str = "acc"  # the validation column whose best value picks checkpoint_best.pt

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
