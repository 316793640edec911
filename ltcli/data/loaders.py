"""Datasets and loaders over `train/`, `valid/` and `test/` class folders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset, Sampler, WeightedRandomSampler
from torchvision.datasets import ImageFolder

from ltcli.data.folder import is_hidden, is_image_name
from ltcli.errors import LtcliError


def load_rgb(path: str) -> Image.Image:
    """Open any image as RGB, honouring EXIF orientation (grayscale, palette, RGBA alike)."""
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            # Composite transparency onto white rather than the black that a bare convert gives.
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(background, rgba).convert("RGB")
        return image.convert("RGB")


def _is_valid_file(path: str) -> bool:
    p = Path(path)
    return is_image_name(p) and not any(is_hidden(part) for part in p.parts[-2:])


def image_folder(root: Path, transform=None) -> ImageFolder:
    """torchvision's ImageFolder with our RGB loader and file filter, and a one-line error."""
    try:
        return ImageFolder(str(root), transform=transform, loader=load_rgb, is_valid_file=_is_valid_file)
    except (FileNotFoundError, OSError) as error:
        raise LtcliError(f"cannot read images from {root}: {error}") from None


def resolve_data_root(dataset: str | None, data: Path | None, datasets_dir: Path) -> tuple[Path, str]:
    """The dataset folder and its display name, from --dataset NAME or --data PATH."""
    if (dataset is None) == (data is None):
        raise LtcliError("give exactly one of --dataset NAME (under a_datasets/) or --data PATH")
    root = Path(data) if data is not None else datasets_dir / str(dataset)
    name = dataset if dataset is not None else root.resolve().name
    if not root.is_dir():
        hint = f" (run `ltcli split {dataset}` first?)" if dataset else ""
        raise LtcliError(f"dataset folder not found: {root}{hint}")
    return root, name


def find_split(root: Path, split: str) -> Path | None:
    path = root / split
    return path if path.is_dir() else None


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

    train: ImageFolder
    valid: ImageFolder
    valid_split: str
    class_names: list[str]

    @property
    def class_counts(self) -> list[int]:
        return torch.bincount(torch.tensor(self.train.targets), minlength=len(self.class_names)).tolist()


def open_train_data(root: Path, train_transform, eval_transform) -> TrainData:
    train_dir = find_split(root, "train")
    if train_dir is None:
        raise LtcliError(f"{root} has no train/ folder: expected {root}/train/<class>/<images>")
    valid_split = "valid" if find_split(root, "valid") else "test" if find_split(root, "test") else None
    if valid_split is None:
        raise LtcliError(f"{root} has neither valid/ nor test/: one is needed to select the best epoch")
    train = image_folder(train_dir, train_transform)
    valid = image_folder(root / valid_split, eval_transform)
    check_same_classes(train.classes, valid.classes, root / valid_split)
    return TrainData(train=train, valid=valid, valid_split=valid_split, class_names=list(train.classes))


def make_loader(
    dataset: Dataset,
    batch_size: int,
    train: bool,
    workers: int,
    device: torch.device,
    seed: int = 0,
    sample_weights: Sequence[float] | None = None,
    batch_sampler: Sampler[list[int]] | None = None,
) -> DataLoader:
    """A DataLoader; with `sample_weights`, training draws with replacement in those proportions;
    a `batch_sampler` (e.g. positive/negative stratified) decides the batches itself."""
    if batch_sampler is not None:
        return DataLoader(
            dataset, batch_sampler=batch_sampler, num_workers=workers, pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
        )
    generator = torch.Generator()
    generator.manual_seed(seed)
    sampler = None
    if sample_weights is not None:
        sampler = WeightedRandomSampler(
            torch.as_tensor(sample_weights, dtype=torch.double), len(dataset), replacement=True, generator=generator
        )
    # A last batch of one sample breaks BatchNorm in training; drop it only then.
    drop_last = train and len(dataset) % batch_size == 1  # type: ignore[arg-type]
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train and sampler is None,
        sampler=sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        drop_last=drop_last,
        generator=generator,
    )
