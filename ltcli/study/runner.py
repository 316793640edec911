"""Running a study: each distinct split made once, then every point trained, resumed or skipped,
and tested, in this process, in a pool of processes, or as submitit jobs (Slurm or local).

A point's runs live in LOGS/studies/NAME/runs/POINT/ (a second stage in runs/POINT/stage2/), so the study
finds them again: a run whose test metrics exist is finished and skipped; a run with epochs left is resumed
from its checkpoint_last.pt (never restarted); one killed before its first checkpoint is left, a new one begun.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from ltcli.atomic import atomic_write_text
from ltcli.bounds import MAX_STUDY_JOBS
from ltcli.errors import LtcliError, error_line
from ltcli.run_folder import ResultsFolder, RunFolder, csv_text
from ltcli.study.points import Point
from ltcli.study.spec import Study

EXECUTORS = ("processes", "local", "slurm")
MAX_JOB_MINUTES = 60 * 24 * 365  # --time: a year; more is a typo


def check_executor(executor: str, jobs: int, cluster: dict[str, Any]) -> None:
    """The executor and its job sizes, checked before any split is made or job submitted (submitit
    takes --time -5 or --cpus -2 and fails later, or never; without Slurm it raises a traceback)."""
    import shutil

    if executor not in EXECUTORS:
        raise LtcliError(f"unknown --executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    if not 1 <= jobs <= MAX_STUDY_JOBS:
        raise LtcliError(f"--jobs must be from 1 to {MAX_STUDY_JOBS}, got {jobs}")
    for name, low, high in (("time", 1, MAX_JOB_MINUTES), ("cpus", 1, None), ("gpus", 0, None)):
        value = cluster.get(name)
        if value is not None and (value < low or (high is not None and value > high)):
            bound = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise LtcliError(f"--{name} must be {bound}, got {value}")
    if executor == "slurm" and shutil.which("sbatch") is None:
        raise LtcliError("--executor slurm needs Slurm (its sbatch command is not on PATH here): run the study "
                         "on the cluster's login node, or use --executor local or processes")


@dataclass(frozen=True)
class PointPaths:
    runs: Path  # the first stage's logs_dir
    split: Path | None  # the point's dataset, when the study splits


def point_paths(study: Study, point: Point) -> PointPaths:
    split = study.folder / "splits" / point.split_id if point.split_id is not None else None
    return PointPaths(study.folder / "runs" / point.id, split)


def make_splits(study: Study, console: Console) -> None:
    """Each distinct split of the study, once (`ltcli.workflows.split_once`: a split already made,
    its split.json written, is kept; a half-made one is replaced)."""
    from ltcli.data.make import SplitOptions
    from ltcli.workflows import split_once

    done: set[str] = set()
    for point in study.points:
        if point.split is None or point.split_id in done:
            continue
        done.add(point.split_id)
        destination = point_paths(study, point).split
        options = {k: v for k, v in point.split.items() if k != "src"}
        if isinstance(options.get("similar"), str):
            options["similar"] = [options["similar"]]  # a list of mixes: one given alone is a list of one
        try:
            split_options = SplitOptions(**options, force=True)
        except TypeError as error:
            raise LtcliError(f"{study.path}: split: {error}") from None
        if split_once(Path(str(point.split["src"])), destination, split_options):
            console.print(f"split {point.split_id}: {destination}", highlight=False)


def latest_run(logs_dir: Path) -> RunFolder | None:
    """The newest run under `logs_dir` that has a checkpoint to continue from."""
    from ltcli.runs import list_runs

    runs = [run for run in list_runs(logs_dir) if run.last_checkpoint.is_file()]
    return runs[-1] if runs else None


def train_stage(given: dict[str, Any], logs_dir: Path, console: Console, on_epoch: Callable | None = None,
                replay: Callable[[RunFolder, int], None] | None = None) -> RunFolder:
    """The run of `given` under `logs_dir`: finished or pruned (kept), half finished (resumed) or new.
    `on_epoch` is told each epoch's valid numbers; `replay(run, epochs_done)` is told of a run found
    before it is kept or resumed (a search trial reports its logged epochs again)."""
    from ltcli.config import TrainConfig
    from ltcli.engine.train import fit, resume_run
    from ltcli.workflows import run_progress

    run = latest_run(logs_dir)
    if run is None:
        return RunFolder(fit(TrainConfig.create(**{**given, "logs_dir": str(logs_dir)}), console, on_epoch=on_epoch))
    if run.read_pruned() is not None:  # a search's pruner stopped it: ended
        return run
    progress = run_progress(run)
    if replay is not None:
        replay(run, progress.epochs_done)
    if progress.finished:
        return run
    console.print(f"resuming {run.path} after epoch {progress.epochs_done}", highlight=False)
    return RunFolder(resume_run(run, console, on_epoch=on_epoch))


def results_folder(run: RunFolder, study: Study) -> ResultsFolder:
    return ResultsFolder(run.path).corrected(test_options(study).plan().results_tag)


def test_options(study: Study):
    from ltcli.evaluation import TestOptions

    return TestOptions(**study.test)


def test_once(study: Study, run: RunFolder, device: str | None = None) -> bool:
    """Test `run` (its valid-picked checkpoint, on its own dataset's test/) with the study's test options,
    once: False when its results are there already. `device`: the run's, where the study names none."""
    from ltcli.workflows import run_test

    if results_folder(run, study).metrics_path("test").is_file():
        return False
    scoring = test_options(study)
    run_test([run], "test", device=str(study.test.get("device", device or scoring.device)),
             metric_options=scoring.metric_options(), plan=scoring.plan())
    return True


def run_point(study: Study, point: Point, cpus: int | None = None) -> dict[str, Any]:
    """Train (or resume) and test one point; returns where its runs are. Safe to call again. `cpus`:
    this process's share of the machine, within which `--threads auto` chooses (engine.threads)."""
    from ltcli.engine.threads import CPUS_ENV

    if cpus:
        os.environ[CPUS_ENV] = str(cpus)
    paths = point_paths(study, point)
    paths.runs.mkdir(parents=True, exist_ok=True)
    with open(paths.runs / "log.txt", "a", encoding="utf-8") as log:
        console = Console(file=log, width=120, force_terminal=False)
        given = dict(point.train)
        if paths.split is not None:
            given["data"] = str(paths.split)
        first = train_stage(given, paths.runs, console)
        final = first
        if point.second_stage is not None:
            second = {**given, **point.second_stage, "init_from": str(first.path)}
            second.pop("weights", None)
            final = train_stage(second, paths.runs / "stage2", console)
        if test_once(study, final, given.get("device")):
            console.print(f"tested {final.path}", highlight=False)
    return {"point": point.id, "run": str(first.path), "final_run": str(final.path)}


def is_finished(study: Study, point: Point) -> bool:
    return finished_runs(study, point) is not None


def _pool_point(study: Study, point: Point, cpus: int, parent: int) -> dict[str, Any]:
    """A pool worker's point, unless the study was stopped (its process gone, or SIGTERM/Ctrl-C ended this
    worker's last run): an orphaned worker would train the next queued point with nobody to report to."""
    from ltcli.engine.loop import STOP

    if os.getppid() != parent or STOP.requested:
        raise LtcliError(f"point {point.id} not started: the study was stopped")
    return run_point(study, point, cpus)


def run_points(study: Study, points: list[Point], jobs: int, executor: str, cluster: dict[str, Any],
               report: Callable[[Point, dict | None, str | None], None]) -> None:
    """Run `points`; `report(point, result, error)` is told of each as it ends."""
    if executor == "processes" and jobs <= 1:
        for point in points:
            try:
                report(point, run_point(study, point), None)
            except (LtcliError, OSError) as error:
                report(point, None, error_line(error))
        return
    if executor == "processes":
        pool, cpus = process_pool(jobs)
        with pool:
            futures = {pool.submit(_pool_point, study, point, cpus, os.getpid()): point for point in points}
            for future in concurrent.futures.as_completed(futures):
                collect(futures[future], future.result, report)
        return
    submit_points(study, points, executor, cluster, report)


def process_pool(jobs: int) -> tuple[Any, int]:
    """A pool of `jobs` spawned processes, and each one's share of this machine's CPUs."""
    from ltcli.engine.threads import usable_cpus

    pool = concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
    return pool, max(1, usable_cpus() // jobs)


def collect(point: Point, result: Callable[[], dict], report: Callable) -> None:
    try:
        report(point, result(), None)
    except LtcliError as error:
        report(point, None, str(error))
    except Exception as error:  # a job's failure (a traceback in its log) must not stop the others
        report(point, None, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")


def submit_points(study: Study, points: list[Point], executor: str, cluster: dict[str, Any],
                  report: Callable) -> None:
    """submitit jobs: `slurm` on a cluster (partition, time, cpus, gpus), `local` on this machine."""
    try:
        import submitit
    except ImportError:
        raise LtcliError("--executor local/slurm needs submitit: pip install 'ltcli[study]'") from None
    folder = study.folder / "submitit" / "%j"
    parameters: dict[str, Any] = {"timeout_min": int(cluster.get("time") or 60)}
    if executor == "local":
        engine = submitit.LocalExecutor(folder=folder)
    else:
        engine = submitit.AutoExecutor(folder=folder, cluster="slurm")
        parameters.update(cpus_per_task=int(cluster.get("cpus") or 4), gpus_per_node=int(cluster.get("gpus") or 0),
                          name=f"ltcli-{study.name}")
        if cluster.get("partition"):
            parameters["slurm_partition"] = cluster["partition"]
    engine.update_parameters(**parameters)
    jobs = [(point, engine.submit(run_point, study, point, cluster.get("cpus"))) for point in points]
    for point, job in jobs:
        collect(point, job.result, report)


def with_logs_dir(study: Study, logs_dir: Path | None) -> Study:
    """The study with every point's runs under `logs_dir` (the --logs-dir option)."""
    if logs_dir is None:
        return study
    points = [replace(p, train={**p.train, "logs_dir": str(logs_dir)}) for p in study.points]
    return replace(study, points=points)


@dataclass
class StudyOutcome:
    ran: list[str]
    skipped: list[str]
    failed: dict[str, str]
    results: Path
    table: Path
    figure: Path | None
    rows: list[dict[str, Any]]


def finished_runs(study: Study, point: Point) -> tuple[str, str] | None:
    """(first run, final run) of a finished point, else None."""
    paths = point_paths(study, point)
    first = latest_run(paths.runs)
    final = latest_run(paths.runs / "stage2") if point.second_stage is not None else first
    if first is None or final is None or not results_folder(final, study).metrics_path("test").is_file():
        return None
    return str(first.path), str(final.path)


def run_study(study: Study, console: Console, jobs: int = 1, executor: str = "processes",
              cluster: dict[str, Any] | None = None) -> StudyOutcome:
    """Make the splits, run the unfinished points, then write results.csv, table.md and figure.svg."""
    from ltcli.study.results import markdown_table, plot_study, point_row

    check_executor(executor, jobs, cluster or {})
    study.folder.mkdir(parents=True, exist_ok=True)
    make_splits(study, console)
    todo = [point for point in study.points if not is_finished(study, point)]
    skipped = [p.id for p in study.points if p not in todo]
    if skipped:
        console.print(f"{len(skipped)} of {len(study.points)} point(s) already finished: skipped", highlight=False)
    ran: list[str] = []
    failed: dict[str, str] = {}

    def report(point: Point, result: dict | None, error: str | None) -> None:
        if error is None:
            ran.append(point.id)
            console.print(f"[green]done[/] {point.id} ({len(ran) + len(failed)}/{len(todo)})", highlight=False)
        else:
            failed[point.id] = error
            console.print(f"[red]failed[/] {point.id}: {error}", highlight=False)

    run_points(study, todo, jobs, executor, cluster or {}, report)
    tag = test_options(study).plan().results_tag
    rows = [point_row(study, point.values, *runs, tag) for point in study.points
            if (runs := finished_runs(study, point)) is not None]
    results, table = study.folder / "results.csv", study.folder / "table.md"
    atomic_write_text(results, csv_text(rows))  # every row's keys, in first-seen order
    atomic_write_text(table, markdown_table(study, rows))
    figure = plot_study(study, rows, study.folder / "figure.svg")
    return StudyOutcome(ran, skipped, failed, results, table, figure, rows)

