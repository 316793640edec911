"""Datasets and loaders over `train/`, `valid/` and `test/` class folders."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate
from torchvision.datasets import ImageFolder

from ltcli.data.folder import image_decodes, is_image_name, iter_class_files, list_class_dirs
from ltcli.data.images import load_rgb
from ltcli.data.samplers import EvalShard, RankShare, step_batches
from ltcli.errors import LtcliError


class SkipsUndecodable:
    """The loading that RobustImageFolder and ListDataset share: `samples[i]` is (path, label). A file
    that fails to decode yields None instead of raising (the collate function drops it) and is flagged
    in `failed`, a shared-memory tensor, so the flags set inside DataLoader worker processes are seen
    by the main process."""

    samples: Sequence[tuple[str, int]]
    failed: torch.Tensor
    loader: Callable
    transform: Callable | None
    target_transform: Callable | None

    def __getitem__(self, index: int) -> tuple[Any, int] | None:
        path, target = self.samples[index]
        try:
            image = self.loader(path)
        except Exception:  # any decode failure of this one file; transform errors still raise
            self.failed[index] = True
            return None
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:  # e.g. the binary task's class -> 0/1 mapping
            target = self.target_transform(target)
        return image, target

    def failed_paths(self) -> list[str]:
        return [self.samples[i][0] for i in torch.nonzero(self.failed).flatten().tolist()]

    def decoded_samples(self) -> list[tuple[str, int]]:
        """The samples a full pass actually delivered (those that decoded), in loader order."""
        return [sample for sample, failed in zip(self.samples, self.failed.tolist(), strict=True) if not failed]


class RobustImageFolder(SkipsUndecodable, ImageFolder):
    """torchvision's ImageFolder with the scanner's file rules and a loader that never crashes.

    Classes and files are listed by `ltcli.data.folder` (hidden files and folders ignored, nested
    folders kept), so training sees exactly the images `ltcli stats` and `ltcli split` count.
    """

    def __init__(self, root: str | Path, transform: Callable | None = None, loader: Callable = load_rgb) -> None:
        super().__init__(str(root), transform=transform, loader=loader)
        self.failed = torch.zeros(len(self.samples), dtype=torch.bool).share_memory_()

    def append_files(self, files: Sequence[str], labels: Sequence[int]) -> None:
        """Add image files with their labels (as ListDataset.append_files): `imgs` is the same list."""
        self.samples.extend(zip(files, labels, strict=True))
        self.targets.extend(labels)
        self.failed = torch.zeros(len(self.samples), dtype=torch.bool).share_memory_()

    def find_classes(self, directory: str | Path) -> tuple[list[str], dict[str, int]]:
        classes = [path.name for path in list_class_dirs(Path(directory))]
        return classes, {name: index for index, name in enumerate(classes)}

    @staticmethod
    def make_dataset(  # type: ignore[override]
        directory: str | Path, class_to_idx: dict[str, int], extensions: Any = None,
        is_valid_file: Any = None, allow_empty: bool = False,
    ) -> list[tuple[str, int]]:
        samples = []
        for name, index in class_to_idx.items():
            files = [str(path) for path in iter_class_files(Path(directory) / name) if is_image_name(path)]
            if not files and not allow_empty:
                raise LtcliError(f"class {name!r} has no image files in {Path(directory) / name}")
            samples += [(path, index) for path in files]
        return samples


def collate_decoded(batch: list[Any]) -> Any:
    """default_collate over the samples that decoded; None when none of the batch did."""
    kept = [sample for sample in batch if sample is not None]
    return default_collate(kept) if kept else None


class SkippingLoader(DataLoader):
    """A DataLoader that leaves out batches in which no file decoded, so loops need no check.

    Under torchrun (`keep_empty`) such a batch, being one process's share of a step, is yielded as
    None instead: the training loop then has every process skip that step together.
    """

    def __init__(self, *args: Any, keep_empty: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keep_empty = keep_empty

    def __iter__(self):  # type: ignore[override]
        return (batch for batch in super().__iter__() if batch is not None or self.keep_empty)


def image_folder(root: Path, transform=None, loader: Callable = load_rgb) -> RobustImageFolder:
    """A RobustImageFolder, with a one-line error when the folder cannot be read."""
    try:
        return RobustImageFolder(root, transform=transform, loader=loader)
    except OSError as error:
        raise LtcliError(f"cannot read images from {root}: {error}") from None


def undecodable_files(datasets: Sequence[RobustImageFolder], on_file: Callable[[], None] = lambda: None) -> list[str]:
    """Fully decode every sample up front (for `train --strict`) and return those that fail."""
    bad = []
    for dataset in datasets:
        for path, _ in dataset.samples:
            if not image_decodes(Path(path)):
                bad.append(path)
            on_file()
    return bad


def check_same_classes(expected: Sequence[str], found: Sequence[str], where: Path) -> None:
    if list(expected) != list(found):
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        detail = "; ".join(
            part for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unexpected {', '.join(extra)}" if extra else "",
            ) if part
        ) or "different order"
        raise LtcliError(f"classes of {where} do not match the model's {len(expected)} classes: {detail}")


@dataclass
class TrainData:
    """The training split, the split used for validation, and what the run needs to know of them."""

    train: Any  # RobustImageFolder or ltcli.data.lists.ListDataset: the same interface
    valid: Any
    valid_split: str
    class_names: list[str]


def make_loader(
    dataset: Dataset,
    batch_size: int,
    train: bool,
    workers: int,
    device: torch.device,
    seed: int = 0,
    sample_weights: Sequence[float] | None = None,
    batch_sampler: Sampler[list[int]] | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader:
    """A DataLoader over this process's share of `dataset`.

    Training: shuffled, or drawn with replacement in proportion to `sample_weights`, or in the
    batches of a `batch_sampler` (e.g. positive/negative stratified); each step's batch holds
    `batch_size` images over all processes. Evaluation: every sample once over the processes.
    """
    pin, persistent = device.type == "cuda", workers > 0
    if not train:
        sampler = EvalShard(len(dataset), rank, world_size) if world_size > 1 else None  # type: ignore[arg-type]
        return SkippingLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, pin_memory=pin,
                              persistent_workers=persistent, collate_fn=collate_decoded)
    batches = batch_sampler or step_batches(len(dataset), batch_size, seed, sample_weights, world_size)  # type: ignore[arg-type]
    if world_size > 1:
        batches = RankShare(batches, rank, world_size)
    # Worker processes seed their augmentation from this generator: distinct per process.
    generator = torch.Generator()
    generator.manual_seed(seed + 1_000_003 * rank)
    return SkippingLoader(dataset, batch_sampler=batches, num_workers=workers, pin_memory=pin,
                          persistent_workers=persistent, generator=generator, collate_fn=collate_decoded,
                          keep_empty=world_size > 1)

