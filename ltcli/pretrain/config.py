"""The settings of a pre-training run in one dataclass that checks itself, like `TrainConfig`: the
shared options keep train's names and checks; the method's own options come after them.

`PretrainConfig(...)` raises LtcliError (one line, naming the flag) before anything is written.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

from ltcli.bounds import MAX_FEATURE_DIM, MAX_QUEUE, at_most, check_run_sizes
from ltcli.choices import AMP_MODES, CACHE_MODES, SCHEDULES, SWITCH_MODES, check_device_name
from ltcli.config import DEFAULT_LR_STAGES, DEFAULT_WORKERS, at_least, check_schedule, check_types, flag, in_range
from ltcli.errors import LtcliError
from ltcli.layout import DATASETS_DIR, LOGS_DIR


@dataclass
class PretrainConfig:
    """Every option of `ltcli pretrain` with its default."""

    method: str = "rotation"
    dataset: str | None = None
    data: str | None = None
    data_root: str | None = None  # a lists dataset's image folder (default: the lists' folder)
    extra_unlabeled: str | None = None  # a folder of more images (any layout) added to the pretext's training set
    model: str = "resnet32"
    epochs: int = 200
    batch_size: int = 128  # images per step (rotation trains on their 4 rotations: 4x as many inputs)
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    sched: str = "cosine"
    lr_steps: list[int] | None = None  # None: DEFAULT_LR_STAGES (with --sched step)
    lr_decay: float = 0.1
    warmup_epochs: int | None = None  # None: scaled to --epochs as `ltcli train` does (config.default_warmup)
    min_lr: float = 0.0
    height: int = 32
    width: int = 32
    hflip: float = 0.5
    data_cache: str = "auto"
    amp: str = "auto"
    channels_last: str = "auto"
    moco_dim: int = 128  # MoCo: size of the projected features (MoCo v2's 128)
    moco_queue: int = 4096  # MoCo: queued keys used as negatives (lightly's CIFAR examples use 4096)
    moco_momentum: float = 0.99  # MoCo: the key encoder's momentum m (Eq. 2 of He et al.)
    temperature: float = 0.1  # MoCo: tau of the contrastive loss
    seed: int = 0
    device: str = "auto"
    workers: int = DEFAULT_WORKERS
    strict: bool = False
    datasets_dir: str = DATASETS_DIR
    logs_dir: str = LOGS_DIR

    # The best epoch (checkpoint_best.pt) has the lowest pretext loss on the validation images.
    select_metric: ClassVar[str] = "loss"
    MOCO_OPTIONS: ClassVar[tuple[str, ...]] = ("moco_dim", "moco_queue", "moco_momentum", "temperature")

    # A saved run's config (from_dict) was checked when it started: a rule added since must not stop its resume.
    saved: dataclasses.InitVar[bool] = False

    def __post_init__(self, saved: bool) -> None:
        from ltcli.config import default_warmup

        if self.warmup_epochs is None:
            self.warmup_epochs = default_warmup(self.epochs)
        self.validate(saved)

    @property
    def lr_stages(self) -> list[int]:
        return list(self.lr_steps) if self.lr_steps is not None else list(DEFAULT_LR_STAGES)

    @property
    def run_group(self) -> str:
        """The run folder's third level, where a training run names its objective: pretrain-<method>."""
        return f"pretrain-{self.method}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PretrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known}, saved=True)

    def replace(self, **changes: Any) -> PretrainConfig:
        return dataclasses.replace(self, **changes)

    def validate(self, saved: bool = False) -> None:
        """Check every value, then what the method itself needs. Raises LtcliError."""
        from ltcli.config import check_warmup
        from ltcli.pretrain.methods import get_pretext

        check_types(self, lists=("lr_steps",))
        self._check_numbers()
        check_run_sizes(self, flag, views=4 if self.method == "rotation" else 2)  # rotation: 4 rotations a batch
        for name, high in (("moco_queue", MAX_QUEUE), ("moco_dim", MAX_FEATURE_DIM)):
            at_most(self, name, high, flag(name))
        self._check_choices()
        check_schedule(self, saved)
        check_warmup(self, saved)
        get_pretext(self.method).check(self)

    def _check_numbers(self) -> None:
        for name in ("epochs", "batch_size", "height", "width", "moco_dim", "moco_queue"):
            at_least(self, name, 1)
        for name in ("workers", "seed", "warmup_epochs"):
            at_least(self, name, 0)
        for name in ("weight_decay", "min_lr"):
            at_least(self, name, 0.0)
        in_range(self, "lr", 0.0, float("inf"), low_open=True)
        in_range(self, "temperature", 0.0, float("inf"), low_open=True)
        in_range(self, "lr_decay", 0.0, 1.0, low_open=True)
        in_range(self, "momentum", 0.0, 1.0, high_open=True)
        in_range(self, "moco_momentum", 0.0, 1.0, high_open=True)
        in_range(self, "hflip", 0.0, 1.0)
        if self.seed >= 2**32:
            raise LtcliError(f"--seed must be below 2**32, got {self.seed}")
        if self.min_lr >= self.lr:
            raise LtcliError(f"--min-lr ({self.min_lr}) must be below --lr ({self.lr})")

    def _check_choices(self) -> None:
        from ltcli.pretrain.methods import PRETEXTS

        for name, choices in (("method", tuple(PRETEXTS)), ("sched", SCHEDULES), ("data_cache", CACHE_MODES),
                              ("amp", AMP_MODES), ("channels_last", SWITCH_MODES)):
            if getattr(self, name) not in choices:
                raise LtcliError(f"unknown {flag(name)} {getattr(self, name)!r}: choose one of {', '.join(choices)}")
        check_device_name(self.device)
        if (self.dataset is None) == (self.data is None):
            raise LtcliError("give exactly one of --dataset NAME (under a_datasets/) or --data PATH")


# Every default by field name: what the CLI's options show and fall back to.
DEFAULT = SimpleNamespace(**{f.name: f.default for f in dataclasses.fields(PretrainConfig)
                             if f.default is not dataclasses.MISSING})
