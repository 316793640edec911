"""Atomic file writes: a reader (or a crash) never sees a half-written checkpoint or result file."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

STALE_AFTER_S = 600  # a temp file untouched this long belongs to a writer that was killed


def current_umask() -> int:
    """The process's umask (reading it means setting it: set it back at once)."""
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
    os.chmod(tmp, 0o666 & ~current_umask())
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


@contextlib.contextmanager
def replace_together(folder: Path, names: Sequence[str], stale: Sequence[str] = ()) -> Iterator[Path]:
    """Replace a set of files in `folder` whole or not at all: the block writes `names` (each
    atomically) into a staging folder inside `folder`; on a clean exit they are renamed into place
    and the `stale` names of an earlier set removed, with SIGINT and SIGTERM held back meanwhile,
    so Ctrl-C lands before the first rename or after the last. If the block raises (Ctrl-C while
    the slow part writes) the old set stays untouched and the staging folder is removed; one left by
    a kill -9 is removed by a later call once it is STALE_AFTER_S old."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(folder)
    stage = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, suffix=".tmp", dir=folder))
    try:
        yield stage
        missing = [name for name in names if not (stage / name).is_file()]
        if missing:
            raise FileNotFoundError(f"the set to write lacks {', '.join(missing)}")
        with signals_held():
            for name in names:
                os.replace(stage / name, folder / name)
            for name in stale:
                if name not in names:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(folder / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


STAGING_PREFIX = ".staging."


def remove_stale_staging(folder: Path) -> None:
    cutoff = time.time() - STALE_AFTER_S
    for stale in folder.glob(f"{STAGING_PREFIX}*.tmp"):
        with contextlib.suppress(OSError):
            if stale.is_dir() and stale.stat().st_mtime < cutoff:
                shutil.rmtree(stale)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back (delivered when the block ends), where the platform can."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


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
    """torch.save, atomically. A failed write (a full disk) is re-raised as the OSError it was: torch
    reports it as a RuntimeError ('unexpected pos ...') with the OSError only as its context."""
    import torch

    try:
        with atomic_open(path, "wb") as handle:
            torch.save(obj, handle)
    except RuntimeError as error:
        cause = os_error_behind(error)
        if cause is None:
            raise
        raise OSError(cause.errno, cause.strerror or str(cause), str(path)) from error


def os_error_behind(error: BaseException) -> OSError | None:
    """The OSError in `error`'s chain of causes and contexts, if any."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
