"""preprocess.json: how an image becomes the exported network's input, and what its outputs mean.

The steps are read off the run's own evaluation transform (ltcli.data.transforms.build_transform,
what `ltcli test` and `ltcli predict --run` use), so they cannot drift from it: each torchvision or
timm step becomes a plain record (resize, center crop, scale to [0, 1], normalise) that a consumer
in any language can follow. `ltcli predict --model` rebuilds the same transform from the recorded
recipe (input size, `augment` preset, mean and std), and refuses a file whose steps say otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchvision import transforms as T

from ltcli.data.transforms import build_transform
from ltcli.errors import LtcliError
from ltcli.export import INPUT_NAME, OUTPUT_NAME

FORMAT_VERSION = 1


def describe_step(step: Any) -> dict[str, Any]:
    """One transform step as a plain record; a step this file cannot describe is an error, since a
    consumer following the file would then feed the network other numbers than the test did."""
    from timm.data.transforms import MaybeToTensor, ResizeKeepRatio

    name = type(step).__name__
    if isinstance(step, T.Resize):
        size = step.size if isinstance(step.size, int) else list(step.size)
        rule = "shorter side to size, aspect kept" if isinstance(size, int) else "to [height, width], aspect not kept"
        return {"op": "resize", "size": size, "rule": rule, "interpolation": step.interpolation.value,
                "antialias": bool(step.antialias)}
    if isinstance(step, ResizeKeepRatio) and not (step.random_scale_prob or step.random_aspect_prob):
        return {"op": "resize", "size": list(step.size), "interpolation": step.interpolation.value, "antialias": True,
                "rule": f"scale both sides by the same factor, so that the image covers [height, width] (timm "
                        f"ResizeKeepRatio, longest={step.longest:g}): factor = min(h / height, w / width)"}
    if isinstance(step, T.CenterCrop):
        return {"op": "center_crop", "size": list(step.size)}
    if isinstance(step, (T.ToTensor, MaybeToTensor)):
        return {"op": "to_float", "scale": "1/255", "layout": "CHW", "rule": "uint8 HWC RGB -> float32 CHW in [0, 1]"}
    if isinstance(step, T.Normalize):
        return {"op": "normalize", "mean": [float(v) for v in step.mean], "std": [float(v) for v in step.std],
                "rule": "(x - mean[c]) / std[c] per channel"}
    raise LtcliError(f"cannot describe the evaluation transform's step {name} in preprocess.json")


def preprocess_record(config: dict[str, Any], transform: Any, class_names: list[str]) -> dict[str, Any]:
    """preprocess.json's content for a run's `config` (height, width, augment) and its eval `transform`."""
    steps = [describe_step(step) for step in getattr(transform, "transforms", [transform])]
    normalize = [s for s in steps if s["op"] == "normalize"]
    if len(normalize) != 1:
        raise LtcliError("the evaluation transform has no single Normalize step")
    height, width = int(config["height"]), int(config["width"])
    return {
        "format_version": FORMAT_VERSION,
        "input": {"name": INPUT_NAME, "shape": ["batch", 3, height, width], "dtype": "float32", "layout": "NCHW",
                  "channel_order": "RGB", "image_mode": "RGB (transparency composited on white, 16-bit gray scaled "
                  "to 8 bits, EXIF orientation applied)"},
        "steps": steps,
        "recipe": {"height": height, "width": width, "augment": config.get("augment_resolved", "auto"),
                   "mean": list(normalize[0]["mean"]), "std": list(normalize[0]["std"])},
        "output": {"name": OUTPUT_NAME, "shape": ["batch", len(class_names)],
                   "meaning": "class scores: softmax gives each class's probability"},
        "class_names": list(class_names),
    }


@dataclass(frozen=True)
class Preprocess:
    """A read preprocess.json: the input size, the transform to rebuild, the class names."""

    height: int
    width: int
    augment: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: list[str]
    record: dict[str, Any]

    def transform(self) -> Callable:
        """The run's evaluation transform again, checked against the recorded steps."""
        transform = build_transform(self.height, self.width, False, self.augment, mean=self.mean, std=self.std)
        steps = [describe_step(step) for step in transform.transforms]
        if json.loads(json.dumps(steps)) != self.record["steps"]:
            raise LtcliError("preprocess.json's steps differ from the transform its recipe builds: the file was "
                             "edited, or written by another ltcli version")
        return transform


def read_preprocess(path: Path) -> Preprocess:
    """Read and check preprocess.json; every problem is one line naming the file."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
        recipe, names = record["recipe"], record["class_names"]
        preprocess = Preprocess(int(recipe["height"]), int(recipe["width"]), str(recipe["augment"]),
                                tuple(float(v) for v in recipe["mean"]), tuple(float(v) for v in recipe["std"]),
                                [str(n) for n in names], record)
        record["steps"]  # noqa: B018  (a KeyError here names the missing key)
    except FileNotFoundError:
        raise LtcliError(f"{path} not found: an exported model folder holds preprocess.json beside its "
                         "model.onnx (`ltcli export` writes both)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise LtcliError(f"{path} is unreadable ({type(error).__name__}: {error})") from None
    if len(preprocess.class_names) < 2 or min(preprocess.height, preprocess.width) < 1:
        raise LtcliError(f"{path} is unreadable (it needs two class names or more and a positive input size)")
    return preprocess
