"""`ltcli export`: a trained run as files that need no ltcli to use.

One module per file the export folder holds, and the one that assembles them:

- network.py: the run's network as `ltcli test` scores it (EMA weights, a method's own network,
  post-hoc corrections folded in), one forward from images to logits;
- onnx_model.py: the ONNX file (torch.export, then the ONNX conversion) and its ONNX Runtime session;
- parity.py: ONNX Runtime's logits against PyTorch's on real images of the run's dataset;
- quantize.py: the int8 model (ONNX Runtime's static quantization) and its test accuracy;
- preprocess.py: preprocess.json, the image-to-tensor steps and the class names in output order;
- card.py: MODEL_CARD.md (Hugging Face layout), with the per-class results of `ltcli test`;
- weights.py: model.safetensors and the TorchScript file;
- bundle.py: the export itself, written into a staging folder and renamed into place;
- predict.py: `ltcli predict --model`, ONNX Runtime on image files.

onnx, onnxruntime, onnxscript and safetensors are the optional `export` extra.
"""

from __future__ import annotations

FORMATS = ("onnx", "torchscript", "safetensors")  # --format: the file the export centres on
ONNX_NAME = "model.onnx"
INT8_NAME = "model.int8.onnx"
TORCHSCRIPT_NAME = "model.torchscript.pt"
SAFETENSORS_NAME = "model.safetensors"
PREPROCESS_NAME = "preprocess.json"
CARD_NAME = "MODEL_CARD.md"
INPUT_NAME = "images"  # the ONNX graph's input and output names
OUTPUT_NAME = "logits"
EXTRA_HINT = "install the export extra: pip install 'ltcli[export]'"


def require(module: str):
    """Import an optional dependency, or one line saying how to install it."""
    import importlib

    from ltcli.errors import LtcliError

    try:
        return importlib.import_module(module)
    except ImportError:
        raise LtcliError(f"ltcli export needs {module.split('.')[0]}: {EXTRA_HINT}") from None
