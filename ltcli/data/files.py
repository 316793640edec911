"""Loose image files (for `ltcli predict`): collect them from paths and folders, and load them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ltcli.data.folder import image_decodes, is_image_name, iter_class_files
from ltcli.data.loaders import load_rgb
from ltcli.errors import LtcliError


@dataclass
class ImageList:
    """Images to classify, in the order given (folders expanded, sorted), and what was left out."""

    images: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # not an image name, inside a folder
    corrupt: list[Path] = field(default_factory=list)  # an image name that does not decode


def _list_images(list_file: Path, data_root: Path | None, found: ImageList) -> None:
    """The images a `path [label]` list names (labels ignored), relative to `data_root` or the list's folder."""
    from ltcli.data.list_index import parse_list

    index = parse_list(list_file, labelled=False)
    base = data_root if data_root is not None else list_file.parent
    named = [base / index.path(i) for i in range(len(index))]
    if not any(is_image_name(path) for path in named):
        raise LtcliError(f"{list_file} is not an image file (expected one of .png, .jpg, ...), nor a list of image "
                         "paths")
    found.images += named


def collect_images(paths: Sequence[Path], data_root: Path | None = None) -> ImageList:
    """Image files named directly, found under the named folders, or named by a `.txt` list (paths
    relative to `data_root`, default the list's folder); each file once.

    A named file that is missing or not an image is an error (the user asked for it by name); inside a
    folder, other files are skipped and counted. Images that do not decode (or that a list names but
    are missing) are listed, not fatal.
    """
    found = ImageList()
    for path in paths:
        path = Path(path)
        if path.is_dir():  # every file as a class folder's (hidden ones and broken links left out)
            for file in iter_class_files(path):
                (found.images if is_image_name(file) else found.skipped).append(file)
        elif path.is_file() and path.suffix.lower() == ".txt":
            _list_images(path, data_root, found)
        elif path.is_file():
            if not is_image_name(path):
                raise LtcliError(f"{path} is not an image file (expected one of .png, .jpg, ...)")
            found.images.append(path)
        else:
            raise LtcliError(f"no such file or folder: {path}")
    unique = list(dict.fromkeys(found.images))
    decodes = {p: image_decodes(p) for p in unique}
    found.corrupt = [p for p in unique if not decodes[p]]
    found.images = [p for p in unique if decodes[p]]
    if not found.images:
        raise LtcliError("no readable image among " + ", ".join(str(p) for p in paths))
    return found


class ImageFiles(Dataset):
    """(transformed image, index) for a list of files, so DataLoader batches them like a split."""

    def __init__(self, paths: Sequence[Path], transform: Callable) -> None:
        self.paths = list(paths)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(load_rgb(str(self.paths[index]))), index
