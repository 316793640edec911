"""Where a command runs: the torch device, the seeds, and the library versions a run records.

Kept apart from training so `ltcli test` and `ltcli predict` pick a device without importing it.
"""

from __future__ import annotations

import platform
import random

import numpy as np
import torch

import ltcli
from ltcli.choices import check_device_name
from ltcli.errors import LtcliError


def resolve_device(name: str) -> torch.device:
    """auto (CUDA when PyTorch sees a GPU), cpu or cuda[:N]; a GPU asked for but absent is an error."""
    check_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise LtcliError("--device cuda asked for, but PyTorch sees no CUDA GPU: use --device cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def library_versions() -> dict[str, str]:
    import sklearn
    import timm
    import torchvision

    versions = {
        "ltcli": ltcli.__version__, "python": platform.python_version(), "torch": torch.__version__,
        "torchvision": torchvision.__version__, "timm": timm.__version__, "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }
    # torch.__version__ is a str subclass that weights_only checkpoint loading refuses: store plain str.
    return {name: str(version) for name, version in versions.items()}
