"""A trained run as a classifier: the one place `ltcli test` and `ltcli predict` load a model from a
run folder, and turn a dataset into class log-probabilities, for one run or an ensemble of runs.

Everything comes from the checkpoint (weights, class names, training counts, the run's config), so
no training data is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from ltcli.checkpoint import Checkpoint
from ltcli.data.loaders import make_loader
from ltcli.data.transforms import build_transform
from ltcli.engine.logits import predict_with_features
from ltcli.errors import LtcliError
from ltcli.models import create_model
from ltcli.models.heads import find_classifier_path
from ltcli.objectives import get_objective_entry
from ltcli.posthoc import MemberCache, linear_classifier, tempered_log_probs
from ltcli.run_folder import RunFolder


@dataclass
class LoadedRun:
    """A run's network in eval mode on its device, with what the checkpoint says about it."""

    run: RunFolder
    network: nn.Module  # what the run's method trained around the backbone (the backbone itself for most)
    class_names: list[str]
    class_counts: list[int]
    config: dict[str, Any]
    epoch: int
    checkpoint_name: str

    def eval_transform(self) -> Callable:
        """The run's own evaluation preset: each member of an ensemble sees images its own way."""
        config = self.config
        return build_transform(config["height"], config["width"], False, config.get("augment_resolved", "auto"))

    def describe(self) -> dict[str, Any]:
        """What metrics.json records about this member."""
        return {
            "run": str(self.run.path), "model": self.config.get("model", self.run.model),
            "dataset": self.run.dataset, "objective": self.config.get("objective", self.run.objective),
            "stamp": self.run.stamp, "checkpoint": self.checkpoint_name, "checkpoint_epoch": self.epoch,
            "select_metric": self.config.get("select_metric", "acc"),
        }


def classifier_outputs(model: nn.Module, state: dict[str, torch.Tensor]) -> int | None:
    """How many outputs the checkpoint's classifier has (1 for a binary run trained on one logit),
    read from the weight of the module timm's `get_classifier()` names; None if it cannot tell."""
    name = find_classifier_path(model)
    weight = state.get(f"{name}.weight") if name else None
    return int(weight.shape[0]) if weight is not None and weight.ndim >= 1 else None


def run_architecture(config: dict[str, Any], num_classes: int) -> nn.Module:
    """The run's network as its config describes it, freshly initialised (the weights come after)."""
    # A binary run on one logit has a single output; LDAM's runs have a cosine head, LWS runs a scaled one.
    model = create_model(config["model"], num_classes=config.get("num_outputs", num_classes),
                         cosine_head=config.get("cosine_head", False), head=config.get("head", "plain"))
    if config.get("model_wrapper"):  # the module the run's objective trained (RIDE's experts, PaCo's encoders)
        # from the objective's options alone: the loss is not built (its class counts shape only the loss)
        model = get_objective_entry(config["objective"]).cls.network(model, **config.get("objective_options", {}))
    return model


def build_model(config: dict[str, Any], num_classes: int, state: dict[str, torch.Tensor]) -> nn.Module:
    """The run's architecture, its head sized like the checkpoint's, with the weights loaded."""
    model = run_architecture(config, num_classes)
    outputs = classifier_outputs(model, state)
    if outputs is not None and outputs != num_classes and not (outputs == 1 and num_classes == 2):
        raise LtcliError(f"the checkpoint names {num_classes} classes but its classifier has {outputs} outputs: "
                         "it is damaged or was edited")
    if outputs is not None and outputs != num_classes and hasattr(model, "reset_classifier"):
        model.reset_classifier(outputs)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise LtcliError(f"checkpoint weights do not fit {config['model']}: {str(error).splitlines()[0]}") from None
    return model


def load_run(run: RunFolder, device: torch.device) -> LoadedRun:
    """Load `run`'s checkpoint (the best one unless it names another) into an eval-mode model on `device`."""
    checkpoint = Checkpoint.load(run.checkpoint_path)
    if checkpoint.config.get("command") == "pretrain":  # its head predicts rotations, not the classes
        # a .pt copied out of its run folder: its folder is no run, and only --weights can start from it
        what, start = ((f"{run.path} is a pre-training run", f"--init-from {run.path}") if run.holds_run(run.path)
                       else (f"{run.checkpoint_path} is a pre-training checkpoint", f"--weights {run.checkpoint_path}"))
        raise LtcliError(f"{what} (`ltcli pretrain`): it has no classifier of the dataset's classes; train one "
                         f"from it with `ltcli train {start}`")
    class_names = list(checkpoint.class_names)
    config = dict(checkpoint.config)
    counts = checkpoint.class_counts or config.get("class_counts") or [0] * len(class_names)
    network = build_model(config, len(class_names), checkpoint.evaluated_weights).to(device).eval()
    return LoadedRun(
        run=run, network=network, class_names=class_names, class_counts=list(counts), config=config,
        epoch=int(checkpoint.epoch), checkpoint_name=run.checkpoint_name,
    )


def load_runs(runs: Sequence[RunFolder], device: torch.device) -> list[LoadedRun]:
    """Load every run; an ensemble's members must share their classes, in the same order."""
    members = [load_run(run, device) for run in runs]
    first = members[0]
    for member in members[1:]:
        if member.class_names != first.class_names:
            raise LtcliError(
                f"cannot ensemble {first.run.path} and {member.run.path}: their classes differ "
                f"({', '.join(first.class_names[:5])}... vs {', '.join(member.class_names[:5])}...)"
            )
    return members


def ensemble_caches(members: Sequence[LoadedRun], make_dataset: Callable[[LoadedRun], Dataset], device: torch.device,
                    batch_size: int = 256, workers: int = 0, features: bool = False
                    ) -> tuple[list[MemberCache], np.ndarray]:
    """One pass of each member over the same samples: its logits (and, with `features`, its penultimate
    features and classifier weight, which tau-normalisation recomputes the logits from), and the labels.

    `make_dataset(member)` gives the data with that member's transform; the sample order must not
    depend on the member (it does not for a sorted folder or a list of files).
    """
    caches: list[MemberCache] = []
    labels: np.ndarray | None = None
    for member in members:
        loader = make_loader(make_dataset(member), batch_size, False, workers, device)
        logits, member_labels, penultimate = predict_with_features(member.network, loader, device, features=features)
        weight = linear_classifier(member.network, member.run.label()).weight.detach().float().cpu().numpy() \
            if features else None
        if labels is not None and not np.array_equal(labels, member_labels):
            raise LtcliError(f"{member.run.path} saw the samples in another order: cannot average")
        labels = member_labels
        caches.append(MemberCache(logits=logits, class_counts=member.class_counts, features=penultimate,
                                  classifier_weight=weight))
    assert labels is not None
    return caches, labels


def ensemble_log_probs(caches: Sequence[MemberCache]) -> np.ndarray:
    """The averaged log-probabilities of `ensemble_caches`' members: log of the mean of softmax(z_m)."""
    return tempered_log_probs([c.logits for c in caches])[0]


def top_k_rows(files: Sequence[str], class_names: Sequence[str], log_probs: np.ndarray, k: int) -> list[dict]:
    """One row per file: the k most probable classes and their probabilities, most probable first
    (ties keep class order)."""
    k = min(k, len(class_names))
    order = np.argsort(-log_probs, axis=1, kind="stable")[:, :k]
    rows = []
    for file, classes, scores in zip(files, order, log_probs, strict=True):
        row: dict[str, Any] = {"file": file}
        for rank, c in enumerate(classes, start=1):
            row[f"class_{rank}"] = class_names[c]
            row[f"probability_{rank}"] = float(np.exp(scores[c]))
        rows.append(row)
    return rows


@dataclass
class FilePredictions:
    """`predict_files`'s answer: one row per readable image (top_k_rows), and what was left out."""

    rows: list[dict]
    class_names: list[str]
    label: str  # the run's label, or "ensemble of N"
    corrupt: list[Path]  # image names that do not decode
    skipped: list[Path]  # other files inside the named folders


def predict_files(runs: Sequence[RunFolder], paths: Sequence[Path], device_name: str = "auto", top_k: int = 5,
                  batch_size: int = 64, data_root: Path | None = None) -> FilePredictions:
    """Classify image files and folders with one run, or the averaged probabilities of several: the
    top_k classes of each image (the `ltcli predict` command and the web app's Infer tab)."""
    from ltcli.data.files import ImageFiles, collect_images
    from ltcli.engine.runtime import resolve_device

    if not runs:
        raise LtcliError("give the run to predict with (several for an ensemble)")
    if top_k < 1:
        raise LtcliError(f"--top-k must be at least 1, got {top_k}")
    found = collect_images(paths, data_root)
    device = resolve_device(device_name)
    members = load_runs(runs, device)
    caches, _ = ensemble_caches(members, lambda m: ImageFiles(found.images, m.eval_transform()), device, batch_size)
    log_probs = ensemble_log_probs(caches)
    class_names = members[0].class_names
    label = members[0].run.label() if len(members) == 1 else f"ensemble of {len(members)}"
    return FilePredictions(top_k_rows([str(p) for p in found.images], class_names, log_probs, top_k), class_names,
                           label, list(found.corrupt), list(found.skipped))
