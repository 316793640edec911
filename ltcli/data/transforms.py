"""Train and eval transform presets: one place that decides how images become tensors."""

from __future__ import annotations

from torchvision import transforms as T

from ltcli.choices import AUGMENTS
from ltcli.errors import LtcliError

SMALL_IMAGE_MAX_SIDE = 64


def resolve_augment(augment: str, height: int, width: int) -> str:
    """'auto' picks the CIFAR recipe (pad-crop + flip) for small inputs, timm's otherwise."""
    if augment not in AUGMENTS:
        raise LtcliError(f"unknown --augment {augment!r}: choose one of {', '.join(AUGMENTS)}")
    if augment == "auto":
        return "cifar" if max(height, width) <= SMALL_IMAGE_MAX_SIDE else "timm"
    return augment


def build_transform(
    height: int,
    width: int,
    train: bool,
    augment: str = "auto",
    hflip: float = 0.5,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
):
    """A torchvision transform from a PIL RGB image to a normalised float tensor of (3, height, width)."""
    from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, create_transform

    mean = tuple(mean or IMAGENET_DEFAULT_MEAN)
    std = tuple(std or IMAGENET_DEFAULT_STD)
    recipe = resolve_augment(augment, height, width)
    if recipe == "timm":
        # timm's own factory: RandomResizedCrop + flip for training, resize + center crop for eval.
        return create_transform(
            input_size=(3, height, width), is_training=train, hflip=hflip, mean=mean, std=std,
            crop_pct=1.0 if not train else None,
        )
    steps: list = [T.Resize((height, width))]
    if train and recipe == "cifar":
        # The CIFAR recipe of He et al. 2016 used across the long-tail literature: pad by 4 px
        # (1/8 of the side) and crop back, then a random horizontal flip.
        steps += [T.RandomCrop((height, width), padding=max(1, height // 8)), T.RandomHorizontalFlip(hflip)]
    steps += [T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(steps)
