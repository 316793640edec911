"""`ltcli export`: a trained run as an ONNX (or TorchScript, or safetensors) model folder with its
preprocess.json and MODEL_CARD.md (ltcli.export)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ltcli.cli.declared import declare_options, settings_from_cli
from ltcli.cli.inference import DataOption, DataRootOption
from ltcli.cli.root import app, console, friendly
from ltcli.config import DEFAULT
from ltcli.evaluation import TestOptions
from ltcli.export import FORMATS
from ltcli.layout import EXPORTS_DIR


@app.command("export")
@friendly
def export(
    run: Annotated[str, typer.Option(help="Run folder, checkpoint .pt, or stamp (YYYY-MM-DD-HH-MM-SS, or latest).")],
    format: Annotated[str, typer.Option(  # noqa: A002  (the option's name)
        "--format", help=f"The model file: {', '.join(FORMATS)} (model.safetensors is always written).")] = "onnx",
    out: Annotated[Path | None, typer.Option(
        help=f"Folder to write (default: {EXPORTS_DIR}/MODEL-DATASET-OBJECTIVE-STAMP).")] = None,
    force: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
    quantize: Annotated[str | None, typer.Option(
        help="int8: also write model.int8.onnx (ONNX Runtime static quantization, calibrated on train/) and its "
        "test accuracy.")] = None,
    data: DataOption = None,
    data_root: DataRootOption = None,
    dataset: Annotated[str | None, typer.Option(help="Narrow a stamp lookup to this dataset.")] = None,
    model: Annotated[str | None, typer.Option(help="Narrow a stamp lookup to this model.")] = None,
    objective: Annotated[str | None, typer.Option(help="Narrow a stamp lookup to this objective.")] = None,
    logs_dir: Annotated[Path, typer.Option(help="Folder of runs.")] = Path(DEFAULT.logs_dir),
    **values: Any,
) -> None:
    """Export a run's best checkpoint as `ltcli test` scores it (EMA weights, RIDE's experts, PaCo's
    classifier; --tau-norm or --logit-adjust folded in) with preprocess.json, MODEL_CARD.md and
    model.safetensors. ONNX Runtime's logits are checked against PyTorch's on test images first."""
    from ltcli.cli.inference import resolve_runs
    from ltcli.export.bundle import export_run
    from ltcli.workflows import dataset_of_run

    scoring = TestOptions(**settings_from_cli(TestOptions, values))  # the corrections, as `ltcli test` takes them
    plan = scoring.plan()
    folder = resolve_runs(logs_dir, [run], model, dataset, objective, None)[0]
    target = out or Path(EXPORTS_DIR) / f"{folder.model}-{folder.dataset}-{folder.objective}-{folder.stamp}"
    source = dataset_of_run(folder, data, data_root) if data is not None else None
    result = export_run(folder, target, format, force, plan, quantize, source, scoring.device,
                        scoring.metric_options())
    if result.tested_now:
        what = "checkpoint and correction" if plan.correction else "checkpoint"
        console.print(f"tested the run first (its folder had no test results of this {what})", highlight=False)
    for line in result.checks:
        console.print(f"checked: {line}", highlight=False)
    if result.int8:
        console.print(f"int8: test accuracy {result.int8['int8_acc']:.4f} against {result.int8['float_acc']:.4f} in "
                      f"float32", highlight=False)
    console.print(f"wrote {', '.join(result.files)} in {result.out}", highlight=False)


declare_options(export, TestOptions)
