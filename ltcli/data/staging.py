"""Folders built beside their destination and renamed into place: never half-written, never junk.

`ltcli split` and `ltcli demo-data` write into a hidden staging folder `.NAME.staging-HOST-PID-XXXX`
and rename it to NAME when it is complete. A NAME being replaced (--force) is renamed to
`.NAME.old-HOST-PID` for the instant between the two renames of the swap (it is whole and the only
copy then), and to `.NAME.trash-HOST-PID` once the new NAME is in place, to be deleted.

A writer killed outright (kill -9, a power cut) leaves these folders behind. The next write of NAME
removes them when they are stale, decided by the PID in their name rather than by their age,
because a large copy may run for hours without touching its staging folder: a folder of this host
is stale once `os.kill(pid, 0)` says its process is gone. A PID means nothing on another host (a
shared a_datasets/ on a cluster), so such folders are left alone. Folders named before PIDs were
recorded (`.NAME.XXXXXXXX`, `.NAME.old-PID`) can only be judged by age: they are removed once
untouched for LEGACY_STALE_AFTER_S. A stale `.old-` folder whose NAME is missing (the writer died
mid-swap) is renamed back to NAME instead of deleted; a `.trash-` folder may be half deleted, so it
is never brought back.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ltcli.atomic import current_umask
from ltcli.errors import LtcliError, describe_os_error

LEGACY_STALE_AFTER_S = 24 * 3600


def host_tag() -> str:
    """This host's name, reduced to characters that are safe in a file name."""
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "localhost"


def new_staging(destination: Path) -> Path:
    """A new empty hidden folder beside `destination`, named after this process."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{destination.name}.staging-{host_tag()}-{os.getpid()}-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=destination.parent))


def refuse_non_folder(destination: Path) -> None:
    """A file (or a link to one) where the folder goes is never replaced, --force or not."""
    if os.path.lexists(destination) and not destination.is_dir():
        raise LtcliError(f"{destination} exists and is not a folder: move it away (--force replaces only a folder)")


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) terminates the process there: never judge, keep the folder
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _our_pattern(destination: Path) -> re.Pattern[str]:
    """Names of this host's staging, old and trash folders of `destination` (see the module)."""
    name, host = re.escape(destination.name), re.escape(host_tag())
    return re.compile(rf"\.{name}\.(?P<role>staging|old|trash)-{host}-(?P<pid>\d+)(?:-[a-z0-9_]+)?")


def stale_folders(destination: Path) -> list[Path]:
    """Staging, old and trash folders of `destination` left by writers that are gone (see the module)."""
    parent = destination.parent
    if not parent.is_dir():
        return []
    ours = _our_pattern(destination)
    legacy = re.compile(rf"\.{re.escape(destination.name)}\.(?:[a-z0-9_]{{8}}|old-\d+)")
    cutoff = time.time() - LEGACY_STALE_AFTER_S
    stale = []
    for path in sorted(parent.iterdir()):
        match = ours.fullmatch(path.name)
        if match is not None:
            if not _pid_alive(int(match.group("pid"))):
                stale.append(path)
        elif legacy.fullmatch(path.name) and path.lstat().st_mtime < cutoff:
            stale.append(path)
    return stale


def remove_stale(destination: Path) -> list[Path]:
    """Remove the stale folders of `destination` (or restore a whole `.old-` one whose NAME was lost
    mid-swap); returns them. Best effort: what cannot be deleted now is tried on the next write."""
    ours = _our_pattern(destination)
    stale = stale_folders(destination)
    for path in stale:
        match = ours.fullmatch(path.name)
        with contextlib.suppress(OSError):
            if match is not None and match.group("role") == "old" and not os.path.lexists(destination):
                path.rename(destination)
            elif path.is_symlink() or not path.is_dir():
                path.unlink()
            else:
                shutil.rmtree(path, ignore_errors=True)
    return stale


def publish(staging: Path, destination: Path) -> None:
    """Rename the complete `staging` folder to `destination`, which must not exist: unlike
    `swap_into_place`, never replaces anything (`ltcli download` never overwrites a dataset)."""
    if os.path.lexists(destination):
        raise LtcliError(f"{destination} appeared while writing: left as it is")
    staging.rename(destination)


def _aside(destination: Path, role: str) -> Path:
    return destination.with_name(f".{destination.name}.{role}-{host_tag()}-{os.getpid()}")


def swap_into_place(staging: Path, destination: Path) -> None:
    """Rename `staging` to `destination`, replacing what is there; the old folder is renamed aside
    first and deleted only after the swap, so one of the two is always in place."""
    if not os.path.lexists(destination):
        staging.rename(destination)
        return
    old = _aside(destination, "old")
    destination.rename(old)
    try:
        staging.rename(destination)
    except BaseException:
        old.rename(destination)
        raise
    trash = _aside(destination, "trash")
    old.rename(trash)
    _delete_replaced(trash, destination, staging)


def _entries(root: Path) -> set[str]:
    return {os.path.join(folder, name) for folder, dirs, files in os.walk(root) for name in dirs + files}


def _delete_replaced(trash: Path, destination: Path, spare: Path) -> None:
    """Delete the replaced folder `trash`. If it cannot be deleted and is still whole, swap it back
    (the new folder is discarded, through the free name `spare`): the user keeps what they had and
    is told why. If part of it is gone already, the new folder stays and the rest is reported."""
    if trash.is_symlink():  # a link to a dataset elsewhere: drop the link, never the files it points to
        trash.unlink()
        return
    before = _entries(trash)
    try:
        shutil.rmtree(trash)
        return
    except OSError as error:
        failure = describe_os_error(error)
    if _entries(trash) == before:
        old = _aside(destination, "old")  # whole again: restorable should this process die now
        trash.rename(old)
        destination.rename(spare)
        old.rename(destination)
        shutil.rmtree(spare, ignore_errors=True)
        raise LtcliError(f"cannot replace {destination}: the old one cannot be deleted ({failure}); "
                         "it is left as it was")
    shutil.rmtree(trash, ignore_errors=True)
    if os.path.lexists(trash):
        raise LtcliError(f"wrote the new {destination}, but part of the old one cannot be deleted ({failure}): "
                         f"it is left in {trash}; delete that by hand (the next write of {destination.name} "
                         "retries)")


@contextlib.contextmanager
def staged(destination: Path, place: Callable[[Path, Path], None] = swap_into_place) -> Iterator[Path]:
    """A new staging folder for `destination`, given the mode a plain mkdir would (mkdtemp makes it 0700,
    so nobody else could read the dataset) and put in place by `place` when the block ends cleanly;
    discarded when it (or `place`) raises: a reader never sees half a dataset or export."""
    staging = new_staging(destination)
    try:
        yield staging
        os.chmod(staging, 0o777 & ~current_umask())
        place(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
