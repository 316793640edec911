"""`ltcli download NAME`: a standard dataset fetched by torchvision, written as a raw folder that keeps
its official train/test split, `data_split/NAME/{train,test}/<class>/<index>.png`.

torchvision downloads, verifies (MD5) and unpacks the archive; this module only writes its images.
`ltcli split` keeps such a folder's train and test parts, so `ltcli split NAME-lt --src
data_split/NAME --imbalance-factor 100` makes only train long-tailed, with the literature's profile
(Cao et al. 2019: class i of C keeps int(n_max * (1/100)^(i/(C-1))) images, i the official label
index), and leaves the balanced test set as it is.

Class folders are named so that their sorted order is the official label order (the head-to-tail
order `ltcli split` uses): the dataset's class names where they sort that way already (CIFAR-10,
CIFAR-100, MNIST's digits), else the names prefixed with their index (Fashion-MNIST). A file's name
is its index in the official split, so names sort in the official order too.
"""

from __future__ import annotations

import os
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltcli.data.staging import publish, refuse_non_folder, remove_stale, staged
from ltcli.errors import LtcliError, describe_os_error

SPLITS = ("train", "test")


@dataclass(frozen=True)
class Download:
    """A torchvision dataset class and how its classes become folder names."""

    name: str
    dataset_class: str  # in torchvision.datasets
    summary: str
    class_names: tuple[str, ...] | None = None  # None: the dataset's own `classes`

    def open(self, cache: Path, split: str) -> Any:
        """The torchvision dataset of `split`, downloaded and verified into `cache` if needed."""
        import torchvision.datasets

        dataset_class = getattr(torchvision.datasets, self.dataset_class)
        return dataset_class(str(cache), train=split == "train", download=True)


DOWNLOADS = {download.name: download for download in (
    Download("cifar10", "CIFAR10", "CIFAR-10: 32x32 colour, 10 classes, 50,000 train / 10,000 test"),
    Download("cifar100", "CIFAR100", "CIFAR-100: 32x32 colour, 100 classes, 50,000 train / 10,000 test"),
    Download("mnist", "MNIST", "MNIST: 28x28 grey digits, 10 classes, 60,000 train / 10,000 test",
           class_names=tuple(str(digit) for digit in range(10))),
    Download("fashion-mnist", "FashionMNIST", "Fashion-MNIST: 28x28 grey clothing, 10 classes, 60,000 / 10,000"),
)}


def get_download(name: str) -> Download:
    try:
        return DOWNLOADS[name.lower()]
    except KeyError:
        raise LtcliError(f"unknown dataset {name!r}: `ltcli download` fetches {', '.join(DOWNLOADS)}") from None


def folder_names(names: list[str]) -> list[str]:
    """Class folder names whose sorted order is the label order (see the module docstring)."""
    safe = [name.replace("/", "-").replace("\\", "-").strip() or f"class{i}" for i, name in enumerate(names)]
    if sorted(safe) == safe and len(set(safe)) == len(safe):
        return safe
    width = len(str(len(safe) - 1))
    return [f"{i:0{width}d}-{name}" for i, name in enumerate(safe)]


def check_destination(destination: Path) -> None:
    """A download never replaces anything: an existing data_split/NAME is an error."""
    remove_stale(destination)
    refuse_non_folder(destination)
    if os.path.lexists(destination):
        raise LtcliError(f"{destination} already exists: `ltcli download` never overwrites a dataset; move it away "
                         "or pass another --root")


def open_splits(download: Download, cache: Path) -> dict[str, Any]:
    """Both splits, through torchvision's downloader and checks; a failed download is one line. A cache
    folder that cannot be made is said as such, not blamed on the network."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LtcliError(f"cannot keep the {download.name} archive in {cache}: {describe_os_error(error)}") from None
    splits = {}
    for split in SPLITS:
        try:
            splits[split] = download.open(cache, split)
        except urllib.error.URLError as error:
            raise LtcliError(download_failed(download, cache, str(error.reason))) from None
        except (RuntimeError, OSError) as error:  # torchvision: a bad checksum, every mirror failing
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            raise LtcliError(download_failed(download, cache, lines[-1] if lines else type(error).__name__)) from None
    return splits


def download_failed(download: Download, cache: Path, reason: str) -> str:
    return (f"cannot download {download.name} ({reason}): check the network connection, or put the archive that "
            f"torchvision.datasets.{download.dataset_class} downloads into {cache}")


def write_dataset(download: Download, splits: dict[str, Any], destination: Path,
                  on_file: Callable[[], None] = lambda: None) -> dict[str, dict[str, int]]:
    """Write every image of `splits` as PNG under `destination/<split>/<class>/`, built in a staging
    folder and renamed into place; returns the counts per split and class."""
    names = folder_names(list(download.class_names or splits["train"].classes))
    counts: dict[str, dict[str, int]] = {split: dict.fromkeys(names, 0) for split in splits}
    with staged(destination, publish) as staging:
        for split, dataset in splits.items():
            for name in names:
                (staging / split / name).mkdir(parents=True)
            width = len(str(len(dataset) - 1))
            for index in range(len(dataset)):
                image, label = dataset[index]
                image.save(staging / split / names[label] / f"{index:0{width}d}.png")
                counts[split][names[label]] += 1
                on_file()
    return counts
