"""Test trained runs: predict a split with the best checkpoint of one run (or the averaged
probabilities of several) and write the metrics files and figures.

With post-hoc corrections (ltcli.posthoc) a sweep first predicts valid/ once and chooses tau there;
only then is the evaluated split predicted, once, and corrected with the chosen tau.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ltcli.atomic import replace_together
from ltcli.data.binary import IsPositive
from ltcli.data.fastjpeg import draft_loader
from ltcli.data.loaders import check_same_classes
from ltcli.data.source import DataSource, open_source
from ltcli.engine.classifier import LoadedRun, ensemble_caches, load_runs
from ltcli.engine.runtime import resolve_device
from ltcli.engine.skipped import require_any_decodable
from ltcli.errors import LtcliError
from ltcli.metrics import SUMMARY_KEYS, binary_roc, confusion, evaluate_log_probs, shot_groups
from ltcli.plots import plot_confusion_matrix, plot_per_class_recall, plot_roc_curves
from ltcli.posthoc import SWEEP_SPLIT, MemberCache, PosthocPlan, choose_tau, sweep_taus
from ltcli.run_folder import ResultsFolder, RunFolder
from ltcli.tpauc import TPAUC_DEFAULT


@dataclass
class TestResult:
    metrics: dict
    files: list[Path]
    out_dir: Path


def refuse_to_overwrite(files: Sequence[Path], force: bool) -> None:
    """A user-chosen --out folder may hold other results: never replace them silently."""
    existing = [p for p in files if p.exists()]
    if existing and not force:
        raise LtcliError(f"{existing[0].parent} already holds {', '.join(p.name for p in existing)}: "
                         "pass --force to replace, or choose another --out")


def per_class_rows(class_names: Sequence[str], train_counts: Sequence[int], groups: Sequence[str], metrics: dict
                   ) -> list[dict]:
    """One row per class for per_class.csv (test_count: samples of the class in the evaluated split)."""
    return [
        {
            "class": class_names[i], "train_count": train_counts[i], "test_count": metrics["per_class_support"][i],
            "shot_group": groups[i], "recall": metrics["per_class_recall"][i],
            "precision": metrics["per_class_precision"][i], "f1": metrics["per_class_f1"][i],
        }
        for i in range(len(class_names))
    ]


def prediction_rows(files: Sequence[str], class_names: Sequence[str], labels: np.ndarray, log_probs: np.ndarray
                    ) -> list[dict]:
    """One row per sample: file, true label, predicted label and the predicted label's probability."""
    preds = log_probs.argmax(axis=1)
    probs = np.exp(log_probs[np.arange(preds.size), preds])
    return [
        {"file": file, "true": class_names[label], "predicted": class_names[pred], "probability": float(prob)}
        for file, label, pred, prob in zip(files, labels, preds, probs, strict=True)
    ]


@dataclass
class Evaluation:
    """What a split looks like through one run or an ensemble: everything the results are made of."""

    members: list[LoadedRun]
    labels: np.ndarray
    log_probs: np.ndarray  # the ensemble's (the run's own for a single run)
    member_log_probs: list[np.ndarray]
    sample_files: list[str]  # relative to the split folder, in sample order
    skipped_files: list[str] = field(default_factory=list)  # did not decode: in no number

    @property
    def class_names(self) -> list[str]:
        return self.members[0].class_names

    @property
    def train_counts(self) -> list[int]:
        """The first member's training counts: the shot groups of an ensemble follow its first run."""
        return self.members[0].class_counts


def member_dataset(member: LoadedRun, source: DataSource, split: str, transform: Any = None):
    """The split as `member` is tested on it: through its evaluation transform (or `transform`), the
    dataset's classes checked against the run's, and a binary run's classes mapped to negative/positive."""
    loader, transform = draft_loader(transform or member.eval_transform())
    dataset = source.open_split(split, transform, loader)
    source_classes = member.config.get("source_class_names", member.class_names)
    check_same_classes(source_classes, dataset.classes, source.where(split))
    if member.config.get("positive_classes"):
        dataset.target_transform = IsPositive(source_classes, member.config["positive_classes"])
    return dataset


def predict_split(members: Sequence[LoadedRun], source: DataSource, split: str, device: torch.device,
                  batch_size: int, workers: int, features: bool = False
                  ) -> tuple[list[MemberCache], np.ndarray, list[str], list[str]]:
    """Run every member over the split once (each through its own transform): (each member's cache, the
    labels, the files in sample order and the files that did not decode, both relative to the split)."""
    datasets = []
    where = source.where(split)

    def split_for(member: LoadedRun):
        datasets.append(member_dataset(member, source, split))
        return datasets[-1]

    require_any_decodable(source.open_split(split), where, purpose="testing needs")
    caches, labels = ensemble_caches(members, split_for, device, batch_size, workers, features)
    # files that did not decode are left out of every number, and listed (relative to the split)
    relative = lambda path: source.relative(split, path)  # noqa: E731
    files = [relative(path) for path, _ in datasets[0].decoded_samples()]
    skipped = [relative(path) for path in datasets[0].failed_paths()]
    return caches, labels, files, skipped


def evaluate_split(members: Sequence[LoadedRun], source: DataSource, split: str, device: torch.device,
                   batch_size: int, workers: int, plan: PosthocPlan | None = None, tau: float | None = None
                   ) -> Evaluation:
    """Predict the split once, correct every member with `tau` (plan's correction), temper and average."""
    plan = plan or PosthocPlan()
    caches, labels, files, skipped = predict_split(members, source, split, device, batch_size, workers,
                                                   plan.needs_features)
    return Evaluation(list(members), labels, *plan.log_probs(caches, tau), files, skipped)


def check_plan(plan: PosthocPlan, members: Sequence[LoadedRun], source: DataSource) -> None:
    """Refuse what the loaded runs or the dataset cannot do, before the (slow) predictions."""
    if plan.correction is not None:
        for member in members:
            plan.correction.check(member.network, member.class_counts, member.class_names, member.run.label())
    if plan.sweep and not source.has_split(SWEEP_SPLIT):
        raise LtcliError(f"--sweep chooses on the run's {SWEEP_SPLIT}/ split, and {source.root} has none "
                         "(never on test/): give one value instead")


def choose_on_valid(plan: PosthocPlan, members: Sequence[LoadedRun], source: DataSource, device: torch.device,
                    options: dict[str, Any], batch_size: int, workers: int
                    ) -> tuple[float | None, list[tuple[float, float | None]] | None]:
    """(tau, sweep table): the given tau, or the one that scores best on valid/ (only valid/ is read)."""
    if plan.correction is None:
        return None, None
    if not plan.sweep:
        return plan.taus[0], None
    caches, labels, *_ = predict_split(members, source, SWEEP_SPLIT, device, batch_size, workers, plan.needs_features)
    table = sweep_taus(plan, caches, labels, members[0].class_counts, options)
    return choose_tau(table, plan.sweep_metric), table


def summarise(evaluation: Evaluation, options: dict[str, Any], split: str, source: DataSource,
              corrections: dict[str, Any] | None = None, described: str = "") -> dict[str, Any]:
    """metrics.json: where the numbers come from (and which corrections made them), then every metric."""
    members, labels, counts = evaluation.members, evaluation.labels, evaluation.train_counts
    label = members[0].run.label() if len(members) == 1 else \
        f"ensemble of {len(members)}: " + " + ".join(m.run.label() for m in members)
    label += f" ({described})" if described else ""
    summary: dict[str, Any] = {
        "label": label, "split": split, "data_root": str(source.root.resolve()),
        **({"data_list": str(source.where(split).resolve()), "image_root": str(source.image_root.resolve())}
           if source.lists is not None else {}),
        "class_names": evaluation.class_names, "class_counts": list(counts), **(corrections or {}),
    }
    if len(members) == 1:
        described = members[0].describe()
        summary.update(run=described["run"], checkpoint=described["checkpoint"],
                       checkpoint_epoch=described["checkpoint_epoch"], members=[described])
    else:
        # each member: which run, and how it scores on its own
        summary["members"] = [{**m.describe(), **{k: v for k, v in evaluate_log_probs(p, labels, counts, **options)
                                                  .items() if k in SUMMARY_KEYS}}
                              for m, p in zip(members, evaluation.member_log_probs, strict=True)]
    summary.update(evaluate_log_probs(evaluation.log_probs, labels, counts, **options))
    summary["skipped_files"] = evaluation.skipped_files
    return summary


def test_runs(
    runs: Sequence[RunFolder],
    data_root: Path | DataSource,
    split: str = "test",
    device_name: str = "auto",
    out_dir: Path | None = None,
    force: bool = False,
    metric_options: dict[str, Any] | None = None,
    batch_size: int = 256,
    workers: int = 0,
    plan: PosthocPlan | None = None,
) -> TestResult:
    """Evaluate the checkpoint of each run in `runs` on the split of `data_root` (a dataset folder, or
    a DataSource: folder or lists), averaging their
    probabilities when there are several, and write the results.

    One run writes into its own folder unless `out_dir` is given; an ensemble needs `out_dir` (the
    CLI claims a fresh one), so no member's own results are replaced. With a post-hoc `plan`, tau is
    the given one or, with a sweep, chosen on valid/ before `split` is read; the results carry the
    plan's tag in their names (ResultsFolder.corrected), so they never replace plain results.
    """
    plan = plan or PosthocPlan()
    source = data_root if isinstance(data_root, DataSource) else open_source(data_root)
    if not source.has_split(split):
        raise LtcliError(f"{source.root} has no {split}{'/' if source.lists is None else ''} split to test on")
    options = {"tpauc": TPAUC_DEFAULT, **(metric_options or {})}
    target = ResultsFolder(out_dir if out_dir is not None else runs[0].path).corrected(plan.results_tag)
    if out_dir is not None:  # before the (slow) evaluation; any file the results could include
        refuse_to_overwrite(list(target.results_files(split, binary=True).values()), force)
    device = resolve_device(device_name)
    members = load_runs(runs, device)
    check_plan(plan, members, source)
    tau, table = choose_on_valid(plan, members, source, device, options, batch_size, workers)
    evaluation = evaluate_split(members, source, split, device, batch_size, workers, plan, tau)
    binary = len(evaluation.class_names) == 2
    files = target.results_files(split, binary)
    summary = summarise(evaluation, options, split, source, plan.record(tau, table), plan.describe(tau))
    # the whole set, or none of it: never new metrics beside an older run's figures
    every_file = target.results_files(split, binary=True).values()
    with replace_together(target.path, [p.name for p in files.values()], [p.name for p in every_file]) as stage:
        staged = ResultsFolder(stage).corrected(target.tag)
        write_results(staged, staged.results_files(split, binary), summary, evaluation, options)
    return TestResult(metrics=summary, files=list(files.values()), out_dir=target.path)


def write_results(target: ResultsFolder, files: dict[str, Path], summary: dict, evaluation: Evaluation,
                  options: dict[str, Any]) -> None:
    """metrics.json, per_class.csv, predictions.csv and the figures, each written atomically."""
    class_names, counts, labels = evaluation.class_names, evaluation.train_counts, evaluation.labels
    groups = shot_groups(counts, **{k: options[k] for k in ("many_min", "few_max") if k in options})
    split = summary["split"]
    title = f"{summary['label']} on {split}"
    target.write_metrics(split, summary)
    target.write_per_class(split, per_class_rows(class_names, counts, groups, summary))
    target.write_predictions(split, prediction_rows(evaluation.sample_files, class_names, labels,
                                                    evaluation.log_probs))
    preds = evaluation.log_probs.argmax(axis=1)
    plot_confusion_matrix(confusion(labels, preds, len(class_names)), class_names, files["confusion"], title=title)
    plot_per_class_recall(class_names, summary["per_class_recall"], counts, groups, files["recall"],
                          title=f"per-class recall: {title}")
    if "roc" in files:
        tpauc = options["tpauc"]
        plot_roc_curves(roc_curves(evaluation, summary), files["roc"], tpauc_region=tuple(tpauc[0]) if tpauc else None,
                        title=f"ROC: {title} (positive class {class_names[1]})")


def roc_curves(evaluation: Evaluation, summary: dict) -> list[tuple]:
    """(label, fpr, tpr, auroc) of each ensemble member, then of the run or ensemble itself."""
    curves = []
    if len(evaluation.members) > 1:
        for member, log_probs, record in zip(evaluation.members, evaluation.member_log_probs, summary["members"],
                                             strict=True):
            roc = binary_roc(log_probs, evaluation.labels)
            if roc is not None:
                curves.append((member.run.label(), *roc, record.get("auroc")))
    roc = binary_roc(evaluation.log_probs, evaluation.labels)
    if roc is not None:
        label = "ensemble" if len(evaluation.members) > 1 else summary["label"]
        curves.append((label, *roc, summary["auroc"]))
    return curves
