"""The run folder: logs/<model>/<dataset>/<objective>/<YYYY-MM-DD-HH-MM-SS>/ and finding it again."""

from __future__ import annotations

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


def make_stamp(when: datetime | None = None) -> str:
    return (when or datetime.now()).strftime(STAMP_FORMAT)


def is_stamp(name: str) -> bool:
    try:
        datetime.strptime(name, STAMP_FORMAT)
    except ValueError:
        return False
    return True


def create_run_dir(logs_dir: Path, model: str, dataset: str, objective: str) -> Path:
    """Claim a fresh stamped folder. `mkdir` is atomic, so two runs started in the same second
    cannot share one: the loser waits for the next second and claims that stamp instead."""
    parent = Path(logs_dir) / model / dataset / objective
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

    @classmethod
    def from_path(cls, path: Path) -> RunInfo:
        path = Path(path)
        return cls(path, path.parent.parent.parent.name, path.parent.parent.name, path.parent.name, path.name)

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
