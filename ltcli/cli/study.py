"""The study command: a grid of train/test points from a YAML file (ltcli.study)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ltcli.cli.root import app, console, friendly
from ltcli.errors import LtcliError


@app.command()
@friendly
def study(
    file: Annotated[Path, typer.Argument(help="Study file (YAML): name, train, grid; optional split, "
                                         "second_stage, test, figure (see docs/studies.md).")],
    jobs: Annotated[int, typer.Option(help="Points trained at once (processes on this machine).")] = 1,
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
    dry_run: Annotated[bool, typer.Option(help="List the points and whether each is finished; run nothing.")
                       ] = False,
) -> None:
    """Train and test every point of a grid; skip finished points, resume half-finished runs; write
    LOGS/studies/NAME/results.csv, table.md (mean ± sd over seeds) and figure.svg."""
    from ltcli.study.runner import check_executor, is_finished, run_study, with_logs_dir
    from ltcli.study.spec import read_study

    cluster = {"partition": partition, "time": time, "cpus": cpus, "gpus": gpus}
    check_executor(executor, jobs, cluster)  # before any note: a refused study says one line
    if executor == "slurm" and partition is None:
        console.print("[yellow]note:[/] no --partition: Slurm's default partition is used")
    spec = with_logs_dir(read_study(file), logs_dir)
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
