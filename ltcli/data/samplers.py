"""Batch samplers: the batches of each optimizer step, each process's share of them under
torchrun, and the positive/negative stratification pairwise AUC losses need.

Every training order (shuffled, class-aware re-sampled, stratified) is first drawn as whole-step
batches from generators seeded alike on every process, so all processes agree on each step's
batch; each then takes its contiguous share (`share_of`). With one process the share is the batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import RandomSampler, Sampler, WeightedRandomSampler

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


def share_of(batch: Sequence[int], rank: int, world_size: int) -> slice:
    """The rows of a step's batch that process `rank` of `world_size` trains on: contiguous, the
    sizes differing by at most one (equal when the batch divides evenly)."""
    base, extra = divmod(len(batch), world_size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


class StepBatches(Sampler[list[int]]):
    """`sampler`'s indices cut into batches of `batch_size`, one per optimizer step.

    A last batch too small to give every process at least two images is dropped (BatchNorm cannot
    train on one): in a single process, only a last batch of one image.
    """

    def __init__(self, sampler: Iterable[int], batch_size: int, world_size: int = 1) -> None:
        self.sampler, self.batch_size, self.min_last = sampler, batch_size, 2 * world_size

    @property
    def generator(self) -> torch.Generator | None:  # for checkpointing the sampler's RNG state
        return getattr(self.sampler, "generator", None)

    def __len__(self) -> int:
        full, rest = divmod(len(self.sampler), self.batch_size)  # type: ignore[arg-type]
        return full + (rest >= self.min_last)

    def step_size(self, step: int) -> int:
        """Images in the batch of `step` (all but the last are full)."""
        full, rest = divmod(len(self.sampler), self.batch_size)  # type: ignore[arg-type]
        return self.batch_size if step < full else rest

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for index in self.sampler:
            batch.append(int(index))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if len(batch) >= self.min_last:
            yield batch


def order_sampler(num_samples: int, seed: int, sample_weights: Sequence[float] | None = None) -> Sampler[int]:
    """An epoch's sample order: a seeded permutation, or `num_samples` draws with replacement in
    proportion to `sample_weights` (class-aware re-sampling). Seeded alike on every process."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    if sample_weights is None:
        return RandomSampler(range(num_samples), generator=generator)  # type: ignore[arg-type]
    return WeightedRandomSampler(torch.as_tensor(sample_weights, dtype=torch.double), num_samples, True,
                                 generator=generator)


def step_batches(
    num_samples: int, batch_size: int, seed: int, sample_weights: Sequence[float] | None = None, world_size: int = 1
) -> StepBatches:
    """Every epoch's training batches, on either data path: `order_sampler`'s order in step batches."""
    return StepBatches(order_sampler(num_samples, seed, sample_weights), batch_size, world_size)


class RankShare(Sampler[list[int]]):
    """This process's share of each step's batch (DataLoader path; the in-memory loader splits
    batches itself so that it can draw the augmentation for the whole batch)."""

    def __init__(self, batches: Sampler[list[int]], rank: int, world_size: int) -> None:
        self.batches, self.rank, self.world_size = batches, rank, world_size

    @property
    def generator(self) -> torch.Generator | None:
        return getattr(self.batches, "generator", None)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.batches, "set_epoch"):
            self.batches.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.batches)

    def step_size(self, step: int) -> int:
        return self.batches.step_size(step)  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches:
            yield batch[share_of(batch, self.rank, self.world_size)]


class EvalShard(Sampler[int]):
    """Indices rank, rank + W, ... of an evaluation set: every sample exactly once over the W
    processes (no padding, so gathered metrics equal a single process's)."""

    def __init__(self, num_samples: int, rank: int, world_size: int) -> None:
        self.indices = range(rank, num_samples, world_size)

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)


class PosNegBatchSampler(Sampler[list[int]]):
    """Batches of `batch_size` with positives and negatives in the ratio POS:NEG (at least one each).

    Negatives are drawn without replacement and the epoch ends when they run out; the (rare)
    positives are cycled through in fresh random orders as often as needed. Reseeded each epoch
    through `set_epoch`, so runs are reproducible. With `parts` > 1 (one per process) a batch is
    `parts` stratified blocks of batch_size / parts, so every process's share holds both kinds.
    """

    def __init__(
        self, binary_targets: Sequence[int], batch_size: int, ratio: tuple[int, int], seed: int = 0, parts: int = 1
    ) -> None:
        if batch_size % parts:
            raise LtcliError(f"--batchsize {batch_size} does not split evenly over {parts} processes")
        self.parts = parts
        batch_size //= parts
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

    def step_size(self, step: int) -> int:
        return (self.pos_per_batch + self.neg_per_batch) * self.parts

    def __len__(self) -> int:
        return max(1, len(self.negatives) // (self.neg_per_batch * self.parts))

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        negatives = rng.permutation(self.negatives)
        blocks = len(self) * self.parts
        cycles = -(-blocks * self.pos_per_batch // len(self.positives))
        positives = np.concatenate([rng.permutation(self.positives) for _ in range(cycles)])
        batch: list[int] = []
        for b in range(blocks):
            neg = negatives[b * self.neg_per_batch : (b + 1) * self.neg_per_batch]
            if len(neg) < self.neg_per_batch:  # fewer negatives than one batch: reuse them
                neg = rng.choice(self.negatives, self.neg_per_batch, replace=True)
            block = np.concatenate([positives[b * self.pos_per_batch : (b + 1) * self.pos_per_batch], neg])
            batch += rng.permutation(block).tolist()
            if (b + 1) % self.parts == 0:
                yield batch
                batch = []
