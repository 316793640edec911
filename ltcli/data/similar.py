"""`ltcli split --similar A:B:P:LAMBDA`: virtual similar samples (the "Essence of long-tailed
recognition" verification). A fraction P of class A's training images is replaced by
LAMBDA*x_A + (1-LAMBDA)*x_B, labels unchanged, so class A gets harder to tell from class B.

Which images: round_half_up(P * n_A) of class A's training images, a seeded sample; their partners
x_B are class B's training images (as the split keeps them, before any mixing) in a seeded order,
cycled when B has fewer images than needed. x_B is resized to x_A's size (bilinear). Each pixel is
floor(LAMBDA*a + (1-LAMBDA)*b + 0.5) in 0..255, computed in float64. Both images are read as
grayscale when both are grayscale, else as RGB, and the mix is saved as PNG (lossless) in
train/A/ in place of the replaced image, so valid/ and test/ never hold a mix and the source is
only read.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ltcli.errors import LtcliError

GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


@dataclass(frozen=True)
class SimilarSpec:
    target: str  # class A, whose images are replaced
    other: str  # class B, mixed in
    fraction: float
    lam: float

    def to_dict(self) -> dict:
        return {"class": self.target, "with": self.other, "fraction": self.fraction, "lambda": self.lam}


def parse_similar(text: str) -> SimilarSpec:
    """'A:B:P:LAMBDA' -> SimilarSpec, P and LAMBDA in [0, 1]."""
    parts = str(text).split(":")
    if len(parts) != 4 or not parts[0] or not parts[1]:
        raise LtcliError(f"--similar takes A:B:P:LAMBDA (e.g. 0:9:0.3:0.2), got {text!r}")
    target, other = parts[0].strip(), parts[1].strip()
    numbers = []
    for name, value in (("P", parts[2]), ("LAMBDA", parts[3])):
        try:
            number = float(value)
        except ValueError:
            raise LtcliError(f"--similar {text!r}: {name} must be a number in [0, 1], got {value!r}") from None
        if not (math.isfinite(number) and 0 <= number <= 1):
            raise LtcliError(f"--similar {text!r}: {name} must be in [0, 1], got {value}")
        numbers.append(number)
    if target == other:
        raise LtcliError(f"--similar {text!r}: A and B must be different classes")
    return SimilarSpec(target, other, numbers[0], numbers[1])


def round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


@dataclass
class Mix:
    file: str  # the mixed image, relative to the split folder: train/A/similar_00000_x.png
    a: Path
    b: Path
    lam: float

    def to_dict(self) -> dict:
        return {"file": self.file, "a": str(self.a), "b": str(self.b), "lambda": self.lam}


@dataclass
class SimilarPlan:
    specs: list[SimilarSpec]
    mixes: dict[str, list[Mix]] = field(default_factory=dict)  # class A -> its mixes

    def to_dict(self) -> dict:
        return {"specs": [s.to_dict() for s in self.specs],
                "mixes": {name: [m.to_dict() for m in mixes] for name, mixes in self.mixes.items()}}


def plan_similar(specs: Sequence[SimilarSpec], train: dict[str, list[Path]], seed: int) -> SimilarPlan:
    """Choose the replaced images and their partners; removes the replaced ones from `train` (in place)."""
    targets = [s.target for s in specs]
    for spec in specs:
        for name in (spec.target, spec.other):
            if name not in train:
                raise LtcliError(f"--similar names class {name!r}, which the dataset does not have "
                                 f"(classes: {', '.join(sorted(train))})")
        if targets.count(spec.target) > 1:
            raise LtcliError(f"--similar gives class {spec.target!r} twice: one --similar per class A")
    before = {name: sorted(files) for name, files in train.items()}
    plan = SimilarPlan(list(specs))
    for spec in specs:
        files_a, files_b = before[spec.target], before[spec.other]
        count = round_half_up(spec.fraction * len(files_a))
        chosen = sorted(random.Random(f"{seed}:similar:{spec.target}").sample(files_a, count))
        partners = list(files_b)
        random.Random(f"{seed}:similar:{spec.target}:{spec.other}").shuffle(partners)
        plan.mixes[spec.target] = [
            Mix(f"train/{spec.target}/similar_{k:05d}_{a.stem}.png", a, partners[k % len(partners)], spec.lam)
            for k, a in enumerate(chosen)
        ]
        replaced = set(chosen)
        train[spec.target] = [f for f in train[spec.target] if f not in replaced]
    return plan


def mix_images(path_a: Path, path_b: Path, lam: float) -> Image.Image:
    """lam*x_A + (1-lam)*x_B, x_B resized to x_A's size, rounded half up to 0..255 (see the module)."""
    with Image.open(path_a) as image_a, Image.open(path_b) as image_b:
        mode = "L" if image_a.mode in GRAY_MODES and image_b.mode in GRAY_MODES else "RGB"
        a = image_a.convert(mode)
        b = image_b.convert(mode)
    if b.size != a.size:
        b = b.resize(a.size, Image.Resampling.BILINEAR)
    mixed = lam * np.asarray(a, dtype=np.float64) + (1.0 - lam) * np.asarray(b, dtype=np.float64)
    return Image.fromarray(np.clip(np.floor(mixed + 0.5), 0, 255).astype(np.uint8), mode)


def write_mixes(plan: SimilarPlan, split_root: Path) -> None:
    """Write every mix of `plan` below `split_root` (the staging folder of the split)."""
    for mixes in plan.mixes.values():
        for mix in mixes:
            path = split_root / mix.file
            path.parent.mkdir(parents=True, exist_ok=True)
            mix_images(mix.a, mix.b, mix.lam).save(path, format="PNG")
