"""Scan a `<class>/<images>` folder: which files are images, which are not, which do not decode."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ltcli.data.images import load_rgb
from ltcli.errors import LtcliError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)
# Top-level folders that mark a dataset as already split (`<root>/<split>/<class>/<images>`).
SPLITS = ("train", "valid", "test")


def is_hidden(name: str) -> bool:
    return name.startswith(".")


def is_broken_link(path: Path) -> bool:
    """A symlink whose target is gone (or a loop of links): it names a file nobody can read."""
    return path.is_symlink() and not path.exists()


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def image_decodes(path: Path) -> bool:
    """Fully decode and convert the image exactly as training does: `verify()` alone misses
    truncated files, and PIL raises many exception types on malformed data, so any failure of
    this decode-only step counts as "does not decode"."""
    try:
        load_rgb(path)
        return True
    except Exception:
        return False


@dataclass
class FolderScan:
    """What a class folder holds. Paths in `images` are sorted, so scans are reproducible."""

    root: Path
    images: dict[str, list[Path]] = field(default_factory=dict)
    non_images: list[Path] = field(default_factory=list)
    corrupt: list[Path] = field(default_factory=list)
    broken: list[Path] = field(default_factory=list)  # symlinks whose target is missing

    @property
    def class_names(self) -> list[str]:
        return sorted(self.images)

    def counts(self) -> dict[str, int]:
        return {name: len(self.images[name]) for name in self.class_names}


def list_class_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        raise LtcliError(f"folder not found: {root}")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not is_hidden(p.name))
    if not class_dirs:
        raise LtcliError(f"no class folders in {root}: expected {root}/<class>/<images>")
    return class_dirs


def iter_class_files(
    class_dir: Path,
    on_hidden: Callable[[Path], None] | None = None,
    on_broken: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Every file that belongs to a class, sorted: nested folders count, hidden files and anything
    under a hidden folder (.DS_Store, .ipynb_checkpoints/) do not (`on_hidden` sees those).
    Scans, stats and the training loaders all list files through this one rule.

    A symlink whose target is missing is no file either, but it is surely meant as one (a dataset
    moved from under its links), so `on_broken` sees it and scans can report it as skipped.
    """
    for path in sorted(class_dir.rglob("*")):
        is_file = path.is_file()
        broken = not is_file and is_broken_link(path)
        if not is_file and not broken:
            continue
        if any(is_hidden(part) for part in path.relative_to(class_dir).parts):
            if on_hidden is not None:
                on_hidden(path)
            continue
        if broken:
            if on_broken is not None:
                on_broken(path)
            continue
        yield path


def split_folders(root: Path) -> dict[str, Path]:
    """The split folders of an already split dataset (`root/train/`, ...), empty for a raw one.

    A top-level folder named train, valid or test marks the layout; class folders are never so
    named in practice.
    """
    return {name: root / name for name in SPLITS if (root / name).is_dir()}


def scan_class_folders(
    root: str | Path,
    verify: bool = True,
    on_file: Callable[[], None] = lambda: None,
) -> FolderScan:
    """Walk `root/<class>/**` and sort every file into images, non-images and corrupt images.

    Hidden files and folders are ignored. Nested folders inside a class folder belong to that class.
    Symlinks whose target is missing are listed in `broken`.
    """
    root = Path(root)
    scan = FolderScan(root=root)
    for class_dir in list_class_dirs(root):
        kept: list[Path] = []
        for path in iter_class_files(class_dir, on_broken=scan.broken.append):
            on_file()
            if not is_image_name(path):
                scan.non_images.append(path)
            elif verify and not image_decodes(path):
                scan.corrupt.append(path)
            else:
                kept.append(path)
        scan.images[class_dir.name] = kept
    return scan


def count_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())
