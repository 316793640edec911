"""The plot command: training curves, per-class recall and many/medium/few-shot comparisons across runs."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from ltcli.cli.app import app, console, friendly
from ltcli.errors import LtcliError

KINDS = ("curves", "per-class", "shots")


def results_name(kind: str, split: str) -> str:
    """The file a kind needs in each run folder: valid.csv for curves, test results otherwise."""
    if kind == "curves":
        return "valid.csv"
    suffix = "" if split == "test" else f"_{split}"
    return f"per_class{suffix}.csv" if kind == "per-class" else f"metrics{suffix}.json"


def resolve_folder(ref: str, logs_dir: Path, needed: str) -> Path:
    """--run PATH|STAMP to a folder holding `needed` (an ensemble's result folder counts too)."""
    from ltcli.runs import resolve_run_ref

    path = Path(ref)
    folder = path if (path / needed).is_file() else resolve_run_ref(logs_dir, ref).path
    if not (folder / needed).is_file():
        hint = "no epoch finished yet?" if needed == "valid.csv" else "run `ltcli test` on it first"
        raise LtcliError(f"{folder} has no {needed}: {hint}")
    return folder


def select_folders(
    refs: list[str] | None, logs_dir: Path, needed: str, model: str | None, dataset: str | None,
    objectives: list[str] | None, stamps: list[str] | None,
) -> list[Path]:
    """The folders named by --run, else every run matching the filters that has `needed`."""
    from ltcli.runs import list_runs

    if refs:
        return [resolve_folder(ref, logs_dir, needed) for ref in refs]
    wanted = {o.lower() for o in objectives or []}
    matching = [
        r for r in list_runs(logs_dir, model, dataset)
        if (not wanted or r.objective.lower() in wanted) and (not stamps or r.stamp in stamps)
    ]
    folders = [r.path for r in matching if (r.path / needed).is_file()]
    if len(folders) < len(matching):
        console.print(f"skipped {len(matching) - len(folders)} run(s) without {needed}")
    if not folders:
        raise LtcliError(f"no run with {needed} matches: give --run PATH or check --dataset/--model/--objective")
    return folders


def folder_label(folder: Path, split: str) -> str:
    """'CCE 2026-...' for a run, the ensemble's own label for an ensemble result folder."""
    from ltcli.runs import CONFIG_NAME, RunInfo

    metrics_file = folder / results_name("shots", split)
    if not (folder / CONFIG_NAME).is_file() and metrics_file.is_file():
        return json.loads(metrics_file.read_text(encoding="utf-8")).get("label", folder.name)
    return RunInfo.from_path(folder).label


def read_per_class(path: Path) -> tuple[list[str], list[int], list[float | None]]:
    """(class names, training counts, recalls) from a per_class.csv."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return ([r["class"] for r in rows], [int(r["train_count"]) for r in rows],
            [float(r["recall"]) if r["recall"] else None for r in rows])


def draw_curves(folders: list[Path], metrics: str | None, split: str, path: Path) -> None:
    from ltcli.plots import plot_curves, read_csv_columns
    from ltcli.runs import RunInfo

    series = []
    for folder in folders:
        by_split = {s: read_csv_columns(folder / f"{s}.csv")
                    for s in ("train", "valid") if (folder / f"{s}.csv").is_file()}
        series.append((RunInfo.from_path(folder).label, by_split))
    columns = [m.strip() for m in (metrics or "acc,loss").split(",") if m.strip()]
    known = set().union(*(cols.keys() for _, by_split in series for cols in by_split.values()))
    unknown = [m for m in columns if m not in known]
    if unknown:
        raise LtcliError(f"no logged column {', '.join(unknown)}; logged: {', '.join(sorted(known - {'epoch'}))}")
    plot_curves(series, columns, path)


def draw_per_class(folders: list[Path], metrics: str | None, split: str, path: Path) -> None:
    from ltcli.plots import plot_recall_comparison

    names, counts, _ = read_per_class(folders[0] / results_name("per-class", split))
    series = []
    for folder in folders:
        other_names, _, recalls = read_per_class(folder / results_name("per-class", split))
        if other_names != names:
            raise LtcliError(f"{folder} was tested on other classes than {folders[0]}: cannot compare per class")
        series.append((folder_label(folder, split), recalls))
    plot_recall_comparison(names, counts, series, path, title=f"per-class recall on {split}")


def class_count(count: int | None) -> str:
    return "? classes" if count is None else f"{count} class" + ("" if count == 1 else "es")


def draw_shots(folders: list[Path], metrics: str | None, split: str, path: Path) -> None:
    from ltcli.plots import plot_shot_comparison

    results = [json.loads((f / results_name("shots", split)).read_text(encoding="utf-8")) for f in folders]
    sizes = results[0].get("shot_groups", {})
    groups = [(f"{g}_shot_acc", f"{g}-shot\n({class_count(sizes.get(f'{g}_classes'))})")
              for g in ("many", "medium", "few")]
    groups.append(("balanced_acc", "all classes\n(balanced acc)"))
    series = [(folder_label(f, split), r) for f, r in zip(folders, results, strict=True)]
    plot_shot_comparison(series, groups, path, title=f"many / medium / few-shot accuracy on {split}")


DRAW: dict[str, Callable[[list[Path], str | None, str, Path], None]] = {
    "curves": draw_curves, "per-class": draw_per_class, "shots": draw_shots,
}


@app.command()
@friendly
def plot(
    run: Annotated[list[str] | None, typer.Option(help="Run folder or stamp (repeatable); for per-class and "
                                                  "shots also an ensemble's result folder.")] = None,
    kind: Annotated[str, typer.Option(help="curves (logged columns per epoch), per-class (recall of each class, "
                                      "runs side by side) or shots (many/medium/few-shot accuracy).")] = "curves",
    dataset: Annotated[str | None, typer.Option(help="Filter runs by dataset.")] = None,
    model: Annotated[str | None, typer.Option(help="Filter runs by model.")] = None,
    objective: Annotated[list[str] | None, typer.Option(help="Filter runs by objective (repeatable).")] = None,
    datetime: Annotated[list[str] | None, typer.Option("--datetime", help="Run stamps (repeatable).")] = None,
    metrics: Annotated[str | None, typer.Option(help="curves: logged columns, comma separated (acc,loss).")] = None,
    split_name: Annotated[str, typer.Option("--split", help="per-class and shots: test or valid results.")] = "test",
    out: Annotated[Path | None, typer.Option(help="Output file (.svg or .png).")] = None,
    png: Annotated[bool, typer.Option(help="Also write a PNG beside the SVG.")] = False,
    logs_dir: Annotated[Path, typer.Option(help="Folder of runs.")] = Path("logs"),
) -> None:
    """Draw one figure comparing runs: training curves, per-class recall, or many/medium/few-shot accuracy."""
    from ltcli.runs import make_stamp

    if kind not in KINDS:
        raise LtcliError(f"unknown --kind {kind!r}: choose one of {', '.join(KINDS)}")
    if metrics is not None and kind != "curves":
        raise LtcliError("--metrics applies to --kind curves only")
    if split_name not in ("test", "valid"):
        raise LtcliError(f"--split must be test or valid, got {split_name!r}")
    if out is None:
        out = logs_dir / "plots" / f"{kind}-{make_stamp()}.svg"
    if out.suffix.lower() not in (".svg", ".png"):
        raise LtcliError(f"--out must end in .svg or .png, got {out.name}")
    folders = select_folders(run, logs_dir, results_name(kind, split_name), model, dataset, objective, datetime)
    written = [out]
    if png and out.suffix.lower() == ".svg":
        written.append(out.with_suffix(".png"))
    for path in written:
        DRAW[kind](folders, metrics, split_name, path)
    console.print(f"plotted {len(folders)} run(s): " + ", ".join(str(p) for p in written), highlight=False)
