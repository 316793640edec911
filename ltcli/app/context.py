"""What every tab shares: the root, the training queue, a scratch folder for figures, the limits."""

from __future__ import annotations

import itertools
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ltcli.app.jobs import JobQueue
from ltcli.app.paths import AppRoot

DEFAULT_MAX_UPLOAD_MB = 20
SCRATCH_PREFIX = "ltcli-app-"  # make_context's folder in the temp folder: <prefix>XXXX/{figures,jobs}
SCRATCH_FIGURES = "figures"


@dataclass
class AppContext:
    root: AppRoot
    jobs: JobQueue
    scratch: Path  # figures drawn for the page (outside the root: they are not results)
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * 2**20
    device: str = "auto"  # where inference and tests run (training: each run's own --device)
    _names: itertools.count = field(default_factory=itertools.count, repr=False)

    def figure_path(self, stem: str, suffix: str = ".png") -> Path:
        """A fresh file in the scratch folder (a new name each time, so browsers never show a stale copy)."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        return self.scratch / f"{stem}-{next(self._names)}{suffix}"

    def copy_figure(self, source: Path) -> str | None:
        """A run's own figure (e.g. its confusion_matrix.svg), copied to scratch for the page; None if absent."""
        if not source.is_file():
            return None
        target = self.figure_path(source.stem, source.suffix)
        shutil.copyfile(source, target)
        return str(target)

    def public(self, text: str) -> str:
        """A message as the page may show it: no server paths (ltcli.app.redact), one line."""
        from ltcli.app.redact import public_message

        private = [self.scratch, *filter(None, [getattr(self.jobs, "workdir", None)])]
        return public_message(text, self.root.path, private)

    def close(self) -> None:
        """Stop the queue (running jobs stop, or are killed after the grace period), then remove the
        scratch folder make_context created (figures, job files): nothing is left in the temp folder."""
        try:
            self.jobs.shutdown()
        finally:
            if self.scratch.name == SCRATCH_FIGURES and self.scratch.parent.name.startswith(SCRATCH_PREFIX):
                shutil.rmtree(self.scratch.parent, ignore_errors=True)

    def running_runs(self) -> set[str]:
        return {j["run"] for j in self.jobs.jobs() if j["state"] == "running" and j["run"]}
