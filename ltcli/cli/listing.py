"""Listings: models, objectives, runs."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from ltcli.cli.root import app, console, err_console, friendly
from ltcli.config import DEFAULT
from ltcli.errors import LtcliError


@app.command()
@friendly
def models(pattern: Annotated[str, typer.Argument(help="Shell-style pattern, e.g. 'resnet*'.")] = "*",
           index: Annotated[bool, typer.Option(
               "--index", help="The CCE tool's --model_index numbers and the ltcli model of each.")] = False) -> None:
    """List model names (timm's and the registered CIFAR ResNets)."""
    from ltcli.models import list_models

    if index:
        from ltcli.models.source_index import SOURCE_MODELS

        table = Table(title="the CCE tool's --model_index (train --model_index N)", box=box.SIMPLE)
        for column in ("index", "CCE tool (get_model.py)", "ltcli --model"):
            table.add_column(column)
        for number, (network, name) in enumerate(SOURCE_MODELS):
            table.add_row(str(number), network, name or "- (none)")
        console.print(table)
        return

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
        name = entry.name + (f" (alias {', '.join(entry.other_names)})" if entry.other_names else "")
        table.add_row(name, options, entry.summary)
    console.print(table)


IDENTITY_COLUMNS = ("model", "dataset", "objective")
TABLE_TEST_KEYS = (("acc", "acc"), ("balanced_acc", "bal"), ("few_shot_acc", "few"))


def formatted(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def runs_csv(summaries: list[dict]) -> str:
    """Every column at full precision, test metrics prefixed test_, for scripts and spreadsheets."""
    from ltcli.metrics import SUMMARY_KEYS

    test_keys = list(SUMMARY_KEYS) + sorted({k for s in summaries for k in s["test"] if k.startswith("tpauc_")})
    columns = ["stamp", *IDENTITY_COLUMNS, "name", "epochs_done", "epochs", "select_metric", "best_valid",
               *(f"test_{k}" for k in test_keys), "path", "error"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for summary in summaries:
        row = {**summary, **{f"test_{k}": summary["test"].get(k) for k in test_keys}}
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def runs_table(summaries: list[dict], title: str) -> tuple[Table, str]:
    """A table that fits 80 columns, and its legend. Model, dataset and objective appear only where
    they vary, joined in one column (the title names the shared ones), the experiment name only when
    a run has one; three decimals; the stamp is never wrapped (it is what --run takes)."""
    varying = [c for c in IDENTITY_COLUMNS if len({s[c] for s in summaries}) > 1]
    shared = [summaries[0][c] for c in IDENTITY_COLUMNS if c not in varying]
    metrics = {s["select_metric"] for s in summaries if not s.get("error")} or {"acc"}
    one_metric = len(metrics) == 1
    table = Table(title=" / ".join([title, *shared]), box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    table.add_column("stamp", no_wrap=True)
    if varying:
        table.add_column(" ".join(varying), overflow="fold")
    named = any(s.get("name") for s in summaries)
    if named:
        table.add_column("name", overflow="fold")
    table.add_column("epochs", justify="right", no_wrap=True)
    table.add_column("valid", justify="right")
    for _, header in TABLE_TEST_KEYS:
        table.add_column(header, justify="right", no_wrap=True)
    for s in summaries:
        identity = [s["stamp"], *([" ".join(s[c] for c in varying)] if varying else []),
                    *([escape(s["name"])] if named else [])]
        if s.get("error"):
            table.add_row(*identity, "", "[red]unreadable[/]", *([""] * len(TABLE_TEST_KEYS)))
            continue
        best_value = formatted(s["best_valid"])
        if not one_metric and best_value:
            best_value = f"{s['select_metric']} {best_value}"
        table.add_row(*identity, f"{s['epochs_done']}/{s['epochs']}", best_value,
                      *(formatted(s["test"].get(key)) for key, _ in TABLE_TEST_KEYS))
    best = f"validation {next(iter(metrics))}" if one_metric else "validation value of the run's --select-metric"
    legend = (f"valid: best {best}; acc, bal, few: top-1, balanced and few-shot accuracy on test/ "
              "(blank: not tested)")
    return table, legend


@app.command()
@friendly
def runs(
    dataset: Annotated[str | None, typer.Option(help="Filter by dataset.")] = None,
    model: Annotated[str | None, typer.Option(help="Filter by model.")] = None,
    objective: Annotated[str | None, typer.Option(help="Filter by objective (ERM+crt: a second stage).")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (every metric, full precision) instead.")] = False,
    logs_dir: Annotated[Path, typer.Option(help="Folder of runs.")] = Path(DEFAULT.logs_dir),
) -> None:
    """List runs: stamp, model, dataset, objective, epochs done, best validation value of the metric
    that picked the checkpoint, and test accuracy, balanced accuracy and few-shot accuracy if tested."""
    from ltcli.runs import list_runs, objective_folder, summarize_run

    objective_name = objective_folder(objective) if objective else None
    summaries = [summarize_run(run) for run in list_runs(logs_dir, model, dataset, objective_name)]
    if as_csv:
        sys.stdout.write(runs_csv(summaries))
        return
    if not summaries:
        console.print(f"no runs under {logs_dir}" + (" match the filters" if model or dataset or objective else ""))
        return
    table, legend = runs_table(summaries, f"runs under {logs_dir}")
    console.print(table)
    console.print(legend, highlight=False)
    for summary in summaries:
        if summary.get("error"):
            console.print(f"[yellow]unreadable run[/] {summary['path']}: {summary['error']}", highlight=False)
