"""Post-hoc corrections at test time: read a trained classifier's outputs differently, without training.

A network trained on a long tail scores head classes too high. Two corrections from the literature
undo part of that bias after training, each with one number tau:

- tau-normalisation (Kang et al., ICLR 2020, "Decoupling Representation and Classifier for
  Long-Tailed Recognition", Sec. 4): each class's weight vector w_c becomes w_c / ||w_c||^tau and
  the logits are recomputed from the penultimate features, bias dropped (tau-norm below).
- post-hoc logit adjustment (Menon et al., ICLR 2021, "Long-Tail Learning via Logit Adjustment",
  Sec. 4.1): predict argmax_y f_y(x) - tau * log pi_y, pi the training class prior (logit-adjust).

And one way to combine several runs: the temperature ensemble, the mean over members of
softmax(z_m / t_m), one temperature per member (t = 1 for every member is ltcli's plain ensemble).

The functions here take plain arrays and return plain arrays. A split is predicted once into a
`MemberCache` (logits, and penultimate features when tau-norm needs them), so a sweep over a tau
grid costs one matrix product per tau, never another pass of the network. The sweep chooses tau on
the validation split only; the engine (ltcli.engine.scoring) then predicts the test split once with
the chosen tau.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ltcli.errors import LtcliError
from ltcli.metrics import LOWER_IS_BETTER, average_probabilities, evaluate_log_probs, is_improvement
from ltcli.metrics import log_probabilities as to_log_probabilities
from ltcli.models.heads import CosineClassifier, replace_classifier
from ltcli.posthoc_options import DEFAULT_SWEEP_METRIC, SWEEP_SPLIT, check_sweep, parse_taus, parse_temperatures

# --- the corrections, as pure functions ---------------------------------------------------------


def tau_normalise(weight: np.ndarray | torch.Tensor, tau: float) -> np.ndarray | torch.Tensor:
    """w_c / ||w_c||^tau for every row w_c of a [K, D] classifier weight (Kang et al. 2020, Sec. 4).

    tau = 0 leaves the weight as it is, tau = 1 gives unit rows (every class the same norm); the
    head classes, whose rows a long tail makes longest, lose the most. A zero row stays zero. Works
    on numpy arrays and torch tensors alike (the type and dtype of `weight` are kept).
    """
    if isinstance(weight, torch.Tensor):
        norms = torch.linalg.vector_norm(weight, dim=1, keepdim=True)
        return weight / torch.where(norms > 0, norms, torch.ones_like(norms)) ** tau
    weight = np.asarray(weight)
    norms = np.linalg.norm(weight, axis=1, keepdims=True)
    return weight / np.where(norms > 0, norms, 1.0) ** tau


def training_prior(class_counts: Sequence[int], class_names: Sequence[str] | None = None) -> np.ndarray:
    """pi_c = n_c / sum n, refusing a class without training images (log pi_c would be -inf)."""
    counts = np.asarray(class_counts, dtype=np.float64)
    if counts.size == 0 or (counts <= 0).any():
        empty = int(np.argmax(counts <= 0)) if counts.size else 0
        name = class_names[empty] if class_names and counts.size else f"class {empty}"
        raise LtcliError(f"--logit-adjust needs every class's training count, and {name!r} has "
                         f"{int(counts[empty]) if counts.size else 'none'}: the training prior is undefined")
    return counts / counts.sum()


def adjust_logits(logits: np.ndarray, class_counts: Sequence[int], tau: float) -> np.ndarray:
    """logits - tau * log(pi), pi the training prior (Menon et al. 2021, Sec. 4.1, post-hoc logit adjustment).

    The argmax becomes the Bayes rule for the balanced error when the logits estimate log p(y|x)
    (tau = 1); tau = 0 leaves the logits as they are.
    """
    logits = np.asarray(logits, dtype=np.float64)
    return logits - tau * np.log(training_prior(class_counts))[None, :]


def as_class_logits(logits: np.ndarray) -> np.ndarray:
    """[N, K] scores from a model's outputs: a one-logit binary run's z becomes the log-probabilities
    [log(1 - sigmoid z), log sigmoid z], which differ from (0, z) by a per-row constant only, so a
    per-class shift (logit adjustment) means the same on them as on K logits."""
    logits = np.asarray(logits, dtype=np.float64)
    return to_log_probabilities(logits) if logits.ndim == 1 or logits.shape[1] == 1 else logits


def tempered_log_probs(member_logits: Sequence[np.ndarray], temperatures: Sequence[float] | None = None
                       ) -> tuple[np.ndarray, list[np.ndarray]]:
    """(log of the mean over members of softmax(z_m / t_m), each member's log softmax(z_m / t_m)).

    The temperature ensemble: a member with a higher t is less confident, so it weighs less where it
    disagrees. t = 1 for every member (the default) is ltcli's plain ensemble, the mean of the
    members' probabilities (ltcli.metrics.average_probabilities).
    """
    temperatures = [1.0] * len(member_logits) if temperatures is None else list(temperatures)
    if len(temperatures) != len(member_logits):
        raise ValueError(f"{len(temperatures)} temperatures for {len(member_logits)} members")
    members = [to_log_probabilities(np.asarray(z, dtype=np.float64) / t)
               for z, t in zip(member_logits, temperatures, strict=True)]
    return (members[0] if len(members) == 1 else average_probabilities(members)), members


# --- the classifier of a loaded model ---------------------------------------------------------------


def linear_classifier(model: nn.Module, who: str = "the model") -> nn.Linear:
    """The nn.Linear timm's `get_classifier()` names; a one-line error for any other head."""
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    if isinstance(head, CosineClassifier):
        raise LtcliError(f"--tau-norm needs a linear classifier: {who} has a cosine classifier (LDAM's), whose "
                         "class weights are unit vectors already, so tau-normalisation would not change it")
    if not isinstance(head, nn.Linear):
        what = "no classifier timm's get_classifier() names" if head is None else f"a {type(head).__name__} classifier"
        raise LtcliError(f"--tau-norm needs a linear classifier: {who} has {what}")
    return head


def tau_normalise_classifier(model: nn.Module, tau: float) -> nn.Module:
    """Replace `model`'s linear classifier (in place) by a bias-free one with weights w_c / ||w_c||^tau.

    The bias is dropped, as in Kang et al. 2020 (Sec. 4: "we discard the bias term"), so tau = 0
    gives the plain classifier without its bias. Returns `model`.
    """
    head = linear_classifier(model)
    normalised = nn.Linear(head.in_features, head.out_features, bias=False,
                           device=head.weight.device, dtype=head.weight.dtype)
    with torch.no_grad():
        normalised.weight.copy_(tau_normalise(head.weight.detach(), tau))
    replace_classifier(model, normalised)
    return model


# --- one predicted split, and the corrections applied to it -----------------------------------------


@dataclass
class MemberCache:
    """What one run's network said about a split, kept so that every tau reuses one forward pass."""

    logits: np.ndarray  # [N, K], or [N, 1] for a one-logit binary run
    class_counts: Sequence[int]
    features: np.ndarray | None = None  # [N, D] penultimate features (tau-norm only)
    classifier_weight: np.ndarray | None = None  # [K, D] (tau-norm only)


@dataclass(frozen=True)
class Correction:
    """One post-hoc correction: its name everywhere (metrics.json key, CLI flag, file tag, paper)."""

    key: str  # metrics.json: "posthoc": {key: tau}
    flag: str
    tag: str  # results file names: metrics_<tag>.json
    paper: str
    needs_features: bool

    def check(self, model: nn.Module, class_counts: Sequence[int], class_names: Sequence[str], who: str) -> None:
        """Refuse a run the correction cannot apply to, before anything is predicted."""
        raise NotImplementedError

    def logits(self, cache: MemberCache, tau: float) -> np.ndarray:
        raise NotImplementedError


class TauNorm(Correction):
    def check(self, model: nn.Module, class_counts: Sequence[int], class_names: Sequence[str], who: str) -> None:
        linear_classifier(model, who)

    def logits(self, cache: MemberCache, tau: float) -> np.ndarray:
        """features @ (w_c / ||w_c||^tau)^T, no bias (Kang et al. 2020, Sec. 4)."""
        if cache.features is None or cache.classifier_weight is None:
            raise ValueError("tau-norm needs the split predicted with its features and the classifier weight")
        weight = tau_normalise(np.asarray(cache.classifier_weight, dtype=np.float64), tau)
        return np.asarray(cache.features, dtype=np.float64) @ weight.T


class LogitAdjust(Correction):
    """On a cosine head (LDAM) the logits are cosines in [-1, 1] (the scale s multiplies them in the
    loss only), so useful taus are about 1/s of those for plain logits: sweep them."""

    def check(self, model: nn.Module, class_counts: Sequence[int], class_names: Sequence[str], who: str) -> None:
        training_prior(class_counts, class_names)

    def logits(self, cache: MemberCache, tau: float) -> np.ndarray:
        return adjust_logits(as_class_logits(cache.logits), cache.class_counts, tau)


TAU_NORM = TauNorm("tau_norm", "--tau-norm", "taunorm", "Kang et al., ICLR 2020, Sec. 4 (tau-normalised classifier, "
                   "bias dropped)", needs_features=True)
LOGIT_ADJUST = LogitAdjust("logit_adjust", "--logit-adjust", "logitadjust", "Menon et al., ICLR 2021, Sec. 4.1 "
                           "(post-hoc logit adjustment)", needs_features=False)
TEMPERATURE_TAG = "temperature"


# --- the plan: what `ltcli test` applies, and how it chooses tau ------------------------------------


@dataclass(frozen=True)
class PosthocPlan:
    """The corrections of one `ltcli test`: nothing (plain), one correction with one tau or a grid to
    sweep on valid/, and the ensemble's temperatures."""

    correction: Correction | None = None
    taus: tuple[float, ...] = ()
    sweep: bool = False
    sweep_metric: str = DEFAULT_SWEEP_METRIC
    temperatures: tuple[float, ...] | None = None

    @classmethod
    def from_options(cls, tau_norm: str | None = None, logit_adjust: str | None = None, sweep: bool = False,
                     sweep_metric: str | None = None, temperatures: str | None = None, num_runs: int = 1,
                     split: str = "test") -> PosthocPlan:
        """Every check on the options, before a run is loaded; each failure is one line."""
        if tau_norm is not None and logit_adjust is not None:
            raise LtcliError("give --tau-norm or --logit-adjust, not both")
        correction = TAU_NORM if tau_norm is not None else LOGIT_ADJUST if logit_adjust is not None else None
        text = tau_norm if tau_norm is not None else logit_adjust
        taus = parse_taus(text, correction.flag) if correction is not None and text is not None else ()
        check_sweep(correction, taus, sweep, sweep_metric, split)
        metric = sweep_metric or DEFAULT_SWEEP_METRIC
        parsed = parse_temperatures(temperatures, num_runs) if temperatures is not None else None
        return cls(correction, taus, sweep, metric, parsed)

    @property
    def needs_features(self) -> bool:
        return self.correction is not None and self.correction.needs_features

    @property
    def results_tag(self) -> str:
        """Tag of the result file names ('' for plain results): corrected results never replace plain ones."""
        parts = [self.correction.tag] if self.correction else []
        return "_".join(parts + ([TEMPERATURE_TAG] if self.temperatures is not None else []))

    def member_logits(self, caches: Sequence[MemberCache], tau: float | None) -> list[np.ndarray]:
        if self.correction is None or tau is None:
            return [c.logits for c in caches]
        return [self.correction.logits(c, tau) for c in caches]

    def log_probs(self, caches: Sequence[MemberCache], tau: float | None) -> tuple[np.ndarray, list[np.ndarray]]:
        """(combined, per member) log-probabilities: each member corrected with `tau`, tempered, averaged."""
        return tempered_log_probs(self.member_logits(caches, tau), self.temperatures)

    def describe(self, tau: float | None) -> str:
        """'tau-norm 1, temperatures 1,2': how labels and the console name the corrections."""
        parts = [f"{self.correction.flag.lstrip('-')} {tau:g}"] if self.correction and tau is not None else []
        if self.temperatures is not None:
            parts.append("temperatures " + ",".join(f"{t:g}" for t in self.temperatures))
        return ", ".join(parts)

    def record(self, tau: float | None, table: Sequence[tuple[float, float | None]] | None) -> dict[str, Any]:
        """What metrics.json says about how the result was made."""
        record: dict[str, Any] = {}
        if self.correction is not None:
            posthoc: dict[str, Any] = {self.correction.key: tau, "paper": self.correction.paper,
                                       "chosen_on": SWEEP_SPLIT if self.sweep else "given"}
            if self.sweep:
                posthoc.update(sweep_metric=self.sweep_metric, sweep=[[t, v] for t, v in table or ()])
            record["posthoc"] = posthoc
        if self.temperatures is not None:
            record["temperatures"] = list(self.temperatures)
        return record


def sweep_taus(plan: PosthocPlan, caches: Sequence[MemberCache], labels: np.ndarray, class_counts: Sequence[int],
               metric_options: dict[str, Any] | None = None) -> list[tuple[float, float | None]]:
    """(tau, value of plan.sweep_metric) for every tau of the grid, on the cached validation outputs."""
    options = {**(metric_options or {}), "tpauc": ()}  # the sweep metric is a summary key; TPAUC costs time
    table = []
    for tau in plan.taus:
        combined, _ = plan.log_probs(caches, tau)
        table.append((tau, evaluate_log_probs(combined, labels, class_counts, **options).get(plan.sweep_metric)))
    return table


def choose_tau(table: Sequence[tuple[float, float | None]], metric: str) -> float:
    """The tau with the best value (lowest for nll/ece, else highest); a tie keeps the earlier tau of
    the grid. An undefined value never wins; all undefined is an error."""
    best_tau, best = None, None
    for tau, value in table:
        if is_improvement(metric, value, best):
            best_tau, best = tau, value
    if best_tau is None:
        raise LtcliError(f"{metric} is undefined on valid/ for every value of the grid: choose another --sweep-metric")
    return best_tau


def direction(metric: str) -> str:
    return "lowest" if metric in LOWER_IS_BETTER else "highest"
