"""Pairwise AUC surrogates: square-loss AUC and two-way partial AUC.

Binary tasks give one logit per sample (score sigmoid(z)) or two (score softmax(z)[:, 1]); label 1
is the positive (minority) class. With K >= 3 outputs the loss is one-vs-all: class c's scores are
softmax(z)[:, c], and the per-class losses are averaged over the classes that have both a positive
and a negative in the batch. Every pair mean is expanded in closed form,
mean_{i,j} w_i v_j (1 - a_i + b_j)^2 = mean(w d^2) mean(v) + 2 mean(w d) mean(v b) + mean(w) mean(v b^2)
with d = 1 - a, so a batch costs O(N K), not O(N^2 K).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ltcli.objectives.base import Objective
from ltcli.objectives.registry import register_objective

RE_SCHEMES = ("Poly", "Exp")


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


@register_objective("SquareAUC")
class SquareAUCLoss(Objective):
    """Square-loss AUC surrogate (Yang et al., TPAMI 2021; Gao et al. 2013): mean over positive x
    negative pairs of (1 - (s+ - s-))^2, without the factor 1/2 some code carries (as the TPAUC
    system computed it)."""

    single_logit_binary = True

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        scores, positive = one_vs_all_scores(logits, targets)
        ones = torch.ones_like(scores)
        return weighted_square_pair_loss(scores, positive, ones, ones)


@register_objective("TPAUC")
class TwoWayPartialAUCLoss(Objective):
    """Two-way partial AUC (Yang et al., ICML 2021, "When All We Need is a Piece of the Pie", Sec. 4).

    The square surrogate with margin 1, each pair weighted by instance weights that focus on hard
    positives (low s+) and hard negatives (high s-), from epoch `epoch_to_paced` on (uniform before):
    Poly: w+ = (1 - s+)^gamma, w- = (s-)^gamma;  Exp: w+ = 1 - exp(-gamma (1 - s+)), w- = 1 - exp(-gamma s-).
    The weights are constants in the gradient (detached) and not normalised, as in the authors'
    TPAUCLoss. Defaults follow their CIFAR configuration (Poly, gamma 0.01) with pacing at epoch 10.
    """

    single_logit_binary = True
    option_aliases = {"tpauc-gamma": "gamma", "epoch-to-paced": "epoch_to_paced", "re-scheme": "re_scheme"}

    def __init__(
        self, class_counts: Sequence[int], gamma: float = 0.01, epoch_to_paced: int = 10, re_scheme: str = "Poly"
    ) -> None:
        super().__init__(class_counts)
        scheme = {s.lower(): s for s in RE_SCHEMES}.get(str(re_scheme).lower())
        if scheme is None:
            raise ValueError(f"re_scheme must be one of {', '.join(RE_SCHEMES)}, got {re_scheme!r}")
        self.gamma = gamma
        self.epoch_to_paced = epoch_to_paced
        self.re_scheme = scheme

    def instance_weights(self, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = scores.detach()
        if self.epoch < self.epoch_to_paced:
            return torch.ones_like(s), torch.ones_like(s)
        if self.re_scheme == "Poly":
            return (1 - s) ** self.gamma, s**self.gamma
        return 1 - torch.exp(-self.gamma * (1 - s)), 1 - torch.exp(-self.gamma * s)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        scores, positive = one_vs_all_scores(logits, targets)
        pos_weight, neg_weight = self.instance_weights(scores)
        return weighted_square_pair_loss(scores, positive, pos_weight, neg_weight)
