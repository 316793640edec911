"""Parity at export time: ONNX Runtime's logits against PyTorch's on real images of the run's dataset.

Both run the same float32 arithmetic in another order, so the logits differ by rounding only: a
difference above `tolerance` (relative to the logits' size) or another top-1 class on an image
whose two best classes are further apart than that means the exported file computes something else,
and the export refuses to write it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from ltcli.errors import LtcliError

PARITY_IMAGES = 64
RELATIVE_TOLERANCE = 1e-3  # of max(1, the largest |logit|): float32 rounding stays far below


def sample_images(dataset: Dataset, count: int, where: str) -> torch.Tensor:
    """Up to `count` images of `dataset`, evenly spread over it (so every class folder is visited),
    as its transform makes them; files that do not decode are passed over."""
    indices = np.unique(np.linspace(0, len(dataset) - 1, num=min(count, len(dataset))).round().astype(int))
    images = [sample[0] for sample in (dataset[int(i)] for i in indices) if sample is not None]
    if not images:
        raise LtcliError(f"no image of {where} decodes: the export needs real images to check with")
    return torch.stack(images)


@dataclass(frozen=True)
class Parity:
    """The figures of one check (they go into the model card)."""

    split: str
    images: int
    max_abs_diff: float
    tolerance: float
    top1_agree: int

    def describe(self) -> str:
        return (f"{self.images} images of {self.split}/: max |logit difference| {self.max_abs_diff:.2e} "
                f"(tolerance {self.tolerance:.2e}), same top-1 class on {self.top1_agree}/{self.images}")


def torch_logits(net: nn.Module, images: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    with torch.inference_mode():
        return torch.cat([net(images[i:i + batch_size]).float() for i in range(0, len(images), batch_size)]).numpy()


def check_parity(net: nn.Module, got: np.ndarray, images: torch.Tensor, split: str, what: str = "ONNX Runtime"
                 ) -> Parity:
    """Compare the exported file's logits `got` with `net`'s on `images`; raise a one-line error when they differ."""
    expected = torch_logits(net, images)
    if got.shape != expected.shape:
        raise LtcliError(f"{what} gives logits of shape {list(got.shape)}, PyTorch {list(expected.shape)}")
    diff = float(np.abs(got - expected).max())
    tolerance = RELATIVE_TOLERANCE * max(1.0, float(np.abs(expected).max()))
    ordered = np.sort(expected, axis=1)
    clear = ordered[:, -1] - ordered[:, -2] > 2 * tolerance  # a near tie may flip under rounding
    agree = got.argmax(1) == expected.argmax(1)
    parity = Parity(split, len(images), diff, tolerance, int(agree.sum()))
    if not np.isfinite(diff) or diff > tolerance or not agree[clear].all():
        raise LtcliError(f"{what} differs from PyTorch on {parity.describe()}: nothing was written")
    return parity
