"""A run's settings in one dataclass that checks itself: the one home of every default and every
rule on values, so the CLI, the Python API and the web app build runs the same way.

`TrainConfig(...)` raises LtcliError (one line, naming the command-line flag) for a value that
cannot work, before anything is written to disk. The defaults are ltcli's own choices (the step
schedule's stages and warmup are those of a 200-epoch CIFAR run, scaled to shorter or longer runs by
`default_schedule`), not copies of any one tool's.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from ltcli.bounds import check_run_sizes
from ltcli.errors import LtcliError

DEFAULT_LR_STAGES = (60, 60, 40, 40)  # epochs of each step stage of a DEFAULT_EPOCHS run (--lrstep not given)
DEFAULT_WARMUP_EPOCHS = 5  # warmup of a DEFAULT_EPOCHS run (--warmup not given); also what a bare --warmup means
DEFAULT_EPOCHS = 200
# Flags whose name is not the field's with dashes (the rest are --field-name).
FLAGS = {"batch_size": "--batchsize", "lr_steps": "--lrstep", "warmup_epochs": "--warmup", "objective_options": "--opt"}


def flag(name: str) -> str:
    return FLAGS.get(name, "--" + name.replace("_", "-"))


@dataclass
class TrainConfig:
    """Every option of `ltcli train` with its default."""

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
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    sched: str = "step"
    lr_steps: list[int] | None = None  # None: DEFAULT_LR_STAGES scaled to --epochs (default_schedule)
    lr_decay: float = 0.1
    warmup_epochs: int | None = None  # None: DEFAULT_WARMUP_EPOCHS scaled to --epochs (set in __post_init__)
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
    reinit_head: bool = False  # leave the classifier of --weights/--init-from out: a fresh one (cRT)
    allow_partial: bool = False  # train from --weights/--init-from even if under half the backbone's tensors fit
    head: str = "plain"  # plain, or lws: per-class learned logit scales (models.heads.HEADS)
    recipe: str | None = None  # the second-stage recipe whose values filled the options not given
    seed: int = 0
    device: str = "auto"
    workers: int = 2
    strict: bool = False  # decode every image before training; a corrupt file is then an error
    datasets_dir: str = "a_datasets"
    logs_dir: str = "logs"
    select_metric: str = "acc"  # the validation column whose best value picks checkpoint_best.pt
    name: str = ""  # the experiment's name, free text: kept in config.json, shown by `ltcli runs`

    # A saved run's config (from_dict) was checked when the run started; rules added since then
    # (a --lrstep drop after the last epoch) must not stop it from being resumed or tested.
    saved: dataclasses.InitVar[bool] = False

    def __post_init__(self, saved: bool) -> None:
        # A schedule not given is the default one scaled to --epochs: whoever leaves it out (the CLI,
        # a config file, the Python API) gets the same, and a given value is always taken as given.
        self.scaled = tuple(name for name in ("warmup_epochs", "lr_steps") if getattr(self, name) is None)
        if self.warmup_epochs is None and isinstance(self.epochs, int):
            self.warmup_epochs = default_schedule(self.epochs)[0]
        self.validate(saved)

    @property
    def lr_stages(self) -> list[int]:
        return list(self.lr_steps) if self.lr_steps is not None else default_schedule(self.epochs)[1]

    def to_dict(self) -> dict[str, Any]:
        """The settings as config.json stores them (the step stages resolved: what the run used), and
        which parts of the schedule were the defaults scaled to --epochs."""
        return {**dataclasses.asdict(self), "lr_steps": self.lr_stages, "schedule_scaled": list(self.scaled)}

    @classmethod
    def create(cls, **given: Any) -> TrainConfig:
        """The config of the options a user gave: with `recipe`, the recipe's values fill the options
        not given (ltcli.recipes), the defaults above the rest. The CLI passes only what was typed."""
        from ltcli.recipes import get_recipe

        if given.get("recipe") is not None:
            given = {**get_recipe(str(given["recipe"])).fill(given), **given}
        return cls(**given)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A run's saved settings (config.json, or a checkpoint's config)."""
        if values.get("command") == "pretrain":  # config.json of `ltcli pretrain` (ltcli.pretrain.assemble)
            raise LtcliError("that run is a self-supervised pre-training (`ltcli pretrain`): continue it with "
                             "`ltcli pretrain --resume`, or train from it with `ltcli train --init-from`")
        known = {f.name for f in dataclasses.fields(cls)}
        config = cls(**{k: v for k, v in values.items() if k in known}, saved=True)
        config.scaled = tuple(values.get("schedule_scaled", ()))
        return config

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with `changes`; a schedule that was scaled to --epochs is scaled to the new epochs."""
        rescaled = {name: None for name in self.scaled if name not in changes}
        return dataclasses.replace(self, **{**rescaled, **changes})

    def validate(self, saved: bool = False) -> None:
        """Check every value; canonicalise the objective's name and options. Raises LtcliError."""
        self._check_types()
        self._check_numbers()
        check_run_sizes(self, flag, memory=not saved)  # bounds that keep a run within the machine
        self._check_choices()
        self._check_schedule(saved)
        self._check_task()
        self._check_objective()
        self._check_two_stage()

    def _check_types(self) -> None:
        check_types(self, lists=("lr_steps", "positive_classes"))

    def _check_numbers(self) -> None:
        at_least(self, "epochs", 1)
        at_least(self, "batch_size", 1)
        at_least(self, "height", 1)
        at_least(self, "width", 1)
        at_least(self, "workers", 0)
        at_least(self, "seed", 0)
        at_least(self, "warmup_epochs", 0)
        for name in ("weight_decay", "min_lr", "mixup", "cutmix"):
            at_least(self, name, 0.0)
        in_range(self, "lr", 0.0, math.inf, low_open=True)
        in_range(self, "lr_decay", 0.0, 1.0, low_open=True)
        in_range(self, "momentum", 0.0, 1.0, high_open=True)
        in_range(self, "ema_decay", 0.0, 1.0, high_open=True)
        for name in ("hflip", "mix_prob", "mix_switch_prob"):
            in_range(self, name, 0.0, 1.0)
        if self.seed >= 2**32:
            raise LtcliError(f"--seed must be below 2**32, got {self.seed}")
        if self.min_lr >= self.lr:
            raise LtcliError(f"--min-lr ({self.min_lr}) must be below --lr ({self.lr})")
        if self.nesterov and self.momentum == 0:
            raise LtcliError("--nesterov needs a momentum above 0")

    def _check_choices(self) -> None:
        from ltcli.data.memory import CACHE_MODES
        from ltcli.data.transforms import AUGMENTS
        from ltcli.engine.compute import AMP_MODES, SWITCH_MODES
        from ltcli.engine.runtime import check_device_name
        from ltcli.engine.schedule import SCHEDULES
        from ltcli.metrics import SELECT_METRICS
        from ltcli.models.heads import HEADS
        from ltcli.models.weights import FREEZE_MODES

        for name, choices in (("sched", SCHEDULES), ("augment", AUGMENTS), ("data_cache", CACHE_MODES),
                              ("amp", AMP_MODES), ("channels_last", SWITCH_MODES), ("freeze", FREEZE_MODES),
                              ("head", HEADS), ("select_metric", SELECT_METRICS)):
            if getattr(self, name) not in choices:
                raise LtcliError(f"unknown {flag(name)} {getattr(self, name)!r}: choose one of {', '.join(choices)}")
        check_device_name(self.device)
        if (self.dataset is None) == (self.data is None):
            raise LtcliError("give exactly one of --dataset NAME (under a_datasets/) or --data PATH")
        if self.weights and self.init_from:
            raise LtcliError("give --weights FILE or --init-from RUN, not both")

    def _check_schedule(self, saved: bool) -> None:
        check_schedule(self, saved)
        if 0 < self.epochs <= self.warmup_epochs and not saved:
            raise LtcliError(
                f"--warmup {self.warmup_epochs} lasts the whole run (--epochs {self.epochs}): the rate would never "
                f"reach --lr {self.lr:g}; give fewer warmup epochs (leave --warmup out and it is scaled to the run: "
                f"{default_schedule(self.epochs)[0]} here)"
            )

    def _check_task(self) -> None:
        from ltcli.data.samplers import parse_pos_neg_ratio
        from ltcli.rebalance import TrainRule

        rule = TrainRule.create(self.train_rule, self.epochs, self.drw_epoch, self.cb_beta)
        self.train_rule = rule.name
        if self.positive_classes is not None:  # [] (a saved multi-class run's record) means none
            self.positive_classes = [str(c).strip() for c in self.positive_classes] or None
            if self.positive_classes is not None and not all(self.positive_classes):
                raise LtcliError("--positive-classes needs class names separated by commas")
        if self.pos_neg_ratio is not None:
            parse_pos_neg_ratio(self.pos_neg_ratio)
            if not self.positive_classes:
                raise LtcliError("--pos-neg-ratio stratifies binary tasks: give --positive-classes too")
            if rule.samples:
                raise LtcliError(f"--pos-neg-ratio already decides the batches: drop --train-rule {rule.name}")

    def _check_objective(self) -> None:
        """The objective's name as registered, its options' names and types, and their ranges: the
        objective is built once on two made-up classes. Per-class values (lists) are left out of that
        build: their length is checked when the real class counts are known, which is still before a
        run folder exists."""
        from ltcli.objectives import get_objective_entry

        entry = get_objective_entry(self.objective)
        self.objective = entry.name
        if not isinstance(self.objective_options, dict):
            raise LtcliError(f"--opt takes KEY=VALUE pairs, got {self.objective_options!r}")
        self.objective_options = entry.check_options(dict(self.objective_options))
        scalars = {k: v for k, v in self.objective_options.items() if not isinstance(v, list)}
        if "epochs" in entry.options and "epochs" not in scalars:
            scalars["epochs"] = self.epochs
        entry.create([2, 1], **scalars)

    def _check_two_stage(self) -> None:
        """A second stage needs a first: --reinit-head and every --recipe start from --init-from/--weights."""
        from ltcli.recipes import get_recipe

        start = self.weights or self.init_from
        if self.recipe is not None:
            self.recipe = get_recipe(self.recipe).name
            if not start:
                raise LtcliError(f"--recipe {self.recipe} trains the second stage of a run: give --init-from RUN "
                                 "(the first stage) or --weights FILE")
        if self.allow_partial and not start:
            raise LtcliError("--allow-partial applies to the weights of --init-from RUN or --weights FILE: give one")
        if self.reinit_head and not start:
            raise LtcliError("--reinit-head re-initialises the classifier of --init-from RUN or --weights FILE: "
                             "give one")
        if self.freeze == "backbone+classifier" and self.head != "lws":
            raise LtcliError("--freeze backbone+classifier trains only an LWS head's scales: add --head lws")


# Every default by field name (DEFAULT.epochs, ...): what the CLI's options show and fall back to.
DEFAULT = SimpleNamespace(**{f.name: f.default for f in dataclasses.fields(TrainConfig)
                             if f.default is not dataclasses.MISSING})


def check_types(config: Any, lists: tuple[str, ...] = ()) -> None:
    """Each field of a config dataclass holds its declared type (int, float, bool, str; None where
    allowed) and each field named in `lists` a list: a value from JSON or Python, not only the CLI."""
    hints = {"int": int, "float": (int, float), "bool": bool, "str": str}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        kind = str(f.type).replace(" | None", "")
        if value is None and "None" in str(f.type):
            continue
        wanted = hints.get(kind)
        if wanted is None:
            continue
        if isinstance(value, bool) and kind != "bool" or not isinstance(value, wanted):
            raise LtcliError(f"{flag(f.name)} takes {_describe(kind)}, got {value!r}")
    for name in lists:
        value = getattr(config, name)
        if value is not None and not isinstance(value, list):
            raise LtcliError(f"{flag(name)} takes a list, got {value!r}")


def default_schedule(epochs: int) -> tuple[int, list[int]]:
    """The warmup and step stages of a run of `epochs` whose schedule is not given: the 200-epoch
    defaults (5 warmup epochs; stages 60,60,40,40, i.e. drops at 30%, 60% and 80% of the run) scaled
    in proportion. Warmup: round(epochs * 5/200), at most 5 (a long run needs no longer warmup) and
    below `epochs`. Stages: each drop at round(fraction * epochs); drops that land on the first epoch,
    at or after the end, or on an earlier drop are left out, so every stage lasts at least one epoch.
    4 epochs: no warmup, stages 1,1,1,1; 30 epochs: 1 warmup epoch, stages 9,9,6,6."""
    warmup = min(DEFAULT_WARMUP_EPOCHS, math.floor(epochs * DEFAULT_WARMUP_EPOCHS / DEFAULT_EPOCHS + 0.5),
                 max(epochs - 1, 0))
    drops: list[int] = []
    for default_drop in itertools.accumulate(DEFAULT_LR_STAGES[:-1]):
        drop = math.floor(epochs * default_drop / DEFAULT_EPOCHS + 0.5)
        if 0 < drop < epochs and drop not in drops:
            drops.append(drop)
    bounds = [0, *drops, epochs]
    return warmup, [end - start for start, end in itertools.pairwise(bounds)]


def check_schedule(config: Any, saved: bool = False) -> None:
    """--lrstep's stages (`lr_steps`) are positive and, with `sched` step, drop within `epochs` (a
    saved run's stages are taken as they ran)."""
    lr_steps, epochs = config.lr_steps, config.epochs
    if lr_steps is None:
        return
    if not lr_steps or any(isinstance(n, bool) or not isinstance(n, int) or n <= 0 for n in lr_steps):
        raise LtcliError(f"--lrstep needs positive whole stage lengths, got {lr_steps}")
    drops = list(itertools.accumulate(lr_steps))[:-1]
    late = [d for d in drops if d >= epochs]
    if config.sched == "step" and late and not saved:
        raise LtcliError(
            f"--lrstep {','.join(map(str, lr_steps))} drops the rate at epoch(s) "
            f"{', '.join(map(str, late))}, but the run has only {epochs} epoch(s): give stages that add "
            f"up to --epochs (e.g. {epochs})"
        )


def _describe(kind: str) -> str:
    return {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "text"}[kind]


def at_least(config: Any, name: str, low: float) -> None:
    value = getattr(config, name)
    if not math.isfinite(value) or value < low:
        raise LtcliError(f"{flag(name)} must be at least {low:g}, got {value}")


def in_range(config: Any, name: str, low: float, high: float, low_open: bool = False,
             high_open: bool = False) -> None:
    value = getattr(config, name)
    inside = math.isfinite(value) and (value > low if low_open else value >= low) and (
        value < high if high_open else value <= high)
    if not inside:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        if high == math.inf:
            interval = f"above {low:g}"
        raise LtcliError(f"{flag(name)} must be {'in ' if high != math.inf else ''}{interval}, got {value}")
