"""Listings: models, objectives, runs."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ltcli.cli.app import app, console, err_console, friendly
from ltcli.errors import LtcliError


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
