"""`ltcli predict --model`: classify image files with an exported model on ONNX Runtime.

No run folder and no checkpoint: the folder's preprocess.json rebuilds the run's evaluation
transform and names the classes, model.onnx gives the logits. The rows are those of `predict --run`
(ltcli.engine.classifier.top_k_rows), so the two CSVs compare line by line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from ltcli.engine.classifier import FilePredictions, top_k_rows
from ltcli.errors import LtcliError
from ltcli.export import ONNX_NAME, PREPROCESS_NAME
from ltcli.export.onnx_model import check_input, open_session, run_session
from ltcli.export.preprocess import Preprocess, read_preprocess
from ltcli.metrics import log_probabilities


def looks_exported(path: Path) -> bool:
    """Whether `path` names an exported model (a folder, or an .onnx file) rather than a model name."""
    return path.is_dir() or path.suffix.lower() == ".onnx"


def model_files(path: Path) -> tuple[Path, Path]:
    """(model.onnx, preprocess.json) of an export folder, or of an .onnx file and the preprocess.json beside it."""
    path = Path(path)
    if path.is_dir():
        onnx_file = path / ONNX_NAME
        if not onnx_file.is_file():
            raise LtcliError(f"{path} holds no {ONNX_NAME}: export one with `ltcli export --run RUN --out {path}`")
        return onnx_file, path / PREPROCESS_NAME
    if path.suffix.lower() == ".onnx" and path.is_file():
        return path, path.parent / PREPROCESS_NAME
    raise LtcliError(f"--model {path}: no such exported model folder or .onnx file")


class OnnxClassifier:
    """An exported model loaded for prediction: its session and its preprocess.json, checked to agree."""

    def __init__(self, path: Path) -> None:
        self.onnx_file, preprocess_file = model_files(path)
        self.preprocess: Preprocess = read_preprocess(preprocess_file)
        self.class_names, self.transform = self.preprocess.class_names, self.preprocess.transform()
        self.session = open_session(self.onnx_file)
        check_input(self.session, self.preprocess.height, self.preprocess.width, len(self.class_names),
                    self.onnx_file)

    def log_probs(self, paths: Sequence[Path], batch_size: int = 64) -> np.ndarray:
        """Log-probabilities [N, K] of the image files (each decoded as `ltcli predict --run` does)."""
        from ltcli.data.files import ImageFiles

        expected = (3, self.preprocess.height, self.preprocess.width)
        logits = []
        for images, index in DataLoader(ImageFiles(paths, self.transform), batch_size=batch_size):
            if tuple(images.shape[1:]) != expected:
                raise LtcliError(f"{paths[int(index[0])]} becomes a tensor of {list(images.shape[1:])} after "
                                 f"preprocessing, and {self.onnx_file} takes {list(expected)}")
            logits.append(run_session(self.session, images, batch_size))
        return log_probabilities(np.concatenate(logits).astype(np.float64))


def predict_files_onnx(model: Path, paths: Sequence[Path], top_k: int = 5, batch_size: int = 64,
                       data_root: Path | None = None) -> FilePredictions:
    """The top_k classes of each image file (and of the images under folders and in .txt lists)."""
    from ltcli.data.files import collect_images

    if top_k < 1:
        raise LtcliError(f"--top-k must be at least 1, got {top_k}")
    classifier = OnnxClassifier(model)
    found = collect_images(paths, data_root)
    log_probs = classifier.log_probs(found.images, batch_size)
    rows = top_k_rows([str(p) for p in found.images], classifier.class_names, log_probs, top_k)
    return FilePredictions(rows, classifier.class_names, str(classifier.onnx_file), list(found.corrupt),
                           list(found.skipped))
