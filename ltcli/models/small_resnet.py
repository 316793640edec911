"""ResNet-18/34/50/101/152 for small images (32x32): timm's ResNet with a 3x3 stride-1 stem and no
max-pool, so the first stage sees the full input; the CCE tool's `--model_index` 35-39 networks.

timm builds the blocks, stages and head; only the stem is replaced (He-initialised like timm's own
convolutions). Registered in timm's registry as `resnet18_small` ... `resnet152_small`.
"""

from __future__ import annotations

from timm.models import register_model
from timm.models.resnet import BasicBlock, Bottleneck, ResNet
from torch import nn

from ltcli.errors import LtcliError

__all__: list[str] = []

STEM_WIDTH = 64


def _create(name: str, block: type[nn.Module], layers: list[int], pretrained: bool, kwargs: dict) -> ResNet:
    if pretrained:
        raise LtcliError(f"{name} has no published pretrained weights: drop --pretrained or use --weights FILE")
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
        kwargs.pop(key, None)
    model = ResNet(block, layers, **kwargs)
    model.conv1 = nn.Conv2d(kwargs.get("in_chans", 3), STEM_WIDTH, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.maxpool = nn.Identity()
    model.pretrained_cfg = {"architecture": name, "classifier": "fc", "num_classes": model.num_classes}
    model.default_cfg = model.pretrained_cfg
    return model


@register_model
def resnet18_small(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-18 with a 3x3 stride-1 stem and no max-pool, for 32x32 inputs."""
    return _create("resnet18_small", BasicBlock, [2, 2, 2, 2], pretrained, kwargs)


@register_model
def resnet34_small(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-34 with a 3x3 stride-1 stem and no max-pool, for 32x32 inputs."""
    return _create("resnet34_small", BasicBlock, [3, 4, 6, 3], pretrained, kwargs)


@register_model
def resnet50_small(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-50 (bottleneck blocks) with a 3x3 stride-1 stem and no max-pool, for 32x32 inputs."""
    return _create("resnet50_small", Bottleneck, [3, 4, 6, 3], pretrained, kwargs)


@register_model
def resnet101_small(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-101 with a 3x3 stride-1 stem and no max-pool, for 32x32 inputs."""
    return _create("resnet101_small", Bottleneck, [3, 4, 23, 3], pretrained, kwargs)


@register_model
def resnet152_small(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-152 with a 3x3 stride-1 stem and no max-pool, for 32x32 inputs."""
    return _create("resnet152_small", Bottleneck, [3, 8, 36, 3], pretrained, kwargs)
