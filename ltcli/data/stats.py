"""The numbers `ltcli stats` reports about a folder dataset, computed in one pass over its files.

Files are listed with the same rules as `ltcli split` and the training loaders
(`ltcli.data.folder.iter_class_files`) and decoded with the same decoder
(`ltcli.data.images`), so "N images of class c" here is exactly what training will see.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ltcli.data.folder import is_hidden, is_image_name, iter_class_files, list_class_dirs, split_folders
from ltcli.data.images import ImageInfo, inspect_image_bytes
from ltcli.data.lists import ListDataset, find_lists
from ltcli.data.source import DataSource, open_source
from ltcli.errors import LtcliError
from ltcli.metrics import FEW_SHOT_MAX, MANY_SHOT_MIN, shot_groups

RAW_SPLIT = "all"  # the one "split" of a raw <class>/<images> folder
GROUP_NAMES = {"many": "head", "medium": "medium", "few": "tail"}


@dataclass(frozen=True)
class ListedFile:
    """One file of a class folder, before it is read."""

    path: Path
    split: str
    class_name: str
    named: bool = False  # named by a list file: decoded whatever its extension, as training does


@dataclass
class DatasetListing:
    """Every file the scan will read, plus what it ignores, found without opening any file."""

    root: Path
    layout: str  # "raw", "split" or "lists"
    split_roots: dict[str, Path]  # for lists: split -> list file
    classes: dict[str, list[str]]  # split -> class folders found there
    files: list[ListedFile] = field(default_factory=list)
    hidden: list[Path] = field(default_factory=list)
    broken: list[Path] = field(default_factory=list)  # symlinks whose target is missing
    loose: list[Path] = field(default_factory=list)  # files beside the class folders, in no class


def list_dataset(root: str | Path, data_root: Path | None = None) -> DatasetListing:
    """List a raw folder (`root/<class>/...`) or a split one (`root/{train,valid,test}/<class>/...`).

    Files beside the split folders (split.json, a MANIFEST) are metadata and not listed; files
    beside class folders belong to no class, so they are listed as loose.
    """
    root = Path(root)
    if not root.is_dir():
        raise LtcliError(f"folder not found: {root}")
    if find_lists(root) is not None or data_root is not None:
        return list_lists(open_source(root, data_root))
    split_roots = split_folders(root) or {RAW_SPLIT: root}
    listing = DatasetListing(root=root, layout="raw" if RAW_SPLIT in split_roots else "split",
                             split_roots=split_roots, classes={})
    for split, split_root in split_roots.items():
        class_dirs = list_class_dirs(split_root) if listing.layout == "raw" else _class_dirs_or_none(split_root)
        listing.classes[split] = [d.name for d in class_dirs]
        listing.loose += sorted(p for p in split_root.iterdir() if p.is_file() and not is_hidden(p.name))
        for class_dir in class_dirs:
            listing.files += [ListedFile(path, split, class_dir.name)
                              for path in iter_class_files(class_dir, on_hidden=listing.hidden.append,
                                                           on_broken=listing.broken.append)]
    return listing


def list_lists(source: DataSource) -> DatasetListing:
    """A lists dataset's files (`root` is then the image root, which the lines are relative to)."""
    listing = DatasetListing(root=source.image_root, layout="lists", split_roots={}, classes={})
    for split in source.splits:
        dataset = source.open_split(split, every_class=False)
        assert isinstance(dataset, ListDataset)
        listing.split_roots[split] = source.where(split)
        listing.classes[split] = list(dataset.classes)
        names = dataset.classes
        listing.files += [ListedFile(Path(dataset.file_path(i)), split, names[label], named=True)
                          for i, label in enumerate(dataset.targets.tolist())]
    return listing


def _class_dirs_or_none(split_root: Path) -> list[Path]:
    """A split folder with no class folder is reported (every class missing), not an error."""
    try:
        return list_class_dirs(split_root)
    except LtcliError:
        return []


@dataclass(frozen=True)
class FileReport:
    """One read file: its content hash and, when it decodes, what the image is."""

    listed: ListedFile
    sha256: str | None  # None: the file cannot be read (no permission, gone since it was listed)
    is_image_name: bool
    info: ImageInfo | None  # None: not an image name, or does not decode

    @property
    def usable(self) -> bool:
        return self.info is not None

    @property
    def readable(self) -> bool:
        return self.sha256 is not None


def read_file_report(listed: ListedFile) -> FileReport:
    """Read the bytes once: hash them, and decode them fully if the name says image. A file that
    cannot be read is reported as such, never a crash: stats only reports."""
    image_name = listed.named or is_image_name(listed.path)
    try:
        data = listed.path.read_bytes()
    except OSError:
        return FileReport(listed, None, image_name, None)
    digest = hashlib.sha256(data).hexdigest()
    if not image_name:
        return FileReport(listed, digest, False, None)
    try:
        info: ImageInfo | None = inspect_image_bytes(data)
    except Exception:  # any decoder failure means training could not use this file
        info = None
    return FileReport(listed, digest, True, info)


@dataclass
class DatasetStats:
    """Everything `ltcli stats` prints; `to_dict()` is the `--json` document."""

    root: Path
    layout: str
    splits: list[str]
    class_names: list[str]
    counts: dict[str, dict[str, int]]  # split -> class -> images that decode
    reference_split: str  # whose counts define imbalance and head/medium/tail
    non_images: list[str]
    undecodable: list[str]
    unreadable: list[str]  # broken symlinks and files that cannot be read
    hidden: list[str]
    loose: list[str]
    nested_images: int
    sizes: dict[str, int]
    modes: dict[str, int]
    formats: dict[str, int]
    exif_rotated: int
    duplicates_across_splits: list[list[str]]
    duplicates_within_splits: list[list[str]]

    @property
    def reference_counts(self) -> list[int]:
        return [self.counts[self.reference_split][name] for name in self.class_names]

    def missing_classes(self) -> dict[str, list[str]]:
        """Per split, the classes (of any split) with no usable image there."""
        return {split: [name for name in self.class_names if self.counts[split][name] == 0] for split in self.splits}

    def imbalance_ratio(self) -> float | None:
        """Largest / smallest class count of the reference split; None when a class has no image."""
        counts = self.reference_counts
        return max(counts) / min(counts) if counts and min(counts) > 0 else None

    def groups(self) -> dict[str, list[str]]:
        """Head (many-shot), medium and tail (few-shot) classes by the thresholds `ltcli test` uses."""
        members: dict[str, list[str]] = {name: [] for name in GROUP_NAMES.values()}
        for name, group in zip(self.class_names, shot_groups(self.reference_counts), strict=True):
            members[GROUP_NAMES[group]].append(name)
        return members

    def to_dict(self) -> dict:
        return {
            "root": str(self.root), "layout": self.layout, "splits": self.splits, "class_names": self.class_names,
            "counts": self.counts,
            "totals": {split: sum(self.counts[split].values()) for split in self.splits},
            "reference_split": self.reference_split,
            "imbalance_ratio": self.imbalance_ratio(),
            "groups": self.groups(),
            "group_thresholds": {"head_more_than": MANY_SHOT_MIN, "tail_fewer_than": FEW_SHOT_MAX},
            "missing_classes": self.missing_classes(),
            "sizes": self.sizes, "modes": self.modes, "formats": self.formats, "exif_rotated": self.exif_rotated,
            "non_images": self.non_images, "undecodable": self.undecodable, "unreadable": self.unreadable,
            "hidden": self.hidden,
            "loose_files": self.loose, "nested_images": self.nested_images,
            "duplicates_across_splits": self.duplicates_across_splits,
            "duplicates_within_splits": self.duplicates_within_splits,
        }


def duplicate_groups(reports: list[FileReport], root: Path) -> tuple[list[list[str]], list[list[str]]]:
    """Usable images with identical bytes, as (groups spanning several splits, groups within one)."""
    by_hash: dict[str, list[FileReport]] = defaultdict(list)
    for report in reports:
        if report.usable:
            by_hash[report.sha256].append(report)
    across, within = [], []
    for group in by_hash.values():
        if len(group) > 1:
            paths = sorted(_relative(r.listed.path, root) for r in group)
            (across if len({r.listed.split for r in group}) > 1 else within).append(paths)
    return sorted(across), sorted(within)


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def summarise(listing: DatasetListing, reports: list[FileReport]) -> DatasetStats:
    """Fold the per-file reports into the dataset's numbers."""
    root = listing.root
    splits = list(listing.split_roots)
    class_names = (next(iter(listing.classes.values())) if listing.layout == "lists"  # in label order
                   else sorted({name for names in listing.classes.values() for name in names}))
    counts = {split: dict.fromkeys(class_names, 0) for split in splits}
    usable = [r for r in reports if r.usable]
    for report in usable:
        counts[report.listed.split][report.listed.class_name] += 1
    infos = [r.info for r in usable if r.info is not None]
    across, within = duplicate_groups(reports, root)
    class_roots = {(f.split, f.class_name): listing.split_roots[f.split] / f.class_name for f in listing.files}
    return DatasetStats(
        root=root, layout=listing.layout, splits=splits, class_names=class_names, counts=counts,
        reference_split="train" if "train" in splits else splits[0],
        non_images=[_relative(r.listed.path, root) for r in reports if r.readable and not r.is_image_name],
        undecodable=[_relative(r.listed.path, root) for r in reports
                     if r.readable and r.is_image_name and not r.usable],
        unreadable=sorted(_relative(p, root) for p in [*listing.broken,
                                                        *(r.listed.path for r in reports if not r.readable)]),
        hidden=[_relative(p, root) for p in listing.hidden],
        loose=[_relative(p, root) for p in listing.loose],
        nested_images=0 if listing.layout == "lists" else sum(
            1 for r in usable
            if r.listed.path.parent != class_roots[(r.listed.split, r.listed.class_name)]
        ),
        sizes=dict(Counter(f"{i.width}x{i.height}" for i in infos).most_common()),
        modes=dict(Counter(i.mode for i in infos).most_common()),
        formats=dict(Counter(i.format or "unknown" for i in infos).most_common()),
        exif_rotated=sum(i.exif_rotated for i in infos),
        duplicates_across_splits=across,
        duplicates_within_splits=within,
    )


def dataset_stats(root: str | Path, on_file: Callable[[], None] = lambda: None,
                  listing: DatasetListing | None = None, data_root: Path | None = None) -> DatasetStats:
    """Scan `root` (raw, split or lists) and return its numbers; `on_file` is called after each file read."""
    listing = listing or list_dataset(root, data_root)
    reports = []
    for listed in listing.files:
        reports.append(read_file_report(listed))
        on_file()
    return summarise(listing, reports)


def resolve_dataset(name_or_path: str, datasets_dir: Path, data_split_dir: Path) -> Path:
    """A folder path as given, else a split dataset a_datasets/NAME, else a raw one data_split/NAME."""
    for candidate in (Path(name_or_path), Path(datasets_dir) / name_or_path, Path(data_split_dir) / name_or_path):
        if candidate.is_dir():
            return candidate
    raise LtcliError(
        f"no dataset {name_or_path!r}: not a folder, and neither {Path(datasets_dir) / name_or_path} "
        f"nor {Path(data_split_dir) / name_or_path} exists"
    )
