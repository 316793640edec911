"""The settings of a pre-training run in one dataclass that checks itself, like `TrainConfig`: the
shared options keep train's names and checks; the method's own options come after them.

`PretrainConfig(...)` raises LtcliError (one line, naming the flag) before anything is written.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

from ltcli.bounds import MAX_FEATURE_DIM, MAX_QUEUE, at_most, check_run_sizes
from ltcli.choices import SCHEDULES
from ltcli.schedule_rules import check_schedule
from ltcli.settings import (
    DEFAULT_LR_STAGES,
    RunSettings,
    at_least,
    check_types,
    flag,
    in_range,
    option,
    read_later,
    register_flags,
)

MOCO_PANEL = "MoCo (--method moco)"


@register_flags
@dataclass
class PretrainConfig(RunSettings):
    """Every option of `ltcli pretrain` with its default: the shared ones (RunSettings), then its own."""

    # differs from train's: no 200-epoch step default here, pre-training decays by cosine at any length
    sched: str = option("cosine", "cosine or step (drops after each --lrstep stage).", choices=SCHEDULES)
    method: str = option(  # \[: not rich markup
        "rotation", "rotation (predict 0/90/180/270 degrees, Gidaris et al. 2018) or moco (momentum contrast, He "
        "et al. 2020; needs `pip install \"ltcli\\[ssl]\"`).", choices=read_later("ltcli.pretrain.methods", "PRETEXTS"))
    extra_unlabeled: str | None = option(  # added to the pretext's training set
        None, "A folder of more images (any layout, outside the dataset), or a list file of image paths (relative "
        "to its folder), added to the pre-training images.", cli_type=Path)
    moco_dim: int = option(128, "Size of the projected features.", panel=MOCO_PANEL)  # MoCo v2's 128
    moco_queue: int = option(4096, "Queued keys used as negatives.", panel=MOCO_PANEL)  # lightly's CIFAR examples
    moco_momentum: float = option(  # Eq. 2 of He et al.
        0.99, "Momentum m of the key encoder: key = m key + (1 - m) query.", panel=MOCO_PANEL)
    temperature: float = option(0.1, "Temperature of the contrastive loss.", panel=MOCO_PANEL)  # tau

    # The best epoch (checkpoint_best.pt) has the lowest pretext loss on the validation images.
    select_metric: ClassVar[str] = "loss"
    MOCO_OPTIONS: ClassVar[tuple[str, ...]] = ("moco_dim", "moco_queue", "moco_momentum", "temperature")

    def __post_init__(self, saved: bool) -> None:
        from ltcli.schedule_rules import default_warmup

        if self.warmup_epochs is None:
            self.warmup_epochs = default_warmup(self.epochs)
        self.validate(saved)

    @property
    def lr_stages(self) -> list[int]:
        return list(self.lr_steps) if self.lr_steps is not None else list(DEFAULT_LR_STAGES)

    @property
    def run_group(self) -> str:
        """The run folder's third level, where a training run names its objective: pretrain-<method>."""
        from ltcli.runs import PRETRAIN_PREFIX

        return f"{PRETRAIN_PREFIX}{self.method}"

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
        from ltcli.pretrain.methods import get_pretext
        from ltcli.schedule_rules import check_warmup

        check_types(self, lists=("lr_steps",))
        self._check_numbers()
        check_run_sizes(self, flag, views=4 if self.method == "rotation" else 2)  # rotation: 4 rotations a batch
        for name, high in (("moco_queue", MAX_QUEUE), ("moco_dim", MAX_FEATURE_DIM)):
            at_most(self, name, high, flag(name))
        self._check_declared_choices()
        check_schedule(self, saved)
        check_warmup(self, saved)
        get_pretext(self.method).check(self)

    def _check_numbers(self) -> None:
        self._check_shared_numbers()
        for name in ("moco_dim", "moco_queue"):
            at_least(self, name, 1)
        in_range(self, "temperature", 0.0, float("inf"), low_open=True)
        in_range(self, "moco_momentum", 0.0, 1.0, high_open=True)


# Every default by field name: what the CLI's options show and fall back to.
DEFAULT = SimpleNamespace(**{f.name: f.default for f in dataclasses.fields(PretrainConfig)
                             if f.default is not dataclasses.MISSING})
