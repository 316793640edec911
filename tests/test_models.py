"""The CIFAR ResNets live in timm's registry and match He et al. 2016's sizes."""

from __future__ import annotations

import pytest
import timm
import torch

from ltcli.errors import LtcliError
from ltcli.models import CIFAR_MODELS, create_model, list_models

# Parameter counts reported in He et al. 2016, Table 6 (millions).
PAPER_PARAMS_M = {"resnet20": 0.27, "resnet32": 0.46, "resnet44": 0.66, "resnet56": 0.85, "resnet110": 1.7}


@pytest.mark.parametrize("name", CIFAR_MODELS)
def test_cifar_resnet_is_a_timm_model(name):
    assert timm.is_model(name)
    model = timm.create_model(name, num_classes=7)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    assert params == pytest.approx(PAPER_PARAMS_M[name], abs=0.03)
    model.eval()
    logits = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 7)
    features = model.forward_head(model.forward_features(torch.randn(2, 3, 16, 16)), pre_logits=True)
    assert features.shape == (2, 64)
    model.reset_classifier(3)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 3)


def test_depth_counts_weighted_layers():
    model = create_model("resnet32", num_classes=10)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) + len(linears) == 32  # 6n+2 with n=5


def test_listing_includes_registered_and_timm_models():
    names = list_models("resnet*")
    assert {"resnet20", "resnet32", "resnet110", "resnet18", "resnet50"} <= set(names)


def test_unknown_model_and_missing_pretrained_weights_are_one_line_errors():
    with pytest.raises(LtcliError, match="unknown model 'resnet33'"):
        create_model("resnet33", num_classes=10)
    with pytest.raises(LtcliError, match="no published pretrained weights"):
        create_model("resnet32", num_classes=10, pretrained=True)


def test_timm_backbone_by_name():
    model = create_model("resnet18", num_classes=4)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 4)
