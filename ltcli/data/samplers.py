"""Batch samplers that guarantee what pairwise AUC losses need: positives and negatives in every batch."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from ltcli.errors import LtcliError


def parse_pos_neg_ratio(text: str) -> tuple[int, int]:
    """'1:10' -> (1, 10)."""
    try:
        pos, neg = (int(part) for part in text.split(":"))
    except ValueError:
        raise LtcliError(f"--pos-neg-ratio takes POS:NEG whole numbers like 1:10, got {text!r}") from None
    if pos < 1 or neg < 1:
        raise LtcliError(f"--pos-neg-ratio needs both parts >= 1, got {text!r}")
    return pos, neg


class PosNegBatchSampler(Sampler[list[int]]):
    """Batches of `batch_size` with positives and negatives in the ratio POS:NEG (at least one each).

    Negatives are drawn without replacement and the epoch ends when they run out; the (rare)
    positives are cycled through in fresh random orders as often as needed. Reseeded each epoch
    through `set_epoch`, so runs are reproducible.
    """

    def __init__(self, binary_targets: Sequence[int], batch_size: int, ratio: tuple[int, int], seed: int = 0) -> None:
        targets = np.asarray(binary_targets)
        self.positives = np.flatnonzero(targets == 1)
        self.negatives = np.flatnonzero(targets == 0)
        if batch_size < 2:
            raise LtcliError(f"a batch needs room for a positive and a negative: --batchsize {batch_size} < 2")
        if len(self.positives) == 0 or len(self.negatives) == 0:
            raise LtcliError(
                f"cannot form batches with positives and negatives: the training split has {len(self.positives)} "
                f"positive and {len(self.negatives)} negative images"
            )
        pos, neg = ratio
        self.pos_per_batch = min(max(1, round(batch_size * pos / (pos + neg))), batch_size - 1)
        self.neg_per_batch = batch_size - self.pos_per_batch
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return max(1, len(self.negatives) // self.neg_per_batch)

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        negatives = rng.permutation(self.negatives)
        needed = len(self) * self.pos_per_batch
        cycles = -(-needed // len(self.positives))
        positives = np.concatenate([rng.permutation(self.positives) for _ in range(cycles)])
        for b in range(len(self)):
            neg = negatives[b * self.neg_per_batch : (b + 1) * self.neg_per_batch]
            if len(neg) < self.neg_per_batch:  # fewer negatives than one batch: reuse them
                neg = rng.choice(self.negatives, self.neg_per_batch, replace=True)
            batch = np.concatenate([positives[b * self.pos_per_batch : (b + 1) * self.pos_per_batch], neg])
            yield rng.permutation(batch).tolist()
