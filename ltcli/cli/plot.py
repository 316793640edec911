"""The plot command: curves across runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ltcli.cli.app import app, console, friendly
from ltcli.errors import LtcliError


@app.command()
@friendly
def plot(
    run: Annotated[list[Path] | None, typer.Option(help="Run folder (repeatable).")] = None,
    dataset: Annotated[str | None, typer.Option(help="Filter runs by dataset.")] = None,
    model: Annotated[str | None, typer.Option(help="Filter runs by model.")] = None,
    objective: Annotated[list[str] | None, typer.Option(help="Filter runs by objective (repeatable).")] = None,
    datetime: Annotated[list[str] | None, typer.Option("--datetime", help="Run stamps (repeatable).")] = None,
    metrics: Annotated[str, typer.Option(help="Logged columns to draw, comma separated.")] = "acc,loss",
    out: Annotated[Path | None, typer.Option(help="Output file (.svg or .png).")] = None,
    png: Annotated[bool, typer.Option(help="Also write a PNG beside the SVG.")] = False,
    logs_dir: Annotated[Path, typer.Option(help="Folder of runs.")] = Path("logs"),
) -> None:
    """Draw training and validation curves of one or several runs into one figure."""
    from ltcli.plots import plot_curves, read_csv_columns
    from ltcli.runs import RunInfo, list_runs, make_stamp

    if run:
        infos = [RunInfo.from_path(p) for p in run]
        for info in infos:
            if not (info.path / "valid.csv").is_file():
                raise LtcliError(f"{info.path} has no valid.csv: not a run folder, or no epoch finished yet")
    else:
        infos = [
            r for r in list_runs(logs_dir, model, dataset)
            if (not objective or r.objective.lower() in {o.lower() for o in objective})
            and (not datetime or r.stamp in datetime)
            and (r.path / "valid.csv").is_file()
        ]
    if not infos:
        raise LtcliError("no finished runs match: give --run PATH or check --dataset/--model/--objective")
    series = []
    for info in infos:
        by_split = {s: read_csv_columns(info.path / f"{s}.csv") for s in ("train", "valid")
                    if (info.path / f"{s}.csv").is_file()}
        series.append((info.label, by_split))
    columns = [m.strip() for m in metrics.split(",") if m.strip()]
    known = set().union(*(cols.keys() for _, by_split in series for cols in by_split.values()))
    unknown = [m for m in columns if m not in known]
    if unknown:
        raise LtcliError(f"no logged column {', '.join(unknown)}; logged: {', '.join(sorted(known - {'epoch'}))}")
    if out is None:
        out = logs_dir / "plots" / f"curves-{make_stamp()}.svg"
    if out.suffix.lower() not in (".svg", ".png"):
        raise LtcliError(f"--out must end in .svg or .png, got {out.name}")
    plot_curves(series, columns, out)
    written = [out]
    if png and out.suffix.lower() == ".svg":
        plot_curves(series, columns, out.with_suffix(".png"))
        written.append(out.with_suffix(".png"))
    console.print(f"plotted {len(infos)} run(s): " + ", ".join(str(p) for p in written))
