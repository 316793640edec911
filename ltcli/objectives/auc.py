"""Pairwise AUC surrogates: square-loss AUC and two-way partial AUC.

Binary tasks give one logit per sample (score sigmoid(z)) or two (score softmax(z)[:, 1]); label 1
is the positive (minority) class. With K >= 3 outputs the loss is one-vs-all: class c's scores are
softmax(z)[:, c], and the per-class losses are averaged over the classes that have both a positive
and a negative in the batch. Every pair mean is expanded in closed form,
mean_{i,j} w_i v_j (1 - a_i + b_j)^2 = mean(w d^2) mean(v) + 2 mean(w d) mean(v b) + mean(w) mean(v b^2)
with d = 1 - a, so a batch costs O(N K), not O(N^2 K).

`inputs="probs"` takes the scores themselves (a model ending in a sigmoid, as XCurve's TPAUC loss
expects): [N] or [N, 1] is p(positive), [N, 2] its second column, [N, K] the class probabilities.
Values outside [0, 1] are then an error, never read as logits: the loss on probabilities p equals the
default (logits) loss on logit(p), since sigmoid(logit(p)) = p.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ltcli.errors import LtcliError
from ltcli.objectives.base import Objective
from ltcli.objectives.registry import register_objective

RE_SCHEMES = ("Poly", "Exp")
INPUT_KINDS = ("logits", "probs")


def one_vs_all_scores(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores [N, C] and positive masks [N, C] for the C binary problems the output encodes."""
    if logits.ndim == 1 or logits.shape[1] == 1:
        scores = torch.sigmoid(logits.reshape(-1, 1))
        return scores, (targets.reshape(-1, 1) == 1).to(scores)
    if logits.shape[1] == 2:
        scores = torch.softmax(logits, dim=1)[:, 1:]
        return scores, (targets.reshape(-1, 1) == 1).to(scores)
    scores = torch.softmax(logits, dim=1)
    return scores, F.one_hot(targets, logits.shape[1]).to(scores)


def check_inputs(inputs: str) -> str:
    kind = str(inputs).lower()
    if kind not in INPUT_KINDS:
        raise ValueError(f"inputs must be one of {', '.join(INPUT_KINDS)}, got {inputs!r}")
    return kind


def probability_scores(probs: torch.Tensor, targets: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores [N, C] and positive masks [N, C] from probabilities, laid out as `one_vs_all_scores`'s
    logits; an error for any value outside [0, 1] (logits passed in probability mode)."""
    low, high = float(probs.detach().min()), float(probs.detach().max())
    if not (0.0 <= low and high <= 1.0):  # NaN fails too
        raise LtcliError(f"{name} with inputs=probs takes probabilities in [0, 1], got values from {low:.4g} to "
                         f"{high:.4g}: these look like logits (ltcli's models output logits; leave inputs=logits)")
    if probs.ndim == 1 or probs.shape[1] == 1:
        scores = probs.reshape(-1, 1)
    elif probs.shape[1] == 2:
        scores = probs[:, 1:]
    else:
        return probs, F.one_hot(targets, probs.shape[1]).to(probs)
    return scores, (targets.reshape(-1, 1) == 1).to(scores)


def weighted_square_pair_loss(
    scores: torch.Tensor, positive: torch.Tensor, pos_weight: torch.Tensor, neg_weight: torch.Tensor
) -> torch.Tensor:
    """Mean over positive x negative pairs of w+ w- (1 - (s+ - s-))^2, per column, averaged over
    columns that have both a positive and a negative."""
    negative = 1 - positive
    n_pos, n_neg = positive.sum(0), negative.sum(0)
    valid = (n_pos > 0) & (n_neg > 0)
    if not valid.any():
        return scores.sum() * 0.0  # no pair in this batch: nothing to rank
    d = 1 - scores

    def pos_mean(x: torch.Tensor) -> torch.Tensor:
        return (positive * x).sum(0) / n_pos.clamp(min=1)

    def neg_mean(x: torch.Tensor) -> torch.Tensor:
        return (negative * x).sum(0) / n_neg.clamp(min=1)

    per_column = (
        pos_mean(pos_weight * d**2) * neg_mean(neg_weight)
        + 2 * pos_mean(pos_weight * d) * neg_mean(neg_weight * scores)
        + pos_mean(pos_weight) * neg_mean(neg_weight * scores**2)
    )
    return per_column[valid].mean()


class PairwiseAUCObjective(Objective):
    """What the AUC losses share: one logit on binary tasks, and scores from logits or probabilities."""

    single_logit_binary = True
    inputs = "logits"

    @classmethod
    def check_options(cls, inputs: str = "logits", re_scheme: str = "Poly", **others: Any) -> None:
        check_inputs(inputs)
        if str(re_scheme).lower() not in {s.lower() for s in RE_SCHEMES}:
            raise ValueError(f"re_scheme must be one of {', '.join(RE_SCHEMES)}, got {re_scheme!r}")

    @classmethod
    def check_run_options(cls, inputs: str = "logits", **others: Any) -> None:
        # A run's model outputs logits; the loss on sigmoid(logits) is this loss with inputs=logits.
        if check_inputs(inputs) == "probs":
            raise ValueError("inputs=probs is for a model that ends in a sigmoid (the loss on its own, in Python); "
                             "ltcli's models output logits, and the default inputs=logits is this loss on their "
                             "sigmoid (softmax), which is XCurve's: leave --opt inputs out")

    def scores(self, outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.inputs == "probs":
            return probability_scores(outputs, targets, type(self).__name__)
        return one_vs_all_scores(outputs, targets)


@register_objective("SquareAUC", other_names=("SquareAUCLoss",))
class SquareAUCLoss(PairwiseAUCObjective):
    """Square-loss AUC surrogate (Yang et al., TPAMI 2021; Gao et al. 2013): mean over positive x
    negative pairs of (1 - (s+ - s-))^2, without the factor 1/2 some code carries (as the TPAUC
    system computed it). `inputs`: logits (default) or probs (see the module docstring)."""

    def __init__(self, class_counts: Sequence[int], inputs: str = "logits") -> None:
        super().__init__(class_counts)
        self.inputs = check_inputs(inputs)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        scores, positive = self.scores(logits, targets)
        ones = torch.ones_like(scores)
        return weighted_square_pair_loss(scores, positive, ones, ones)


@register_objective("TPAUC", other_names=("TPAUCLoss",))
class TwoWayPartialAUCLoss(PairwiseAUCObjective):
    """Two-way partial AUC (Yang et al., ICML 2021, "When All We Need is a Piece of the Pie", Sec. 4).

    The square surrogate with margin 1, each pair weighted by instance weights that focus on hard
    positives (low s+) and hard negatives (high s-), from epoch `epoch_to_paced` on (uniform before):
    Poly: w+ = (1 - s+)^gamma, w- = (s-)^gamma;  Exp: w+ = 1 - exp(-gamma (1 - s+)), w- = 1 - exp(-gamma s-).
    The weights are constants in the gradient (detached) and not normalised, as in the authors'
    TPAUCLoss. Defaults follow their CIFAR configuration (Poly, gamma 0.01) with pacing at epoch 10.
    `inputs`: logits (default) or probs, the scores themselves as XCurve's loss takes them.
    """

    option_aliases = {"tpauc-gamma": "gamma", "epoch-to-paced": "epoch_to_paced", "re-scheme": "re_scheme"}

    def __init__(
        self, class_counts: Sequence[int], gamma: float = 0.01, epoch_to_paced: int = 10, re_scheme: str = "Poly",
        inputs: str = "logits",
    ) -> None:
        super().__init__(class_counts)
        self.check_options(inputs=inputs, re_scheme=re_scheme)
        scheme = {s.lower(): s for s in RE_SCHEMES}[str(re_scheme).lower()]
        self.gamma = gamma
        self.epoch_to_paced = epoch_to_paced
        self.re_scheme = scheme
        self.inputs = check_inputs(inputs)

    def instance_weights(self, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = scores.detach()
        if self.epoch < self.epoch_to_paced:
            return torch.ones_like(s), torch.ones_like(s)
        if self.re_scheme == "Poly":
            return (1 - s) ** self.gamma, s**self.gamma
        return 1 - torch.exp(-self.gamma * (1 - s)), 1 - torch.exp(-self.gamma * s)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        scores, positive = self.scores(logits, targets)
        pos_weight, neg_weight = self.instance_weights(scores)
        return weighted_square_pair_loss(scores, positive, pos_weight, neg_weight)
