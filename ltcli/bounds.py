"""Upper bounds on the sizes, counts and epoch numbers a user gives (on the command line, in a
config file, through the web app), checked by the configs before anything is written or queued.

Without them a typo or a hostile request (`--epochs 1e20`, a 100000x100000 input, a million
workers) is accepted and then holds the machine: memory grows until it is gone, or a queue is
blocked for ever. The fixed maxima are far above any run ltcli is meant for; the memory check
refuses a batch of input images that alone would take a large share of this machine's memory
(the model's activations and the loader's prefetched batches take several times more).
"""

from __future__ import annotations

import os
from typing import Any

from ltcli.errors import LtcliError

MAX_EPOCHS = 100_000
MAX_SIDE = 4096  # input height and width, pixels
MAX_BATCH = 65_536
MAX_WORKERS = 64  # DataLoader processes (each holds a copy of the dataset's index and its own batches)
MAX_EXPERTS = 16  # RIDE's experts: each is a copy of the later stages of the backbone
MAX_QUEUE = 65_536  # MoCo's and PaCo's queues of past features (MoCo v1 on ImageNet: 65536)
MAX_FEATURE_DIM = 4096  # MoCo's and PaCo's projected features
MAX_PARALLEL = 16  # `ltcli app --parallel`: trainings at the same time, each a process with its model and loader
MAX_STUDY_JOBS = 1024  # `ltcli study --jobs`: points at once, each a process (or a cluster job) of its own
MAX_UPLOAD_MB = 1_048_576  # `ltcli app --max-upload-mb`: 1 TB; past it (1e303) the byte count overflows
BATCH_MEMORY_SHARE = 8  # one batch of input images may take at most 1/8 of the machine's memory


def at_most(config: Any, name: str, high: int, flag: str) -> None:
    value = getattr(config, name)
    if value is not None and value > high:
        raise LtcliError(f"{flag} must be at most {high}, got {value}")


def machine_memory() -> int | None:
    """The machine's physical memory in bytes; None where the OS does not say (the check is skipped)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None


def _size(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if count < 1024 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return ""  # unreachable


def check_batch_memory(batch_size: int, height: int, width: int, views: int = 1, batch_flag: str = "--batchsize"
                       ) -> None:
    """One batch of float32 input (batch x views x 3 x height x width x 4 bytes) must fit in
    1/BATCH_MEMORY_SHARE of the machine's memory."""
    total = machine_memory()
    if total is None:
        return
    needed = batch_size * views * 3 * height * width * 4
    if needed * BATCH_MEMORY_SHARE > total:
        times = f" x {views} views" if views > 1 else ""
        raise LtcliError(
            f"{batch_flag} {batch_size}{times} of {height}x{width} images is {_size(needed)} of input a batch, over "
            f"1/{BATCH_MEMORY_SHARE} of this machine's {_size(total)} of memory: give a smaller {batch_flag} or "
            "--height/--width")


def check_run_sizes(config: Any, flag: Any, views: int = 1, memory: bool = True) -> None:
    """The bounds every training config shares (epochs, batch, input size, workers); `flag(name)`
    names a field's option in messages. `memory`: also the batch's memory (not for a saved run)."""
    for name, high in (("epochs", MAX_EPOCHS), ("batch_size", MAX_BATCH), ("height", MAX_SIDE),
                       ("width", MAX_SIDE), ("workers", MAX_WORKERS)):
        at_most(config, name, high, flag(name))
    if memory:
        check_batch_memory(config.batch_size, config.height, config.width, views, flag("batch_size"))
