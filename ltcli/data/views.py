"""Several augmented views of each training image, for objectives that train on more than one
(an objective's `train_views`, e.g. PaCo's query and key views).

View 0 is the run's ordinary training transform; every further view adds RandAugment (Cubuk et al.
2020) from timm's transform factory before the tensor conversion: the strong view of contrastive
long-tail methods (PaCo, Cui et al. 2021, trains its classifier on RandAugment views). Views are drawn
per image on PIL images in the DataLoader workers, so only the streaming data path can serve them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, create_transform
from timm.data.auto_augment import rand_augment_transform
from torchvision import transforms as T

from ltcli.data.transforms import build_transform

# timm's policy string: magnitude 9 of 10 with std 0.5, two operations per image (the common setting,
# e.g. PaCo's ImageNet-LT runs use n=2, m=10).
RAND_AUGMENT = "rand-m9-n2-mstd0.5"


def strong_transform(height: int, width: int, augment: str, hflip: float) -> Callable:
    """The run's training transform with RandAugment added: timm's factory (`auto_augment`) for the
    timm recipe; for the CIFAR recipe, pad-crop and flip, then timm's RandAugment, then normalisation."""
    if augment == "timm":
        return create_transform(input_size=(3, height, width), is_training=True, hflip=hflip,
                                auto_augment=RAND_AUGMENT)
    base = build_transform(height, width, True, augment, hflip)
    steps = list(base.transforms)
    fill = tuple(round(255 * m) for m in IMAGENET_DEFAULT_MEAN)
    rand_augment = rand_augment_transform(RAND_AUGMENT, {"translate_const": int(0.45 * min(height, width)),
                                                         "img_mean": fill})
    to_tensor = next(i for i, step in enumerate(steps) if isinstance(step, T.ToTensor))
    return T.Compose([*steps[:to_tensor], rand_augment, *steps[to_tensor:]])


@dataclass
class MultiView:
    """image -> [views, 3, H, W]: the ordinary view, then the strong ones (a batch is [B, views, 3, H, W])."""

    transforms: tuple[Callable, ...]

    def __call__(self, image) -> torch.Tensor:
        return torch.stack([transform(image) for transform in self.transforms])


def multi_view_transform(base: Callable, views: int, height: int, width: int, augment: str, hflip: float
                         ) -> MultiView:
    strong = strong_transform(height, width, augment, hflip)
    return MultiView((base, *[strong] * (views - 1)))
