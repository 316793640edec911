"""Where a search's trials live, and how a trial whose process died is taken back.

Storage: Optuna's RDB storage on an SQLite file in the study folder by default (`search.db`), any
SQLAlchemy URL with `--storage` (PostgreSQL, MySQL: several machines searching one study), or
Optuna's journal file storage with `--storage journal:PATH` (a Slurm array on a shared file system).

A trial is RUNNING in the storage while a process trains it. That process holds an flock on
`locks/trial-N.lock` in the study folder, which the kernel drops however the process ends (kill -9
included); a RUNNING trial whose lock is free has lost its process. `reclaim_stale` marks it FAIL
and enqueues its parameters again (Optuna's RetryHeartbeatStaleTrialCallback: the copy names the
trial it retries), and the copy resumes the same run folder. RDB storages also send Optuna's
heartbeat, which catches a process lost on another machine (after its grace period).
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ltcli.errors import LtcliError

DATABASE = "search.db"
JOURNAL_SCHEME = "journal:"
HEARTBEAT_S = 60  # Optuna's heartbeat of a RUNNING trial (RDB storages) ...
GRACE_S = 300  # ... and how long without one makes the trial stale
SQLITE_WAIT_S = 120  # an SQLite writer waits this long for another process's write before failing
LOCKS = "locks"


def default_url(folder: Path) -> str:
    return f"sqlite:///{folder / DATABASE}"


def shown_url(url: str) -> str:
    """The URL with its password hidden (for messages)."""
    if url.startswith(JOURNAL_SCHEME):
        return url
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001  (an unparseable URL is shown as given; it has no password to find)
        return url


def retry_callback():
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    return RetryHeartbeatStaleTrialCallback()


def open_storage(url: str):
    """The Optuna storage of `url`; LtcliError (one line, password hidden) if it cannot be opened."""
    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    try:
        if url.startswith(JOURNAL_SCHEME):
            from optuna.storages.journal import JournalFileBackend

            path = Path(url[len(JOURNAL_SCHEME):])
            if not path.name or not path.parent.is_dir():
                raise OSError(f"no folder {path.parent} for the journal file")
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        engine = {"connect_args": {"timeout": SQLITE_WAIT_S}} if url.startswith("sqlite") else {}
        return optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_S,
                                          grace_period=GRACE_S, heartbeat_stale_trial_callback=retry_callback())
    except Exception as error:  # noqa: BLE001  (SQLAlchemy's and the drivers' errors have no common base)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise LtcliError(f"cannot open the search storage {shown_url(url)}: {reason[:200]}") from None


@contextlib.contextmanager
def flocked(path: Path, wait: bool = True) -> Iterator[bool]:
    """Hold an flock on `path` (made if missing); yields False (holding nothing) when `wait` is
    False and another process holds it."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def trial_lock(folder: Path, number: int) -> Path:
    return folder / LOCKS / f"trial-{number}.lock"


@contextlib.contextmanager
def hold_trial(folder: Path, number: int) -> Iterator[None]:
    """Hold trial `number`'s lock while this process trains it. The file appears already locked
    (locked under a temporary name, then renamed), so no other process sees it free meanwhile."""
    import fcntl

    path = trial_lock(folder, number)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.replace(temporary, path)
        yield
    finally:
        os.close(fd)


def reclaim_stale(study: Any, folder: Path) -> list[int]:
    """Fail each RUNNING trial whose process is gone (its lock file exists and is free) and enqueue
    it again; returns their numbers. A trial with no lock file here (another machine's) is left to
    the heartbeat."""
    from optuna.trial import TrialState

    reclaimed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        path = trial_lock(folder, trial.number)
        if not path.is_file():
            continue
        with flocked(path, wait=False) as free:
            if free and fail_and_retry(study, trial._trial_id):
                reclaimed.append(trial.number)
    return reclaimed


def fail_and_retry(study: Any, trial_id: int) -> bool:
    """Mark a RUNNING trial FAIL and enqueue its parameters again (the copy names the trial it retries);
    False when another process ended it first."""
    import optuna
    from optuna.trial import TrialState

    try:
        if not study._storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
            return False
    except optuna.exceptions.UpdateFinishedTrialError:  # another process took it back first
        return False
    retry_callback()(study, study._storage.get_trial(trial_id))
    return True


@contextlib.contextmanager
def heartbeat(storage: Any, trial_id: int) -> Iterator[None]:
    """Optuna's heartbeat of a RUNNING trial, every HEARTBEAT_S, on storages that keep one."""
    from optuna.storages import RDBStorage

    if not isinstance(storage, RDBStorage) or not storage.get_heartbeat_interval():
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            storage.record_heartbeat(trial_id)
            if stop.wait(storage.get_heartbeat_interval()):
                return

    thread = threading.Thread(target=beat, daemon=True, name=f"heartbeat-{trial_id}")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
