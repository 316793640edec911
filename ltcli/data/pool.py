"""Yang & Xu's unlabeled pool (NeurIPS 2020, Sec. 3; their SemiSupervisedImbalanceCIFAR10): a pool of
`size_factor` (5) times the labelled training total, spread over the classes in head-to-tail order by
its own imbalance rho_U: n_c = int(base * rho_U^(c/(C-1))) with base = total // C, then every n_c
scaled by total / sum(n_c) and truncated (so the pool's total is close to, not exactly, 5x).

The class of a pool image is used only to choose it (as the authors use the 80M Tiny Images'
extrapolated labels): `ltcli split --unlabeled-pool RHO_U` writes the pool to NAME/unlabeled/<class>/,
which `ltcli train --unlabeled` reads without looking at the folder names. Its images come from the
training images the long tail left out, or from `--unlabeled-src DIR` (class folders named as the
dataset's), never from valid/ or test/.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ltcli.errors import LtcliError

UNLABELED_SPLIT = "unlabeled"
SIZE_FACTOR = 5  # the authors' unlabel_size_factor


def pool_counts(labelled: Sequence[int], rho: float, size_factor: int = SIZE_FACTOR) -> list[int]:
    """Pool images per class (head first) for labelled counts `labelled` and rho_U = tail / head <= 1."""
    total = sum(labelled) * size_factor
    classes = len(labelled)
    base = total // classes
    raw = [int(base * rho ** (i / (classes - 1))) if classes > 1 else base for i in range(classes)]
    if sum(raw) == 0:
        return raw
    return [int(n * total / sum(raw)) for n in raw]


@dataclass
class PoolPlan:
    """What split.json records of the pool."""

    rho: float  # tail / head, as the authors' --imb_factor_unlabel
    size_factor: int
    source: str  # "left-out training images" or the --unlabeled-src folder
    order: list[str]
    targets: dict[str, int]

    def to_dict(self) -> dict:
        return asdict(self)


def plan_pool(candidates: dict[str, list[Path]], order: list[str], labelled: dict[str, int], rho: float, seed: int,
              source: str) -> tuple[PoolPlan, dict[str, list[Path]]]:
    """The pool's counts and files: each class's share drawn (seeded per class) from its candidates."""
    targets = dict(zip(order, pool_counts([labelled[c] for c in order], rho), strict=True))
    short = [c for c in order if len(candidates.get(c, [])) < targets[c]]
    if short:
        name = short[0]
        raise LtcliError(f"--unlabeled-pool needs {targets[name]} unlabeled images of class {name!r} (5x the "
                         f"{sum(labelled.values())} labelled, by rho_U {rho:g}) but {source} has "
                         f"{len(candidates.get(name, []))}: give a larger --unlabeled-src, or a rho_U that asks "
                         "fewer of it")
    chosen = {c: sorted(random.Random(f"{seed}:pool:{c}").sample(sorted(candidates[c]), targets[c])) for c in order}
    return PoolPlan(rho, SIZE_FACTOR, source, list(order), targets), chosen
