"""The study command: a grid of train/test points, or an Optuna search, from a YAML file (ltcli.study)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ltcli.cli.root import app, console, friendly
from ltcli.errors import LtcliError


@app.command()
@friendly
def study(
    file: Annotated[Path | None, typer.Argument(
        help="Study file (YAML): name, train, grid or search; optional split, second_stage, test, figure (see "
        "docs/studies.md, docs/search.md).")] = None,
    jobs: Annotated[int, typer.Option(help="Points (or search trials) trained at once, in processes on this "
                                      "machine.")] = 1,
    executor: Annotated[str, typer.Option(
        help="processes (this machine, --jobs), local (submitit's LocalExecutor) or slurm (submitit).")
    ] = "processes",
    partition: Annotated[str | None, typer.Option(help="slurm: the partition.")] = None,
    time: Annotated[int, typer.Option(help="local/slurm: minutes a point's job may run.")] = 60,
    cpus: Annotated[int | None, typer.Option(help="local/slurm: CPU threads per point.")] = None,
    gpus: Annotated[int, typer.Option(help="slurm: GPUs per point.")] = 0,
    logs_dir: Annotated[Path | None, typer.Option(
        help="Folder of runs (default: the file's train logs_dir, else logs): the study goes to LOGS/studies/NAME.")
    ] = None,
    storage: Annotated[str | None, typer.Option(
        help="search: Optuna storage URL (default: sqlite in the study folder); e.g. postgresql://user@host/db "
             "for several machines, or journal:PATH for Optuna's journal file on a shared file system.")] = None,
    methods: Annotated[str | None, typer.Option(
        help="Compare the main long-tail methods on DATASET (a name under a_datasets/ or a folder with train/ and "
             "valid/): a small lr search each, ranked by valid balanced accuracy, the winner tested.",
        metavar="DATASET")] = None,
    budget: Annotated[str | None, typer.Option(help="--methods: stop starting trials after this long (20m, 2h).")
                      ] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="--methods: a train option of the preset, KEY=VALUE (repeatable), e.g. epochs=10.")] = None,
    dry_run: Annotated[bool, typer.Option(help="List the points and whether each is finished; run nothing.")
                       ] = False,
) -> None:
    """Train and test every point of a grid (skip finished points, resume half-finished runs; write
    LOGS/studies/NAME/results.csv, table.md and figure.svg), or search with Optuna (`search:`: trials,
    pruning, resumable storage; the best trial tested, best.yaml, importances, history.svg)."""
    from ltcli.study.runner import check_executor, with_logs_dir
    from ltcli.study.spec import read_study

    cluster = {"partition": partition, "time": time, "cpus": cpus, "gpus": gpus}
    check_executor(executor, jobs, cluster)  # first

    if (file is None) == (methods is None):
        raise LtcliError("give a study FILE or --methods DATASET (one of them)")
    if methods is not None:
        from ltcli.config import TrainConfig
        from ltcli.study.methods import write_methods_study

        file = write_methods_study(methods, logs_dir or Path(TrainConfig.logs_dir), budget, set_)
        console.print(f"study file: {file}", highlight=False)
    elif budget is not None or set_:
        raise LtcliError("--budget and --set go with --methods; a study file gives `budget:` in its search section")
    spec = with_logs_dir(read_study(file), logs_dir)
    if spec.search is not None:
        search(spec, jobs, storage, dry_run)
        return
    if storage is not None:
        raise LtcliError("--storage is for a study with `search:`; a grid study keeps its runs' folders")
    grid(spec, jobs, executor, cluster, dry_run)


def grid(spec, jobs: int, executor: str, cluster: dict, dry_run: bool) -> None:
    from ltcli.study.runner import is_finished, run_study

    if executor == "slurm" and cluster["partition"] is None:
        console.print("[yellow]note:[/] no --partition: Slurm's default partition is used")
    if dry_run:
        for point in spec.points:
            state = "finished" if is_finished(spec, point) else "to run"
            console.print(f"{point.id}: {state}", highlight=False)
        console.print(f"{len(spec.points)} point(s); the study folder is {spec.folder}", highlight=False)
        return
    outcome = run_study(spec, console, jobs, executor, cluster)
    console.print(f"ran {len(outcome.ran)}, skipped {len(outcome.skipped)} finished point(s); wrote "
                  f"{outcome.results}, {outcome.table}" + (f", {outcome.figure}" if outcome.figure else ""),
                  highlight=False)
    console.print(outcome.table.read_text(encoding="utf-8"), highlight=False, markup=False, soft_wrap=True)
    if outcome.failed:
        first = next(iter(outcome.failed.items()))
        raise LtcliError(f"{len(outcome.failed)} point(s) failed (their logs: {spec.folder}/runs/POINT/log.txt); "
                         f"first: {first[0]}: {first[1]}")


def search(spec, jobs: int, storage: str | None, dry_run: bool) -> None:
    from ltcli.study.search import open_search, run_search
    from ltcli.study.search_results import summarize_search
    from ltcli.study.storage import default_url

    url = storage or default_url(spec.folder)
    if dry_run:
        from ltcli.study.search import counted

        found = open_search(spec, url)
        for p in spec.search.parameters:
            space = list(p.choices) if p.kind == "choice" else f"{p.low}..{p.high}{' (log)' if p.log else ''}"
            console.print(f"{p.name}: {space}", highlight=False)
        console.print(f"{counted(found)} of {spec.search.trials or 'unlimited'} trial(s) so far; the study folder is "
                      f"{spec.folder}", highlight=False)
        return
    ended = run_search(spec, console, jobs, url)
    outcome = summarize_search(open_search(spec, url), spec)
    console.print(f"{len(ended)} trial(s) ended in this run, {len(outcome.rows)} in the study; wrote "
                  f"{outcome.results}, {outcome.table}" + "".join(f", {p}" for p in outcome.figures)
                  + (f", {outcome.best_config}" if outcome.best_config else ""), highlight=False)
    console.print(outcome.table.read_text(encoding="utf-8"), highlight=False, markup=False, soft_wrap=True)
    if outcome.best is None:
        raise LtcliError(f"no trial of {spec.name} completed (see {spec.folder}/trials/NNNN/log.txt)")
