"""Re-balancing rules (`--train-rule`): re-weight the loss or re-sample the data by class.

Which rule combines with which objective is decided here, once, with the reason when refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ltcli.errors import LtcliError
from ltcli.objectives import Objective

TRAIN_RULES = ("None", "Reweight", "Resample", "SqrtResample", "DRW")
WEIGHTING_RULES = ("Reweight", "DRW")
SAMPLING_RULES = ("Resample", "SqrtResample")


def effective_number_weights(class_counts: Sequence[int], beta: float = 0.9999) -> np.ndarray:
    """Class-balanced weights (Cui et al., CVPR 2019, Eq. 5-6): w_c ∝ (1 - beta) / (1 - beta^n_c),
    normalised to sum to the number of classes."""
    counts = np.asarray(class_counts, dtype=np.float64)
    if not 0 <= beta < 1:
        raise LtcliError(f"--cb-beta must be in [0, 1), got {beta}")
    raw = (1.0 - beta) / (1.0 - np.power(beta, counts))
    return raw / raw.sum() * len(counts)


def class_sampling_probabilities(class_counts: Sequence[int], rule: str) -> np.ndarray:
    """Probability that a draw comes from class c: uniform (Resample) or ∝ sqrt(n_c) (SqrtResample,
    Mahajan et al. 2018)."""
    counts = np.asarray(class_counts, dtype=np.float64)
    mass = np.ones_like(counts) if rule == "Resample" else np.sqrt(counts)
    return mass / mass.sum()


def sample_weights(targets: Sequence[int], class_counts: Sequence[int], rule: str) -> np.ndarray:
    """Per-sample weights for torch's WeightedRandomSampler that give `class_sampling_probabilities`."""
    counts = np.asarray(class_counts, dtype=np.float64)
    per_class = class_sampling_probabilities(class_counts, rule) / counts
    return per_class[np.asarray(targets)]


@dataclass(frozen=True)
class TrainRule:
    name: str = "None"
    drw_epoch: int = 160
    beta: float = 0.9999

    @classmethod
    def create(cls, name: str, epochs: int, drw_epoch: int | None = None, beta: float = 0.9999) -> TrainRule:
        canonical = {r.lower(): r for r in TRAIN_RULES}.get(name.lower())
        if canonical is None:
            raise LtcliError(f"unknown --train-rule {name!r}: choose one of {', '.join(TRAIN_RULES)}")
        # DRW defers re-weighting to the last 20% of training by default (160 of 200 in Cao et al. 2019).
        start = int(0.8 * epochs) if drw_epoch is None else drw_epoch
        if canonical == "DRW" and not 0 <= start < max(epochs, 1):
            raise LtcliError(f"--drw-epoch must be in [0, {epochs}), got {start}")
        return cls(canonical, start, beta)

    @property
    def samples(self) -> bool:
        return self.name in SAMPLING_RULES

    def class_weights(self, epoch: int, class_counts: Sequence[int]) -> np.ndarray | None:
        """Loss weights for this epoch, None for uniform."""
        if self.name == "Reweight" or (self.name == "DRW" and epoch >= self.drw_epoch):
            return effective_number_weights(class_counts, self.beta)
        return None

    def check(self, objective_name: str, objective: Objective) -> None:
        """Refuse combinations that double-count the prior or that the objective cannot express."""
        if self.name in WEIGHTING_RULES and objective.corrects_prior:
            raise LtcliError(
                f"--train-rule {self.name} with {objective_name} is refused: {objective_name} already corrects "
                "for the training prior, and class weights on top would compensate it twice"
            )
        if self.name in WEIGHTING_RULES and not objective.supports_class_weights:
            raise LtcliError(
                f"--train-rule {self.name} with {objective_name} is refused: {objective_name} has no per-class "
                "loss weights (use Resample or SqrtResample to re-balance it)"
            )
        if self.samples and objective.corrects_prior:
            raise LtcliError(
                f"--train-rule {self.name} with {objective_name} is refused: {objective_name} corrects for the "
                "training prior, which class-aware sampling already changes, so the tail would be favoured twice"
            )
