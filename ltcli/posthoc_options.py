"""The options of `ltcli test`'s post-hoc corrections as the user typed them (--tau-norm, --logit-adjust,
--sweep, --sweep-metric, --temperatures): parsed and checked, each failure one line, before a run is
loaded (ltcli.posthoc.PosthocPlan.from_options).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ltcli.errors import LtcliError
from ltcli.metrics import SUMMARY_KEYS

if TYPE_CHECKING:
    from ltcli.posthoc import Correction

MAX_GRID = 1000  # taus in one sweep: more is a typo (a step of 0.0001), not a plan
DEFAULT_SWEEP_METRIC = "balanced_acc"
SWEEP_SPLIT = "valid"


def check_tau(tau: float, flag: str) -> float:
    if not math.isfinite(tau) or tau < 0:
        raise LtcliError(f"{flag} must be a finite number >= 0, got {tau:g}")
    return tau


def parse_taus(text: str, flag: str) -> tuple[float, ...]:
    """'1' -> (1.0,); '0,0.5,1' -> (0.0, 0.5, 1.0); '0:2:0.5' -> (0.0, 0.5, 1.0, 1.5, 2.0) (STOP included)."""
    usage = f"{flag} takes a number, a list (0,0.5,1) or a grid START:STOP:STEP (0:2:0.1), got {text!r}"
    try:
        if ":" in text:
            start, stop, step = (float(v) for v in text.split(":"))
        else:
            values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise LtcliError(usage) from None
    if ":" in text:
        for value in (start, stop):
            check_tau(value, flag)
        if not (math.isfinite(step) and step > 0 and stop >= start):
            raise LtcliError(f"{flag} grid {text} is empty: STOP must be >= START and STEP > 0")
        count = math.floor((stop - start) / step + 1e-9) + 1
        if count > MAX_GRID:
            raise LtcliError(f"{flag} grid {text} has {count} values: at most {MAX_GRID}")
        values = tuple(round(start + i * step, 10) for i in range(count))
    if len(values) > MAX_GRID:
        raise LtcliError(f"{flag} lists {len(values)} values: at most {MAX_GRID}")
    return tuple(check_tau(v, flag) for v in values)


def parse_temperatures(text: str, num_runs: int) -> tuple[float, ...]:
    """'1,2' -> (1.0, 2.0): one temperature per --run, in order, each finite and > 0."""
    try:
        temperatures = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise LtcliError(f"--temperatures takes one number per --run, comma-separated (1,2), got {text!r}") from None
    bad = [t for t in temperatures if not (math.isfinite(t) and t > 0)]
    if bad:
        raise LtcliError(f"--temperatures must be finite and > 0, got {bad[0]:g}")
    if len(temperatures) != num_runs:
        raise LtcliError(f"--temperatures gives {len(temperatures)} temperature(s) for {num_runs} run(s): "
                         "give one per --run, in the same order")
    return temperatures


def check_sweep(correction: Correction | None, taus: Sequence[float], sweep: bool, sweep_metric: str | None,
                split: str) -> None:
    """A grid needs --sweep, --sweep needs a grid, and the sweep chooses on valid/, never on what it reports."""
    if sweep and correction is None:
        raise LtcliError("--sweep needs a grid to choose from: --tau-norm 0:2:0.1 or --logit-adjust 0,0.5,1")
    if sweep and len(taus) < 2:
        raise LtcliError(f"--sweep needs at least two values to choose from, got {correction.flag} {taus[0]:g}")
    if correction is not None and not sweep and len(taus) > 1:
        raise LtcliError(f"{correction.flag} got {len(taus)} values: add --sweep to choose one on valid/, "
                         "or give one value")
    if sweep_metric is not None and not sweep:
        raise LtcliError("--sweep-metric applies with --sweep only")
    if sweep_metric is not None and sweep_metric not in SUMMARY_KEYS:
        raise LtcliError(f"unknown --sweep-metric {sweep_metric!r}: choose from {', '.join(SUMMARY_KEYS)}")
    if sweep and split == SWEEP_SPLIT:
        raise LtcliError("--sweep chooses on valid/, so it cannot also report on valid/: test on --split test")
