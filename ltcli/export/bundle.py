"""`ltcli export`: one run's tested network, written as a folder of files that need no ltcli.

The folder is built in a hidden staging folder beside --out and renamed into place only once every
file is written and every check passed (ltcli.data.staging), so a failure leaves nothing behind and
an existing --out is replaced (with --force) in one rename.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ltcli.atomic import atomic_write_text
from ltcli.data.staging import refuse_non_folder, remove_stale, staged
from ltcli.engine.classifier import LoadedRun, load_run
from ltcli.engine.scoring import member_dataset
from ltcli.errors import LtcliError
from ltcli.export import (
    CARD_NAME,
    FORMATS,
    INPUT_NAME,
    INT8_NAME,
    ONNX_NAME,
    PREPROCESS_NAME,
    SAFETENSORS_NAME,
    TORCHSCRIPT_NAME,
)
from ltcli.export.card import CardFacts, card_text
from ltcli.export.network import ExportNet, export_net
from ltcli.export.parity import PARITY_IMAGES, check_parity, sample_images, torch_logits
from ltcli.export.preprocess import preprocess_record
from ltcli.export.quantize import CALIBRATION_IMAGES, CALIBRATION_SPLIT, QUANTIZE_MODES
from ltcli.posthoc import PosthocPlan
from ltcli.run_folder import ResultsFolder, RunFolder, read_csv_rows

PARITY_SPLIT = "test"


@dataclass
class TestResults:
    """The run's `ltcli test` results the card reports, and the tau they were made with."""

    metrics: dict[str, Any]
    per_class: list[dict[str, Any]]
    files: list[str]
    tau: float | None
    tested_now: bool


@dataclass
class ExportResult:
    out: Path
    files: list[str]
    checks: list[str]
    int8: dict[str, Any] | None
    tested_now: bool


def results_match(metrics: dict[str, Any], member: LoadedRun, plan: PosthocPlan, source: Any) -> bool:
    """Whether saved test results are those of this checkpoint with this correction, on this dataset."""
    if metrics.get("checkpoint") != member.checkpoint_name or metrics.get("checkpoint_epoch") != member.epoch:
        return False
    if metrics.get("data_root") != str(source.root.resolve()):
        return False
    if plan.correction is None:
        return "posthoc" not in metrics
    posthoc = metrics.get("posthoc", {})
    if plan.correction.key not in posthoc:
        return False
    if plan.sweep:
        return (posthoc.get("chosen_on") == "valid" and posthoc.get("sweep_metric") == plan.sweep_metric
                and [t for t, _ in posthoc.get("sweep", [])] == list(plan.taus))
    return posthoc.get("chosen_on") == "given" and posthoc[plan.correction.key] == plan.taus[0]


def test_results(member: LoadedRun, plan: PosthocPlan, source: Any, device: str,
                 metric_options: dict[str, Any] | None = None) -> TestResults:
    """The run's test results for this checkpoint and correction; `ltcli test` runs first (writing its
    usual files into the run folder, with `metric_options`' shot bounds) when there are none or they are
    of another checkpoint. The card states the bounds of the results it reports."""
    from ltcli.workflows import run_test

    folder = ResultsFolder(member.run.path).corrected(plan.results_tag)
    metrics = folder.read_metrics("test")
    tested_now = not results_match(metrics, member, plan, source)
    if tested_now:
        run_test([member.run], "test", source, device, metric_options=metric_options, plan=plan)
        metrics = folder.read_metrics("test")
    rows = read_csv_rows(folder.per_class_path("test"))
    tau = metrics["posthoc"][plan.correction.key] if plan.correction is not None else None
    files = [folder.metrics_path("test").name, folder.per_class_path("test").name]
    return TestResults(metrics, rows, files, tau, tested_now)


def check_request(run: RunFolder, out: Path, fmt: str, force: bool, quantize: str | None) -> None:
    """Every refusal that needs no model loaded, before anything is read or written."""
    if fmt not in FORMATS:
        raise LtcliError(f"unknown --format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZE_MODES:
        raise LtcliError(f"unknown --quantize {quantize!r}: choose {', '.join(QUANTIZE_MODES)}")
    if quantize is not None and fmt != "onnx":
        raise LtcliError("--quantize int8 quantizes the ONNX model: use it with --format onnx")
    refuse_non_folder(out)
    if out.exists() and not force:
        raise LtcliError(f"{out} already exists: pass --force to replace it, or choose another --out")
    if Path(out).resolve() == run.path.resolve() or run.path.resolve() in Path(out).resolve().parents:
        raise LtcliError(f"--out {out} lies inside the run folder: export beside it, e.g. exports/{run.stamp}")
    if not run.checkpoint_path.is_file():
        raise LtcliError(f"{run.path} has no {run.checkpoint_name}: the run has not finished an epoch (or the file "
                         "was moved); export a run that has")


def write_model_files(stage: Path, fmt: str, net: ExportNet, member: LoadedRun, images: torch.Tensor,
                      correction: dict[str, Any] | None) -> list[str]:
    """The model file(s) of `fmt` and model.safetensors, each checked against `net`; returns the checks."""
    from ltcli.export.onnx_model import check_input, export_onnx, open_session, run_session
    from ltcli.export.weights import load_network, save_safetensors, save_torchscript

    checks = []
    if fmt == "onnx":
        export_onnx(net, images[:2], stage / ONNX_NAME)
        session = open_session(stage / ONNX_NAME)
        check_input(session, images.shape[2], images.shape[3], len(member.class_names), stage / ONNX_NAME)
        parity = check_parity(net, run_session(session, images), images, PARITY_SPLIT)
        checks.append("ONNX Runtime against PyTorch, " + parity.describe())
    if fmt == "torchscript":
        traced = save_torchscript(net, images[:2], stage / TORCHSCRIPT_NAME)
        parity = check_parity(net, torch_logits(traced, images), images, PARITY_SPLIT, "TorchScript")
        checks.append("TorchScript against PyTorch, " + parity.describe())
    config = {**member.config, "num_outputs": 1 if net.one_logit else len(member.class_names)}
    save_safetensors(net, stage / SAFETENSORS_NAME, config, member.class_names, member.class_counts, correction)
    reloaded = load_network(stage / SAFETENSORS_NAME)
    diff = float(np.abs(torch_logits(reloaded, images) - torch_logits(net, images)).max())
    if diff > 0:
        raise LtcliError(f"{SAFETENSORS_NAME} does not rebuild the network (logits differ by {diff:.2e})")
    checks.append(f"{SAFETENSORS_NAME} rebuilt with ltcli.export.weights.load_network gives the same logits "
                  f"on {len(images)} test images (difference 0)")
    return checks


def int8_model(stage: Path, member: LoadedRun, source: Any) -> dict[str, Any]:
    """model.int8.onnx beside model.onnx, and its accuracy against float32 on the test split."""
    from ltcli.export.onnx_model import open_session
    from ltcli.export.quantize import quantize_int8, split_accuracy

    calibration = sample_images(member_dataset(member, source, CALIBRATION_SPLIT), CALIBRATION_IMAGES,
                                str(source.where(CALIBRATION_SPLIT)))
    quantize_int8(stage / ONNX_NAME, stage / INT8_NAME, calibration, INPUT_NAME)
    sessions = (open_session(stage / ONNX_NAME), open_session(stage / INT8_NAME))
    accuracy = split_accuracy(sessions, member_dataset(member, source, "test"), member.class_counts)
    return {**dataclasses.asdict(accuracy), "acc_drop_points": accuracy.acc_drop_points}


def export_run(run: RunFolder, out: Path, fmt: str = "onnx", force: bool = False, plan: PosthocPlan | None = None,
               quantize: str | None = None, source: Any = None, device: str = "auto",
               metric_options: dict[str, Any] | None = None) -> ExportResult:
    """Export `run`'s checkpoint as `ltcli test` scores it (with `plan`'s correction folded in) to `out`.
    `source`: the dataset to check and report on (default: the run's own)."""
    from ltcli.workflows import dataset_of_run

    plan, out = plan or PosthocPlan(), Path(out)
    check_request(run, out, fmt, force, quantize)
    member = load_run(run, torch.device("cpu"))
    source = source if source is not None else dataset_of_run(run)
    results = test_results(member, plan, source, device, metric_options)
    correction = ({"key": plan.correction.key, "tau": results.tau, "paper": plan.correction.paper,
                   "chosen_on": results.metrics["posthoc"].get("chosen_on")} if plan.correction else None)
    images = sample_images(member_dataset(member, source, PARITY_SPLIT), PARITY_IMAGES, str(source.where("test")))
    with torch.inference_mode():  # what the checkpoint's classifier gives: 1 for a binary run on one logit
        num_outputs = int(member.network(images[:1]).shape[1])
    net = export_net(member.network, member.class_names, member.class_counts, num_outputs, plan.correction,
                     results.tau, member.run.label())
    remove_stale(out)
    with staged(out) as stage:
        checks = write_model_files(stage, fmt, net, member, images, correction)
        int8 = int8_model(stage, member, source) if quantize else None
        atomic_write_text(stage / PREPROCESS_NAME, json.dumps(
            preprocess_record(member.config, member.eval_transform(), member.class_names), indent=2) + "\n")
        files = sorted([p.name for p in stage.iterdir()] + [CARD_NAME])
        facts = CardFacts(f"{member.config.get('model')}-{run.dataset}-{run.objective}-{run.stamp}", str(run.path),
                          member.config, member.checkpoint_name, member.epoch, results.metrics, results.per_class,
                          results.files, correction, checks, files, int8)
        atomic_write_text(stage / CARD_NAME, card_text(facts))
    return ExportResult(out, files, checks, int8, results.tested_now)
