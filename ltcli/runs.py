"""The run folder: logs/<model>/<dataset>/<objective>/<YYYY-MM-DD-HH-MM-SS>/ and finding it again."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ltcli.errors import LtcliError

STAMP_FORMAT = "%Y-%m-%d-%H-%M-%S"
CONFIG_NAME = "config.json"
BEST_CHECKPOINT = "checkpoint_best.pt"
LAST_CHECKPOINT = "checkpoint_last.pt"
ENSEMBLES_DIR = "ensembles"


def make_stamp(when: datetime | None = None) -> str:
    return (when or datetime.now()).strftime(STAMP_FORMAT)


def is_stamp(name: str) -> bool:
    try:
        datetime.strptime(name, STAMP_FORMAT)
    except ValueError:
        return False
    return True


def create_run_dir(logs_dir: Path, model: str, dataset: str, objective: str) -> Path:
    """Claim a fresh stamped run folder logs/<model>/<dataset>/<objective>/<stamp>/."""
    return claim_stamped_dir(Path(logs_dir) / model / dataset / objective)


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


@dataclass(frozen=True)
class RunInfo:
    path: Path
    model: str
    dataset: str
    objective: str
    stamp: str
    checkpoint: str = BEST_CHECKPOINT  # the file `ltcli test` and `ltcli predict` load

    @classmethod
    def from_path(cls, path: Path, checkpoint: str = BEST_CHECKPOINT) -> RunInfo:
        path = Path(path)
        return cls(path, path.parent.parent.parent.name, path.parent.parent.name, path.parent.name, path.name,
                   checkpoint)

    @property
    def label(self) -> str:
        return f"{self.objective} {self.stamp}"

    def config(self) -> dict:
        return json.loads((self.path / CONFIG_NAME).read_text(encoding="utf-8"))


def list_runs(
    logs_dir: Path, model: str | None = None, dataset: str | None = None, objective: str | None = None
) -> list[RunInfo]:
    """Every run folder (one holding config.json) matching the filters, oldest first."""
    logs_dir = Path(logs_dir)
    pattern = f"{model or '*'}/{dataset or '*'}/{objective or '*'}/*/{CONFIG_NAME}"
    runs = [RunInfo.from_path(p.parent) for p in logs_dir.glob(pattern) if is_stamp(p.parent.name)]
    return sorted(runs, key=lambda r: (r.stamp, str(r.path)))


def find_run(
    logs_dir: Path,
    run: Path | None = None,
    model: str | None = None,
    dataset: str | None = None,
    objective: str | None = None,
    stamp: str | None = None,
) -> RunInfo:
    """Resolve --run PATH, or --model/--dataset/--objective with --datetime STAMP|latest."""
    if run is not None:
        path = Path(run)
        if not (path / CONFIG_NAME).is_file():
            raise LtcliError(f"{path} is not a run folder (no {CONFIG_NAME})")
        return RunInfo.from_path(path)
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
) -> RunInfo:
    """A run from what users type after --run: a run folder, a checkpoint file in one (its other
    checkpoint, or a copied .pt: the checkpoint alone is enough), or a stamp (or 'latest') looked up
    under logs_dir, narrowed by --model/--dataset/--objective when several runs share it."""
    path = Path(ref)
    if path.is_file() and path.suffix == ".pt":
        return RunInfo.from_path(path.parent, checkpoint=path.name)
    if (path / CONFIG_NAME).is_file():
        return RunInfo.from_path(path)
    text = str(ref)
    if is_stamp(text) or text == "latest":
        return find_run(logs_dir, None, model, dataset, objective, text)
    if path.exists():
        raise LtcliError(f"{path} is not a run folder (no {CONFIG_NAME})")
    raise LtcliError(f"--run {text!r} is neither a run folder, a checkpoint .pt nor a stamp YYYY-MM-DD-HH-MM-SS "
                     "(or latest)")


def best_valid_value(valid_csv: Path, metric: str) -> float | None:
    """The best logged value of `metric` in valid.csv (lowest for a loss-like metric), None if absent."""
    from ltcli.metrics import LOWER_IS_BETTER

    if not valid_csv.is_file():
        return None
    with open(valid_csv, newline="", encoding="utf-8") as handle:
        values = [float(row[metric]) for row in csv.DictReader(handle) if row.get(metric) not in (None, "")]
    values = [v for v in values if v == v]  # NaN never wins
    if not values:
        return None
    return min(values) if metric in LOWER_IS_BETTER else max(values)


def count_rows(path: Path) -> int:
    if not path.is_file():
        return 0
    with open(path, newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def summarize_run(info: RunInfo) -> dict:
    """What `ltcli runs` shows of a run: its identity, progress, best validation value of the metric
    that picked its checkpoint, and the test metrics (empty dict if never tested)."""
    config = info.config()
    metric = config.get("select_metric", "acc")
    metrics_file = info.path / "metrics.json"
    tested = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
    return {
        "stamp": info.stamp, "model": info.model, "dataset": info.dataset, "objective": info.objective,
        "epochs_done": count_rows(info.path / "valid.csv"), "epochs": config.get("epochs"),
        "select_metric": metric, "best_valid": best_valid_value(info.path / "valid.csv", metric),
        "test": tested, "path": str(info.path),
    }
