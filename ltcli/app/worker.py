"""One training job of the web app, in its own process: `python -m ltcli.app.worker JOB.json`.

The process runs the library's `fit` (or `resume_run`) exactly as `ltcli train` does, in the
app's root, so the run is an ordinary run folder. It reports through a status file next to the job
file: the run folder as soon as it exists, then how the job ended. SIGTERM (the page's Stop) stops
training at the next batch boundary through the engine's own signal handling, which leaves a
resumable run; a SIGTERM before the first batch stops the process the same way.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ltcli.atomic import atomic_write_text

if TYPE_CHECKING:
    from ltcli.config import TrainConfig
    from ltcli.run_folder import RunFolder

STOPPED_EXIT = 130


def write_status(path: Path, **status: Any) -> None:
    previous = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    atomic_write_text(path, json.dumps({**previous, **status}) + "\n")


def raise_interrupt(signum: int, frame: object) -> None:
    """A SIGTERM handler that stops as Ctrl-C does (the worker here, `ltcli app` in cli/serve.py)."""
    raise KeyboardInterrupt


def run_job(job: dict[str, Any], status: Path) -> int:
    """Train (or resume) the job's run; returns the process's exit code."""
    from rich.console import Console

    from ltcli.config import TrainConfig
    from ltcli.engine.train import fit, resume_run
    from ltcli.errors import LtcliError, error_line
    from ltcli.run_folder import RunFolder

    console = Console(width=120, force_terminal=False, highlight=False)
    try:
        if job.get("resume"):
            run = RunFolder(Path(job["resume"]))
            write_status(status, run=str(run.path.resolve()))
            resume_run(run, console)
        else:
            config = TrainConfig.create(**job["config"])
            path = fit(config, console, on_start=lambda run: write_status(status, run=str(run.path.resolve())))
            if job.get("ensemble"):
                write_status(status, message=ensemble(config, RunFolder(path), job["ensemble"]))
    except KeyboardInterrupt:
        write_status(status, state="stopped")
        return STOPPED_EXIT
    except (LtcliError, OSError) as error:
        write_status(status, state="failed", message=error_line(error))
        print(f"error: {error_line(error)}", flush=True)
        return 1
    write_status(status, state="finished")
    return 0


def ensemble(config: TrainConfig, tuned: RunFolder, request: dict[str, Any]) -> str:
    """The tune-then-ensemble's second step (`workflows.tuned_ensemble`), after a finished training:
    the line the job ends with. A failure here leaves the trained run as it is, and says why."""
    from ltcli.errors import LtcliError, error_line
    from ltcli.run_folder import RunFolder
    from ltcli.workflows import tuned_ensemble

    temperatures = str(request["temperatures"])
    try:
        result = tuned_ensemble(tuned, RunFolder(Path(config.init_from)), temperatures, device=config.device,
                                logs_dir=Path(config.logs_dir))
    except (LtcliError, OSError) as error:
        return f"finished; the ensemble was not tested: {error_line(error)}"
    acc = result.metrics.get("acc")
    shown = "n/a" if acc is None else f"{acc:.4f}"
    return f"finished; ensemble t={temperatures} with {config.init_from}: acc {shown}, results in {result.out_dir}"


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, raise_interrupt)  # until the epoch loop takes over (engine/loop.py)
    job_file = Path(argv[1])
    job = json.loads(job_file.read_text(encoding="utf-8"))
    return run_job(job, Path(job["status"]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
