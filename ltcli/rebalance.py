"""Re-balancing rules (`--train-rule`): re-weight the loss or re-sample the data by class.

Which rule combines with which objective is decided here, once, with the reason when refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ltcli.errors import LtcliError
from ltcli.objectives import Objective


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
    """`--train-rule None`: every sample and class counts the same. Each rule below changes what it
    needs (the sample order or the loss weights) through these methods, so the engine never asks
    which rule it holds."""

    name: ClassVar[str] = "None"
    samples: ClassVar[bool] = False  # draws the training order by class (a weighted sampler)
    weights: ClassVar[bool] = False  # weights the loss by class

    @classmethod
    def create(cls, name: str, epochs: int, drw_epoch: int | None = None, beta: float = 0.9999) -> TrainRule:
        rule = RULES.get(name.lower())
        if rule is None:
            raise LtcliError(f"unknown --train-rule {name!r}: choose one of {', '.join(TRAIN_RULES)}")
        return rule.build(epochs, drw_epoch, beta)

    @classmethod
    def build(cls, epochs: int, drw_epoch: int | None, beta: float) -> TrainRule:
        return cls()

    def sample_weights(self, targets: Sequence[int], class_counts: Sequence[int]) -> np.ndarray | None:
        """Per-sample weights for a weighted sampler; None keeps the shuffled order."""
        return None

    def class_weights(self, epoch: int, class_counts: Sequence[int]) -> np.ndarray | None:
        """Loss weights for this epoch, None for uniform."""
        return None

    def start_epoch(self, objective: Objective, epoch: int, class_counts: Sequence[int]) -> None:
        """Give the objective this epoch's class weights (objectives without them were refused by `check`)."""
        if objective.supports_class_weights:
            objective.set_class_weights(self.class_weights(epoch, class_counts))

    def record(self) -> dict[str, Any]:
        """What the run's config.json records of how the rule was resolved."""
        return {"drw_epoch_resolved": None}

    def check(self, objective_name: str, objective: type[Objective] | Objective) -> None:
        """Refuse combinations that double-count the prior or that the objective cannot express (read
        from the objective's class flags: the config checks its class before anything is built)."""
        if self.weights and objective.corrects_prior:
            raise LtcliError(
                f"--train-rule {self.name} with {objective_name} is refused: {objective_name} already corrects "
                "for the training prior, and class weights on top would compensate it twice"
            )
        if self.weights and not objective.supports_class_weights:
            raise LtcliError(
                f"--train-rule {self.name} with {objective_name} is refused: {objective_name} has no per-class "
                "loss weights (use Resample or SqrtResample to re-balance it)"
            )
        if self.samples and objective.corrects_prior:
            raise LtcliError(
                f"--train-rule {self.name} with {objective_name} is refused: {objective_name} corrects for the "
                "training prior, which class-aware sampling already changes, so the tail would be favoured twice"
            )


@dataclass(frozen=True)
class Reweight(TrainRule):
    """Effective-number class weights for the whole run (Cui et al. 2019)."""

    name: ClassVar[str] = "Reweight"
    weights: ClassVar[bool] = True
    beta: float = 0.9999

    @classmethod
    def build(cls, epochs: int, drw_epoch: int | None, beta: float) -> TrainRule:
        effective_number_weights([1, 1], beta)  # checks beta before anything is written
        return cls(beta=beta)

    def class_weights(self, epoch: int, class_counts: Sequence[int]) -> np.ndarray | None:
        return effective_number_weights(class_counts, self.beta)


@dataclass(frozen=True)
class DeferredReweight(Reweight):
    """DRW (Cao et al. 2019): uniform weights, then the Reweight weights from `drw_epoch` on."""

    name: ClassVar[str] = "DRW"
    drw_epoch: int = 160

    @classmethod
    def build(cls, epochs: int, drw_epoch: int | None, beta: float) -> TrainRule:
        # DRW defers re-weighting to the last 20% of training by default (160 of 200 in Cao et al. 2019).
        start = int(0.8 * epochs) if drw_epoch is None else drw_epoch
        if not 0 <= start < max(epochs, 1):
            raise LtcliError(f"--drw-epoch must be in [0, {epochs}), got {start}")
        effective_number_weights([1, 1], beta)
        return cls(beta=beta, drw_epoch=start)

    def class_weights(self, epoch: int, class_counts: Sequence[int]) -> np.ndarray | None:
        return super().class_weights(epoch, class_counts) if epoch >= self.drw_epoch else None

    def record(self) -> dict[str, Any]:
        return {"drw_epoch_resolved": self.drw_epoch}


@dataclass(frozen=True)
class Resample(TrainRule):
    """Class-balanced sampling: every class is drawn equally often."""

    name: ClassVar[str] = "Resample"
    samples: ClassVar[bool] = True

    def sample_weights(self, targets: Sequence[int], class_counts: Sequence[int]) -> np.ndarray | None:
        return sample_weights(targets, class_counts, self.name)


@dataclass(frozen=True)
class SqrtResample(Resample):
    """Square-root sampling (Mahajan et al. 2018): class c is drawn in proportion to sqrt(n_c)."""

    name: ClassVar[str] = "SqrtResample"


RULES: dict[str, type[TrainRule]] = {
    rule.name.lower(): rule for rule in (TrainRule, Reweight, Resample, SqrtResample, DeferredReweight)
}
TRAIN_RULES = tuple(rule.name for rule in RULES.values())  # --train-rule's names, as the rules spell them
