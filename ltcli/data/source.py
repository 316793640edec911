"""Open a dataset, whatever its form: the one entry point that knows folders from list files.

A *folder* dataset is `ROOT/{train,valid,test}/<class>/<images>`; a *lists* dataset is a folder of
`NAME_train.txt`, `NAME_val.txt`, `NAME_test.txt` (`path label` lines, ltcli.data.lists) over an image
root (`--data-root`, default the lists' folder). Every command asks a `DataSource` for its splits,
their datasets and how to name a sample's file, so no command branches on the form itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltcli.data.folder import SPLITS
from ltcli.data.images import load_rgb
from ltcli.data.list_index import ListIndex, check_covers, check_labels, label_names, parse_list
from ltcli.data.lists import ListDataset, ListFiles, file_sha256, find_lists, read_class_names
from ltcli.data.loaders import RobustImageFolder, TrainData, check_same_classes, image_folder
from ltcli.errors import LtcliError, check_name


@dataclass
class DataSource:
    """A dataset's splits, from class folders (`lists` None) or from list files."""

    root: Path  # the folder given: the dataset's, or the one holding the lists
    image_root: Path  # sample paths are reported relative to this (the dataset folder, or --data-root)
    lists: ListFiles | None = None
    _indexes: dict[str, ListIndex] = field(default_factory=dict, repr=False)
    _class_names: list[str] | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        return "lists" if self.lists is not None else "folder"

    @property
    def splits(self) -> list[str]:
        if self.lists is not None:
            return [s for s in SPLITS if s in self.lists.splits]
        return [s for s in SPLITS if (self.root / s).is_dir()]

    def has_split(self, split: str) -> bool:
        return split in self.splits

    def where(self, split: str) -> Path:
        """What to name in a message about `split`: its folder or its list file."""
        return self.lists.splits[split] if self.lists is not None and split in self.lists.splits else self.root / split

    def _index(self, split: str) -> ListIndex:
        assert self.lists is not None
        if split not in self._indexes:
            self._indexes[split] = parse_list(self.lists.splits[split])
        return self._indexes[split]

    def class_names(self) -> list[str]:
        """The classes file's names, else the train list's labels 0..max as names."""
        if self.lists is None:
            return list(image_folder(self.root / "train").classes)
        if self._class_names is None:
            classes_file = self.lists.classes_file
            self._class_names = read_class_names(classes_file) if classes_file else label_names(self._index("train"))
        return self._class_names

    def open_split(self, split: str, transform: Callable | None = None, loader: Callable = load_rgb,
                   every_class: bool = True) -> RobustImageFolder | ListDataset:
        """The split's dataset; for lists, every label is checked to have a class name and (unless
        `every_class` is off: stats reports a missing class instead) every class to occur, with
        one-line errors naming the file and line. No image file is opened yet."""
        if not self.has_split(split):
            raise LtcliError(f"{self.root} has no {split} split" + (
                f" (no {self.lists.name + '_' if self.lists and self.lists.name else ''}{split}.txt)"
                if self.lists is not None else "/ folder"))
        if self.lists is None:
            return image_folder(self.root / split, transform, loader=loader)
        index = self._index(split)
        names = self.class_names()
        check_labels(index, names, self.lists.classes_file)
        if every_class:
            check_covers(index, names, split)
        return ListDataset(index, self.image_root, names, transform, loader=loader)

    def relative(self, split: str, path: str) -> str:
        """A sample's file as results name it: relative to its split folder, or as its list line says."""
        base = self.root / split if self.lists is None else self.image_root
        try:
            return Path(path).relative_to(base).as_posix()
        except ValueError:
            return str(path)

    def record(self) -> dict[str, Any]:
        """What config.json keeps to find the dataset again (and to tell if a list changed)."""
        if self.lists is None:
            return {"dataset_root": str(self.root.resolve())}
        return {
            "dataset_root": str(self.root.resolve()), "data_root": str(self.image_root.resolve()),
            "data_lists": {split: {"file": path.name, "sha256": file_sha256(path)}
                           for split, path in self.lists.splits.items()},
        }


def open_source(data: Path, data_root: Path | None = None) -> DataSource:
    """A folder of list files (train list found) or a folder dataset; `data_root` only for lists."""
    data = Path(data)
    if not data.is_dir():
        raise LtcliError(f"dataset folder not found: {data}")
    lists = find_lists(data)
    if lists is None:
        if data_root is not None:
            raise LtcliError(f"--data-root is for list datasets, and {data} holds no NAME_train.txt / train.txt")
        return DataSource(data, data)
    image_root = Path(data_root) if data_root is not None else data
    if not image_root.is_dir():
        raise LtcliError(f"--data-root folder not found: {image_root}")
    return DataSource(data, image_root, lists)


def resolve_source(dataset: str | None, data: Path | None, datasets_dir: Path, data_root: Path | None = None
                   ) -> tuple[DataSource, str]:
    """The dataset and its name (its folder's, lists or not), from --dataset NAME (under a_datasets/) or
    --data PATH."""
    if (dataset is None) == (data is None):
        raise LtcliError("give exactly one of --dataset NAME (under a_datasets/) or --data PATH")
    if dataset is not None:
        check_name(dataset, "--dataset")
    root = Path(data) if data is not None else Path(datasets_dir) / str(dataset)
    if not root.is_dir():
        hint = f" (run `ltcli split {dataset}` first?)" if dataset else ""
        raise LtcliError(f"dataset folder not found: {root}{hint}")
    source = open_source(root, data_root)
    # One name per dataset, its folder's: the one `--dataset NAME`, the app and `ltcli runs --dataset` all
    # see (the NAME of NAME_train.txt would file `--data PATH` runs apart from the same lists' other runs).
    return source, dataset if dataset is not None else root.resolve().name


def source_of_run(config: dict[str, Any], data: Path | None = None, data_root: Path | None = None) -> DataSource:
    """The dataset a run was trained on (config.json), or `data` when given. The recorded lists are
    checked against their sha256: a changed list is an error, since its numbers would not compare."""
    if data is not None:
        return open_source(data, data_root)
    if not config.get("dataset_root"):
        raise LtcliError("the run's config.json does not name its dataset (dataset_root): give --data PATH")
    root = Path(str(config["dataset_root"]))
    recorded = config.get("data_lists")
    if not recorded:
        return open_source(root)
    source = open_source(root, data_root or Path(str(config.get("data_root") or root)))
    assert source.lists is not None
    for split, entry in recorded.items():
        path = source.lists.splits.get(split)
        if path is None or path.name != entry["file"]:
            raise LtcliError(f"the run was trained with {root / entry['file']}, which is gone: give --data LISTS")
        if file_sha256(path) != entry["sha256"]:
            raise LtcliError(f"{path} changed since the run was trained (sha256 differs from config.json): its "
                             "numbers would not compare; restore it, or pass --data to use it as it is now")
    return source


def open_train_data(source: DataSource, train_transform, eval_transform, train_loader: Callable = load_rgb,
                    eval_loader: Callable = load_rgb) -> TrainData:
    """The train split and the one validation uses (valid, else test), with the same classes."""
    if not source.has_split("train"):
        raise LtcliError(f"{source.root} has no train/ folder: expected {source.root}/train/<class>/<images>")
    valid_split = "valid" if source.has_split("valid") else "test" if source.has_split("test") else None
    if valid_split is None:
        what = "valid/ nor test/" if source.lists is None else "a val nor a test list"
        raise LtcliError(f"{source.root} has neither {what}: one is needed to select the best epoch")
    train = source.open_split("train", train_transform, train_loader)
    valid = source.open_split(valid_split, eval_transform, eval_loader)
    check_same_classes(train.classes, valid.classes, source.where(valid_split))
    return TrainData(train=train, valid=valid, valid_split=valid_split, class_names=list(train.classes))
