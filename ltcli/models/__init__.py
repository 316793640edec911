"""Models: any timm backbone by name, plus the CIFAR ResNets registered into timm's registry."""

from __future__ import annotations

import timm
from torch import nn

from ltcli.errors import LtcliError
from ltcli.models import (
    cifar_resnet,  # registers resnet20/32/44/56/110 with timm
    small_resnet,  # noqa: F401  (registers resnet18_small ... resnet152_small with timm)
)
from ltcli.models.heads import use_cosine_classifier, use_head

# The CIFAR ResNets, as cifar_resnet registered them (timm's register_model appends each to __all__).
CIFAR_MODELS = tuple(cifar_resnet.__all__)
# The names a model picker offers (--model's declared suggestions): ours, then a few common timm ones;
# any timm name is taken.
OFFERED_MODELS = (*CIFAR_MODELS, "resnet18", "resnet50", "efficientnet_b0", "convnext_tiny", "vit_small_patch16_224")


def list_models(pattern: str = "*") -> list[str]:
    """timm's model names (ours are registered there) matching a shell-style pattern."""
    return sorted(timm.list_models(pattern))


def create_model(
    name: str, num_classes: int, pretrained: bool = False, cosine_head: bool = False, head: str = "plain",
    **kwargs,
) -> nn.Module:
    """timm.create_model with a one-line error for unknown names or unreachable weights.

    `cosine_head` swaps the classifier for a cosine one (objectives such as LDAM need it); `head`
    ("plain" or "lws", see `heads.HEADS`) then wraps it, e.g. in learnable per-class scales (LWS).
    A run's config.json holds both, so `ltcli test` rebuilds the same model.
    """
    if not timm.is_model(name):
        close = timm.list_models(f"*{name}*")[:5]
        hint = f" (did you mean {', '.join(close)}?)" if close else " (see `ltcli models PATTERN`)"
        raise LtcliError(f"unknown model {name!r}{hint}")
    try:
        model = timm.create_model(name, pretrained=pretrained, num_classes=num_classes, **kwargs)
    except (OSError, RuntimeError, ValueError) as error:
        if pretrained:
            raise LtcliError(f"could not load pretrained weights for {name}: {str(error).splitlines()[0]}") from None
        raise
    return use_head(use_cosine_classifier(model) if cosine_head else model, head)
