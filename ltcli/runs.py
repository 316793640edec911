"""Finding runs: stamped folders, listing and summarising them, and resolving what users type
after --run/--datetime/--resume.

The files inside a run folder belong to `ltcli.run_folder`; this module reads them only through it.
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from pathlib import Path

from ltcli.errors import LtcliError
from ltcli.run_folder import CONFIG_NAME, LAST_CHECKPOINT, RunFileError, RunFolder

STAMP_FORMAT = "%Y-%m-%d-%H-%M-%S"
ENSEMBLES_DIR = "ensembles"


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
    return RunFolder(claim_stamped_dir(Path(logs_dir) / model / dataset / objective))


def create_ensemble_dir(logs_dir: Path, dataset: str) -> Path:
    """Claim logs/ensembles/<dataset>/<stamp>/ for an ensemble's test results (one level shallower
    than a run folder, so it is never listed as a run)."""
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


def list_runs(
    logs_dir: Path, model: str | None = None, dataset: str | None = None, objective: str | None = None
) -> list[RunFolder]:
    """Every run folder (one holding config.json) matching the filters, oldest first. A filter is
    compared with the folder's name, never put into the glob: `../x` or `*` match no folder."""
    logs_dir = Path(logs_dir)
    wanted = (model, dataset, objective)
    runs = [RunFolder(p.parent) for p in logs_dir.glob(f"*/*/*/*/{CONFIG_NAME}") if is_stamp(p.parent.name)
            and all(not w or w == part for w, part in zip(wanted, p.relative_to(logs_dir).parts, strict=False))]
    return sorted(runs, key=lambda r: (r.stamp, str(r.path)))


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
