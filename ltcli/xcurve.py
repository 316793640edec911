"""XCurve's entry points (the TPAUC system of Yang et al., ICML 2021): `python train.py DATASET LOSS`
takes the dataset folder and the loss positionally and reads every other setting from a JSON file in
./params/, named by the loss and the dataset's family; its sections `model`, `dataset` and `training`
hold the network, the input and the binary task, and the optimisation.

`ltcli train DATASET LOSS` maps the two onto --dataset and --objective and looks the file up as XCurve's
train.py does (`params_file`); `ltcli train --config FILE` reads such a file anywhere. Its keys become
`ltcli train` options (`params_values`); a key ltcli has no place for is a one-line error naming it,
and the keys ltcli deliberately does without are listed in IGNORED with the reason.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ltcli.errors import LtcliError, shown

PARAMS_DIR = Path("params")
SECTIONS = ("model", "dataset", "training")
# XCurve's loss names that are one ltcli objective with an option (the TPAUC weighting schemes).
LOSSES = {"poly": ("TPAUC", {"re_scheme": "Poly"}), "exp": ("TPAUC", {"re_scheme": "Exp"})}
# XCurve's losses ltcli has no exact equivalent of, and the nearest ltcli command.
NO_EQUIVALENT = {
    "celoss": "a binary cross-entropy with the negatives weighted n+/n-: the nearest is --objective ERM "
              "--train-rule Reweight",
    "cbce": "class-balanced cross-entropy: --objective ERM --train-rule Reweight --cb-beta BETA",
    "cbfocal": "class-balanced focal loss: --objective FL --train-rule Reweight --cb-beta BETA",
}
# Keys XCurve's files hold that ltcli does without, and why (section.key -> reason).
IGNORED = {
    "model.num_classes": "ltcli gives a binary AUC task one output itself",
    "dataset.data_dir": "the dataset is DATASET / --dataset", "dataset.lmdb_dir": "ltcli reads image folders",
    "dataset.use_lmdb": "ltcli reads image folders", "dataset.npy_style": "ltcli reads image folders",
    "training.test_batch_size": "evaluation batches are ltcli's", "training.save_path": "runs go to logs/",
    "training.loss_params.norm": "XCurve's TPAUCLoss stores it and never reads it",
    "training.loss_params.useManualBackprop": "autograd computes the gradient",
}
OPTION_NAMES = {"focal_gamma": "gamma"}  # XCurve's loss_params names that differ from the objective's
IMAGENET_MEAN_255 = (123.675, 116.28, 103.53)  # XCurve's norm_params: ImageNet's, as ltcli normalises
IMAGENET_STD_255 = (58.395, 57.12, 57.375)


def params_file(dataset: str, loss: str, folder: Path = PARAMS_DIR) -> Path | None:
    """The params file XCurve's train.py reads for `dataset` and `loss`: LOSS_cifar.json for a dataset
    named cifar*, LOSS_cifar_100.json for cifar-100*, LOSS_tiny_imagenet.json for tiny-imagenet-200,
    else LOSS.json; then DATASET.json. None when neither exists."""
    name = loss
    if dataset.startswith("cifar"):
        parts = dataset.split("-")
        name += "_cifar_100" if len(parts) > 1 and parts[1] == "100" else "_cifar"
    elif dataset == "tiny-imagenet-200":
        name += "_tiny_imagenet"
    for candidate in (folder / f"{name}.json", folder / f"{dataset}.json"):
        if candidate.is_file():
            return candidate
    return None


def is_params_document(document: Any) -> bool:
    """An XCurve params file: a mapping of its sections, with `training`."""
    return isinstance(document, dict) and "training" in document and set(map(str, document)) <= set(SECTIONS)


def loss_objective(loss: str, where: str) -> tuple[str, dict[str, Any]]:
    """(objective, its options) of an XCurve loss name: Poly/Exp are TPAUC's weightings, every other
    name goes to ltcli's registry (TPAUCLoss and SquareAUCLoss are aliases there)."""
    from ltcli.objectives import get_objective_entry

    key = str(loss).lower()
    if key in LOSSES:
        objective, options = LOSSES[key]
        return objective, dict(options)
    stem = key if key in NO_EQUIVALENT else key.removesuffix("loss")
    if stem in NO_EQUIVALENT:
        raise LtcliError(f"{where}: XCurve's {loss} is {NO_EQUIVALENT[stem]}")
    try:
        return get_objective_entry(str(loss)).name, {}
    except LtcliError:
        if stem == key:
            raise
        return get_objective_entry(stem).name, {}  # FOCALLoss: ltcli's FL (alias Focal)


def params_values(document: dict[str, Any], path: Path | str, epochs: int | None = None) -> dict[str, Any]:
    """The TrainConfig values (by field) of an XCurve params file; `epochs` (typed on the command
    line) replaces its epoch_num in the schedule it describes."""
    sections = {name: section(document, name, path) for name in SECTIONS}
    values: dict[str, Any] = {}
    model = dict(sections["model"])
    if "model_type" in model:
        values["model"] = str(model.pop("model_type"))
    refuse_unknown(model, "model", path)
    values.update(dataset_values(dict(sections["dataset"]), path))
    values.update(training_values(dict(sections["training"]), path, epochs))
    return values


def section(document: dict[str, Any], name: str, path: Path | str) -> dict[str, Any]:
    value = document.get(name, {})
    if not isinstance(value, dict):
        raise LtcliError(f"{path}: XCurve's {name!r} section must be a mapping, got {shown(value)}")
    return value


def refuse_unknown(rest: dict[str, Any], where: str, path: Path | str) -> None:
    unknown = [f"{where}.{key}" for key in rest if f"{where}.{key}" not in IGNORED]
    if unknown:
        raise LtcliError(f"{path}: XCurve key {unknown[0]!r} has no `ltcli train` equivalent")


def dataset_values(dataset: dict[str, Any], path: Path | str) -> dict[str, Any]:
    """input_size, the rpos:rneg sampler, class2id (its positive names), aug, norm_params."""
    values: dict[str, Any] = {}
    if "input_size" in dataset:
        size = dataset.pop("input_size")
        if not (isinstance(size, list) and len(size) == 2):
            raise LtcliError(f"{path}: dataset.input_size must be [height, width], got {shown(size)}")
        values["height"], values["width"] = size
    if "sampler" in dataset:
        sampler = dataset.pop("sampler")
        if not (isinstance(sampler, dict) and set(sampler) == {"rpos", "rneg"}):
            raise LtcliError(f"{path}: dataset.sampler must be {{rpos: P, rneg: N}}, got {shown(sampler)}")
        values["pos_neg_ratio"] = f"{sampler['rpos']}:{sampler['rneg']}"
    if "class2id" in dataset:
        mapping = dataset.pop("class2id")
        if not isinstance(mapping, dict) or any(v not in (0, 1) or isinstance(v, bool) for v in mapping.values()):
            raise LtcliError(f"{path}: dataset.class2id must map class names to 0 or 1, got {shown(mapping)}")
        values["positive_classes"] = [str(name) for name, label in mapping.items() if label == 1]
    if "aug" in dataset and dataset.pop("aug") is False:
        values["augment"] = "none"
    if "norm_params" in dataset:
        check_norm(dataset.pop("norm_params"), path)
    refuse_unknown(dataset, "dataset", path)
    return values


def check_norm(norm: Any, path: Path | str) -> None:
    """ltcli normalises by ImageNet's mean and std, as XCurve's files do: anything else is refused."""
    try:
        same = all(math.isclose(float(a), b, abs_tol=1e-3) for key, ref in
                   (("mean", IMAGENET_MEAN_255), ("std", IMAGENET_STD_255))
                   for a, b in zip(norm[key], ref, strict=True))
    except (TypeError, KeyError, ValueError):
        same = False
    if not same:
        raise LtcliError(f"{path}: dataset.norm_params {shown(norm)}: ltcli normalises by ImageNet's mean and std "
                         f"(x255: {list(IMAGENET_MEAN_255)}, {list(IMAGENET_STD_255)}) only")


PLAIN = {"train_batch_size": "batch_size", "num_workers": "workers", "lr": "lr", "weight_decay": "weight_decay",
         "momentum": "momentum", "nesterov": "nesterov", "seed": "seed"}


def training_values(training: dict[str, Any], path: Path | str, epochs: int | None) -> dict[str, Any]:
    """The optimiser, the loss and its options, the per-epoch exponential decay, the TPAUC metric."""
    values = {field: training.pop(key) for key, field in PLAIN.items() if key in training}
    if "loss_type" in training:
        objective, options = loss_objective(training.pop("loss_type"), f"{path}: training.loss_type")
        values["objective"] = objective
        values["objective_options"] = {**loss_options(training.pop("loss_params", {}), objective, path), **options}
    values.update(schedule_values(training, path, epochs))
    if "metric_params" in training:
        metric = training.pop("metric_params")
        if not (isinstance(metric, dict) and set(metric) == {"alpha", "beta"}):
            raise LtcliError(f"{path}: training.metric_params must be {{alpha: A, beta: B}}, got {shown(metric)}")
        values["tpauc"] = [[metric["alpha"], metric["beta"]]]
        values["select_metric"] = f"tpauc_{metric['alpha']}_{metric['beta']}"  # XCurve keeps the best val p2AUC
    refuse_unknown(training, "training", path)
    return values


def loss_options(params: Any, objective: str, path: Path | str) -> dict[str, Any]:
    """loss_params as the objective's options; TrainConfig then checks their names and values."""
    if not isinstance(params, dict):
        raise LtcliError(f"{path}: training.loss_params must be a mapping, got {shown(params)}")
    options = {OPTION_NAMES.get(k, k): v for k, v in params.items() if f"training.loss_params.{k}" not in IGNORED}
    if options.pop("reduction", "mean") != "mean":
        raise LtcliError(f"{path}: training.loss_params.reduction: ltcli's losses take the mean only")
    if objective == "SquareAUC" and options.get("gamma", 1) == 1:
        options.pop("gamma", None)  # XCurve's SquareAUCLoss margin; ltcli's is 1
    return options


def schedule_values(training: dict[str, Any], path: Path | str, epochs: int | None) -> dict[str, Any]:
    """epoch_num, and the rate x lr_decay_rate after every lr_decay_epochs epochs (XCurve's
    ExponentialLR) as ltcli's step schedule with stages of that length, no warmup."""
    values: dict[str, Any] = {}
    if "epoch_num" in training:
        values["epochs"] = training.pop("epoch_num")
    rate, every = training.pop("lr_decay_rate", None), training.pop("lr_decay_epochs", None)
    if rate is None and every is None:
        return values
    total = epochs if epochs is not None else values.get("epochs")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in (every, total)):
        raise LtcliError(f"{path}: training.lr_decay_epochs and epoch_num must be whole numbers above 0, got "
                         f"{shown(every)} and {shown(total)}")
    stages = [every] * (total // every) + ([total % every] if total % every else [])
    values.update(sched="step", lr_decay=rate, lr_steps=stages, warmup_epochs=0)
    return values


def positional_values(dataset: str | None, loss: str | None) -> dict[str, Any]:
    """`ltcli train DATASET LOSS`: --dataset and --objective (with the option Poly/Exp name)."""
    values: dict[str, Any] = {}
    if dataset is not None:
        values["dataset"] = dataset
    if loss is not None:
        values["objective"], options = loss_objective(loss, f"LOSS {loss!r}")
        if options:
            values["objective_options"] = options
    return values
