"""A run's settings in one dataclass that checks itself: the one home of every default and every
rule on values, so the CLI, the Python API and the web app build runs the same way.

`TrainConfig(...)` raises LtcliError (one line, naming the command-line flag) for a value that
cannot work, before anything is written to disk. The defaults are ltcli's own choices, not copies of
any one tool's. The schedule a run gets when it names none (`default_sched`): cosine decay to zero at
any budget (Li et al., ICLR 2020, "Budgeted training"), except that a 200-epoch run keeps the CCE tool's
step stages 60,60,40,40; the warmup is 5 epochs at 200, scaled to other lengths (`default_schedule`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from ltcli.bounds import check_run_sizes
from ltcli.choices import (
    AMP_MODES,
    AUGMENTS,
    CACHE_MODES,
    FREEZE_MODES,
    HEADS,
    SCHEDULES,
    SWITCH_MODES,
    check_device_name,
)
from ltcli.errors import LtcliError, shown
from ltcli.layout import DATASETS_DIR, LOGS_DIR

DEFAULT_LR_STAGES = (60, 60, 40, 40)  # epochs of each step stage of a DEFAULT_EPOCHS run (--lrstep not given)
DEFAULT_WARMUP_EPOCHS = 5  # warmup of a DEFAULT_EPOCHS run (--warmup not given); also what a bare --warmup means
DEFAULT_EPOCHS = 200


def default_workers(cpus: int | None) -> int:
    """DataLoader workers: half the CPU cores, 2 to 8. Decoding and augmenting a JPEG at 224 px takes
    several ms a core, so two workers starve a GPU; 2 keeps small machines (and CI) as they were."""
    return min(8, max(2, (cpus or 2) // 2))


DEFAULT_WORKERS = default_workers(os.cpu_count())
# Flags whose name is not the field's with dashes (the rest are --field-name).
FLAGS = {"batch_size": "--batchsize", "lr_steps": "--lrstep", "warmup_epochs": "--warmup", "objective_options": "--opt"}


def flag(name: str) -> str:
    return FLAGS.get(name, "--" + name.replace("_", "-"))


@dataclass
class TrainConfig:
    """Every option of `ltcli train` with its default."""

    dataset: str | None = None
    data: str | None = None
    data_root: str | None = None  # a lists dataset's image folder (default: the lists' folder)
    model: str = "resnet32"
    objective: str = "CCE"
    objective_options: dict[str, Any] = field(default_factory=dict)
    train_rule: str = "None"
    drw_epoch: int | None = None
    cb_beta: float = 0.9999
    positive_classes: list[str] | None = None
    pos_neg_ratio: str | None = None
    tpauc: list[list[float]] | None = None  # binary tasks: the (alpha, beta) of the tpauc_A_B columns of valid.csv
    unlabeled: str | None = None  # a folder of unlabeled images, pseudo-labelled by pseudo_labels_from
    pseudo_labels_from: str | None = None  # the run whose predictions label them (Yang & Xu 2020)
    pseudo_threshold: float = 0.0  # keep pseudo-labels of at least this top-1 probability (0: all, the paper's)
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    sched: str | None = None  # None: cosine, or step at DEFAULT_EPOCHS (default_sched; set in __post_init__)
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
    workers: int = DEFAULT_WORKERS
    strict: bool = False  # decode every image before training; a corrupt file is then an error
    datasets_dir: str = DATASETS_DIR
    logs_dir: str = LOGS_DIR
    select_metric: str = "acc"  # the validation column whose best value picks checkpoint_best.pt
    name: str = ""  # the experiment's name, free text: kept in config.json, shown by `ltcli runs`

    # A saved run's config (from_dict) was checked when the run started; rules added since then
    # (a --lrstep drop after the last epoch) must not stop it from being resumed or tested.
    saved: dataclasses.InitVar[bool] = False

    def __post_init__(self, saved: bool) -> None:
        # A schedule not given is the default one scaled to --epochs: whoever leaves it out (the CLI,
        # a config file, the Python API) gets the same, and a given value is always taken as given.
        # `scaled` names the parts that were defaults ("sched" too: chosen for --epochs by default_sched).
        self.scaled = tuple(name for name in ("sched", "warmup_epochs", "lr_steps") if getattr(self, name) is None)
        if isinstance(self.epochs, int):
            if self.sched is None:
                self.sched = default_sched(self.epochs, self.lr_steps is not None)
            if self.warmup_epochs is None:
                self.warmup_epochs = default_schedule(self.epochs)[0]
        self.validate(saved)

    @property
    def lr_stages(self) -> list[int]:
        return list(self.lr_steps) if self.lr_steps is not None else default_schedule(self.epochs)[1]

    def to_dict(self) -> dict[str, Any]:
        """The settings as config.json stores them (the step stages resolved: what the run used), and
        which parts of the schedule were defaults chosen for --epochs."""
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
        """A copy with `changes`; a schedule that was the default for --epochs is the default for the new epochs."""
        rescaled = {name: None for name in self.scaled if name not in changes}
        return dataclasses.replace(self, **{**rescaled, **changes})

    def validate(self, saved: bool = False) -> None:
        """Check every value; canonicalise the objective's name and options. Raises LtcliError."""
        self._check_types()
        self._check_numbers()
        if self.batch_size == 1 and not saved:  # (a saved run that trained so is still tested and resumed)
            raise LtcliError("--batchsize must be at least 2: BatchNorm layers cannot train on one image per step")
        check_run_sizes(self, flag, memory=not saved)  # bounds that keep a run within the machine
        self._check_choices()
        self._check_schedule(saved)
        self._check_task()
        self._check_objective()
        self._check_two_stage()

    def _check_types(self) -> None:
        check_types(self, lists=("lr_steps", "positive_classes", "tpauc"))

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
        for name, choices in (("sched", SCHEDULES), ("augment", AUGMENTS), ("data_cache", CACHE_MODES),
                              ("amp", AMP_MODES), ("channels_last", SWITCH_MODES), ("freeze", FREEZE_MODES),
                              ("head", HEADS)):
            if getattr(self, name) not in choices:
                raise LtcliError(f"unknown {flag(name)} {shown(getattr(self, name))}: "
                                 f"choose one of {', '.join(choices)}")
        check_device_name(self.device)
        if (self.dataset is None) == (self.data is None):
            raise LtcliError("give exactly one of --dataset NAME (under a_datasets/) or --data PATH")
        if self.weights and self.init_from:
            raise LtcliError("give --weights FILE or --init-from RUN, not both")

    def _check_schedule(self, saved: bool) -> None:
        check_schedule(self, saved)
        check_warmup(self, saved)

    def _check_task(self) -> None:
        from ltcli.data.samplers import parse_pos_neg_ratio
        from ltcli.rebalance import TrainRule

        rule = TrainRule.create(self.train_rule, self.epochs, self.drw_epoch, self.cb_beta)
        self.train_rule = rule.name
        if self.positive_classes is not None:  # [] (a saved multi-class run's record) means none
            self.positive_classes = [str(c).strip() for c in self.positive_classes] or None
            if self.positive_classes is not None and not all(self.positive_classes):
                raise LtcliError("--positive-classes needs class names separated by commas")
            if self.positive_classes is not None and len(self.positive_classes) == 1 \
                    and self.positive_classes[0].lower().endswith(".json"):
                from ltcli.data.binary import read_class2id

                self.positive_classes = read_class2id(self.positive_classes[0])
        if self.pos_neg_ratio is not None:
            parse_pos_neg_ratio(self.pos_neg_ratio)
            if not self.positive_classes:
                raise LtcliError("--pos-neg-ratio stratifies binary tasks: give --positive-classes too")
            if rule.samples:
                raise LtcliError(f"--pos-neg-ratio already decides the batches: drop --train-rule {rule.name}")
        self._check_ranking()
        self._check_pseudo_labels()

    def _check_pseudo_labels(self) -> None:
        in_range(self, "pseudo_threshold", 0.0, 1.0)
        if (self.unlabeled is None) != (self.pseudo_labels_from is None):
            raise LtcliError("--unlabeled DIR and --pseudo-labels-from RUN go together: the run labels the folder's "
                             "images")
        if self.pseudo_threshold > 0 and self.unlabeled is None:
            raise LtcliError("--pseudo-threshold applies to --unlabeled DIR --pseudo-labels-from RUN: give them")

    def _check_ranking(self) -> None:
        """--tpauc pairs and --select-metric: AUROC and TPAUC columns exist on binary tasks only."""
        from ltcli.metrics import BINARY_VALID_COLUMNS, SELECT_METRICS, parse_tpauc_key, parse_tpauc_pair, tpauc_key

        if self.tpauc is not None:
            self.tpauc = [parse_tpauc_pair(pair) for pair in self.tpauc]
            if not self.positive_classes:
                raise LtcliError("--tpauc adds TPAUC columns to a binary task's valid.csv: give --positive-classes too")
        pair = parse_tpauc_key(self.select_metric) if isinstance(self.select_metric, str) else None
        if pair is not None:
            self.select_metric = tpauc_key(*pair)  # tpauc_0.50_0.5 -> tpauc_0.5_0.5, the column's name
        if self.select_metric in SELECT_METRICS:
            return
        if pair is None and self.select_metric not in BINARY_VALID_COLUMNS:
            raise LtcliError(f"unknown --select-metric {self.select_metric!r}: choose one of "
                             f"{', '.join(SELECT_METRICS)}, or on a binary task auroc or tpauc_ALPHA_BETA")
        if not self.positive_classes:
            raise LtcliError(f"--select-metric {self.select_metric} ranks the positive class of a binary task: give "
                             f"--positive-classes, or choose one of {', '.join(SELECT_METRICS)}")

    @property
    def ranking_pairs(self) -> list[tuple[float, float]] | None:
        """The TPAUC (alpha, beta) pairs valid.csv logs: None on a multi-class task; --tpauc (default
        0.5,0.5) on a binary one, plus the pair of a tpauc_A_B --select-metric."""
        from ltcli.metrics import TPAUC_DEFAULT, parse_tpauc_key

        if not self.positive_classes:
            return None
        pairs = [(float(a), float(b)) for a, b in self.tpauc] if self.tpauc is not None else list(TPAUC_DEFAULT)
        pair = parse_tpauc_key(self.select_metric)
        return pairs if pair is None or pair in pairs else [*pairs, pair]

    def _check_objective(self) -> None:
        """The objective's name as registered, its options' names and types, and their ranges: the
        objective is built once on two made-up classes. Per-class values (lists) are left out of that
        build: their length is checked when the real class counts are known, which is still before a
        run folder exists."""
        from ltcli.objectives import get_objective_entry

        entry = get_objective_entry(self.objective)
        self.objective = entry.name
        if not isinstance(self.objective_options, dict):
            raise LtcliError(f"--opt takes KEY=VALUE pairs, got {shown(self.objective_options)}")
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
            raise LtcliError(f"{flag(f.name)} takes {_describe(kind)}, got {shown(value)}")
    for name in lists:
        value = getattr(config, name)
        if value is not None and not isinstance(value, list):
            raise LtcliError(f"{flag(name)} takes a list, got {shown(value)}")


def default_sched(epochs: int, stages_given: bool = False) -> str:
    """The decay of a run that names no --sched: step when --lrstep is given or the run has the CCE
    tool's 200 epochs (its users' command lines keep their meaning), else cosine to --min-lr (0): the
    budgeted-training finding (Li et al., ICLR 2020) is that decay to zero fits every budget, where
    the 200-epoch steps scaled down spend most of a short run at a tenth of the rate."""
    return "step" if stages_given or epochs == DEFAULT_EPOCHS else "cosine"


def describe_schedule(config: Any) -> str:
    """One line: the schedule a run got, e.g. `cosine to 0 over 30 epochs, warmup 1`."""
    if config.sched == "step":
        decay = f"step, stages {','.join(map(str, config.lr_stages))} (x{config.lr_decay:g} after each)"
    else:
        decay = f"cosine to {config.min_lr:g} over {config.epochs} epochs"
    return f"{decay}, warmup {config.warmup_epochs}"


def default_schedule(epochs: int) -> tuple[int, list[int]]:
    """The warmup and step stages of a run of `epochs` that does not give them: the 200-epoch
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


def default_warmup(epochs: Any) -> int | None:
    """The warmup of a run that leaves --warmup out: `default_schedule`'s, scaled to `epochs` (None
    when `epochs` is not a whole number yet: the type check then names it). `ltcli train` and
    `ltcli pretrain` both fill their warmup from here."""
    return default_schedule(epochs)[0] if isinstance(epochs, int) and not isinstance(epochs, bool) else None


def check_warmup(config: Any, saved: bool = False) -> None:
    """A warmup as long as the run never reaches --lr: refused, for `train` and `pretrain` alike (a
    saved run is taken as it ran)."""
    epochs, warmup = config.epochs, config.warmup_epochs
    if 0 < epochs <= warmup and not saved:
        raise LtcliError(
            f"--warmup {warmup} lasts the whole run (--epochs {epochs}): the rate would never "
            f"reach --lr {config.lr:g}; give fewer warmup epochs (leave --warmup out and it is scaled to the run: "
            f"{default_schedule(epochs)[0]} here)"
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
