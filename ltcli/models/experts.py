"""RIDE's multi-expert network (Wang et al., "Long-tailed Recognition by Routing Diverse
Distribution-Aware Experts", ICLR 2021, Sec. 3 and Fig. 2), built around a backbone ltcli created.

The early layers are shared; each of N experts owns a fresh copy of the later stages and its own
cosine classifier scaled by s (the NormedLinear of the authors' code); the prediction is the average
of the experts' logits. As in the authors' code:

- CIFAR ResNets (resnet20-110): the stem and stage 1 are shared, stages 2 and 3 belong to each
  expert; `reduce_dimension` gives the experts 3/4 of the width (24 and 48 channels instead of 32
  and 64), so three experts cost about what one full network does.
- timm ResNets (resnet18, resnet50, ...): the stem and stages 1-2 are shared, stages 3-4 belong to
  each expert (copies of the backbone's, re-initialised so the experts start apart); their width
  stays the backbone's (`reduce_dimension` is refused).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from timm.models.resnet import ResNet
from torch import nn

from ltcli.errors import LtcliError
from ltcli.models.cifar_resnet import BasicBlock, CifarResNet
from ltcli.models.heads import CosineClassifier

REDUCED_WIDTH = 3 / 4  # the authors' reduce_dimension: 24/48 instead of 32/64 channels (CIFAR ResNets)


class RIDEExperts(nn.Module):
    """`forward(images)` -> the experts' average logits; `forward_train(images)` -> {"logits": that
    average, "expert_logits": [experts, batch, classes]} for the RIDE objective."""

    def __init__(self, shared: nn.Module, experts: list[nn.Module], width: int, num_classes: int,
                 scale: float) -> None:
        super().__init__()
        self.shared = shared
        self.experts = nn.ModuleList(experts)
        self.classifiers = nn.ModuleList(CosineClassifier(width, num_classes) for _ in experts)
        self.scale = scale
        self.num_classes = num_classes

    def expert_logits(self, images: torch.Tensor) -> torch.Tensor:
        """[experts, batch, classes]: s times each expert's cosine logits."""
        shared = self.shared(images)
        return torch.stack([
            self.scale * classifier(F.adaptive_avg_pool2d(expert(shared), 1).flatten(1))
            for expert, classifier in zip(self.experts, self.classifiers, strict=True)
        ])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.expert_logits(images).mean(0)

    def forward_train(self, images: torch.Tensor, targets: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        experts = self.expert_logits(images)
        return {"logits": experts.mean(0), "expert_logits": experts}


def cifar_experts(model: CifarResNet, num_experts: int, reduce_dimension: bool) -> tuple[nn.Module, list, int]:
    """Shared stem + stage 1; per expert, freshly initialised stages 2 and 3 (3/4 wide if reduced)."""
    blocks = list(model.layers)
    per_stage = len(blocks) // 3
    stem_width = blocks[0].conv1.in_channels
    widths = [blocks[per_stage].conv2.out_channels, blocks[-1].conv2.out_channels]
    if reduce_dimension:
        widths = [int(w * REDUCED_WIDTH) for w in widths]
    shared = nn.Sequential(model.conv1, model.bn1, nn.ReLU(), *blocks[:per_stage])

    def expert() -> nn.Module:
        layers, in_channels = [], stem_width
        for width in widths:
            for block in range(per_stage):
                layers.append(BasicBlock(in_channels, width, 2 if block == 0 else 1))
                in_channels = width
        branch = nn.Sequential(*layers)
        for module in branch.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)  # CifarResNet's initialisation
        return branch

    return shared, [expert() for _ in range(num_experts)], widths[-1]


def timm_resnet_experts(model: ResNet, num_experts: int) -> tuple[nn.Module, list, int]:
    """Shared stem + stages 1-2; per expert, a re-initialised copy of stages 3-4."""
    shared = nn.Sequential(model.conv1, model.bn1, model.act1, model.maxpool, model.layer1, model.layer2)

    def expert() -> nn.Module:
        branch = copy.deepcopy(nn.Sequential(model.layer3, model.layer4))
        for module in branch.modules():  # timm's ResNet initialisation, so each expert starts elsewhere
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                module.reset_parameters()
        for module in branch.modules():
            if hasattr(module, "zero_init_last"):
                module.zero_init_last()
        return branch

    return shared, [expert() for _ in range(num_experts)], model.num_features


def ride_experts(model: nn.Module, num_experts: int, reduce_dimension: bool | None, scale: float) -> RIDEExperts:
    """`model` (as ltcli's create_model made it) as RIDE's multi-expert network. `reduce_dimension`
    None: the authors' choice where ltcli has it (reduced for the CIFAR ResNets, full for timm's)."""
    if num_experts < 1:
        raise LtcliError(f"RIDE needs at least one expert, got num_experts={num_experts}")
    num_classes = model.get_classifier().out_features
    if isinstance(model, CifarResNet):
        shared, experts, width = cifar_experts(model, num_experts, reduce_dimension is not False)
    elif isinstance(model, ResNet):
        if reduce_dimension:
            raise LtcliError("--opt reduce_dimension=true narrows the experts of the CIFAR ResNets (resnet20-110); "
                             "timm's ResNets keep their width: leave it out")
        shared, experts, width = timm_resnet_experts(model, num_experts)
    else:
        raise LtcliError(f"RIDE builds its experts from a CIFAR ResNet (resnet20/32/44/56/110) or a timm ResNet "
                         f"(resnet18, resnet50, ...); this model is a {type(model).__name__}")
    return RIDEExperts(shared, experts, width, num_classes, scale)
