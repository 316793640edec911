"""One trial of a study's search (ltcli.study.search): its options, its run in
LOGS/studies/NAME/trials/NNNN/ (NNNN: the trial it first was, so a retry resumes the same run),
the metric reported to Optuna after every epoch (the pruner may stop the run: `engine.story.Pruned`),
and how it ended told to Optuna under the trial's lock (ltcli.study.storage)."""

from __future__ import annotations

import math
import traceback
from dataclasses import dataclass
from functools import partial
from typing import Any

from rich.console import Console

from ltcli.errors import LtcliError
from ltcli.run_folder import RunFolder
from ltcli.study.runner import point_paths, train_stage
from ltcli.study.space import trial_options
from ltcli.study.spec import Study
from ltcli.study.storage import fail_and_retry, heartbeat, hold_trial

TRIALS = "trials"
ERROR_ATTR = "error"  # a trial that failed in training (not one taken back from a lost process)
RUN_ATTR = "run"


def run_options(study: Study, params: dict[str, Any]) -> dict[str, Any]:
    """The train options of a trial with values `params`: `train_options` plus the study's data."""
    point = study.points[0]
    given = trial_options(point.train, study.search.parameters, params)
    given["select_metric"] = study.search.metric
    paths = point_paths(study, point)
    if paths.split is not None:
        given["data"] = str(paths.split)
    return given


def has_ended(trial: Any) -> bool:
    """Complete, pruned, or failed in training: not a trial taken back from a lost process (its retry is the trial)."""
    from optuna.trial import TrialState

    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        trial.state == TrialState.FAIL and ERROR_ATTR in trial.user_attrs)


def first_number(found: Any, trial: Any) -> int:
    """The number of the trial `trial` retries (itself if none): its run folder's name."""
    frozen = found._storage.get_trial(trial._trial_id)
    return int(frozen.system_attrs.get("failed_trial", trial.number))


def reporter(trial: Any, metric: str):
    """The `on_epoch` of a trial's run: report the metric, stop the run when the pruner says so."""
    from ltcli.engine.story import Pruned

    def on_epoch(epoch: int, valid_stats: dict[str, Any]) -> None:
        value = valid_stats.get(metric)
        if value is None or math.isnan(value):
            return  # undefined this epoch (e.g. a class absent from valid): nothing to compare
        trial.report(float(value), epoch)
        if trial.should_prune():
            raise Pruned(f"valid {metric} {value:.4f} at epoch {epoch + 1} is worse than the pruner allows")

    return on_epoch


def report_logged(trial: Any, metric: str, run: RunFolder, epochs_done: int) -> None:
    """The logged epochs of a trial's run found again (kept or resumed), reported to this trial first."""
    for row in run.read_log("valid"):
        if int(float(row["epoch"])) < epochs_done and row.get(metric) not in (None, ""):
            trial.report(float(row[metric]), int(float(row["epoch"])))


@dataclass(frozen=True)
class TrialEnd:
    number: int
    state: str  # complete, pruned, failed
    value: float | None
    note: str = ""


def run_trial(found: Any, study: Study, trial: Any) -> TrialEnd:
    """Train one trial and tell Optuna how it ended (under its lock, so nobody takes it back meanwhile)."""
    from optuna.trial import TrialState

    from ltcli.runs import best_logged

    metric = study.search.metric
    logs = study.folder / TRIALS / f"{first_number(found, trial):04d}"
    logs.mkdir(parents=True, exist_ok=True)
    with hold_trial(study.folder, trial.number), heartbeat(found._storage, trial._trial_id), \
            open(logs / "log.txt", "a", encoding="utf-8") as log:
        console = Console(file=log, width=120, force_terminal=False)
        console.print(f"trial {trial.number}: {trial.params}", highlight=False)
        try:
            run = train_stage(run_options(study, trial.params), logs, console, reporter(trial, metric),
                              partial(report_logged, trial, metric))
        except KeyboardInterrupt:  # failed and enqueued again now, so the next run resumes it
            fail_and_retry(found, trial._trial_id)
            raise
        except Exception as error:  # noqa: BLE001  (one trial's failure must not stop the search)
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            if not isinstance(error, LtcliError):
                console.print(traceback.format_exc(), highlight=False, markup=False)
            trial.set_user_attr(ERROR_ATTR, reason[:300])
            found.tell(trial, state=TrialState.FAIL)
            return TrialEnd(trial.number, "failed", None, reason)
        trial.set_user_attr(RUN_ATTR, str(run.path))
        if run.read_pruned() is not None:
            found.tell(trial, state=TrialState.PRUNED)
            return TrialEnd(trial.number, "pruned", None, f"after epoch {run.read_pruned()['epochs_done']}")
        value = best_logged(run.read_log_columns("valid").get(metric, []), metric)
        if value is None:
            trial.set_user_attr(ERROR_ATTR, f"valid {metric} undefined in every epoch")
            found.tell(trial, state=TrialState.FAIL)
            return TrialEnd(trial.number, "failed", None, f"valid {metric} undefined")
        found.tell(trial, value)
        return TrialEnd(trial.number, "complete", value)
