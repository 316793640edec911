"""The ONNX file: torch.export traces the network, torch.onnx converts the traced program, and ONNX
Runtime runs it. The batch dimension stays dynamic; the image size is the run's.

Exporting in two steps lets a failure name the layer behind it: while torch.export runs the
network, forward hooks keep the stack of modules being called (the innermost one failed); when the
conversion fails, its message names the traced node, whose `nn_module_stack` says where it came from.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ltcli.errors import LtcliError
from ltcli.export import INPUT_NAME, OUTPUT_NAME, require

OPSET = 20
BATCH_DIM = "batch"


@contextlib.contextmanager
def module_trail(model: nn.Module) -> Iterator[list[str]]:
    """The dotted names of the modules being called right now, innermost last (forward hooks)."""
    trail: list[str] = []

    def leave(*_: Any) -> None:  # a forward hook that returned a value would replace the module's output
        if trail:
            trail.pop()

    handles = []
    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_pre_hook(lambda _m, _a, name=name: trail.append(name) and None))
            handles.append(module.register_forward_hook(leave))
    try:
        yield trail
    finally:
        for handle in handles:
            handle.remove()


def first_line(error: BaseException) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()
    return text.splitlines()[0] if text else type(error).__name__


def innermost(error: BaseException) -> BaseException:
    """The first cause of a chain of exceptions (the converter wraps the one that says what failed)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def layer_of_node(program: Any, error: BaseException) -> str | None:
    """The module a failed conversion's node was traced from, if the message says: the node
    (`translating node %name`) itself, or, when the converter's own decomposition made it, the
    user of its first input (`args = (%input, ...)`), both found in the traced program."""
    text = "\n".join(str(e) for e in (error, error.__cause__) if e is not None)
    found = re.search(r"translating node %(\w+)\b.*?target=([\w.]+).*?args = \(([^)]*)\)", text)
    if found is None:
        return None
    name, target, args = found.groups()
    nodes = {node.name: node for node in program.graph.nodes}
    node = nodes.get(name)
    for arg in re.findall(r"%(\w+)", args) if node is None else ():
        users = list(nodes[arg].users) if arg in nodes else []
        if users:
            node = users[0]
            break
    stack = (node.meta.get("nn_module_stack") or {}) if node is not None else {}
    paths = [path for path, _ in stack.values() if path]
    if not paths:
        return None
    kind = [kind for path, kind in stack.values() if path][-1].rsplit(".", 1)[-1]
    return f"{shown_layer(paths[-1])!r} ({kind}: operator {target.removeprefix('torch.ops.')})"


def shown_layer(path: str) -> str:
    """A layer's name in the run's own model (ExportNet keeps it as `network`)."""
    return path.removeprefix("network.")


def trace(net: nn.Module, example: torch.Tensor) -> Any:
    """torch.export's program of `net` with a dynamic batch; a failure names the innermost layer."""
    batch = torch.export.Dim(BATCH_DIM, min=1)
    with module_trail(net) as trail:
        try:
            return torch.export.export(net, (example,), dynamic_shapes=({0: batch},), strict=False)
        except Exception as error:  # noqa: BLE001  torch.export raises many types
            layer = (f"layer {shown_layer(trail[-1])!r} ({type(net.get_submodule(trail[-1])).__name__})" if trail
                     else "the network")
            raise LtcliError(f"cannot export {layer} to ONNX: torch.export failed ({first_line(error)})") from None


def export_onnx(net: nn.Module, example: torch.Tensor, path: Path) -> None:
    """Write `net` (eval mode, on the CPU) to `path` as ONNX with input `images` and output `logits`."""
    require("onnxscript")
    onnx = require("onnx")
    program = trace(net, example)
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet), warnings_off():
            exported = torch.onnx.export(program, dynamo=True, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                         opset_version=OPSET, verbose=False, optimize=True)
    except Exception as error:  # noqa: BLE001  the converter raises many types
        where = layer_of_node(program, error)
        cause = first_line(innermost(error))
        raise LtcliError(f"cannot export {'layer ' + where if where else 'the network'} to ONNX: {cause}") from None
    model = exported.model_proto
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = BATCH_DIM  # the name the converter invented -> "batch"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@contextlib.contextmanager
def warnings_off() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def open_session(path: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime session on the CPU (`threads`: intra-op threads, default torch's count)."""
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.log_severity_level = 3  # errors only: its warnings are about graph rewrites, not the user's input
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001  onnxruntime raises its own types on foreign bytes
        raise LtcliError(f"cannot load {path}: not an ONNX model ONNX Runtime can run ({first_line(error)})") from None


def check_input(session: Any, height: int, width: int, num_classes: int, where: Path) -> None:
    """The ONNX file takes [batch, 3, height, width] and gives [batch, classes], as preprocess.json says."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        raise LtcliError(f"{where} has {len(inputs)} inputs and {len(outputs)} outputs: an ltcli export has one each")
    shape, out = list(inputs[0].shape), list(outputs[0].shape)
    if len(shape) != 4 or shape[1:] != [3, height, width]:
        raise LtcliError(f"{where} takes input {shape}, but its preprocess.json gives [batch, 3, {height}, {width}]: "
                         "they come from different exports")
    if len(out) != 2 or out[1] != num_classes:
        raise LtcliError(f"{where} gives output {out}, but its preprocess.json names {num_classes} classes: "
                         "they come from different exports")


def run_session(session: Any, images: np.ndarray | torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """The session's logits [N, K] for a float32 batch [N, 3, H, W], `batch_size` at a time."""
    images = images.numpy() if isinstance(images, torch.Tensor) else images
    name = session.get_inputs()[0].name
    parts = [session.run(None, {name: np.ascontiguousarray(images[i:i + batch_size], dtype=np.float32)})[0]
             for i in range(0, len(images), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
