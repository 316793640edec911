"""Run a model over a loader and return its logits and labels (metrics are computed elsewhere)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ltcli.models.heads import forward_with_features


@torch.inference_mode()
def predict_with_features(
    model: nn.Module, loader: DataLoader, device: torch.device, features: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Logits [N, K] (float32), labels [N] and, if asked, penultimate features [N, D], in loader order."""
    model.eval()
    all_logits: list[torch.Tensor] = []
    all_labels: list[torch.Tensor] = []
    all_features: list[torch.Tensor] = []
    for images, labels in loader:
        images = images.to(device, non_blocking=True)
        if features:
            logits, feats = forward_with_features(model, images)
            all_features.append(feats.float().cpu())
        else:
            logits = model(images)
        all_logits.append(logits.float().cpu())
        all_labels.append(labels.cpu())
    if not all_logits:
        return np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64), None
    stacked = torch.cat(all_features).numpy() if features else None
    return torch.cat(all_logits).numpy(), torch.cat(all_labels).numpy(), stacked


def predict(model: nn.Module, loader: DataLoader, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Logits [N, K] (float32) and labels [N] in loader order."""
    logits, labels, _ = predict_with_features(model, loader, device, features=False)
    return logits, labels
