"""Atomic file writes: a reader (or a crash) never sees a half-written checkpoint or result file."""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

STALE_AFTER_S = 600  # a temp file untouched this long belongs to a writer that was killed


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temp file beside `path`; on clean exit fsync it and rename it over `path`.

    If the block raises (or the process dies) the previous `path` is left untouched. A writer
    killed outright leaves its temp file behind; the next successful write of `path` removes temp
    files of it that have not changed for STALE_AFTER_S seconds.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp creates 0600; give the result the mode a plain open() would (others on a shared logs/ can read it)
    os.chmod(tmp, 0o666 & ~_current_umask())
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    remove_stale_temps(path)


def remove_stale_temps(path: Path) -> None:
    cutoff = time.time() - STALE_AFTER_S
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):  # gone already, or not ours to remove
            if stale.stat().st_mtime < cutoff:
                stale.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    import torch

    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle)
