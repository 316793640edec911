"""The learning-rate schedule's rules on values, shared by `ltcli train` and `ltcli pretrain`: the
schedule a run that names none gets (`default_sched`: cosine to zero at any budget, Li et al., ICLR 2020,
"Budgeted training", except that a 200-epoch run keeps the CCE tool's step stages), the default warmup
and step stages scaled to --epochs (`default_schedule`, `scaled_schedule`, which benchmarks also shorten
recipes by), and the checks that refuse a schedule that cannot run.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from ltcli.errors import LtcliError
from ltcli.settings import DEFAULT_EPOCHS, DEFAULT_LR_STAGES, DEFAULT_WARMUP_EPOCHS


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
    in proportion (`scaled_schedule`). 4 epochs: no warmup, stages 1,1,1,1; 30 epochs: 1 warmup
    epoch, stages 9,9,6,6."""
    return scaled_schedule(epochs, DEFAULT_EPOCHS, DEFAULT_LR_STAGES, DEFAULT_WARMUP_EPOCHS)


def scale_epoch(epoch: float, epochs: int, planned: int) -> int:
    """Epoch `epoch` of a `planned`-epoch schedule moved to the same fraction of `epochs` (half up)."""
    return math.floor(epochs * epoch / planned + 0.5)


def scaled_schedule(epochs: int, planned: int, stages: list[int], warmup: int) -> tuple[int, list[int]]:
    """A `planned`-epoch schedule (its step `stages` and `warmup`) run in `epochs` epochs. Warmup:
    scaled, at most `warmup` (a longer run needs no longer warmup) and below `epochs`. Stages: each
    drop at the same fraction of the run; drops that land on the first epoch, at or after the end, or
    on an earlier drop are left out, so every stage lasts at least one epoch. The default schedule
    and a recipe's shortened in a benchmark (ltcli.workflows.rescaled_schedule) both scale so."""
    scaled_warmup = min(warmup, scale_epoch(warmup, epochs, planned), max(epochs - 1, 0))
    drops: list[int] = []
    for planned_drop in itertools.accumulate(stages[:-1]):
        drop = scale_epoch(planned_drop, epochs, planned)
        if 0 < drop < epochs and drop not in drops:
            drops.append(drop)
    bounds = [0, *drops, epochs]
    return scaled_warmup, [end - start for start, end in itertools.pairwise(bounds)]


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


