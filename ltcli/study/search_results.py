"""A search's summary, from its storage: results.csv (one row per trial), table.md (best first), the
best trial tested on test (picked on valid only), its options as best.yaml for `ltcli train --config`,
Optuna's parameter importances (importances.csv, importances.svg) and its optimisation history
(history.svg), all written atomically into the study folder.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ltcli.atomic import atomic_write_text
from ltcli.run_folder import RunFolder, csv_text
from ltcli.study.results import METRICS
from ltcli.study.spec import Study
from ltcli.study.trial import ERROR_ATTR, RUN_ATTR, has_ended, run_options

BEST_CONFIG = "best.yaml"
STATE_ORDER = {"complete": 0, "pruned": 1, "fail": 2}
MIN_TRIALS_FOR_IMPORTANCE = 3  # fANOVA's forest on fewer complete trials gives numbers that mean nothing


@dataclass
class SearchOutcome:
    rows: list[dict[str, Any]]
    best: dict[str, Any] | None  # the best trial's row, its test metrics under "test"
    results: Path
    table: Path
    best_config: Path | None
    figures: list[Path]
    importances: dict[str, float]


def trial_rows(found: Any, study: Study) -> list[dict[str, Any]]:
    """A row per trial that counts: complete, pruned, or failed in training (a trial taken back from
    a lost process is left out: its retry, which names it in `retries`, is the trial)."""
    from optuna.trial import TrialState

    metric = study.search.metric
    rows = []
    for trial in filter(has_ended, found.get_trials(deepcopy=False)):
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds() \
            if trial.datetime_complete and trial.datetime_start else None
        row = {"trial": trial.number, "state": trial.state.name.lower(),
               metric: trial.value if trial.state == TrialState.COMPLETE else None,
               "epochs": len(trial.intermediate_values), **{p.name: trial.params.get(p.name)
                                                            for p in study.search.parameters},
               "seconds": None if seconds is None else round(seconds, 1), "run": trial.user_attrs.get(RUN_ATTR),
               "retries": trial.system_attrs.get("failed_trial"), "error": trial.user_attrs.get(ERROR_ATTR)}
        rows.append(row)
    return rows


def ranked(rows: list[dict[str, Any]], metric: str, direction: str) -> list[dict[str, Any]]:
    sign = -1.0 if direction == "maximize" else 1.0
    return sorted(rows, key=lambda r: (STATE_ORDER[r["state"]], sign * r[metric] if r[metric] is not None else 0.0,
                                       r["trial"]))


def test_best(study: Study, run: RunFolder) -> dict[str, Any]:
    """The best trial's run tested on test once (its best epoch on valid); the metrics."""
    from ltcli.study.runner import results_folder, test_once

    test_once(study, run, study.points[0].train.get("device"))
    return results_folder(run, study).read_metrics("test")


def write_best_config(study: Study, params: dict[str, Any], path: Path) -> None:
    """The best trial's options as a `ltcli train --config` file."""
    options = {k: v for k, v in run_options(study, params).items() if k != "logs_dir"}
    if not options.get("objective_options"):
        options.pop("objective_options", None)
    header = (f"# The best trial of study {study.name} (valid {study.search.metric}), from {study.path}:\n"
              f"#   ltcli train --config {path}\n")
    atomic_write_text(path, header + yaml.safe_dump(options, sort_keys=False))


def importances(found: Any, seed: int) -> dict[str, float]:
    """Optuna's fANOVA importances of the parameters over the complete trials; {} when too few
    trials (or too little variation) to tell."""
    import optuna

    complete = [t for t in found.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        return {}
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(optuna.importance.get_param_importances(found, evaluator=evaluator))
    except (RuntimeError, ValueError):
        return {}


def draw(found: Any, study: Study, folder: Path, weights: dict[str, float]) -> list[Path]:
    """history.svg (Optuna's optimisation history) and importances.svg, with matplotlib."""
    import optuna

    from ltcli.plots import save_figure

    figures = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's matplotlib plots are marked experimental
        complete = [t for t in found.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if complete:
            axes = optuna.visualization.matplotlib.plot_optimization_history(
                found, target_name=f"valid {study.search.metric}")
            axes.set_title(f"{study.name}: optimisation history")
            save_figure(axes.figure, folder / "history.svg")
            figures.append(folder / "history.svg")
        if weights:
            from ltcli.plots import plt

            fig, ax = plt.subplots(figsize=(6, 0.5 + 0.4 * len(weights)))
            names = list(weights)[::-1]
            ax.barh(names, [weights[n] for n in names])
            ax.set_xlabel("importance (fANOVA)")
            ax.set_title(f"{study.name}: parameter importances for valid {study.search.metric}")
            save_figure(fig, folder / "importances.svg")
            figures.append(folder / "importances.svg")
    return figures


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def markdown(study: Study, rows: list[dict[str, Any]], best: dict[str, Any] | None,
             weights: dict[str, float]) -> str:
    spec = study.search
    counts = {state: sum(r["state"] == state for r in rows) for state in STATE_ORDER}
    lines = [f"# {study.name}: search of valid {spec.metric} ({spec.direction})", "",
             f"{len(rows)} trials: {counts['complete']} complete, {counts['pruned']} pruned, {counts['fail']} failed.",
             ""]
    if best is not None:
        test = best.get("test", {})
        lines += [f"Best trial {best['trial']} (picked on valid {spec.metric} {best[spec.metric]:.4f}); its test "
                  "metrics: " + ", ".join(f"{k} {test[k]:.4f}" for k in METRICS if test.get(k) is not None) + ".",
                  f"Its options: {BEST_CONFIG} (`ltcli train --config`); its run: {best['run']}.", ""]
    params = [p.name for p in spec.parameters]
    header = ["trial", "state", "epochs", f"valid {spec.metric}", *params]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in ranked(rows, spec.metric, spec.direction):
        cells = [row["trial"], row["state"], row["epochs"], row[spec.metric], *(row[p] for p in params)]
        lines.append("| " + " | ".join(cell(c) for c in cells) + " |")
    for p in spec.parameters:
        if p.rows:
            lines += ["", *row_ranking(p.name, list(p.choices), rows, spec.metric, spec.direction)]
    if weights:
        lines += ["", f"Parameter importances (Optuna's fANOVA over the complete trials, for valid {spec.metric}):", "",
                  "| parameter | importance |", "|---|---|"]
        lines += [f"| {name} | {value:.3f} |" for name, value in weights.items()]
    return "\n".join(lines) + "\n"


def row_ranking(name: str, choices: list[str], rows: list[dict[str, Any]], metric: str, direction: str) -> list[str]:
    """The named rows of parameter `name` ranked by their best complete trial (a method each, say)."""
    lines = [f"Each {name} by its best trial (valid {metric}):", "",
             f"| rank | {name} | best valid {metric} | trial | complete | pruned | failed |", "|" + "---|" * 7]
    entries = []
    for choice in choices:
        mine = [r for r in rows if r[name] == choice]
        top = ranked(mine, metric, direction)
        best = top[0] if top and top[0]["state"] == "complete" else None
        counts = [sum(r["state"] == state for r in mine) for state in STATE_ORDER]
        entries.append((best, choice, counts))
    sign = -1.0 if direction == "maximize" else 1.0
    entries.sort(key=lambda e: (e[0] is None, sign * e[0][metric] if e[0] is not None else 0.0))
    for rank, (best, choice, counts) in enumerate(entries, 1):
        value, trial = (cell(best[metric]), best["trial"]) if best is not None else ("", "")
        lines.append(f"| {rank} | {choice} | {value} | {trial} | " + " | ".join(map(str, counts)) + " |")
    return lines


def summarize_search(found: Any, study: Study) -> SearchOutcome:
    """Write every file of the module docstring; test the best complete trial."""
    from optuna.trial import TrialState

    folder = study.folder
    rows = trial_rows(found, study)
    best = None
    best_config = None
    if any(t.state == TrialState.COMPLETE for t in found.get_trials(deepcopy=False)):
        trial = found.best_trial
        best_row = next(r for r in rows if r["trial"] == trial.number)
        best = {**best_row, "test": test_best(study, RunFolder(Path(trial.user_attrs[RUN_ATTR])))}
        best_config = folder / BEST_CONFIG
        write_best_config(study, trial.params, best_config)
        for row in rows:
            row["best"] = row is best_row
        best_row.update({f"test_{key}": best["test"].get(key) for key in METRICS})
    weights = importances(found, study.search.seed)
    results, table = folder / "results.csv", folder / "table.md"
    atomic_write_text(results, csv_text(rows))
    atomic_write_text(table, markdown(study, rows, best, weights))
    if weights:
        atomic_write_text(folder / "importances.csv",
                          csv_text([{"parameter": k, "importance": v} for k, v in weights.items()]))
    figures = draw(found, study, folder, weights)
    return SearchOutcome(rows, best, results, table, best_config, figures, weights)
