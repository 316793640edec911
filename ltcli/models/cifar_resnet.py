"""CIFAR-style ResNets (He et al. 2016, Sec. 4.2), registered in timm's model registry.

ResNet-(6n+2): a 3x3 stem with 16 channels, three stages of n basic blocks with 16/32/64
channels (stride 2 at the start of stages 2 and 3), global average pooling and a linear head.
Shortcuts that change shape are parameter-free ("option A"): stride-2 subsampling plus zero
channels, as in the paper and in the long-tail codebases (LDAM-DRW, LADE, GML) that report
CIFAR-LT numbers with these nets. timm has no models under these names, so registering them
makes `timm.create_model('resnet32')` work like any other timm name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from timm.models import register_model
from torch import nn

from ltcli.errors import LtcliError

__all__: list[str] = []


class ShortcutA(nn.Module):
    """Identity shortcut that subsamples spatially and zero-pads channels."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.pad = out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        needs_projection = stride != 1 or in_channels != out_channels
        self.shortcut = ShortcutA(in_channels, out_channels, stride) if needs_projection else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """timm-compatible interface: forward_features / forward_head / get_classifier / reset_classifier."""

    def __init__(
        self, depth: int, num_classes: int = 10, in_chans: int = 3, widths: tuple[int, ...] = (16, 32, 64),
        drop_rate: float = 0.0, **_: object,
    ) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        blocks_per_stage = (depth - 2) // 6
        self.num_classes = num_classes
        self.blocks_per_stage = blocks_per_stage
        self.num_features = widths[-1]
        self.drop_rate = drop_rate
        self.conv1 = nn.Conv2d(in_chans, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        layers: list[nn.Module] = []
        in_channels = widths[0]
        for stage, width in enumerate(widths):
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(in_channels, width, stride))
                in_channels = width
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.pretrained_cfg: dict = {"architecture": f"resnet{depth}", "classifier": "fc", "num_classes": num_classes}
        self.default_cfg = self.pretrained_cfg
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def adapt_state_dict(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Keys of the classic CIFAR ResNet code (Yerlan Idelbayev's `resnet_cifar.py`, as in LDAM-DRW
        and the course app) renamed to these: `layer{s}.{b}.` -> `layers.{(s-1)*n + b}.` and
        `linear.` -> `fc.`. The blocks, their tensors and option-A shortcuts are the same. LDAM's
        `NormedLinear` keeps its weight as [in, out]: transposed to [out, in], as CosineClassifier's."""
        own = self.state_dict()

        def rename(key: str) -> str:
            if key in own:
                return key
            block = re.match(r"layer([1-9]\d*)\.(\d+)\.(.*)", key)
            if block is not None:
                stage, index, rest = int(block[1]), int(block[2]), block[3]
                return f"layers.{(stage - 1) * self.blocks_per_stage + index}.{rest}" \
                    if index < self.blocks_per_stage else key
            return "fc." + key[len("linear."):] if key.startswith("linear.") else key

        adapted = {rename(key): value for key, value in state.items()}
        weight = adapted.get("fc.weight")
        normed_linear = "linear.weight" in state and "linear.bias" not in state
        if normed_linear and weight is not None and weight.ndim == 2 and "fc.weight" in own \
                and weight.shape != own["fc.weight"].shape and weight.t().shape == own["fc.weight"].shape:
            adapted["fc.weight"] = weight.t().contiguous()
        return adapted

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(F.relu(self.bn1(self.conv1(x))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        if self.drop_rate > 0:
            x = F.dropout(x, self.drop_rate, self.training)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def register_local(module: str, name: str, build: Callable[[dict[str, Any]], nn.Module], doc: str) -> None:
    """Register `build(kwargs)` in timm's registry as `name`, as `@register_model` does a function of
    `module`: a network ltcli defines, which has no published pretrained weights."""

    def create(pretrained: bool = False, **kwargs: Any) -> nn.Module:
        if pretrained:
            raise LtcliError(f"{name} has no published pretrained weights: drop --pretrained or use --weights FILE")
        for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):  # timm's, for hub weights
            kwargs.pop(key, None)
        return build(kwargs)

    create.__name__ = create.__qualname__ = name
    create.__module__, create.__doc__ = module, doc
    register_model(create)


for _depth, _parameters in ((20, "0.27M"), (32, "0.46M (the CIFAR-LT standard)"), (44, "0.66M"), (56, "0.85M"),
                            (110, "1.7M")):
    register_local(__name__, f"resnet{_depth}", lambda kwargs, depth=_depth: CifarResNet(depth, **kwargs),
                   f"ResNet-{_depth} for 32x32 inputs (He et al. 2016), {_parameters} parameters.")
