"""ResNet-18/34/50/101/152 for small images (32x32): timm's ResNet with a 3x3 stride-1 stem and no
max-pool, so the first stage sees the full input; the CCE tool's `--model_index` 35-39 networks.

timm builds the blocks, stages and head; only the stem is replaced (He-initialised like timm's own
convolutions). Registered in timm's registry as `resnet18_small` ... `resnet152_small`.
"""

from __future__ import annotations

from typing import Any

from timm.models.resnet import BasicBlock, Bottleneck, ResNet
from torch import nn

from ltcli.models.cifar_resnet import register_local

__all__: list[str] = []

STEM_WIDTH = 64


def small_resnet(name: str, block: type[nn.Module], layers: list[int], kwargs: dict[str, Any]) -> ResNet:
    """timm's ResNet with the small-image stem (3x3, stride 1, He-initialised) and no max-pool."""
    model = ResNet(block, layers, **kwargs)
    model.conv1 = nn.Conv2d(kwargs.get("in_chans", 3), STEM_WIDTH, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.maxpool = nn.Identity()
    model.pretrained_cfg = {"architecture": name, "classifier": "fc", "num_classes": model.num_classes}
    model.default_cfg = model.pretrained_cfg
    return model


for _depth, _block, _layers in ((18, BasicBlock, [2, 2, 2, 2]), (34, BasicBlock, [3, 4, 6, 3]),
                                (50, Bottleneck, [3, 4, 6, 3]), (101, Bottleneck, [3, 4, 23, 3]),
                                (152, Bottleneck, [3, 8, 36, 3])):
    _name = f"resnet{_depth}_small"
    register_local(__name__, _name, lambda kwargs, n=_name, b=_block, lay=_layers: small_resnet(n, b, lay, kwargs),
                   f"ResNet-{_depth} ({_block.__name__} blocks) with a 3x3 stride-1 stem and no max-pool, for 32x32 "
                   "inputs.")
