"""One training process per run folder: `ltcli train` (new or --resume) holds an advisory lock on
the run's `.train.lock` while it writes the run, so a second `--resume` of the same run is refused
instead of training into the same files.

The lock is fcntl.flock on an open file: the kernel drops it when the holder exits, however it
exits (kill -9 included), so a killed run is never left locked. The lock file itself stays (removing
it would let a third process lock a fresh file while a second still holds the old one).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ltcli.errors import LtcliError

LOCK_NAME = ".train.lock"
_held: set[Path] = set()  # run folders this process holds: a resume that goes on to fit() locks once


@contextlib.contextmanager
def hold_run(run_dir: Path, is_main: bool = True) -> Iterator[None]:
    """Hold `run_dir` for training; LtcliError if another live process holds it. Under torchrun only
    the main process locks (its peers train the same run with it)."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): runs are not locked there
        fcntl = None
    key = Path(run_dir).resolve()
    if not is_main or fcntl is None or key in _held:
        yield
        return
    fd = os.open(key / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            raise LtcliError(f"{run_dir} is being trained by another process{f' (pid {holder})' if holder else ''}: "
                             "wait for it to finish or stop it, then resume") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _held.add(key)
        try:
            yield
        finally:
            _held.discard(key)
    finally:
        os.close(fd)  # releases the lock
