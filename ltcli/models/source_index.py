"""The CCE tool's `--model_index N`: its `get_model.py` numbers 41 networks (unique-chan/
Complement-Cross-Entropy); this is each number's ltcli (timm) model, or None where ltcli has none.

0-34 are torchvision's ImageNet models in torchvision's order; timm has most of them under the same
or a close name (mobilenet_v2 is timm's mobilenetv2_100, mnasnet1_0 its mnasnet_100). 35-39 are the
tool's own ResNet-18/34/50/101/152 for small images (a 3x3 stride-1 stem, no max-pool): ltcli's
`resnet18_small` ... `resnet152_small` (models/small_resnet.py). The tool's "ResNet50" is built from
basic blocks 3,4,6,3, i.e. its ResNet34, so 37 is `resnet34_small` (the network its runs trained;
`--model resnet50_small` is a real bottleneck ResNet-50). 40, its small-image SqueezeNet, has none.
"""

from __future__ import annotations

from ltcli.errors import LtcliError

# index -> (the tool's network, the ltcli model or None)
SOURCE_MODELS: tuple[tuple[str, str | None], ...] = (
    ("alexnet", None),
    ("vgg11", "vgg11"), ("vgg11_bn", "vgg11_bn"), ("vgg13", "vgg13"), ("vgg13_bn", "vgg13_bn"),
    ("vgg16", "vgg16"), ("vgg16_bn", "vgg16_bn"), ("vgg19", "vgg19"), ("vgg19_bn", "vgg19_bn"),
    ("resnet18", "resnet18"), ("resnet34", "resnet34"), ("resnet50", "resnet50"), ("resnet101", "resnet101"),
    ("resnet152", "resnet152"),
    ("resnext50_32x4d", "resnext50_32x4d"), ("resnext101_32x8d", "resnext101_32x8d"),
    ("wide_resnet50_2", "wide_resnet50_2"), ("wide_resnet101_2", "wide_resnet101_2"),
    ("squeezenet1_0", None), ("squeezenet1_1", None),
    ("densenet121", "densenet121"), ("densenet161", "densenet161"), ("densenet169", "densenet169"),
    ("densenet201", "densenet201"),
    ("inception_v3", "inception_v3"), ("googlenet", None),
    ("shufflenet_v2_x0_5", None), ("shufflenet_v2_x1_0", None), ("shufflenet_v2_x1_5", None),
    ("shufflenet_v2_x2_0", None),
    ("mobilenet_v2", "mobilenetv2_100"),
    ("mnasnet0_5", "mnasnet_050"), ("mnasnet0_75", "mnasnet_075"), ("mnasnet1_0", "mnasnet_100"),
    ("mnasnet1_3", None),  # timm has mnasnet_140, not 1.3
    ("ResNet18 (small images)", "resnet18_small"), ("ResNet34 (small images)", "resnet34_small"),
    ("ResNet50 (small images)", "resnet34_small"),  # the tool builds it from basic blocks 3,4,6,3: its ResNet34
    ("ResNet101 (small images)", "resnet101_small"), ("ResNet152 (small images)", "resnet152_small"),
    ("SqueezeNet (small images)", None),
)
WHERE = "`ltcli models --index` (or the table 'The CCE tool's --model_index' in docs/train.md)"


def model_for_index(index: int) -> str:
    """The ltcli model of the CCE tool's `--model_index`; a one-line error naming the list otherwise."""
    if not 0 <= index < len(SOURCE_MODELS):
        raise LtcliError(f"--model_index takes 0-{len(SOURCE_MODELS) - 1} (the CCE tool's get_model.py), got {index}: "
                         f"see {WHERE}")
    network, model = SOURCE_MODELS[index]
    if model is None:
        raise LtcliError(f"--model_index {index} is the CCE tool's {network}, which ltcli has no model for: pick "
                         f"another index or a --model from {WHERE}")
    return model
