"""Finding runs: stamped folders, listing and summarising them, and resolving what users type
after --run/--datetime/--resume.

The files inside a run folder belong to `ltcli.run_folder`; this module reads them only through it.
"""

from __future__ import annotations

import glob
import math
import time
from datetime import datetime
from pathlib import Path

from ltcli.errors import LtcliError, check_name
from ltcli.run_folder import CONFIG_NAME, LAST_CHECKPOINT, RunFileError, RunFolder

STAMP_FORMAT = "%Y-%m-%d-%H-%M-%S"
ENSEMBLES_DIR = "ensembles"
PRETRAIN_PREFIX = "pretrain-"  # a pre-training run's objective folder: pretrain-<method>
STAGE_MARK = "+"  # a second stage's objective folder: <objective>+<recipe> or <objective>+stage<N>


def make_stamp(when: datetime | None = None) -> str:
    return (when or datetime.now()).strftime(STAMP_FORMAT)


def is_stamp(name: str) -> bool:
    try:
        datetime.strptime(name, STAMP_FORMAT)
    except ValueError:
        return False
    return True


def create_run_dir(logs_dir: Path, model: str, dataset: str, objective: str) -> RunFolder:
    """Claim a fresh stamped run folder logs/<model>/<dataset>/<objective>/<stamp>/."""
    check_filters(model, dataset, objective)
    return RunFolder(claim_stamped_dir(Path(logs_dir) / model / dataset / objective))


def create_ensemble_dir(logs_dir: Path, dataset: str) -> Path:
    """Claim logs/ensembles/<dataset>/<stamp>/ for an ensemble's test results (one level shallower
    than a run folder, so it is never listed as a run)."""
    check_filters(None, dataset, None)
    return claim_stamped_dir(Path(logs_dir) / ENSEMBLES_DIR / dataset)


def claim_stamped_dir(parent: Path) -> Path:
    """Claim a fresh stamped folder. `mkdir` is atomic, so two runs started in the same second
    cannot share one: the loser waits for the next second and claims that stamp instead."""
    parent.mkdir(parents=True, exist_ok=True)
    while True:
        run_dir = parent / make_stamp()
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            time.sleep(1.0 - (time.time() % 1.0) + 0.01)


def train_group(objective: str, recipe: str | None, source: RunFolder | None) -> str:
    """The objective folder of a training run. A second stage is filed apart from its first stage, so that
    a listing (and --objective) tells them apart: `ERM+crt` with --recipe crt, `ERM+stage2` from a plain
    --init-from a training run (`+stage3` from a second stage, ...). A run started from a pre-training run
    or from --weights FILE without a recipe is a first stage: its objective alone."""
    if recipe:
        return f"{objective}{STAGE_MARK}{recipe}"
    if source is None or source.read_config().get("command") == "pretrain":
        return objective
    return f"{objective}{STAGE_MARK}stage{stage_number(source.objective) + 1}"


def stage_number(group: str) -> int:
    """The stage a run's objective folder says it is: 1 for `ERM`, 2 for `ERM+crt`, N for `ERM+stageN`."""
    _, mark, tail = group.partition(STAGE_MARK)
    if tail.startswith("stage") and tail[5:].isdigit():
        return int(tail[5:])
    return 2 if mark else 1


def objective_folder(text: str) -> str:
    """The objective folder --objective names when it looks runs up: an objective by any of its names
    (`ce` is ERM), then `+RECIPE` or `+stageN` for a second stage (`erm+CRT` is ERM+crt), or
    `pretrain-METHOD` for a pre-training run. Anything else is a one-line error."""
    from ltcli.objectives import get_objective_entry
    from ltcli.recipes import RECIPES

    check_name(text, "--objective")
    if text.lower().startswith(PRETRAIN_PREFIX):
        return text.lower()
    head, mark, tail = text.partition(STAGE_MARK)
    name = get_objective_entry(head).name
    if not mark:
        return name
    tail = tail.lower()
    if tail in RECIPES or (tail.startswith("stage") and tail[5:].isdigit() and int(tail[5:]) >= 2):
        return f"{name}{STAGE_MARK}{tail}"
    raise LtcliError(f"--objective {text!r}: after '{STAGE_MARK}' comes a recipe ({', '.join(RECIPES)}) or stageN, "
                     f"N >= 2 (a second stage's folder, e.g. {name}{STAGE_MARK}crt)")


def check_logs_outside(logs_dir: Path, images: Path) -> None:
    """Runs are never filed inside the dataset: its next scan would take a run's folders for classes
    (and a split's copy or `--force` would carry them along)."""
    logs, root = Path(logs_dir).resolve(), Path(images).resolve()
    if logs == root or root in logs.parents:
        raise LtcliError(f"--logs-dir {logs_dir} is inside the dataset {root}: its run folders would be read as "
                         "classes; choose a folder outside it (default: logs)")


def list_runs(
    logs_dir: Path, model: str | None = None, dataset: str | None = None, objective: str | None = None
) -> list[RunFolder]:
    """Every run folder (one holding config.json) matching the filters, oldest first. A filter is a
    name matched as it is: never a path (it would list runs outside logs_dir), never a glob pattern."""
    logs_dir = Path(logs_dir)
    check_filters(model, dataset, objective)
    model, dataset, objective = (glob.escape(f) if f else "*" for f in (model, dataset, objective))
    pattern = f"{model}/{dataset}/{objective}/*/{CONFIG_NAME}"
    runs = [RunFolder(p.parent) for p in logs_dir.glob(pattern) if is_stamp(p.parent.name)]
    return sorted(runs, key=lambda r: (r.stamp, str(r.path)))


def check_filters(model: str | None, dataset: str | None, objective: str | None) -> None:
    """--model/--dataset/--objective name one folder level of logs/<model>/<dataset>/<objective>/."""
    for what, value in (("--model", model), ("--dataset", dataset), ("--objective", objective)):
        if value is not None:
            check_name(value, what)


def find_run(
    logs_dir: Path,
    run: Path | None = None,
    model: str | None = None,
    dataset: str | None = None,
    objective: str | None = None,
    stamp: str | None = None,
) -> RunFolder:
    """Resolve --run PATH, or --model/--dataset/--objective with --datetime STAMP|latest."""
    if run is not None:
        path = Path(run)
        if not RunFolder.holds_run(path):
            raise LtcliError(f"{path} is not a run folder (no {CONFIG_NAME})")
        return RunFolder(path)
    if stamp is None:
        raise LtcliError("give --run PATH, or --datetime STAMP (or latest) with --model/--dataset/--objective")
    if stamp != "latest" and not is_stamp(stamp):
        raise LtcliError(f"--datetime must look like YYYY-MM-DD-HH-MM-SS or be 'latest', got {stamp!r}")
    candidates = list_runs(logs_dir, model, dataset, objective)
    if stamp != "latest":
        candidates = [r for r in candidates if r.stamp == stamp]
    if not candidates:
        where = "/".join(x or "*" for x in (model, dataset, objective))
        raise LtcliError(f"no run {stamp} under {Path(logs_dir) / where}: see `ltcli runs`")
    if stamp != "latest" and len(candidates) > 1:
        names = ", ".join(str(r.path) for r in candidates)
        raise LtcliError(f"--datetime {stamp} matches several runs ({names}): add --model/--dataset/--objective")
    return candidates[-1]


def resolve_run_ref(
    logs_dir: Path,
    ref: str | Path,
    model: str | None = None,
    dataset: str | None = None,
    objective: str | None = None,
    option: str = "--run",
) -> RunFolder:
    """A run from what users type after --run (or --resume): a run folder, a checkpoint file in one
    (its other checkpoint, or a copied .pt: the checkpoint alone is enough), or a stamp (or
    'latest') looked up under logs_dir, narrowed by --model/--dataset/--objective when several
    runs share it."""
    check_filters(model, dataset, objective)
    path = Path(ref)
    if path.is_file() and path.suffix == ".pt":
        return RunFolder(path.parent, checkpoint_name=path.name)
    if RunFolder.holds_run(path):
        return RunFolder(path)
    text = str(ref)
    if is_stamp(text) or text == "latest":
        return find_run(logs_dir, None, model, dataset, objective, text)
    if path.exists():
        raise LtcliError(f"{path} is not a run folder (no {CONFIG_NAME})")
    raise LtcliError(f"{option} {text!r} is neither a run folder, a checkpoint .pt nor a stamp YYYY-MM-DD-HH-MM-SS "
                     "(or latest)")


def best_logged(values: list[float | None], metric: str) -> float | None:
    """The best of a logged column (lowest for a loss-like metric); NaN never wins; None if none."""
    from ltcli.metrics import LOWER_IS_BETTER

    finite = [v for v in values if v is not None and not math.isnan(v)]
    if not finite:
        return None
    return min(finite) if metric in LOWER_IS_BETTER else max(finite)


def summarize_run(run: RunFolder) -> dict:
    """What `ltcli runs` shows of a run: its identity and experiment name, progress, best validation value of the metric
    that picked its checkpoint, and the test metrics (empty dict if never tested). A run whose files
    cannot be read is summarised by its identity and an `error` naming the file and the reason."""
    summary = {"stamp": run.stamp, "model": run.model, "dataset": run.dataset, "objective": run.objective,
               "path": str(run.path), "name": "", "epochs_done": None, "epochs": None, "select_metric": None,
               "best_valid": None, "test": {}, "error": None}
    try:
        config = run.read_config()
        metric = str(config.get("select_metric", "acc"))
        valid = run.read_log_columns("valid")
        summary.update(
            name=str(config.get("name") or ""), epochs=config.get("epochs"), select_metric=metric,
            epochs_done=len(valid.get("epoch", [])),
            best_valid=best_logged(valid.get(metric, []), metric), test=run.read_metrics("test"),
        )
    except (RunFileError, OSError) as error:
        summary["error"] = str(error) if isinstance(error, RunFileError) else f"{error.filename}: {error.strerror}"
    return summary


def resume_target(logs_dir: Path, ref: str) -> RunFolder:
    """The run `--resume REF` continues: its folder, a checkpoint in it, or its stamp (or latest)."""
    run = resolve_run_ref(logs_dir, ref, option="--resume")
    if not run.last_checkpoint.is_file():
        raise LtcliError(f"{run.path} has no {LAST_CHECKPOINT} to resume from")
    return RunFolder(run.path)
