"""Scan a `<class>/<images>` folder: which files are images, which are not, which do not decode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ltcli.errors import LtcliError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)


def is_hidden(name: str) -> bool:
    return name.startswith(".")


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def image_decodes(path: Path) -> bool:
    """Fully decode the image: `verify()` alone misses truncated files."""
    try:
        with Image.open(path) as image:
            image.load()
        return True
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return False


@dataclass
class FolderScan:
    """What a class folder holds. Paths in `images` are sorted, so scans are reproducible."""

    root: Path
    images: dict[str, list[Path]] = field(default_factory=dict)
    non_images: list[Path] = field(default_factory=list)
    corrupt: list[Path] = field(default_factory=list)

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


def scan_class_folders(
    root: str | Path,
    verify: bool = True,
    on_file: Callable[[], None] | None = None,
) -> FolderScan:
    """Walk `root/<class>/**` and sort every file into images, non-images and corrupt images.

    Hidden files and folders are ignored. Nested folders inside a class folder belong to that class.
    """
    root = Path(root)
    scan = FolderScan(root=root)
    for class_dir in list_class_dirs(root):
        kept: list[Path] = []
        for path in sorted(class_dir.rglob("*")):
            if any(is_hidden(part) for part in path.relative_to(class_dir).parts) or not path.is_file():
                continue
            if on_file is not None:
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
