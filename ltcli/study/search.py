"""Running a study's search (`search:`, ltcli.study.space) with Optuna, in one process or `--jobs`.

Each process asks the storage for a trial, trains it as one run in LOGS/studies/NAME/trials/NNNN/
(the number of the trial it first was: a retried trial resumes its run folder), reports the
search metric on valid after every epoch, and tells Optuna the run's best value, or that it was
pruned (the pruner stopped it: the run stays, marked pruned) or failed. Asking happens under a lock
in the study folder, after stale trials are taken back (ltcli.study.storage), so the processes of
one machine never start more than `trials` trials between them; a rerun starts only what is missing.
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

from rich.console import Console

from ltcli.errors import LtcliError
from ltcli.study.space import SearchSpec
from ltcli.study.spec import Study
from ltcli.study.storage import LOCKS, flocked, open_storage, reclaim_stale
from ltcli.study.trial import TrialEnd, has_ended, run_trial

SPACE_ATTR = "ltcli_space"


def make_sampler(spec: SearchSpec, seed: int):
    import optuna

    if spec.sampler in ("grid", "random"):  # a grid's points are enqueued in order (enqueue_grid)
        return optuna.samplers.RandomSampler(seed=seed)
    # TPE models the trials once this many ran at random: a third of the search, 2 to 10 (Optuna's 10)
    startup = max(2, min(10, (spec.trials or 30) // 3))
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)


def make_pruner(spec: SearchSpec, epochs: int | None):
    import optuna

    options = spec.pruner_options
    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=options.get("startup_trials", 2),
                                           n_warmup_steps=options.get("warmup_epochs", 0))
    if spec.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=options.get("min_epochs", 1),
                                              max_resource=epochs if epochs is not None else "auto",
                                              reduction_factor=options.get("reduction_factor", 3))
    return optuna.pruners.NopPruner()


def searched_epochs(study: Study) -> int | None:
    """The epochs every trial runs (None when the search varies them)."""
    from ltcli.config import TrainConfig

    if any(p.field == "epochs" or any("epochs" in row for row in p.rows.values()) for p in study.search.parameters):
        return None
    return int(study.points[0].train.get("epochs", TrainConfig.epochs))


def open_search(study: Study, url: str, worker: int = 0):
    """The study's Optuna study (made on the first run), its search space checked against the one
    its trials were searched under; the sampler seeded by the search's seed, this process and the
    trials so far (a rerun does not draw the first trials' values again)."""
    import optuna

    spec = study.search
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fingerprint = spec.fingerprint(study.points[0].train, study.points[0].split)
    # Two processes starting together would both make the database's tables, or both record the study.
    with flocked(study.folder / LOCKS / "ask.lock"):
        storage = open_storage(url)
        try:
            found = optuna.create_study(study_name=study.name, storage=storage, direction=spec.direction,
                                        pruner=make_pruner(spec, searched_epochs(study)), load_if_exists=True)
        except ValueError as error:
            raise LtcliError(f"search {study.name}: {error}") from None
        stored = found.user_attrs.get(SPACE_ATTR)
        if stored is None:
            found.set_user_attr(SPACE_ATTR, fingerprint)
            enqueue_grid(found, spec)
    if stored is not None and stored != fingerprint:
        raise LtcliError(f"{study.path}: the search space changed since study {study.name!r} last ran "
                         f"({space_change(stored, fingerprint)}): refused, its trials would not compare; restore the "
                         "file, or give `name:` a new value to start a new study")
    found.sampler = make_sampler(spec, spec.seed + 1000 * worker + len(found.trials))
    return found


def enqueue_grid(found: Any, spec: SearchSpec) -> None:
    """A grid search's points, queued once in the file's order (the first parameter's first choice
    with every value of the others first: under a budget, every method before any method twice).
    Optuna's GridSampler would draw them in a shuffled order."""
    import itertools

    if spec.sampler != "grid":
        return
    names = [p.name for p in spec.parameters]
    for values in itertools.product(*(p.choices for p in spec.parameters)):
        found.enqueue_trial(dict(zip(names, values, strict=True)))


def space_change(stored: str, current: str) -> str:
    import json

    old, new = json.loads(stored), json.loads(current)
    for key in ("parameters", "metric", "train", "split"):
        if old.get(key) != new.get(key):
            return f"{key} differ"
    return "its record differs"


def counted(found: Any) -> int:
    """Trials that count towards `trials`: finished, pruned, running, or failed in training (a trial
    taken back from a lost process is counted as its retry)."""
    from optuna.trial import TrialState

    return sum(t.state == TrialState.RUNNING or has_ended(t) for t in found.get_trials(deepcopy=False))


def next_trial(found: Any, study: Study):
    """The next trial to train (a retried one first), or None when the study has all its trials."""
    import optuna

    with flocked(study.folder / LOCKS / "ask.lock"):
        reclaim_stale(found, study.folder)
        optuna.storages.fail_stale_trials(found)
        if study.search.trials is not None and counted(found) >= study.search.trials:
            return None
        with warnings.catch_warnings():  # Optuna warns that heartbeats are meant for optimize(): storage.heartbeat
            warnings.filterwarnings("ignore", message="Heartbeat of storage")
            return found.ask(study.search.distributions())


def search_worker(study: Study, url: str, worker: int = 0, cpus: int | None = None) -> list[TrialEnd]:
    """One process's share of the search: trials until the study has them all or the budget is spent."""
    from ltcli.engine.threads import CPUS_ENV

    if cpus:
        os.environ[CPUS_ENV] = str(cpus)
    found = open_search(study, url, worker)
    console = Console()
    deadline = None if study.search.budget_s is None else time.monotonic() + study.search.budget_s
    ended: list[TrialEnd] = []
    while deadline is None or time.monotonic() < deadline:
        trial = next_trial(found, study)
        if trial is None:
            break
        end = run_trial(found, study, trial)
        shown_params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                 for k, v in trial.params.items())
        value = f" {study.search.metric} {end.value:.4f}" if end.value is not None else ""
        console.print(f"trial {end.number} ({shown_params}): {end.state}{value}"
                      + (f" {end.note}" if end.note else ""), highlight=False)
        ended.append(end)
    return ended


def run_search(study: Study, console: Console, jobs: int = 1, url: str | None = None) -> list[TrialEnd]:
    """Make the split, then search in this process or in `jobs` processes; returns the trials that
    ended in this run (their results are in the storage)."""
    from ltcli.study.runner import make_splits, process_pool
    from ltcli.study.storage import default_url

    if jobs < 1:
        raise LtcliError(f"--jobs must be at least 1, got {jobs}")
    study.folder.mkdir(parents=True, exist_ok=True)
    url = url or default_url(study.folder)
    open_search(study, url)  # made (or checked) once, before any process searches it
    make_splits(study, console)
    if jobs == 1:
        return search_worker(study, url)
    pool, cpus = process_pool(jobs)
    with pool:
        futures = [pool.submit(search_worker, study, url, worker, cpus) for worker in range(jobs)]
        return [end for future in futures for end in future.result()]
