"""The plain choice lists of run options, in a leaf module: the configs check against them and the
engine, data and model modules that act on a choice import them from here, so choices flow one way
(config -> choices <- engine) and `ltcli.config` needs nothing from `ltcli.engine`."""

from __future__ import annotations

import re
from typing import Any

from ltcli.errors import LtcliError, shown

SCHEDULES = ("step", "cosine")  # --sched (engine.schedule)
AMP_MODES = ("auto", "bf16", "fp16", "off")  # --amp (engine.compute)
SWITCH_MODES = ("auto", "on", "off")  # --channels-last (engine.compute)
CACHE_MODES = ("auto", "memory", "none")  # --data-cache (data.memory)
AUGMENTS = ("auto", "cifar", "timm", "none")  # --augment (data.transforms)
HEADS = ("plain", "lws")  # --head (models.heads)
DEVICE_PATTERN = r"auto|cpu|cuda(:\d+)?"  # --device (engine.runtime)
THREAD_RECORD_KEYS = ("usable_cpus", "thread_choices")  # what config.json says of --threads (engine.threads)

# --freeze: the parts of the model that keep training (everything else is fixed; models.weights). The
# parts: `classifier` the classifier's own weights, `scales` the per-class scales of an LWS head,
# `bn` the BatchNorm layers outside the classifier (affine weight and bias), `rest` all else.
# A BatchNorm layer updates its running statistics exactly when its affine parameters train.
FREEZE_MODES: dict[str, frozenset[str]] = {
    "none": frozenset({"classifier", "scales", "bn", "rest"}),
    "backbone": frozenset({"classifier", "scales"}),  # cRT (Kang et al. 2020)
    "backbone-except-bn": frozenset({"classifier", "scales", "bn"}),  # MiSLAS stage two (Zhong et al. 2021)
    "backbone+classifier": frozenset({"scales"}),  # LWS: only an LWS head's scales (Kang et al. 2020)
    "all": frozenset({"bn"}),  # shift learning on BatchNorm alone (Zhong et al. 2021, Sec. 3.3)
}


def check_device_name(name: str) -> None:
    if not re.fullmatch(DEVICE_PATTERN, name):
        raise LtcliError(f"unknown --device {name!r}: use auto, cpu or cuda[:N]")


def parse_threads(value: Any) -> str | int:
    """`auto` or a whole number of threads, at least 1 (from the command line's text or a config file)."""
    if value == "auto":
        return "auto"
    if isinstance(value, bool):
        value = shown(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or value < 1:
        raise LtcliError(f"--threads takes auto or a whole number of threads (at least 1), got {shown(value)}")
    return value
