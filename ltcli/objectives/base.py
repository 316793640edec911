"""The objective interface the engine relies on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn


class Objective(nn.Module):
    """A training loss that may depend on the training class counts and the epoch.

    Subclasses take `class_counts` plus their own keyword options and implement
    `forward(logits, targets) -> 0-dim batch mean`. Hooks the engine uses:
    `set_epoch` (called at the start of every epoch), `second_step` (an extra optimizer
    step per batch, for methods such as COT) and `network` (the module a method trains, built
    around the backbone: RIDE's experts, PaCo's encoder pair and queue).
    """

    needs_features: ClassVar[bool] = False  # forward(logits, targets, features=...) (FeaBal)
    has_second_step: ClassVar[bool] = False  # second_step() after the first optimizer step (COT)
    needs_cosine_head: ClassVar[bool] = False  # logits must be cosine similarities (LDAM)
    supports_class_weights: ClassVar[bool] = False  # honours set_class_weights (Reweight, DRW)
    corrects_prior: ClassVar[bool] = False  # already compensates the training prior (BSCE, LA, ...)
    single_logit_binary: ClassVar[bool] = False  # binary tasks use one output, score sigmoid(z) (AUC)
    train_views: ClassVar[int] = 1  # augmented views of each training image the model's forward_train takes (PaCo: 2)
    # Flags of the tools ltcli replaces that set an option of this objective: {"ccegamma": "gamma"}
    # makes `--ccegamma 2` mean `--opt gamma=2`; the CLI declares them from here.
    option_aliases: ClassVar[dict[str, str]] = {}

    def __init__(self, class_counts: Sequence[int | float]) -> None:
        super().__init__()
        counts = torch.as_tensor(list(class_counts), dtype=torch.float64)
        if counts.ndim != 1 or len(counts) < 2:
            raise ValueError("class_counts needs one count per class, at least two classes")
        if (counts <= 0).any():
            raise ValueError("every class needs at least one training image (class_counts > 0)")
        self.register_buffer("class_counts", counts, persistent=False)
        self.class_weights: torch.Tensor | None = None
        self.epoch = 0

    @property
    def num_classes(self) -> int:
        return int(self.class_counts.numel())

    def log_prior(self, like: torch.Tensor) -> torch.Tensor:
        """log(n_c / sum n) in the dtype and device of `like`."""
        return torch.log(self.class_counts / self.class_counts.sum()).to(like)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def set_class_weights(self, weights: Sequence[float] | torch.Tensor | None) -> None:
        """Per-class loss weights from a re-weighting rule (None = uniform)."""
        if weights is not None and not self.supports_class_weights:
            raise ValueError(f"{type(self).__name__} does not take per-class weights")
        self.class_weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)

    def weighted_mean(self, per_sample: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Plain mean, or sum_i w_{y_i} l_i / sum_i w_{y_i} under class weights (torch's convention)."""
        if self.class_weights is None:
            return per_sample.mean()
        weights = self.class_weights.to(per_sample)[targets]
        return (weights * per_sample).sum() / weights.sum()

    @classmethod
    def check_options(cls, **options: Any) -> None:
        """Refuse out-of-range option values (ValueError) without class counts or building anything:
        the config's validation calls this, the engine then builds the objective once. Checks that need
        the counts (a per-class list's length) stay in the constructor. Default: nothing to check."""

    @classmethod
    def check_run_options(cls, **options: Any) -> None:
        """Refuse (ValueError) option values the loss takes on its own (the Python API) but a training
        run cannot use, before anything is written. Default: none."""

    @classmethod
    def network(cls, model: nn.Module, **options: Any) -> nn.Module:
        """The module this method trains, built around the backbone `model` from the objective's own
        options alone (default: `model` itself). No class counts: `ltcli test` rebuilds it from the
        run's config.json without building the loss; options the wrapper does not use are ignored.

        A wrapper keeps `wrapper(images) -> logits` for validation, `ltcli test` and `predict`, and may
        define `forward_train(*views, targets=...) -> dict`: the training step then calls that with the
        objective's `train_views` views of the batch and passes its outputs to `forward` by name
        (`logits` first, then e.g. `expert_logits=`). Whatever state it keeps (a queue) belongs in its
        state_dict, so checkpoints, `--resume` and `ltcli test` rebuild it from the run's config."""
        return model

    @classmethod
    def wraps_backbone(cls) -> bool:
        """Whether the objective trains more than the backbone (it defines its own `network`)."""
        return cls.network.__func__ is not Objective.network.__func__

    def wrap_model(self, model: nn.Module) -> nn.Module:
        """`network` with the options this objective was built with (ObjectiveEntry.create records them)."""
        return type(self).network(model, **getattr(self, "options", {}))

    def second_step(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no second step")
