"""The app's training queue: jobs run one at a time (by default) in worker processes, off the
request thread, so a request only enqueues and the page polls.

A job's process outlives the browser tab that started it; its run is an ordinary run folder, so
after a restart of the app the Runs tab shows it (finished, or interrupted and resumable) like any
other. The queue itself is held in memory: queued jobs that never started are gone with the app.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ltcli
from ltcli.bounds import MAX_PARALLEL
from ltcli.engine.threads import CPUS_ENV, usable_cpus
from ltcli.errors import LtcliError

ACTIVE = ("queued", "running")
MAX_QUEUED = 100  # jobs waiting: a flood of requests must not hold the app's memory
STOP_GRACE_S = 10.0  # after Stop, how long a worker may take to reach a batch boundary before it is killed


@dataclass
class Job:
    """One training (or resumption) the page asked for."""

    id: int
    label: str
    # {"config": TrainConfig values} (with "ensemble": {"temperatures": "t1,t2"}: then test that ensemble),
    # or {"resume": run folder}
    request: dict[str, Any]
    state: str = "queued"  # queued, running, finished, stopped, failed, cancelled
    run: str | None = None  # the run folder, once the worker has claimed it
    message: str = ""
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    stop_requested: bool = False
    killed: bool = False

    def describe(self, ahead: int | None = None) -> dict[str, Any]:
        """What the page and the API show of the job."""
        record = {"job": self.id, "label": self.label, "state": self.state, "run": self.run,
                  "message": self.message, "submitted": self.submitted, "started": self.started,
                  "ended": self.ended}
        if ahead is not None:
            record["ahead"] = ahead
        return record


class JobQueue:
    """Jobs in submission order; `parallel` worker threads each run one job's process at a time."""

    def __init__(self, root: Path, workdir: Path, parallel: int = 1, python: str = sys.executable,
                 stop_grace: float = STOP_GRACE_S) -> None:
        if not 1 <= parallel <= MAX_PARALLEL:
            raise LtcliError(f"--parallel must be in [1, {MAX_PARALLEL}], got {parallel}")
        self.root, self.workdir, self.python = Path(root), Path(workdir), python
        self.stop_grace = stop_grace
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._jobs: list[Job] = []
        self._ids = itertools.count(1)
        self._changed = threading.Condition()
        self._closing = False
        self._threads = [threading.Thread(target=self._work, name=f"ltcli-app-jobs-{i}", daemon=True)
                         for i in range(parallel)]
        for thread in self._threads:
            thread.start()

    # -- what the page calls -------------------------------------------------------------------
    def submit(self, request: dict[str, Any], label: str) -> dict[str, Any]:
        with self._changed:
            if self._closing:
                raise LtcliError("the app is shutting down: no new training")
            if sum(1 for j in self._jobs if j.state == "queued") >= MAX_QUEUED:
                raise LtcliError(f"{MAX_QUEUED} jobs are waiting already: wait for them, or stop some")
            job = Job(next(self._ids), label, request)
            self._jobs.append(job)
            ahead = sum(1 for j in self._jobs if j.state in ACTIVE and j.id != job.id)
            self._changed.notify_all()
            return job.describe(ahead)

    def stop(self, job_id: int) -> str:
        """Cancel a queued job, or ask a running one to stop at the next batch boundary; one that has
        not ended `stop_grace` seconds later (stuck inside a step) is killed with its process group."""
        with self._changed:
            job = self._find(job_id)
            if job.state == "queued":
                job.state, job.ended, job.message = "cancelled", time.time(), "cancelled before it started"
                return f"job {job.id} cancelled"
            if job.state != "running":
                return f"job {job.id} is {job.state}: nothing to stop"
            if job.stop_requested:
                return f"job {job.id}: stopping already (killed if not ended {self.stop_grace:g} s after Stop)"
            job.stop_requested = True
            job.message = "stopping at the next batch boundary"
            if job.process is not None:
                job.process.send_signal(signal.SIGTERM)
                timer = threading.Timer(self.stop_grace, self._kill, (job, job.process))
                timer.daemon = True
                timer.start()
            return (f"job {job.id}: stopping at the next batch boundary, killed if not ended within "
                    f"{self.stop_grace:g} s (the run stays resumable)")

    def jobs(self) -> list[dict[str, Any]]:
        with self._changed:
            for job in self._jobs:
                self._read_status(job)
            queued = [j.id for j in self._jobs if j.state == "queued"]
            running = sum(1 for j in self._jobs if j.state == "running")
            return [j.describe(running + queued.index(j.id) if j.state == "queued" else None) for j in self._jobs]

    def wait(self, job_id: int, timeout: float) -> dict[str, Any]:
        """Block until the job has ended (for scripts and tests); raises LtcliError on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            job = self._find(job_id)
            while job.state in ACTIVE:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LtcliError(f"job {job_id} still {job.state} after {timeout:g} s")
                self._changed.wait(min(left, 0.5))
            self._read_status(job)
            return job.describe()

    def shutdown(self, timeout: float = 60.0) -> None:
        """Cancel queued jobs and stop running ones at a batch boundary (their runs stay resumable)."""
        with self._changed:
            self._closing = True
            running = [j for j in self._jobs if j.state == "running"]
            for job in self._jobs:
                if job.state == "queued":
                    job.state, job.ended, job.message = "cancelled", time.time(), "the app shut down"
            self._changed.notify_all()
        for job in running:
            self.stop(job.id)
        for thread in self._threads:
            thread.join(timeout)

    # -- the worker threads ----------------------------------------------------------------------
    def _kill(self, job: Job, process: subprocess.Popen) -> None:
        """The end of Stop's grace period: kill a worker still alive, and the loader processes it started."""
        with self._changed:
            if process.poll() is not None:
                return
            job.killed = True
            try:
                if hasattr(os, "killpg"):
                    os.killpg(process.pid, signal.SIGKILL)  # its own session: the group is the worker's
                else:
                    process.kill()
            except ProcessLookupError:
                pass

    def _find(self, job_id: int) -> Job:
        for job in self._jobs:
            if job.id == int(job_id):
                return job
        raise LtcliError(f"no job {job_id}")

    def _next(self) -> Job | None:
        with self._changed:
            while True:
                if self._closing:
                    return None
                job = next((j for j in self._jobs if j.state == "queued"), None)
                if job is not None:
                    job.state, job.started = "running", time.time()
                    job.process = self._launch(job)
                    return job
                self._changed.wait()

    def _work(self) -> None:
        while (job := self._next()) is not None:
            code = job.process.wait()
            with self._changed:
                self._finish(job, code)
                self._changed.notify_all()

    def _files(self, job: Job) -> tuple[Path, Path, Path]:
        stem = self.workdir / f"job-{job.id}"
        return stem.with_suffix(".json"), stem.with_suffix(".status.json"), stem.with_suffix(".log")

    def _launch(self, job: Job) -> subprocess.Popen:
        job_file, status, log = self._files(job)
        job_file.write_text(json.dumps({**job.request, "status": str(status)}), encoding="utf-8")
        # The worker runs the very ltcli the app runs (a checkout on a relative PYTHONPATH included).
        package_home = str(Path(ltcli.__file__).resolve().parents[1])
        path = os.pathsep.join([package_home, *filter(None, [os.environ.get("PYTHONPATH")])])
        with open(log, "wb") as output:
            # Its own session, so Stop can kill the worker with the DataLoader processes it started.
            return subprocess.Popen([self.python, "-m", "ltcli.app.worker", str(job_file)], cwd=self.root,
                                    stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path,
                                         CPUS_ENV: str(self.cpus_each)},
                                    start_new_session=hasattr(os, "killpg"))

    @property
    def cpus_each(self) -> int:
        """Each job's share of the CPUs: the `parallel` jobs split them, each run choosing its threads
        within its share (`--threads auto`, engine.threads)."""
        return max(1, usable_cpus() // len(self._threads))

    def _read_status(self, job: Job) -> dict[str, Any]:
        _, status_file, _ = self._files(job)
        try:
            status = json.loads(status_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if status.get("run") and job.run is None:
            run = Path(status["run"])
            root = self.root.resolve()
            job.run = run.relative_to(root).as_posix() if run.is_relative_to(root) else str(run)
        return status

    def _finish(self, job: Job, code: int) -> None:
        from ltcli.app.worker import STOPPED_EXIT

        status = self._read_status(job)
        job.ended, job.process = time.time(), None
        if code == 0:
            job.state, job.message = "finished", status.get("message") or "finished"
        elif code == STOPPED_EXIT or job.stop_requested:
            job.state = "stopped"
            how = (f"killed: it had not stopped {self.stop_grace:g} s after Stop (its last finished epoch is kept)"
                   if job.killed else "stopped at a batch boundary")
            job.message = (f"{how}: resume it from the Runs tab or with `ltcli train --resume {job.run}`"
                           if job.run else f"{how}, before its run folder existed")
        else:
            job.state = "failed"
            job.message = status.get("message") or self._last_log_line(job) or f"worker exited with code {code}"

    def _last_log_line(self, job: Job) -> str:
        _, _, log = self._files(job)
        try:
            lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        except OSError:
            return ""
        return lines[-1] if lines else ""
