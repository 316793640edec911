"""The `ltcli` command line: thin Typer commands that parse options and call the library."""

from __future__ import annotations

import csv
import functools
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

import ltcli
from ltcli.errors import LtcliError

app = typer.Typer(
    name="ltcli",
    help="Long-tailed image classification on any folder dataset: split, train, test, plot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def friendly(command: F) -> F:
    """Turn an LtcliError into one line on stderr and exit code 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except LtcliError as error:
            err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]")
            raise typer.Exit(code=130) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        console.print(f"ltcli {ltcli.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Long-tailed image classification on any folder dataset: split, train, test, plot."""


def _file_progress(description: str, total: int | None) -> Progress:
    return Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), console=console, transient=True)


# ----------------------------------------------------------------------------------------------- data


@app.command("demo-data")
@friendly
def demo_data(
    root: Annotated[Path, typer.Option(help="Folder of raw datasets.")] = Path("data_split"),
    imbalance_factor: Annotated[float, typer.Option(help="Head count / tail count (>= 10 for a real tail).")] = 10.0,
    force: Annotated[bool, typer.Option(help="Rewrite the demo folder if it exists.")] = False,
) -> None:
    """Write the bundled long-tailed demo (scikit-learn's real 8x8 digits) to data_split/digits-lt/."""
    from ltcli.data.demo import DEMO_NAME, write_demo_dataset

    destination = root / DEMO_NAME
    try:
        counts = write_demo_dataset(destination, imbalance_factor, force=force)
    except FileExistsError:
        console.print(f"{destination} already exists: left as is (pass --force to rewrite it)")
        return
    console.print(
        f"wrote {sum(counts.values())} images to {destination}: "
        + ", ".join(f"{k}:{v}" for k, v in counts.items())
        + f" (imbalance {max(counts.values()) / min(counts.values()):.1f})"
    )


@app.command()
@friendly
def split(
    name: Annotated[str, typer.Argument(help="Dataset name: reads data_split/NAME, writes a_datasets/NAME.")],
    src: Annotated[Path | None, typer.Option(help="Read this folder instead of data_split/NAME.")] = None,
    ratios: Annotated[str, typer.Option(help="train,valid,test fractions.")] = "0.7,0.15,0.15",
    seed: Annotated[int, typer.Option(help="Seed of the per-class shuffles.")] = 0,
    link: Annotated[str, typer.Option(help="copy, hardlink or symlink the files.")] = "copy",
    force: Annotated[bool, typer.Option(help="Replace an existing a_datasets/NAME.")] = False,
    data_split_dir: Annotated[Path, typer.Option(help="Folder of raw datasets.")] = Path("data_split"),
    datasets_dir: Annotated[Path, typer.Option(help="Folder of split datasets.")] = Path("a_datasets"),
) -> None:
    """Split data_split/NAME/<class>/ into a_datasets/NAME/{train,valid,test}/<class>/, stratified and seeded.

    The source is never moved, renamed or deleted.
    """
    from ltcli.data.folder import count_files, list_class_dirs, scan_class_folders
    from ltcli.data.split import SPLITS, check_destination, parse_ratios, plan_split, write_split

    source = src if src is not None else data_split_dir / name
    destination = datasets_dir / name
    parsed = parse_ratios(ratios)
    list_class_dirs(source)  # fail fast with a clear message
    check_destination(source, destination, force)
    with _file_progress("scanning", None) as progress:
        task = progress.add_task("scan", total=count_files(source))
        scan = scan_class_folders(source, on_file=lambda: progress.advance(task))
    plan = plan_split(scan, parsed, seed)
    with _file_progress(link, None) as progress:
        task = progress.add_task(link, total=sum(len(v) for v in scan.images.values()))
        manifest = write_split(plan, scan, destination, link, force, on_file=lambda: progress.advance(task))
    table = Table(title=f"{name}: {source} -> {destination} (seed {seed}, {link})")
    table.add_column("class")
    for s in SPLITS:
        table.add_column(s, justify="right")
    counts = manifest["counts"]
    for class_name in scan.class_names:
        table.add_row(class_name, *(str(counts[s][class_name]) for s in SPLITS))
    table.add_row("[bold]total", *(f"[bold]{sum(counts[s].values())}" for s in SPLITS))
    console.print(table)
    if scan.non_images:
        console.print(f"skipped {len(scan.non_images)} non-image file(s) (listed in split.json)")
    if scan.corrupt:
        console.print(f"[yellow]skipped {len(scan.corrupt)} unreadable image(s):[/]")
        for path in scan.corrupt:
            console.print(f"  {path}", highlight=False)


# ----------------------------------------------------------------------------------------------- train


def parse_option_value(text: str) -> Any:
    """'2' -> 2, '0.5' -> 0.5, 'true' -> True, '1,2' -> [1, 2], anything else stays a string."""
    if "," in text:
        return [parse_option_value(part) for part in text.split(",")]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_objective_options(pairs: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise LtcliError(f"--opt takes KEY=VALUE, got {pair!r}")
        options[key.strip().replace("-", "_")] = parse_option_value(value.strip())
    return options


def parse_int_list(text: str, option: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise LtcliError(f"{option} takes whole numbers separated by commas, got {text!r}") from None


@app.command()
@friendly
def train(
    dataset: Annotated[str | None, typer.Option(help="Dataset under a_datasets/.")] = None,
    data: Annotated[Path | None, typer.Option(help="Any folder with train/ and valid/ (or test/).")] = None,
    model: Annotated[str, typer.Option(help="timm model name (see `ltcli models`).")] = "resnet32",
    objective: Annotated[str, typer.Option(help="Loss (see `ltcli objectives`).")] = "CCE",
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 200,
    batchsize: Annotated[int, typer.Option("--batchsize", "--batch-size", help="Batch size.")] = 128,
    lr: Annotated[float, typer.Option(help="Peak learning rate (SGD).")] = 0.1,
    momentum: Annotated[float, typer.Option(help="SGD momentum.")] = 0.9,
    weight_decay: Annotated[float, typer.Option(help="SGD weight decay.")] = 5e-4,
    sched: Annotated[str, typer.Option(help="step (drops after each --lrstep stage) or cosine.")] = "step",
    lrstep: Annotated[str, typer.Option(help="Epochs in each stage; lr x --lr-decay after each.")] = "60,60,40,40",
    lr_decay: Annotated[float, typer.Option(help="Factor applied at each step.")] = 0.1,
    warmup: Annotated[int, typer.Option(help="Epochs of linear warmup.")] = 5,
    height: Annotated[int, typer.Option(help="Input height.")] = 32,
    width: Annotated[int, typer.Option(help="Input width.")] = 32,
    augment: Annotated[str, typer.Option(help="auto, cifar (pad-crop+flip), timm, none.")] = "auto",
    hflip: Annotated[float, typer.Option(help="Horizontal flip probability (0 for digits/text).")] = 0.5,
    ccegamma: Annotated[float | None, typer.Option(help="CCE balancing factor gamma (default 1).")] = None,
    opt: Annotated[list[str] | None, typer.Option(help="Objective option KEY=VALUE (repeatable).")] = None,
    pretrained: Annotated[bool, typer.Option(help="Start from timm's pretrained weights.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    workers: Annotated[int, typer.Option(help="DataLoader worker processes.")] = 2,
    datasets_dir: Annotated[Path, typer.Option(help="Folder of split datasets.")] = Path("a_datasets"),
    logs_dir: Annotated[Path, typer.Option(help="Folder of runs.")] = Path("logs"),
) -> None:
    """Train a model; the run goes to logs/<model>/<dataset>/<objective>/<YYYY-MM-DD-HH-MM-SS>/."""
    from ltcli.config import TrainConfig
    from ltcli.engine.train import fit
    from ltcli.objectives import get_objective_entry

    entry = get_objective_entry(objective)
    options = parse_objective_options(opt or [])
    if ccegamma is not None:
        if "gamma" not in entry.options or entry.name not in ("CCE",):
            raise LtcliError(f"--ccegamma applies to CCE, not {entry.name}: use --opt gamma=... for its own gamma")
        options["gamma"] = ccegamma
    if epochs < 1 or batchsize < 1:
        raise LtcliError("--epochs and --batchsize must be at least 1")
    config = TrainConfig(
        dataset=dataset, data=str(data) if data else None, model=model, objective=entry.name,
        objective_options=options, epochs=epochs, batch_size=batchsize, lr=lr, momentum=momentum,
        weight_decay=weight_decay, sched=sched, lr_steps=parse_int_list(lrstep, "--lrstep"), lr_decay=lr_decay,
        warmup_epochs=warmup, height=height, width=width, augment=augment, hflip=hflip, pretrained=pretrained,
        seed=seed, device=device, workers=workers, datasets_dir=str(datasets_dir), logs_dir=str(logs_dir),
    )
    fit(config, console)


# ----------------------------------------------------------------------------------------------- test


@app.command()
@friendly
def test(
    dataset: Annotated[str | None, typer.Option(help="Dataset name (run lookup and a_datasets/NAME).")] = None,
    model: Annotated[str | None, typer.Option(help="Model of the run.")] = None,
    objective: Annotated[str | None, typer.Option(help="Objective of the run.")] = None,
    datetime: Annotated[str | None, typer.Option("--datetime", help="Run stamp YYYY-MM-DD-HH-MM-SS or latest.")] = None,
    run: Annotated[Path | None, typer.Option(help="Run folder (instead of the lookup options).")] = None,
    data: Annotated[Path | None, typer.Option(help="Dataset folder (default: the run's own).")] = None,
    split_name: Annotated[str, typer.Option("--split", help="test or valid.")] = "test",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    datasets_dir: Annotated[Path, typer.Option(help="Folder of split datasets.")] = Path("a_datasets"),
    logs_dir: Annotated[Path, typer.Option(help="Folder of runs.")] = Path("logs"),
) -> None:
    """Evaluate a run's best checkpoint; write metrics.json, per_class.csv, predictions.csv and
    confusion_matrix.svg into the run folder."""
    from ltcli.engine.assess import test_run
    from ltcli.objectives import get_objective_entry
    from ltcli.runs import find_run

    if split_name not in ("test", "valid"):
        raise LtcliError(f"--split must be test or valid, got {split_name!r}")
    objective_name = get_objective_entry(objective).name if objective else None
    info = find_run(logs_dir, run, model, dataset, objective_name, datetime)
    if data is not None:
        root = data
    elif dataset is not None:
        root = datasets_dir / dataset
    else:
        root = Path(info.config()["dataset_root"])
    result = test_run(info, root, split_name, device)
    metrics = result.metrics
    table = Table(title=f"{info.model} / {info.objective} / {info.stamp} on {root / split_name}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("acc", "top5acc", "balanced_acc", "many_shot_acc", "medium_shot_acc", "few_shot_acc",
                "gmean_recall", "hmean_recall", "lowest_recall", "nll"):
        value = metrics.get(key)
        table.add_row(key, "n/a (no class)" if value is None else f"{value:.4f}")
    console.print(table)
    recalls = ", ".join(
        f"{name} {'n/a' if r is None else f'{r:.2f}'}"
        for name, r in zip(metrics["class_names"], metrics["per_class_recall"], strict=True)
    )
    console.print(f"per-class recall: {recalls}", highlight=False)
    console.print("wrote " + ", ".join(p.name for p in result.files) + f" in {info.path}")


# ----------------------------------------------------------------------------------------------- plot


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


# ----------------------------------------------------------------------------------------------- listings


@app.command()
@friendly
def models(pattern: Annotated[str, typer.Argument(help="Shell-style pattern, e.g. 'resnet*'.")] = "*") -> None:
    """List model names (timm's and the registered CIFAR ResNets)."""
    from ltcli.models import list_models

    names = list_models(pattern)
    if not names:
        raise LtcliError(f"no model matches {pattern!r}")
    console.print("\n".join(names), highlight=False)
    err_console.print(f"{len(names)} model(s)")


@app.command()
@friendly
def objectives() -> None:
    """List the objectives with their options and defaults."""
    from ltcli.objectives import get_objective_entry, list_objectives

    table = Table(title="objectives (--objective NAME, options via --opt KEY=VALUE)")
    for column in ("name", "options (defaults)", "what"):
        table.add_column(column)
    for name in list_objectives():
        entry = get_objective_entry(name)
        options = ", ".join(f"{k}={v}" for k, v in entry.options.items()) or "-"
        table.add_row(entry.name, options, entry.summary)
    console.print(table)


@app.command()
@friendly
def runs(
    dataset: Annotated[str | None, typer.Option(help="Filter by dataset.")] = None,
    model: Annotated[str | None, typer.Option(help="Filter by model.")] = None,
    objective: Annotated[str | None, typer.Option(help="Filter by objective.")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
    logs_dir: Annotated[Path, typer.Option(help="Folder of runs.")] = Path("logs"),
) -> None:
    """List runs: stamp, model, dataset, objective, epochs done, best validation acc, test acc."""
    from ltcli.plots import read_csv_columns
    from ltcli.runs import list_runs

    rows = []
    for info in list_runs(logs_dir, model, dataset, objective):
        valid = read_csv_columns(info.path / "valid.csv") if (info.path / "valid.csv").is_file() else {}
        metrics_file = info.path / "metrics.json"
        test_metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
        rows.append({
            "stamp": info.stamp, "model": info.model, "dataset": info.dataset, "objective": info.objective,
            "epochs": len(valid.get("epoch", [])),
            "best_valid_acc": f"{max(valid['acc']):.4f}" if valid.get("acc") else "",
            "test_acc": f"{test_metrics['acc']:.4f}" if "acc" in test_metrics else "",
            "test_balanced_acc": f"{test_metrics['balanced_acc']:.4f}" if "balanced_acc" in test_metrics else "",
            "path": str(info.path),
        })
    if as_csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["stamp"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
        return
    if not rows:
        console.print(f"no runs under {logs_dir}")
        return
    table = Table(title=f"runs under {logs_dir}")
    for column in list(rows[0])[:-1]:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(v) for k, v in row.items() if k != "path"))
    console.print(table)


def main() -> None:
    app()
