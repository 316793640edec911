"""Classifier heads that objectives and two-stage methods ask for, swapped into any timm model."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ltcli.choices import HEADS
from ltcli.errors import LtcliError

# --head: `plain` keeps the model's classifier (a cosine one for LDAM); `lws` multiplies each class's
# logit by a learned scale (LearnableWeightScaling).


class CosineClassifier(nn.Module):
    """Logits are cosine similarities between the feature and each class weight (in [-1, 1]).

    LDAM's margins are defined on this scale (Cao et al. 2019, the NormedLinear of their code).
    """

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = num_classes
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(features, dim=1), F.normalize(self.weight, dim=1))


class LearnableWeightScaling(nn.Module):
    """The wrapped classifier's logits times a learned scale per class, s_c (initialised to 1):
    f_c(x) = s_c * (w_c . x + b_c).

    LWS of Kang et al., "Decoupling Representation and Classifier for Long-Tailed Recognition",
    ICLR 2020, Sec. 4: the paper writes it as re-scaling each class's weight vector, w_c -> s_c w_c,
    with the representation and the classifier's weights fixed and only s_c learned (ltcli does
    that with `--freeze backbone+classifier`); the authors' code (models/TauNormClassifier.py)
    multiplies the whole logit, bias included, as here. Its tensors are `classifier.*` and `scales`.
    """

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        num_classes = getattr(classifier, "out_features", None)
        if not isinstance(num_classes, int):
            raise LtcliError(f"--head lws scales the logits of a linear classifier; this model's is a "
                             f"{type(classifier).__name__}")
        self.classifier = classifier
        self.in_features, self.out_features = getattr(classifier, "in_features", None), num_classes
        self.scales = nn.Parameter(torch.ones(num_classes))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(features) * self.scales


def find_classifier_path(model: nn.Module) -> str | None:
    """Dotted name of the module `model.get_classifier()` returns (timm models name it differently);
    None when there is no single one (a distilled model returns two; RIDE's experts have one each)."""
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    if not isinstance(head, nn.Module):
        return None
    return next((name for name, module in model.named_modules() if module is head and name), None)


def classifier_path(model: nn.Module) -> str:
    path = find_classifier_path(model)
    if path is None:
        raise LtcliError(f"cannot locate the classifier of {type(model).__name__} (timm's get_classifier)")
    return path


def replace_classifier(model: nn.Module, new_head: nn.Module) -> None:
    parent_name, _, attr = classifier_path(model).rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, new_head)


def use_cosine_classifier(model: nn.Module) -> nn.Module:
    head = model.get_classifier()
    replace_classifier(model, CosineClassifier(head.in_features, head.out_features))
    return model


def use_head(model: nn.Module, head: str) -> nn.Module:
    """`model` with the classifier `head` asks for (one of HEADS)."""
    if head not in HEADS:
        raise LtcliError(f"unknown --head {head!r}: choose one of {', '.join(HEADS)}")
    if head == "lws":
        replace_classifier(model, LearnableWeightScaling(model.get_classifier()))
    return model


def match_head_keys(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A plain classifier's tensors (`fc.weight`) renamed to an LWS head's (`fc.classifier.weight`)
    and back, so a stage-one checkpoint loads into an LWS model and an LWS run's weights into a
    plain one (its `scales` are then unused)."""
    path = find_classifier_path(model)
    if path is None:
        return state
    head, inner = path + ".", path + ".classifier."
    wrapped = isinstance(model.get_classifier(), LearnableWeightScaling)

    def rename(key: str) -> str:
        if wrapped and key.startswith(head) and not key.startswith(inner) and key != head + "scales":
            return inner + key[len(head):]
        if not wrapped and key.startswith(inner):
            return head + key[len(inner):]
        return key

    return {rename(key): value for key, value in state.items()}


def forward_with_features(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, penultimate features) through timm's forward_features / forward_head split."""
    features = model.forward_head(model.forward_features(images), pre_logits=True)
    return model.get_classifier()(features), features


class TrainStep(nn.Module):
    """What a training step calls: `step(images, targets) -> {"logits": ..., <extra inputs of the
    objective>}` as one module call, so a wrapper such as DistributedDataParallel sees every forward.

    `images` is a batch, or a tuple of views of it (an objective with `train_views` 2). A model with a
    `forward_train(*views, targets=...)` (a method's wrapper: RIDE's experts, PaCo's encoder pair) gives
    its own outputs; any other model gives its logits, and its penultimate features when `features`.
    """

    def __init__(self, model: nn.Module, features: bool) -> None:
        super().__init__()
        self.model, self.features = model, features

    def forward(self, images: torch.Tensor | tuple[torch.Tensor, ...], targets: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        views = images if isinstance(images, tuple) else (images,)
        if hasattr(self.model, "forward_train"):
            return self.model.forward_train(*views, targets=targets)
        if len(views) != 1:
            raise LtcliError(f"{type(self.model).__name__} takes one view of each image, not {len(views)}")
        if self.features:
            logits, features = forward_with_features(self.model, views[0])
            return {"logits": logits, "features": features}
        return {"logits": self.model(views[0])}
