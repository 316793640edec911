"""`--quantize int8`: ONNX Runtime's static quantization of the exported model, and what it costs.

Static quantization (weights int8 per channel, activations uint8, QDQ format) calibrates the
activation ranges on images of the run's training split: never on test/, whose accuracy it reports.
The first convolution (it sees the raw normalised pixels) and the classifier (the last matrix
product, whose logits decide the class) stay float32, the usual practice: on a digits run that
took the int8 model from 2.9 points below float32 to level with it, at little cost in speed.
The int8 and the float32 model then classify the whole test split in the same pass, through the
run's evaluation transform, and the card reports both accuracies and their difference.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ltcli.data.loaders import make_loader
from ltcli.errors import LtcliError
from ltcli.export import require
from ltcli.export.onnx_model import first_line, run_session, warnings_off
from ltcli.metrics import evaluate_log_probs, log_probabilities

QUANTIZE_MODES = ("int8",)
CALIBRATION_IMAGES = 128
CALIBRATION_SPLIT = "train"


class BatchReader:
    """onnxruntime's CalibrationDataReader protocol: one {input name: batch} dict at a time."""

    def __init__(self, name: str, images: torch.Tensor, batch_size: int = 32) -> None:
        self.batches = iter([{name: images[i:i + batch_size].numpy()} for i in range(0, len(images), batch_size)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def float_nodes(model_file: Path) -> list[str]:
    """The nodes that stay float32: the first Conv and the last Gemm/MatMul of the graph."""
    onnx = require("onnx")
    nodes = onnx.load(str(model_file)).graph.node
    convs = [n.name for n in nodes if n.op_type == "Conv"]
    linear = [n.name for n in nodes if n.op_type in ("Gemm", "MatMul")]
    return convs[:1] + linear[-1:]


def quantize_int8(float_model: Path, out: Path, calibration: torch.Tensor, input_name: str) -> None:
    """Write the int8 model of `float_model` to `out`, activations calibrated on `calibration`."""
    quantization = require("onnxruntime.quantization")
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(dir=out.parent) as scratch, contextlib.redirect_stdout(io.StringIO()), \
            warnings_off():
        prepared = Path(scratch) / "prepared.onnx"
        try:
            quant_pre_process(str(float_model), str(prepared), skip_symbolic_shape=True)
            quantization.quantize_static(
                str(prepared), str(out), BatchReader(input_name, calibration),
                quant_format=quantization.QuantFormat.QDQ, per_channel=True,
                activation_type=quantization.QuantType.QUInt8, weight_type=quantization.QuantType.QInt8,
                calibrate_method=quantization.CalibrationMethod.MinMax, nodes_to_exclude=float_nodes(prepared))
        except Exception as error:  # noqa: BLE001  the quantizer raises many types
            raise LtcliError(f"cannot quantize the model to int8: {first_line(error)}") from None


@dataclass(frozen=True)
class QuantizedAccuracy:
    """The int8 model against the float32 one on the whole test split (the card's figures)."""

    images: int
    float_acc: float
    int8_acc: float
    float_balanced_acc: float
    int8_balanced_acc: float
    agreement: float  # share of images with the same top-1 class

    @property
    def acc_drop_points(self) -> float:
        return 100 * (self.float_acc - self.int8_acc)


def split_accuracy(sessions: tuple[Any, Any], dataset: Dataset, class_counts: list[int], batch_size: int = 64
                   ) -> QuantizedAccuracy:
    """Accuracy and balanced accuracy of the (float32, int8) sessions on `dataset` (the test split as
    `ltcli test` reads it: ltcli.engine.scoring.member_dataset)."""
    loader = make_loader(dataset, batch_size, False, 0, torch.device("cpu"))
    outputs: tuple[list, list] = ([], [])
    labels = []
    for images, targets in loader:
        for session, kept in zip(sessions, outputs, strict=True):
            kept.append(run_session(session, images, batch_size))
        labels.append(targets.numpy())
    if not labels:
        raise LtcliError("no test image decodes: cannot measure the int8 model's accuracy")
    truth = np.concatenate(labels)
    scores = [evaluate_log_probs(log_probabilities(np.concatenate(kept).astype(np.float64)), truth, class_counts,
                                 tpauc=()) for kept in outputs]
    predicted = [np.concatenate(kept).argmax(1) for kept in outputs]
    return QuantizedAccuracy(len(truth), scores[0]["acc"], scores[1]["acc"], scores[0]["balanced_acc"],
                             scores[1]["balanced_acc"], float((predicted[0] == predicted[1]).mean()))
