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
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from ltcli.binary_options import check_binary_task, ranking_pairs
from ltcli.bounds import check_run_sizes
from ltcli.choices import AUGMENTS, FREEZE_MODES, HEADS
from ltcli.errors import LtcliError, shown
from ltcli.schedule_rules import check_schedule, check_warmup, default_sched, default_schedule
from ltcli.settings import RunSettings, at_least, check_types, flag, in_range, option, read_later, register_flags

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ltcli.objectives import Objective
    from ltcli.rebalance import TrainRule


def _comma_list(text: str) -> list[str]:
    return text.split(",")


@register_flags
@dataclass
class TrainConfig(RunSettings):
    """Every option of `ltcli train` with its default: the shared ones (RunSettings), then its own."""

    objective: str = option("CCE", "Loss (see `ltcli objectives`).",
                            suggest=read_later("ltcli.objectives", "list_objectives"))
    objective_options: dict[str, Any] = option(help="Objective option KEY=VALUE (repeatable).", flags=("--opt",),
                                               cli_type=list[str], factory=dict)
    train_rule: str = option("None", "None, Reweight, Resample, SqrtResample or DRW.",
                             suggest=read_later("ltcli.rebalance", "TRAIN_RULES"))
    drw_epoch: int | None = option(None, "Epoch DRW starts re-weighting (default: 80%).")
    cb_beta: float = option(0.9999, "beta of the effective-number class weights.")
    positive_classes: list[str] | None = option(
        None, "Binary task: these classes (comma separated) are positive, the rest negative; or a class2id JSON "
        "file (class name -> 0/1).", cli_type=str, parse=_comma_list)
    tpauc: list[list[float]] | None = option(  # binary tasks: the (alpha, beta) of the tpauc_A_B columns of valid.csv
        None, "Binary task: log TPAUC(ALPHA,BETA) as valid.csv's tpauc_ALPHA_BETA each epoch (repeatable) "
        "[default: 0.5,0.5].", cli_type=list[str])
    pos_neg_ratio: str | None = option(None, "Binary task: POS:NEG per batch, e.g. 1:10 (for pairwise AUC losses).")
    unlabeled: str | None = option(
        None, "Folder of unlabeled images (any layout) or a .txt list of their paths, pseudo-labelled by "
        "--pseudo-labels-from and trained on.", cli_type=Path)
    pseudo_labels_from: str | None = option(
        None, "Run (folder or stamp) whose predictions label --unlabeled (Yang & Xu 2020); its classes must be the "
        "dataset's.")
    pseudo_threshold: float = option(  # 0: all, the paper's
        0.0, "Keep a pseudo-label only at this top-1 probability or more; 0 keeps all (the paper's rule).")
    nesterov: bool = option(False, "Nesterov momentum.", cli=False)
    augment: str = option("auto", "auto, cifar (pad-crop+flip), timm, none.", choices=AUGMENTS)
    compile: bool = option(False, "torch.compile the model (slow start).")
    mixup: float = option(0.0, "Mixup alpha (timm Mixup, one mix per batch); 0 = off.")  # Beta(alpha, alpha)
    cutmix: float = option(0.0, "CutMix alpha; 0 = off.")
    mix_prob: float = option(1.0, "Chance a batch is mixed.")
    mix_switch_prob: float = option(0.5, "Chance of CutMix rather than mixup when both on.")
    ema_decay: float = option(  # timm ModelEmaV3; 0 = off
        0.0, "Keep an EMA of the weights (e.g. 0.999, timm ModelEmaV3 with warmup) and validate/test it; 0 = off.")
    sync_bn: bool = option(False, "torchrun on GPUs: BatchNorm over all processes' batches.")
    pretrained: bool = option(False, "Start from timm's pretrained weights.")
    weights: str | None = option(None, "Start from a local state dict or checkpoint file.", cli_type=Path,
                                 flags=("--weights", "--pretrained_model"))  # the Essence code's name for it
    init_from: str | None = option(None, "Start from an earlier run's best checkpoint.", cli_type=Path)
    freeze: str = option(
        "none", "What stays fixed: none; backbone (the classifier trains, cRT); backbone-except-bn (classifier and "
        "BatchNorm train, MiSLAS); backbone+classifier (only LWS scales train); all (only BatchNorm trains: shift "
        "learning).", choices=tuple(FREEZE_MODES))
    reinit_head: bool = option(
        False, "Leave the classifier of --init-from/--weights out: start from a fresh one (cRT).")
    allow_partial: bool = option(
        False, "Train from --weights/--init-from even when fewer than half of the backbone's tensors fit.")
    head: str = option("plain", "plain, or lws: each class's logit times a learned scale (Kang et al. 2020).",
                       choices=HEADS)
    recipe: str | None = option(  # the second-stage recipe whose values filled the options not given
        None, "Second stage of a two-stage method, from --init-from/--weights: crt, lws or mislas; fills the "
        "options not given (see docs/two-stage.md).", suggest=read_later("ltcli.recipes", "RECIPES"))
    select_metric: str = option(  # the validation column whose best value picks checkpoint_best.pt
        "acc", "Validation column that picks the best checkpoint: acc, balanced_acc, macro_f1, gmean_recall, "
        "hmean_recall, lowest_recall, top5acc, and on binary tasks auroc, tpauc_ALPHA_BETA (highest wins); loss, "
        "nll, ece (lowest wins).", suggest=read_later("ltcli.metrics", "SELECT_METRICS"))
    name: str = option("", "Experiment name, kept in config.json and shown by `ltcli runs`.")  # free text

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
        check_types(self, lists=("lr_steps", "positive_classes", "tpauc"))
        self._check_numbers()
        if self.batch_size == 1 and not saved:  # (a saved run that trained so is still tested and resumed)
            raise LtcliError("--batchsize must be at least 2: BatchNorm layers cannot train on one image per step")
        check_run_sizes(self, flag, memory=not saved)  # bounds that keep a run within the machine
        self._check_declared_choices()
        if self.weights and self.init_from:
            raise LtcliError("give --weights FILE or --init-from RUN, not both")
        check_schedule(self, saved)
        check_warmup(self, saved)
        self._check_task()
        self._check_objective()
        self._check_two_stage()

    def _check_numbers(self) -> None:
        self._check_shared_numbers()
        for name in ("mixup", "cutmix"):
            at_least(self, name, 0.0)
        in_range(self, "ema_decay", 0.0, 1.0, high_open=True)
        for name in ("mix_prob", "mix_switch_prob"):
            in_range(self, name, 0.0, 1.0)
        if self.nesterov and self.momentum == 0:
            raise LtcliError("--nesterov needs a momentum above 0")

    def _check_task(self) -> None:
        from ltcli.rebalance import TrainRule

        # Built here, once: the engine trains with `config.rule` (it needs no class counts).
        self._rule = TrainRule.create(self.train_rule, self.epochs, self.drw_epoch, self.cb_beta)
        self.train_rule = self._rule.name
        check_binary_task(self)
        self._check_pseudo_labels()

    def _check_pseudo_labels(self) -> None:
        in_range(self, "pseudo_threshold", 0.0, 1.0)
        if (self.unlabeled is None) != (self.pseudo_labels_from is None):
            raise LtcliError("--unlabeled DIR and --pseudo-labels-from RUN go together: the run labels the folder's "
                             "images")
        if self.pseudo_threshold > 0 and self.unlabeled is None:
            raise LtcliError("--pseudo-threshold applies to --unlabeled DIR --pseudo-labels-from RUN: give them")

    @property
    def ranking_pairs(self) -> list[tuple[float, float]] | None:
        """The TPAUC pairs valid.csv logs (ltcli.binary_options.ranking_pairs)."""
        return ranking_pairs(self)

    @property
    def rule(self) -> TrainRule:
        """The --train-rule the run trains with, built (and checked) by the validation."""
        return self._rule

    def objective_arguments(self) -> dict[str, Any]:
        """The objective's --opt options, and --epochs for one paced over training."""
        from ltcli.objectives import get_objective_entry

        options = dict(self.objective_options)
        if "epochs" in get_objective_entry(self.objective).options and "epochs" not in options:
            options["epochs"] = self.epochs
        return options

    def build_objective(self, class_counts: Sequence[int]) -> Objective:
        """The run's objective for a training set of `class_counts`: built once, by the engine (the
        validation checks its options' ranges with the class's `check_options`, building nothing)."""
        from ltcli.objectives import get_objective_entry

        return get_objective_entry(self.objective).build(class_counts, self.objective_arguments())

    def _check_objective(self) -> None:
        """The objective's name as registered, its options' names and types, their ranges (the class's
        `check_options`: nothing is built), and what it combines with: the --train-rule, and
        --mixup/--cutmix (a multi-view objective trains on views, not on mixed images). A per-class
        list's length is checked when the engine builds the objective on the real class counts, which
        is still before a run folder exists."""
        from ltcli.objectives import get_objective_entry

        entry = get_objective_entry(self.objective)
        self.objective = entry.name
        if not isinstance(self.objective_options, dict):
            raise LtcliError(f"--opt takes KEY=VALUE pairs, got {shown(self.objective_options)}")
        self.objective_options = entry.check_options(dict(self.objective_options))  # conformed once, kept
        entry.check_values(self.objective_arguments())
        self.rule.check(self.objective, entry.cls)
        if (self.mixup > 0 or self.cutmix > 0) and entry.cls.train_views > 1:
            raise LtcliError(f"--mixup/--cutmix mix single images; {self.objective} trains on {entry.cls.train_views} "
                             "views of each image and is not combined with them")

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
