"""The exported network for PyTorch users: model.safetensors (weights and what rebuilds them) and a
TorchScript file (`--format torchscript`, runs without ltcli).

model.safetensors holds the state dict of the exported network (`ExportNet`: the run's weights with
any correction folded in, the buffer `logit_shift` included) and, as string metadata, the run's
config, class names and training counts and the correction, which is all `load_network` needs to
rebuild the same module with ltcli installed. Safetensors stores tensors only, so loading it runs no code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ltcli.errors import LtcliError
from ltcli.export import require
from ltcli.export.network import ExportNet, export_net
from ltcli.posthoc import LOGIT_ADJUST, TAU_NORM

CORRECTIONS = {c.key: c for c in (TAU_NORM, LOGIT_ADJUST)}
META_KEYS = ("ltcli_config", "class_names", "class_counts", "correction")  # model.safetensors' metadata, as JSON


def save_safetensors(net: ExportNet, path: Path, config: dict[str, Any], class_names: list[str],
                     class_counts: list[int], correction: dict[str, Any] | None) -> None:
    """Write `net`'s weights and the metadata that rebuilds it (tensors shared between modules once)."""
    st = require("safetensors.torch")
    metadata = {"format": "pt", "ltcli_config": json.dumps(config), "class_names": json.dumps(class_names),
                "class_counts": json.dumps(class_counts), "correction": json.dumps(correction)}
    st.save_model(net, str(path), metadata=metadata)


def read_metadata(path: Path) -> dict[str, Any]:
    safetensors = require("safetensors")
    try:
        with safetensors.safe_open(str(path), "pt") as handle:
            raw = handle.metadata() or {}
        return {key: json.loads(raw[key]) for key in META_KEYS}
    except (OSError, KeyError, ValueError, safetensors.SafetensorError) as error:
        raise LtcliError(f"{path} is not a model.safetensors of `ltcli export` ({type(error).__name__}: "
                         f"{error})") from None


def load_network(path: Path) -> ExportNet:
    """The exported network from model.safetensors, in eval mode on the CPU (needs ltcli and timm)."""
    from ltcli.engine.classifier import run_architecture

    st = require("safetensors.torch")
    meta = read_metadata(Path(path))
    config, names, counts, correction = (meta[key] for key in META_KEYS)
    model = run_architecture(config, len(names)).eval()
    chosen = CORRECTIONS[correction["key"]] if correction else None
    net = export_net(model, names, counts, int(config.get("num_outputs", len(names))), chosen,
                     correction["tau"] if correction else None)
    st.load_model(net, str(path), strict=True)
    return net.eval()


def save_torchscript(net: ExportNet, example: torch.Tensor, path: Path) -> torch.jit.ScriptModule:
    """Trace `net` into a TorchScript file (torch.jit.load runs it without ltcli); returns the trace."""
    from ltcli.export.onnx_model import first_line, warnings_off

    with warnings_off():  # TracerWarnings about shapes read as Python numbers
        try:
            traced = torch.jit.trace(net, example, check_trace=False)
        except Exception as error:  # noqa: BLE001  the tracer raises many types
            raise LtcliError(f"cannot trace the network to TorchScript: {first_line(error)}") from None
    traced.save(str(path))
    return traced
