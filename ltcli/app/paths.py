"""The app's root: the one folder it reads and writes (data_split/, a_datasets/, logs/ under it).

A path typed on the page or sent to the API is root-relative. An absolute path, a `..`, or a
symlink that leads out of its area is refused with one line, before anything is read: the page
must not become a way to read or write the rest of the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from ltcli.errors import LtcliError
from ltcli.layout import DATASETS_DIR, EXPORTS_DIR, LOGS_DIR, RAW_DIR

RAW_AREA, DATASETS_AREA, LOGS_AREA = RAW_DIR, DATASETS_DIR, LOGS_DIR
AREAS = (RAW_AREA, DATASETS_AREA, LOGS_AREA)
WEIGHTS_AREA = "models"  # weights files to start from (the course app's models/pretrained/); read only
EXPORTS_AREA = EXPORTS_DIR  # exported models (`ltcli export`), which the Infer tab can classify with; read only


class PathRefused(LtcliError):
    """A path that would reach outside the app's root (or outside the area it must be in)."""


@dataclass(frozen=True)
class AppRoot:
    """--root: data_split/ (raw datasets), a_datasets/ (split ones) and logs/ (runs) under it."""

    path: Path

    @classmethod
    def at(cls, folder: str | Path) -> AppRoot:
        folder = Path(folder)
        if not folder.is_dir():
            raise LtcliError(f"--root {folder} is not a folder")
        return cls(folder.resolve())

    def area(self, name: str) -> Path:
        return self.path / name

    @property
    def raw(self) -> Path:
        return self.area(RAW_AREA)

    @property
    def datasets(self) -> Path:
        return self.area(DATASETS_AREA)

    @property
    def logs(self) -> Path:
        return self.area(LOGS_AREA)

    def confine(self, text: str | Path, areas: tuple[str, ...] = AREAS, what: str = "path") -> Path:
        """The absolute path of `text`, a path relative to the root that starts with one of `areas`
        (e.g. `logs/resnet32/digits-lt/ERM/2026-01-01-10-00-00`); refused when it is absolute, holds
        `..`, or resolves (through symlinks) outside its area. The path need not exist yet."""
        text = str(text).strip()
        echoed = text if len(text) <= 100 else text[:100] + "…"  # a huge value is not echoed whole
        if not text:
            raise PathRefused(f"no {what} given")
        if PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute() or text.startswith("~"):
            raise PathRefused(f"{what} {echoed!r} is refused: give a path relative to the app's root "
                              f"({', '.join(a + '/' for a in areas)})")
        parts = PurePosixPath(text.replace("\\", "/")).parts
        if ".." in parts:
            raise PathRefused(f"{what} {echoed!r} is refused: '..' would leave the app's root")
        if not parts or parts[0] not in areas:
            raise PathRefused(f"{what} {echoed!r} is refused: it must lie under {' or '.join(a + '/' for a in areas)}")
        area = self.area(parts[0]).resolve()
        target = (self.path.joinpath(*parts)).resolve()
        if not (target == area or target.is_relative_to(area)):
            raise PathRefused(f"{what} {echoed!r} is refused: it leads outside {parts[0]}/ (a symlink out of the root)")
        return target

    def check_name(self, name: str, what: str = "dataset", area: str = DATASETS_AREA) -> str:
        """A bare name (one folder, not hidden, no glob characters), or PathRefused."""
        name = str(name).strip()
        if (not name or "/" in name or "\\" in name or name in (".", "..") or name.startswith(".")
                or any(c in name for c in "*?[]")):
            raise PathRefused(f"{what} {name[:80]!r} is refused: give one folder name under {area}/")
        return name

    def confine_tree(self, folder: Path, text: str, what: str = "folder") -> Path:
        """`folder` (confined already) if nothing under it is a symlink out of the root: each file and
        folder resolved, so an image folder cannot hold a link to a file elsewhere on the machine."""
        root = self.path.resolve()
        if folder.is_dir():
            for entry in folder.rglob("*"):
                if entry.is_symlink() and not entry.resolve().is_relative_to(root):
                    link = entry.relative_to(folder).as_posix()
                    raise PathRefused(f"{what} {str(text)[:100]!r} is refused: {link} in it is a symlink out of the "
                                      "app's root")
        return folder

    def relative(self, path: Path) -> str:
        """How the page shows (and the API takes) a path under the root."""
        path = Path(path)
        for candidate in (path.absolute(), path.resolve()):
            try:
                return candidate.relative_to(self.path).as_posix()
            except ValueError:
                continue
        return path.as_posix()
