"""The network an export holds: the run's model as `ltcli test` scores it, in one forward.

`ltcli test` loads the checkpoint's evaluated weights (the EMA when the run kept one) into the run's
architecture, a method's own network included (RIDE's experts average their logits in `forward`),
and may correct the outputs after the fact (ltcli.posthoc). Here those corrections become part of
the network, so a consumer of the exported file gets the tested scores without knowing about them:

- tau-normalisation replaces the linear classifier by its bias-free, tau-normalised copy, which is
  what the test computes from the penultimate features (Kang et al., ICLR 2020, Sec. 4);
- post-hoc logit adjustment subtracts tau * log(training prior), a constant per class (Menon et
  al., ICLR 2021, Sec. 4.1), kept as the buffer `logit_shift`;
- a binary run trained on one logit z gives the two scores (0, z), whose softmax is
  (1 - sigmoid z, sigmoid z): the probabilities the test reports.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ltcli.posthoc import LOGIT_ADJUST, TAU_NORM, Correction, tau_normalise_classifier, training_prior


class ExportNet(nn.Module):
    """images [N, 3, H, W] (normalised, as preprocess.json says) -> class scores [N, K]; their
    softmax is the probability of each class `ltcli test` and `ltcli predict` report."""

    def __init__(self, network: nn.Module, num_classes: int, one_logit: bool) -> None:
        super().__init__()
        self.network = network
        self.one_logit = one_logit
        self.register_buffer("logit_shift", torch.zeros(num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.network(images)
        if self.one_logit:
            logits = torch.cat([torch.zeros_like(logits), logits], dim=1)
        return logits - self.logit_shift


def inference_network(model: nn.Module) -> nn.Module:
    """The part of a method's network that predicts (PaCo's classifier encoder, without the key
    encoder and the queue that only training reads); the model itself for any other run."""
    return model.inference_network() if hasattr(model, "inference_network") else model


def export_net(model: nn.Module, class_names: Sequence[str], class_counts: Sequence[int], num_outputs: int,
               correction: Correction | None = None, tau: float | None = None, who: str = "the run") -> ExportNet:
    """`model` (loaded as ltcli.engine.classifier.load_run loads it, in eval mode) with the correction
    folded in; `model` is changed in place (tau-norm swaps its classifier)."""
    network = inference_network(model)
    if correction is not None and tau is not None:
        correction.check(network, class_counts, class_names, who)
    if correction is TAU_NORM and tau is not None:
        tau_normalise_classifier(network, tau)
    one_logit = num_outputs == 1 and len(class_names) == 2
    net = ExportNet(network, len(class_names), one_logit)
    if correction is LOGIT_ADJUST and tau is not None:
        shift = tau * np.log(training_prior(class_counts, class_names))
        param = next(network.parameters(), None)
        net.logit_shift.copy_(torch.as_tensor(shift, dtype=torch.float32, device=getattr(param, "device", None)))
    return net.eval()
