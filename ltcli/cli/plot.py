"""The plot command: training curves, per-class recall and many/medium/few-shot comparisons across runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from ltcli.cli.root import app, console, friendly
from ltcli.config import DEFAULT
from ltcli.errors import LtcliError
from ltcli.run_folder import ResultsFolder, RunFileError, RunFolder

KINDS = ("curves", "per-class", "shots")


def needed_file(folder: ResultsFolder, kind: str, split: str) -> Path:
    """The file a kind reads in each folder: valid.csv for curves, test results otherwise."""
    if kind == "curves":
        return RunFolder(folder.path).log_path("valid")
    return folder.per_class_path(split) if kind == "per-class" else folder.metrics_path(split)


def resolve_folder(ref: str, logs_dir: Path, kind: str, split: str) -> ResultsFolder:
    """--run PATH|STAMP to a folder holding what `kind` reads (an ensemble's result folder counts too)."""
    from ltcli.runs import resolve_run_ref

    folder: ResultsFolder = ResultsFolder(Path(ref))
    if not needed_file(folder, kind, split).is_file():
        folder = resolve_run_ref(logs_dir, ref)
    needed = needed_file(folder, kind, split)
    if not needed.is_file():
        hint = "no epoch finished yet?" if kind == "curves" else "run `ltcli test` on it first"
        raise LtcliError(f"{folder.path} has no {needed.name}: {hint}")
    if RunFolder.holds_run(folder.path):
        return RunFolder(folder.path)
    return folder


def select_folders(
    refs: list[str] | None, logs_dir: Path, kind: str, split: str, model: str | None, dataset: str | None,
    objectives: list[str] | None, stamps: list[str] | None,
) -> list[ResultsFolder]:
    """The folders named by --run, else every run matching the filters that has what `kind` reads."""
    from ltcli.runs import list_runs, objective_folder

    if refs:
        return [resolve_folder(ref, logs_dir, kind, split) for ref in refs]
    wanted = {objective_folder(o) for o in objectives or []}
    matching = [
        r for r in list_runs(logs_dir, model, dataset)
        if (not wanted or r.objective in wanted) and (not stamps or r.stamp in stamps)
    ]
    folders: list[ResultsFolder] = [r for r in matching if needed_file(r, kind, split).is_file()]
    needed = needed_file(ResultsFolder(Path(logs_dir)), kind, split).name
    if len(folders) < len(matching):
        console.print(f"skipped {len(matching) - len(folders)} run(s) without {needed}")
    if not folders:
        raise LtcliError(f"no run with {needed} matches: give --run PATH or check --dataset/--model/--objective")
    return folders


def read_curves(folder: ResultsFolder, split: str) -> dict[str, dict[str, list[float]]]:
    run = RunFolder(folder.path)
    return {s: run.read_log_columns(s) for s in ("train", "valid") if run.log_path(s).is_file()}


READ: dict[str, Callable[[ResultsFolder, str], Any]] = {
    "curves": read_curves,
    "per-class": lambda folder, split: folder.read_per_class(split),
    "shots": lambda folder, split: folder.read_metrics(split),
}


def read_all(folders: list[ResultsFolder], kind: str, split: str, named: bool) -> list[tuple[str, Any]]:
    """(label, data) of each folder. A folder whose files cannot be read is an error when the user
    named it, and is skipped with its reason when it was only matched by the filters."""
    results = []
    for folder in folders:
        try:
            results.append((folder.label(split), READ[kind](folder, split)))
        except RunFileError as error:
            if named:
                raise
            console.print(f"[yellow]skipped unreadable run[/] {folder.path}: {error}", highlight=False)
    if not results:
        raise LtcliError("every matching run is unreadable: nothing to plot")
    return results


def draw_curves(results: list[tuple[str, Any]], metrics: str | None, split: str, path: Path) -> None:
    from ltcli.run_plots import plot_curves

    columns = [m.strip() for m in (metrics or "acc,loss").split(",") if m.strip()]
    known = set().union(*(cols.keys() for _, by_split in results for cols in by_split.values()))
    unknown = [m for m in columns if m not in known]
    if unknown:
        raise LtcliError(f"no logged column {', '.join(unknown)}; logged: {', '.join(sorted(known - {'epoch'}))}")
    plot_curves(results, columns, path)


def draw_per_class(results: list[tuple[str, Any]], metrics: str | None, split: str, path: Path) -> None:
    from ltcli.plots import plot_recall_comparison

    (first_label, (names, counts, _)) = results[0]
    for label, (other_names, _, _) in results:
        if other_names != names:
            raise LtcliError(f"{label} was tested on other classes than {first_label}: cannot compare per class")
    series = [(label, recalls) for label, (_, _, recalls) in results]
    plot_recall_comparison(names, counts, series, path, title=f"per-class recall on {split}")


def class_count(count: int | None) -> str:
    return "? classes" if count is None else f"{count} class" + ("" if count == 1 else "es")


def draw_shots(results: list[tuple[str, Any]], metrics: str | None, split: str, path: Path) -> None:
    from ltcli.plots import plot_shot_comparison

    sizes = results[0][1].get("shot_groups", {})
    groups = [(f"{g}_shot_acc", f"{g}-shot\n({class_count(sizes.get(f'{g}_classes'))})")
              for g in ("many", "medium", "few")]
    groups.append(("balanced_acc", "all classes\n(balanced acc)"))
    plot_shot_comparison(results, groups, path, title=f"many / medium / few-shot accuracy on {split}")


DRAW: dict[str, Callable[[list[tuple[str, Any]], str | None, str, Path], None]] = {
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
    objective: Annotated[list[str] | None, typer.Option(
        help="Filter runs by objective (repeatable; ERM+crt: a second stage).")] = None,
    datetime: Annotated[list[str] | None, typer.Option("--datetime", help="Run stamps (repeatable).")] = None,
    metrics: Annotated[str | None, typer.Option(help="curves: logged columns, comma separated (acc,loss).")] = None,
    split_name: Annotated[str, typer.Option("--split", help="per-class and shots: test or valid results.")] = "test",
    out: Annotated[Path | None, typer.Option(help="Output file (.svg or .png).")] = None,
    png: Annotated[bool, typer.Option(help="Also write a PNG beside the SVG.")] = False,
    logs_dir: Annotated[Path, typer.Option(help="Folder of runs.")] = Path(DEFAULT.logs_dir),
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
    folders = select_folders(run, logs_dir, kind, split_name, model, dataset, objective, datetime)
    results = read_all(folders, kind, split_name, named=bool(run))
    written = [out]
    if png and out.suffix.lower() == ".svg":
        written.append(out.with_suffix(".png"))
    for path in written:
        DRAW[kind](results, metrics, split_name, path)
    console.print(f"plotted {len(results)} run(s): " + ", ".join(str(p) for p in written), highlight=False)
