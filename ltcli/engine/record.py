"""What a training run's config.json records beside its settings: how each `auto` was resolved, what the
data held, the classes and their counts, the network's wrapper, the threads, the library versions.
`RUN_RECORDS` names every record (run_record refuses to write another), so `ltcli train --config
RUN/config.json` (ltcli.config_file) knows them all.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from torch import nn

from ltcli.choices import THREAD_RECORD_KEYS
from ltcli.engine.runtime import library_versions
from ltcli.engine.threads import thread_record
from ltcli.method import Method

if TYPE_CHECKING:
    from ltcli.engine.assemble import Task, Training

RUN_RECORDS = (
    "schedule_scaled", "dataset_name", "dataset_root", "data_lists", "valid_split", "augment_resolved",
    "data_cache_resolved", "amp_resolved", "channels_last_resolved", "device_resolved", "world_size",
    "distributed_backend", "class_names", "source_class_names", "num_outputs", "class_counts",
    "cosine_head", "model_wrapper", "train_views", "drw_epoch_resolved", "versions", "pseudo_labels",
    "labelled_train_images", *THREAD_RECORD_KEYS,
)


def shared_record(parts: Any, augment: str) -> dict[str, Any]:
    """What every run's config.json records, a training's or a pre-training's: the data, each resolved
    `auto`, the classes and their training counts, the threads, the library versions."""
    return {
        "dataset_name": parts.dataset_name,
        **(parts.source.record() if parts.source else {"dataset_root": str(parts.root.resolve())}),
        "valid_split": parts.data.valid_split, "augment_resolved": augment, "data_cache_resolved": parts.pipeline.cache,
        "amp_resolved": parts.compute.amp_name, "channels_last_resolved": parts.compute.channels_last,
        "device_resolved": str(parts.device), "world_size": parts.dist.world_size,
        "class_names": parts.task.class_names, "class_counts": parts.task.class_counts,
        **thread_record(parts.compute.threads), "versions": library_versions(),
    }


def run_record(training: Training, augment: str) -> dict[str, Any]:
    """config.json: the settings, then how each `auto` was resolved and what the data held."""
    config, task = training.config, training.task
    record = {
        **config.to_dict(), **shared_record(training, augment), "distributed_backend": training.dist.backend,
        "source_class_names": training.data.class_names, "positive_classes": task.positive,
        "num_outputs": num_outputs(task, training.method), "cosine_head": training.method.cosine_head,
        "model_wrapper": model_wrapper(training.network, training.method), "train_views": training.method.views,
        **training.rule.record(),
        **({"pseudo_labels": training.pseudo.record(), "labelled_train_images": len(training.data.train)
            - int(training.pseudo.kept.sum())} if training.pseudo is not None else {}),
    }
    undeclared = set(record) - {f.name for f in fields(config)} - set(RUN_RECORDS)
    if undeclared:
        raise AssertionError(f"run_record writes {sorted(undeclared)}: add them to RUN_RECORDS")
    return record


def model_wrapper(network: nn.Module, method: Method) -> str | None:
    """The class of the network `method.wrap` built around the backbone (None: the backbone itself);
    `ltcli test` and `predict` rebuild it when the run's config names one."""
    return type(network).__name__ if method.wraps_backbone else None


def num_outputs(task: Task, method: Method) -> int:
    """One logit for a binary task whose loss scores sigmoid(z) (the AUC losses), else one per class."""
    return 1 if task.positive and method.single_logit else len(task.class_names)
