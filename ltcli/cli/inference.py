"""Evaluation commands: test (metrics and figures of one run or an ensemble) and predict (new images)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ltcli.cli.compat import ModelIndex, model_of
from ltcli.cli.declared import declare_options, settings_from_cli
from ltcli.cli.root import app, console, friendly
from ltcli.config import DEFAULT
from ltcli.errors import LtcliError
from ltcli.evaluation import PredictOptions, TestOptions
from ltcli.settings import spelled
from ltcli.workflows import TEST_SPLITS

RUN_HELP = ("Run folder, checkpoint .pt, or stamp (YYYY-MM-DD-HH-MM-SS, or latest); repeat it to average "
            "several runs' probabilities (an ensemble).")


# The dataset options `ltcli test` shares with `ltcli export` (their corrections: TestOptions, declared once).
DataOption = Annotated[Path | None, typer.Option(
    help="Dataset folder, or folder of NAME_{train,val,test}.txt lists (default: the run's own).")]
DataRootOption = Annotated[Path | None, typer.Option(
    help="Lists only: the folder their image paths are relative to (default: the run's own, else the lists' "
    "folder).")]



def parse_tpauc(values: list[str] | None) -> tuple[tuple[float, float], ...]:
    """'0.5,0.3' -> (0.5, 0.3), each checked to lie in (0, 1]."""
    from ltcli.tpauc import TPAUC_DEFAULT, check_tpauc_bounds

    if not values:
        return TPAUC_DEFAULT
    pairs = []
    for text in values:
        try:
            alpha, beta = (float(v) for v in text.split(","))
        except ValueError:
            raise LtcliError(f"--tpauc takes ALPHA,BETA (e.g. 0.5,0.5), got {text!r}") from None
        check_tpauc_bounds(alpha, beta)
        pairs.append((alpha, beta))
    return tuple(pairs)


def resolve_runs(logs_dir: Path, refs: list[str] | None, model: str | None, dataset: str | None,
                 objective: str | None, datetime: str | None) -> list:
    """--run A --run B (folders or stamps), else the --model/--dataset/--objective/--datetime lookup."""
    from ltcli.runs import find_run, objective_folder, resolve_run_ref

    objective_name = objective_folder(objective) if objective else None
    if refs:
        if datetime is not None:
            raise LtcliError("give --run or --datetime, not both")
        folders = [resolve_run_ref(logs_dir, ref, model, dataset, objective_name) for ref in refs]
        if len({(i.path.resolve(), i.checkpoint_name) for i in folders}) < len(folders):
            raise LtcliError("the same run is named twice in --run")
        return folders
    return [find_run(logs_dir, None, model, dataset, objective_name, datetime)]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def summary_table(metrics: dict, title: str) -> Table:
    """The headline numbers two to a row, under the names metrics.json uses."""
    from ltcli.metrics import SUMMARY_KEYS

    groups = metrics.get("shot_groups", {})
    cells = []
    for key in (*SUMMARY_KEYS, *(k for k in metrics if k.startswith("tpauc_"))):
        if key not in metrics:
            continue
        name = key
        if key.endswith("_shot_acc"):
            name = f"{key} ({groups.get(key.replace('_shot_acc', '_classes'), 0)} cl.)"
        cells.append((name, _fmt(metrics[key])))
    table = Table(title=title, show_header=False, title_justify="left")
    for justify in ("left", "right", "left", "right"):
        table.add_column(justify=justify)
    for start in range(0, len(cells), 2):
        pair = cells[start:start + 2]
        table.add_row(*(text for cell in pair for text in cell), *([""] * (4 - 2 * len(pair))))
    return table


def weakest_classes(metrics: dict, count: int = 5) -> str:
    """'sky 0.00 (6 train), ...': the lowest recalls, where a long tail usually fails."""
    scored = [
        (recall, name, train)
        for name, recall, train in zip(metrics["class_names"], metrics["per_class_recall"], metrics["class_counts"],
                                       strict=True)
        if recall is not None
    ]
    return ", ".join(f"{name} {recall:.2f} ({train} train)" for recall, name, train in sorted(scored)[:count])


def sweep_table(posthoc: dict, key: str) -> Table:
    """The validation value of every tau of the sweep, the chosen one marked."""
    from ltcli.posthoc import direction

    metric = posthoc["sweep_metric"]
    table = Table("tau", f"{metric} on valid/", "", title=f"{key} sweep ({direction(metric)} {metric} wins)",
                  title_justify="left")
    for tau, value in posthoc["sweep"]:
        table.add_row(f"{tau:g}", _fmt(value), "chosen" if tau == posthoc[key] else "")
    return table


@app.command()
@friendly
def test(
    dataset: Annotated[str | None, typer.Option(help="Dataset name (run lookup and a_datasets/NAME).")] = None,
    model: Annotated[str | None, typer.Option(help="Model of the run.")] = None,
    model_index: ModelIndex = None,
    objective: Annotated[str | None, typer.Option(
        help="Objective of the run; a second stage's is OBJECTIVE+RECIPE (ERM+crt) or OBJECTIVE+stage2.")] = None,
    datetime: Annotated[str | None, typer.Option("--datetime", help="Run stamp YYYY-MM-DD-HH-MM-SS or latest.")] = None,
    run: Annotated[list[str] | None, typer.Option(help=RUN_HELP)] = None,
    data: DataOption = None,
    data_root: DataRootOption = None,
    split_name: Annotated[str, typer.Option("--split", help=f"{spelled(TEST_SPLITS)}.")] = "test",
    out: Annotated[Path | None, typer.Option(
        help="Write the results here (default: the run's folder; for an ensemble a new logs/ensembles/DATASET/STAMP).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace results already in --out.")] = False,
    tpauc: Annotated[list[str] | None, typer.Option(
        help="TPAUC ALPHA,BETA: fraction of lowest-scored positives, of highest-scored negatives (repeatable; "
        "default 0.5,0.5).")] = None,
    temperatures: Annotated[str | None, typer.Option(
        help="One temperature per --run, in order (1,2): average softmax(logits / t) instead of softmax(logits).")
    ] = None,
    datasets_dir: Annotated[Path, typer.Option(help="Folder of split datasets.")] = Path(DEFAULT.datasets_dir),
    logs_dir: Annotated[Path, typer.Option(help="Folder of runs.")] = Path(DEFAULT.logs_dir),
    **values: Any,
) -> None:
    """Evaluate a run's best checkpoint (or several runs' averaged probabilities); write metrics.json,
    per_class.csv, predictions.csv, confusion_matrix.svg, per_class_recall.svg (and roc_curve.svg for
    a binary task). With --tau-norm, --logit-adjust or --temperatures the file names carry the
    correction (metrics_taunorm.json, ...), so the plain results stay."""
    from ltcli.workflows import check_test_split, dataset_of_run, run_test

    check_test_split(split_name)
    model = model_of(model, model_index)
    scoring = TestOptions(**settings_from_cli(TestOptions, values))
    options = {**scoring.metric_options(), "tpauc": parse_tpauc(tpauc)}
    folders = resolve_runs(logs_dir, run, model, dataset, objective, datetime)
    plan = scoring.plan(temperatures, len(folders), split_name)
    if data is None and dataset is not None:
        data = datasets_dir / dataset
    source = dataset_of_run(folders[0], data, data_root)
    result = run_test(folders, split_name, source, scoring.device, out, force, options, plan, logs_dir)
    metrics = result.metrics
    if "sweep" in metrics.get("posthoc", {}):
        console.print(sweep_table(metrics["posthoc"], plan.correction.key))
    console.print(summary_table(metrics, f"{metrics['label']} on {source.where(split_name)}"))
    if len(folders) > 1:
        members = Table("member", "acc", "balanced_acc", "few_shot_acc", title="ensemble members", title_justify="left")
        for member in metrics["members"]:
            members.add_row(f"{member['objective']} {member['stamp']}", _fmt(member.get("acc")),
                            _fmt(member.get("balanced_acc")), _fmt(member.get("few_shot_acc")))
        console.print(members)
    console.print(f"weakest classes: {weakest_classes(metrics)}", highlight=False)
    if result.metrics.get("skipped_files"):
        console.print(f"[yellow]skipped {len(result.metrics['skipped_files'])} file(s) that do not decode[/] "
                      "(listed in the metrics file)")
    console.print("wrote " + ", ".join(p.name for p in result.files) + f" in {result.out_dir}", highlight=False)


declare_options(test, TestOptions)


@app.command()
@friendly
def predict(
    images: Annotated[list[Path], typer.Argument(
        help="Image files, folders (searched recursively), or .txt lists of `path [label]` lines.")],
    data_root: Annotated[Path | None, typer.Option(
        help="The folder a .txt list's paths are relative to (default: the list's folder).")] = None,
    run: Annotated[list[str] | None, typer.Option(help=RUN_HELP)] = None,
    out: Annotated[Path, typer.Option(help="CSV to write.")] = Path("predictions.csv"),
    force: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
    dataset: Annotated[str | None, typer.Option(help="Narrow a stamp lookup to this dataset.")] = None,
    model: Annotated[str | None, typer.Option(
        help="Without --run: an exported model folder (or its .onnx file) to predict with on ONNX Runtime "
        "(`ltcli export`). With --run: narrow a stamp lookup to this model.")] = None,
    model_index: ModelIndex = None,
    objective: Annotated[str | None, typer.Option(
        help="Narrow a stamp lookup to this objective (ERM+crt: a second stage).")] = None,
    logs_dir: Annotated[Path, typer.Option(help="Folder of runs.")] = Path(DEFAULT.logs_dir),
    **values: Any,
) -> None:
    """Classify images with a trained run (or the averaged probabilities of several), or with an
    exported model on ONNX Runtime (--model FOLDER): the top-k classes and probabilities of each
    image, printed and written to a CSV. Needs only the checkpoint, or only the exported folder."""
    from ltcli.atomic import atomic_write_text
    from ltcli.engine.classifier import predict_files
    from ltcli.export.predict import looks_exported, predict_files_onnx
    from ltcli.run_folder import csv_text

    model = model_of(model, model_index)
    exported = model is not None and looks_exported(Path(model))
    if not run and not exported:
        raise LtcliError("give the run to predict with: --run PATH or --run STAMP (repeat it for an ensemble), or an "
                         "exported model: --model FOLDER")
    if run and exported:
        raise LtcliError(f"give --run or an exported --model ({model}), not both")
    options = PredictOptions(**settings_from_cli(PredictOptions, values))
    top_k = options.top_k
    if out.exists() and not force:
        raise LtcliError(f"{out} already exists: pass --force to replace it, or choose another --out")
    if exported:
        result = predict_files_onnx(Path(model), images, top_k, options.batch_size, data_root)
    else:
        result = predict_files(resolve_runs(logs_dir, run, model, dataset, objective, None), images, options.device,
                               top_k, options.batch_size, data_root)
    rows = result.rows
    atomic_write_text(out, csv_text(rows))
    listed = min(len(rows), 20)
    table = Table("file", "top class", "probability", "then", title=f"{result.label}: {len(rows)} image(s)",
                  title_justify="left")
    for row in rows[:listed]:
        rest = ", ".join(f"{row[f'class_{r}']} {row[f'probability_{r}']:.2f}"
                         for r in range(2, min(top_k, len(result.class_names)) + 1))
        table.add_row(row["file"], row["class_1"], f"{row['probability_1']:.3f}", rest)
    console.print(table)
    if listed < len(rows):
        console.print(f"... {len(rows) - listed} more in {out}")
    for what, paths in (("unreadable image", result.corrupt), ("non-image file", result.skipped)):
        if paths:
            console.print(f"[yellow]skipped {len(paths)} {what}(s):[/] " + ", ".join(map(str, paths[:5]))
                          + (" ..." if len(paths) > 5 else ""), highlight=False)
    console.print(f"wrote {out}", highlight=False)


declare_options(predict, PredictOptions)
