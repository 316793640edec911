"""The test command: evaluate a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ltcli.cli.app import app, console, friendly
from ltcli.errors import LtcliError


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
    if metrics["skipped_files"]:
        console.print(f"[yellow]skipped {len(metrics['skipped_files'])} file(s) that do not decode[/] "
                      "(listed in the metrics file)")
    console.print("wrote " + ", ".join(p.name for p in result.files) + f" in {info.path}")
