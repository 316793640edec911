"""How many intra-op threads a CPU run uses (`--threads auto|N`), chosen by measuring training steps.

PyTorch's OpenMP threads spin at barriers: when one of them is descheduled (another busy process on
the machine takes its core), every step waits for it, and an epoch on 2 cores ran 11x slower beside
one single-threaded busy process (issue 27). No fixed count is right for both an idle and a shared
machine, so `auto` measures: the first steps of a run each candidate count for a few steps, keeps the
fastest, and measures again when its steps run well slower (the machine got busier: judged every few
steps, as a stalled epoch can last 10-50x its usual time) or an epoch's ran well faster (idler), and every
few epochs in case it got idler (the interval doubling while the answer stays the same; from the next
epoch's end after a neighbour made it take fewer threads, as neighbours are often brief). A count found
hopeless (beside a busy process a step at every thread can take 10-30x one at a single thread) costs that
much per step measured, so it is dropped on its warm-up step and not measured again while the machine only
got busier. The step time measured is the whole iteration, loader included.

The CPUs a process may use are its affinity mask, capped by a cgroup CPU quota (a container's
`--cpus`), not `os.cpu_count()`; `LTCLI_CPUS` narrows it further (how `ltcli study --jobs N` and
the app's jobs give each run its share). DataLoader workers that decode on the CPU come off the same
budget. Only a run on a CPU is tuned: on a GPU the count is left as PyTorch chose it.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ltcli.choices import THREAD_RECORD_KEYS, parse_threads

CPUS_ENV = "LTCLI_CPUS"  # the share of the machine a process was given (study --jobs, the app's jobs)
TRIAL_STEPS = 4  # steps measured per candidate (after one warm-up step at the new count)
SLOWER = 1.5  # steps this much slower (or an epoch's this much faster) than the chosen rate measure again
SLOW_WINDOW = 8  # judged slower on the median of this many recent steps, in the middle of an epoch too
RECHECK_EPOCHS = 10  # and every this many epochs regardless (the machine may have become idle) ...
MAX_RECHECK_EPOCHS = 20  # ... doubling up to this while the rechecks keep the same count (a recheck costs a
# few steps; a run left at 1 thread after its neighbour ended runs ~2x slower until the next one)
AFTER_BUSIER_EPOCHS = 2  # a count lowered for a busier machine is rechecked this soon (the switch's own epoch
# counts as one, so at the end of the next), then doubling: a neighbour is often brief (a test run, a build),
# and issue 27's float32 row sat at 1 thread for 20 epochs of ~60 s instead of ~30 s after a 2-minute one
HOPELESS = 2.0  # a candidate this much slower than the best measured one is dropped after its first step
HOPELESS_WARMUP = 3.0  # or after its warm-up step alone (a thread pool starts in milliseconds, not steps)


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPUs a cgroup quota allows (cgroup v2 `cpu.max`, else v1 `cpu.cfs_quota_us`), None if unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity mask, a cgroup quota, and `LTCLI_CPUS`, the least."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    share = os.environ.get(CPUS_ENV, "")
    if share.isdigit() and int(share) > 0:
        cpus = min(cpus, int(share))
    local = os.environ.get("LOCAL_WORLD_SIZE", "1")  # torchrun's processes on this machine share it
    return max(1, cpus // int(local) if local.isdigit() and int(local) > 0 else cpus)


def candidates(cpus: int) -> list[int]:
    """Thread counts worth measuring on `cpus` CPUs: 1, the powers of two below, one fewer than all
    (a single busy neighbour) and all."""
    counts = {1, cpus, max(1, cpus - 1)}
    counts.update(2**k for k in range(1, cpus.bit_length()) if 2**k < cpus)
    return sorted(counts)


@dataclass
class ThreadTuner:
    """Sets `torch.set_num_threads` for a CPU run and, under `auto`, measures which count is fastest.

    The loop calls `start_epoch()` and `after_step(images)` (host time only: on a CPU each step has
    finished when it returns); the run story takes `events()` after an epoch to print and record them."""

    mode: str | int
    cpus: int
    workers: int = 0  # DataLoader worker processes decoding beside the training threads
    trial_steps: int = TRIAL_STEPS
    chosen: int = 0
    rate: float | None = None  # seconds per image at the chosen count, as measured
    _queue: list[int] = field(default_factory=list)  # counts still to measure
    _trial: dict[int, list[float]] = field(default_factory=dict)
    _epoch_times: list[float] = field(default_factory=list)
    _events: list[dict[str, Any]] = field(default_factory=list)
    _since_check: int = 0
    _recheck_every: int = RECHECK_EPOCHS
    _hopeless_counts: set[int] = field(default_factory=set)  # skipped while the machine only gets busier
    _switched: bool = False  # the next step is the first at a new count (not an epoch's first)
    _previous: int = 0  # the count before the current measuring
    _reason: str = ""
    _busier: bool = False  # the measuring under way was started by slower steps
    _epoch: int = 0
    _last: float = 0.0
    _warm: bool = False

    @property
    def budget(self) -> int:
        """The threads that fit beside the workers on the usable CPUs."""
        return max(1, self.cpus - self.workers)

    @property
    def tuning(self) -> bool:
        return bool(self._queue)

    def begin(self) -> None:
        """Apply the forced count, or start measuring the candidates (`auto`)."""
        if self.mode == "auto":
            self._measure("start")
        else:
            self._use(int(self.mode))
            self._events.append({"epoch": self._epoch + 1, "threads": self.chosen, "reason": "forced"})

    def start_epoch(self, epoch: int) -> None:
        self._epoch = epoch
        self._epoch_times.clear()
        self._warm = False  # an epoch's first step waits for the loader to start: not measured either
        self._switched = False  # (nor judged: the loader's start is in it)
        self._last = time.perf_counter()

    def after_step(self, images: int) -> None:
        now = time.perf_counter()
        per_image = (now - self._last) / max(images, 1)
        self._last = now
        if not self._warm:  # the first step at a new count starts its thread pool: not measured ...
            self._warm = True
            if self._switched and self._queue and self._warmup_hopeless(per_image):
                self._drop(self._queue[0], [per_image])  # ... unless it alone shows the count hopeless
            self._switched = False
            return
        if not self._queue:
            self._epoch_times.append(per_image)
            self._judge_recent()
            return
        count = self._queue[0]
        times = self._trial.setdefault(count, [])
        times.append(per_image)
        hopeless = self._hopeless(count)
        if hopeless or len(times) >= self.trial_steps:
            self._drop(count, times) if hopeless else self._next()

    def _judge_recent(self) -> None:
        """Measure again from the next step when the last `SLOW_WINDOW` steps ran `SLOWER` than the chosen
        rate: a process that starts mid-epoch must not stall the rest of it (issue 27's papers'-protocol row
        sat over 5 minutes in a 20 s epoch at 2 threads when a second row began beside it)."""
        if self.mode != "auto" or self.rate is None or len(self._epoch_times) < SLOW_WINDOW:
            return
        recent = statistics.median(self._epoch_times[-SLOW_WINDOW:])
        if recent > SLOWER * self.rate:
            self._epoch_times.clear()  # this epoch's steps so far were judged: not again at its end
            self._measure(f"steps {recent / self.rate:.1f}x slower than measured", busier=True)

    def end_epoch(self) -> None:
        """Measure again from the next step when this epoch ran `SLOWER` than the chosen rate (an epoch too
        short for `_judge_recent`; the counts found hopeless stay dropped) or that much faster, or every few
        epochs (all counts)."""
        if self.mode != "auto" or self._queue or not self._epoch_times or self.rate is None:
            return
        self._since_check += 1
        typical = statistics.median(self._epoch_times)
        if typical > SLOWER * self.rate:
            self._measure(f"steps {typical / self.rate:.1f}x slower than measured", busier=True)
        elif typical * SLOWER < self.rate:
            self._measure(f"steps {self.rate / typical:.1f}x faster than measured")
        elif self._since_check >= self._recheck_every:
            self._measure(f"recheck after {self._since_check} epochs")

    def events(self) -> list[dict[str, Any]]:
        """The choices made since the last call (each: epoch, threads, reason, measured ms per image)."""
        taken, self._events = self._events, []
        return taken

    def _measure(self, reason: str, busier: bool = False) -> None:
        self._reason, self._previous, self._busier = reason, self.chosen, busier
        self._trial = {}
        counts = candidates(self.budget)
        self._queue = [c for c in counts if c not in self._hopeless_counts] if busier else counts
        self._queue = self._queue or [self.chosen]
        if not busier:
            self._hopeless_counts.clear()
        self._use(self._queue[0])

    def _warmup_hopeless(self, per_image: float) -> bool:
        done = [statistics.median(t) for t in self._trial.values() if len(t) >= self.trial_steps]
        return bool(done) and per_image > HOPELESS_WARMUP * min(done)

    def _drop(self, count: int, times: list[float]) -> None:
        """Give up on `count` (hopeless) with the times it took, and go on."""
        self._trial[count] = times
        self._hopeless_counts.add(count)
        self._next()

    def _next(self) -> None:
        self._queue.pop(0)
        if self._queue:
            self._use(self._queue[0])
        else:
            self._decide()

    def _hopeless(self, count: int) -> bool:
        """A count already HOPELESS times slower than the best measured one: spend no more steps on it
        (beside a busy process, a step at every thread can take 30x longer)."""
        done = [statistics.median(t) for c, t in self._trial.items() if c != count and len(t) >= self.trial_steps]
        return bool(done) and statistics.median(self._trial[count]) > HOPELESS * min(done)

    def _decide(self) -> None:
        medians = {count: statistics.median(times) for count, times in self._trial.items()}
        best = min(medians, key=medians.get)
        if self._reason.startswith("recheck"):  # the same answer again: look less often
            same = best == self._previous
            self._recheck_every = min(2 * self._recheck_every, MAX_RECHECK_EPOCHS) if same else RECHECK_EPOCHS
        elif self._busier and best < self._previous:  # fewer threads beside a neighbour: look again soon
            self._recheck_every = AFTER_BUSIER_EPOCHS
        self._use(best)
        self.rate = medians[best]
        self._since_check = 0
        self._events.append({"epoch": self._epoch + 1, "threads": best, "reason": self._reason,
                             "ms_per_image": {str(c): round(m * 1000, 4) for c, m in medians.items()}})

    def _use(self, count: int) -> None:
        self.chosen = count
        self._warm = False
        self._switched = True
        torch.set_num_threads(count)


def create_thread_tuner(mode: str | int, device: torch.device, loader: Any = None) -> ThreadTuner | None:
    """The tuner of a run on a CPU, its budget less the training `loader`'s worker processes; None on a GPU."""
    mode = parse_threads(mode)
    if device.type != "cpu":
        return None
    tuner = ThreadTuner(mode, usable_cpus(), getattr(loader, "num_workers", 0))
    tuner.begin()
    return tuner


def thread_record(tuner: ThreadTuner | None) -> dict[str, Any]:
    """config.json's account of the threads: the usable CPUs and each choice (appended as the run goes,
    `record_choices`); a GPU run records neither."""
    return {} if tuner is None else dict(zip(THREAD_RECORD_KEYS, (tuner.cpus, []), strict=True))


def describe(event: dict[str, Any]) -> str:
    """One line for the run's output: `threads: 1 (start; ms/image 1: 2.1, 2: 9.8)`."""
    measured = event.get("ms_per_image")
    detail = "; ms/image " + ", ".join(f"{c}: {m:.3g}" for c, m in measured.items()) if measured else ""
    return f"threads: {event['threads']} ({event['reason']}{detail}, epoch {event['epoch']})"
