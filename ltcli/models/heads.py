"""Classifier heads that objectives ask for, swapped into any timm model."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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


def classifier_path(model: nn.Module) -> str:
    """Dotted name of the module `model.get_classifier()` returns (timm models name it differently)."""
    head = model.get_classifier()
    for name, module in model.named_modules():
        if module is head and name:
            return name
    raise ValueError(f"cannot locate the classifier of {type(model).__name__}")


def replace_classifier(model: nn.Module, new_head: nn.Module) -> None:
    parent_name, _, attr = classifier_path(model).rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, new_head)


def use_cosine_classifier(model: nn.Module) -> nn.Module:
    head = model.get_classifier()
    replace_classifier(model, CosineClassifier(head.in_features, head.out_features))
    return model


def forward_with_features(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, penultimate features) through timm's forward_features / forward_head split."""
    features = model.forward_head(model.forward_features(images), pre_logits=True)
    return model.get_classifier()(features), features


class WithFeatures(nn.Module):
    """`model` as one call returning (logits, penultimate features, or None when not asked for),
    so a wrapper such as DistributedDataParallel sees every forward of the training step."""

    def __init__(self, model: nn.Module, features: bool) -> None:
        super().__init__()
        self.model, self.features = model, features

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.features:
            return forward_with_features(self.model, images)
        return self.model(images), None
