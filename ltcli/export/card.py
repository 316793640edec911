"""MODEL_CARD.md: what the exported model is and where it fails, in the Hugging Face card layout
(YAML front matter with a `model-index`, then Markdown sections).

For a long-tailed model the per-class table is the heart of the card: the training count beside the
test recall of each class tells a user which classes to distrust. Every figure comes from the run's
own `ltcli test` results files (metrics.json and per_class.csv, or their corrected variants), from
the checkpoint, and from the checks the export ran; nothing is measured again here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import yaml

import ltcli
from ltcli.metrics import SUMMARY_KEYS

LOW_RECALL = 0.5  # a class below this recall is named under "Limitations"
SHOT_KEYS = ("many_shot_acc", "medium_shot_acc", "few_shot_acc")


def training_command(config: dict[str, Any]) -> str:
    """`ltcli train` with every option the run's config.json holds away from its default (the
    schedule parts that were defaults, --device and --workers left out), read from TrainConfig's
    declarations: an equivalent of the command that trained it (config.json itself is one too:
    `ltcli train --config`)."""
    from ltcli.config import TrainConfig
    from ltcli.settings import cli_fields, flag

    scaled = set(config.get("schedule_scaled", ()))
    words = ["ltcli", "train"]
    for f in cli_fields(TrainConfig):
        value = config.get(f.name, f.default)
        if f.name == "objective_options":
            words += [f"--opt {key}={option}" for key, option in sorted((value or {}).items())]
        elif f.name in scaled or f.name in ("device", "workers") or f.default is dataclasses.MISSING:
            continue
        elif value != f.default and value not in (None, [], ""):
            name = flag(f.name)
            if isinstance(value, bool):
                words.append(name if value else "--no-" + name[2:])
            elif isinstance(value, list):
                words.append(f"{name} {','.join(map(str, value))}")
            else:
                words.append(f"{name} {value}")
    return " ".join(words)


@dataclass
class CardFacts:
    """Everything the card says, gathered by the export (ltcli.export.bundle)."""

    name: str
    run: str
    config: dict[str, Any]
    checkpoint: str
    checkpoint_epoch: int
    metrics: dict[str, Any]  # metrics.json of the test (or its corrected variant)
    per_class: list[dict[str, Any]]  # per_class.csv rows
    results_files: list[str]
    correction: dict[str, Any] | None
    checks: list[str]  # the parity checks, one line each
    files: list[str]
    int8: dict[str, Any] | None = None


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def front_matter(facts: CardFacts) -> dict[str, Any]:
    """The YAML header Hugging Face reads (tags, datasets, the model-index with the test metrics)."""
    metrics = facts.metrics
    dataset = facts.config.get("dataset_name") or facts.config.get("dataset") or "dataset"
    results = [{"type": key, "name": key, "value": round(float(metrics[key]), 6)}
               for key in SUMMARY_KEYS if metrics.get(key) is not None]
    tags = ["image-classification", "long-tailed", "ltcli", *(["onnx"] if any(f.endswith(".onnx")
                                                                          for f in facts.files) else [])]
    return {
        "library_name": "ltcli", "pipeline_tag": "image-classification", "tags": tags, "datasets": [dataset],
        "metrics": ["accuracy", "balanced_accuracy"],
        "model-index": [{"name": facts.name, "results": [{
            "task": {"type": "image-classification", "name": "Image Classification"},
            "dataset": {"name": dataset, "type": "imagefolder", "split": metrics.get("split", "test")},
            "metrics": results}]}],
    }


def per_class_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| class | training images | test images | shot group | recall | precision | F1 |",
             "|---|---:|---:|---|---:|---:|---:|"]
    for row in rows:
        cells = [row["class"], row["train_count"], row["test_count"], row["shot_group"],
                 *(_fmt(None if row.get(k) is None else float(row[k])) for k in ("recall", "precision", "f1"))]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return lines


def low_recall_classes(rows: list[dict[str, Any]]) -> str:
    scored = sorted((float(r["recall"]), r["class"], r["train_count"]) for r in rows if r.get("recall") is not None)
    low = [s for s in scored if s[0] < LOW_RECALL]
    shown = low or scored[:1]
    listed = ", ".join(f"{name} (recall {recall:.2f}, {train} training images)" for recall, name, train in shown)
    if low:
        return f"Classes with test recall below {LOW_RECALL:g}: {listed}. Do not rely on the model for them."
    return f"No class has test recall below {LOW_RECALL:g}; the lowest: {listed}."


def metric_lines(metrics: dict[str, Any]) -> list[str]:
    groups = metrics.get("shot_groups", {})
    lines = ["| metric | value |", "|---|---:|"]
    for key in SUMMARY_KEYS:
        if key in metrics:
            label = key
            if key in SHOT_KEYS:
                group = key.replace("_shot_acc", "")
                label += f" ({groups.get(group + '_classes', 0)} classes)"
            lines.append(f"| {label} | {_fmt(metrics[key])} |")
    bounds = (f"many-shot: more than {groups.get('many_min')} training images, few-shot: fewer than "
              f"{groups.get('few_max')}") if groups else ""
    return lines + ([f"\n({bounds}.)"] if bounds else [])


def details_lines(facts: CardFacts) -> list[str]:
    config = facts.config
    correction = facts.correction
    fixed = (f"{correction['key'].replace('_', '-')} tau={correction['tau']:g} ({correction['paper']}; tau "
             f"{'chosen on valid/' if correction.get('chosen_on') == 'valid' else 'given'}), folded into the network"
             if correction else "none")
    schedule = f"{config.get('sched')} schedule, {config.get('epochs')} epochs, lr {config.get('lr')}"
    if config.get("sched") == "step":
        schedule += f", steps {config.get('lr_steps')}"
    return [
        f"- Architecture: `{config.get('model')}`" + (f" ({config['model_wrapper']})" if config.get("model_wrapper")
                                                     else "") + f", head `{config.get('head', 'plain')}`",
        f"- Objective: `{config.get('objective')}` {config.get('objective_options') or ''}".rstrip(),
        f"- Train rule: `{config.get('train_rule')}`; {schedule}; warmup {config.get('warmup_epochs')} epochs",
        f"- Input: {config.get('height')}x{config.get('width')} RGB (see preprocess.json)",
        f"- Weights: {facts.checkpoint} (epoch {facts.checkpoint_epoch}, chosen on valid/ by "
        f"{config.get('select_metric', 'acc')})" + ("; the EMA of the weights" if config.get("ema_decay") else ""),
        f"- Post-hoc correction: {fixed}",
        f"- Trained run: `{facts.run}`",
    ]


def int8_line(int8: dict[str, Any]) -> str:
    return (f"- int8 model (static quantization, calibrated on train/): test accuracy {int8['int8_acc']:.4f} against "
            f"{int8['float_acc']:.4f} in float32 (int8 - float32: {-int8['acc_drop_points']:+.2f} points), balanced "
            f"accuracy {int8['int8_balanced_acc']:.4f} against {int8['float_balanced_acc']:.4f}, same top-1 class on "
            f"{100 * int8['agreement']:.1f}% of {int8['images']} test images")


def card_text(facts: CardFacts) -> str:
    """The whole MODEL_CARD.md."""
    metrics, rows = facts.metrics, facts.per_class
    dataset = facts.config.get("dataset_name") or facts.config.get("dataset")
    total = sum(int(r["train_count"]) for r in rows)
    counts = [int(r["train_count"]) for r in rows]
    imbalance = f"{max(counts) / min(counts):.1f}" if counts and min(counts) > 0 else "n/a"
    header = yaml.safe_dump(front_matter(facts), sort_keys=False, allow_unicode=True)
    lines = [
        "---", header.rstrip(), "---", "", f"# {facts.name}", "",
        f"A {len(rows)}-class image classifier trained on the long-tailed dataset `{dataset}` with ltcli "
        f"{facts.config.get('versions', {}).get('ltcli', '?')}, exported by ltcli {ltcli.__version__}.", "",
        "## Model details", "", *details_lines(facts), "",
        "## Intended use and limitations", "",
        f"Classify {facts.config.get('height')}x{facts.config.get('width')} images into the {len(rows)} classes of "
        f"`{dataset}`. The training set is long-tailed ({total} images, {max(counts, default=0)} in the largest class, "
        f"{min(counts, default=0)} in the smallest, imbalance factor {imbalance}): accuracy on rare classes is lower.",
        "", low_recall_classes(rows), "",
        "## Evaluation", "",
        f"On the `{metrics.get('split', 'test')}` split ({metrics.get('num_samples')} images), from the run's "
        f"`ltcli test` results ({', '.join(facts.results_files)}):", "",
        *metric_lines(metrics), "", "### Per-class results", "", *per_class_table(rows), "",
        "## Export checks", "", *(f"- {line}" for line in facts.checks),
        *([int8_line(facts.int8)] if facts.int8 else []), "",
        "## How to use", "", "```bash", "ltcli predict --model THIS_FOLDER IMAGES...", "```", "",
        "Without ltcli: follow `preprocess.json` (resize, crop, scale, normalise, NCHW float32) and run "
        "`model.onnx` with ONNX Runtime; the softmax of `logits` is each class's probability, classes in "
        "`preprocess.json`'s `class_names` order.", "",
        "## Training", "", "```bash", training_command(facts.config), "```", "",
        f"Files: {', '.join(sorted(facts.files))}. Exported by ltcli {ltcli.__version__}.", "",
    ]
    return "\n".join(lines)
