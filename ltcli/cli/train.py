"""The train command and its option parsing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ltcli.cli.app import app, console, friendly
from ltcli.errors import LtcliError


def parse_option_value(text: str) -> Any:
    """'2' -> 2, '0.5' -> 0.5, 'true' -> True, '1,2' -> [1, 2], anything else stays a string."""
    if "," in text:
        return [parse_option_value(part) for part in text.split(",")]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_objective_options(pairs: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise LtcliError(f"--opt takes KEY=VALUE, got {pair!r}")
        options[key.strip().replace("-", "_")] = parse_option_value(value.strip())
    return options


def parse_int_list(text: str, option: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise LtcliError(f"{option} takes whole numbers separated by commas, got {text!r}") from None


@app.command()
@friendly
def train(
    dataset: Annotated[str | None, typer.Option(help="Dataset under a_datasets/.")] = None,
    data: Annotated[Path | None, typer.Option(help="Any folder with train/ and valid/ (or test/).")] = None,
    model: Annotated[str, typer.Option(help="timm model name (see `ltcli models`).")] = "resnet32",
    objective: Annotated[str, typer.Option(help="Loss (see `ltcli objectives`).")] = "CCE",
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 200,
    batchsize: Annotated[int, typer.Option(
        "--batchsize", "--batch-size", help="Images per optimizer step (under torchrun: over all processes).")] = 128,
    lr: Annotated[float, typer.Option(help="Peak learning rate (SGD).")] = 0.1,
    momentum: Annotated[float, typer.Option(help="SGD momentum.")] = 0.9,
    weight_decay: Annotated[float, typer.Option(help="SGD weight decay.")] = 5e-4,
    sched: Annotated[str, typer.Option(help="step (drops after each --lrstep stage) or cosine.")] = "step",
    lrstep: Annotated[str, typer.Option(help="Epochs in each stage; lr x --lr-decay after each.")] = "60,60,40,40",
    lr_decay: Annotated[float, typer.Option(help="Factor applied at each step.")] = 0.1,
    warmup: Annotated[int, typer.Option(help="Epochs of linear warmup.")] = 5,
    height: Annotated[int, typer.Option(help="Input height.")] = 32,
    width: Annotated[int, typer.Option(help="Input width.")] = 32,
    augment: Annotated[str, typer.Option(help="auto, cifar (pad-crop+flip), timm, none.")] = "auto",
    hflip: Annotated[float, typer.Option(help="Horizontal flip probability (0 for digits/text).")] = 0.5,
    data_cache: Annotated[
        str, typer.Option(help="auto, memory (decode once, augment batches on the device) or none (stream).")
    ] = "auto",
    amp: Annotated[str, typer.Option(help="Mixed precision: auto (bf16 on CUDA, off on CPU), bf16, fp16, off.")
                   ] = "auto",
    channels_last: Annotated[str, typer.Option(help="channels_last memory format: auto (on for CUDA), on, off.")
                             ] = "auto",
    compile_model: Annotated[bool, typer.Option("--compile", help="torch.compile the model (slow start).")] = False,
    mixup: Annotated[float, typer.Option(help="Mixup alpha (timm Mixup, one mix per batch); 0 = off.")] = 0.0,
    cutmix: Annotated[float, typer.Option(help="CutMix alpha; 0 = off.")] = 0.0,
    mix_prob: Annotated[float, typer.Option(help="Chance a batch is mixed.")] = 1.0,
    mix_switch_prob: Annotated[float, typer.Option(help="Chance of CutMix rather than mixup when both on.")] = 0.5,
    ema_decay: Annotated[float, typer.Option(
        help="Keep an EMA of the weights (e.g. 0.999, timm ModelEmaV3 with warmup) and validate/test it; 0 = off."
    )] = 0.0,
    sync_bn: Annotated[bool, typer.Option(help="torchrun on GPUs: BatchNorm over all processes' batches.")] = False,
    weights: Annotated[Path | None, typer.Option(help="Start from a local state dict or checkpoint file.")] = None,
    init_from: Annotated[Path | None, typer.Option(help="Start from an earlier run's best checkpoint.")] = None,
    freeze: Annotated[str, typer.Option(help="none, backbone (train the classifier only, e.g. cRT) or all.")] = "none",
    ccegamma: Annotated[float | None, typer.Option(help="CCE balancing factor gamma (default 1).")] = None,
    tpauc_gamma: Annotated[float | None, typer.Option(help="TPAUC weighting gamma.")] = None,
    epoch_to_paced: Annotated[int | None, typer.Option(help="TPAUC: epoch the instance weights start.")] = None,
    re_scheme: Annotated[str | None, typer.Option(help="TPAUC weights: Poly or Exp.")] = None,
    opt: Annotated[list[str] | None, typer.Option(help="Objective option KEY=VALUE (repeatable).")] = None,
    train_rule: Annotated[str, typer.Option(help="None, Reweight, Resample, SqrtResample or DRW.")] = "None",
    drw_epoch: Annotated[int | None, typer.Option(help="Epoch DRW starts re-weighting (default: 80%).")] = None,
    cb_beta: Annotated[float, typer.Option(help="beta of the effective-number class weights.")] = 0.9999,
    positive_classes: Annotated[
        str | None, typer.Option(help="Binary task: these classes (comma separated) are positive, the rest negative.")
    ] = None,
    pos_neg_ratio: Annotated[
        str | None, typer.Option(help="Binary task: POS:NEG per batch, e.g. 1:10 (for pairwise AUC losses).")
    ] = None,
    pretrained: Annotated[bool, typer.Option(help="Start from timm's pretrained weights.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    workers: Annotated[int, typer.Option(help="DataLoader worker processes.")] = 2,
    strict: Annotated[bool, typer.Option(help="Decode every image first; stop if one is corrupt.")] = False,
    resume: Annotated[
        str | None, typer.Option(help="Continue an interrupted run (its folder or stamp); its own settings apply.")
    ] = None,
    datasets_dir: Annotated[Path, typer.Option(help="Folder of split datasets.")] = Path("a_datasets"),
    logs_dir: Annotated[Path, typer.Option(help="Folder of runs.")] = Path("logs"),
    select_metric: Annotated[str, typer.Option(
        help="Validation column that picks the best checkpoint: acc, balanced_acc, macro_f1, gmean_recall, "
        "hmean_recall, lowest_recall, top5acc (highest wins); loss, nll, ece (lowest wins).")] = "acc",
) -> None:
    """Train a model; the run goes to logs/<model>/<dataset>/<objective>/<YYYY-MM-DD-HH-MM-SS>/."""
    from ltcli.config import TrainConfig
    from ltcli.engine.train import fit, resume_run
    from ltcli.objectives import get_objective_entry

    if resume is not None:
        from ltcli.runs import find_run

        path = Path(resume)
        info = find_run(logs_dir, run=path) if path.is_dir() else find_run(logs_dir, stamp=resume)
        resume_run(info.path, console)
        return

    entry = get_objective_entry(objective)
    options = parse_objective_options(opt or [])
    named = {
        ("--ccegamma", "CCE", "gamma"): ccegamma,
        ("--tpauc-gamma", "TPAUC", "gamma"): tpauc_gamma,
        ("--epoch-to-paced", "TPAUC", "epoch_to_paced"): epoch_to_paced,
        ("--re-scheme", "TPAUC", "re_scheme"): re_scheme,
    }
    for (flag, owner, key), value in named.items():
        if value is None:
            continue
        if entry.name != owner:
            raise LtcliError(f"{flag} applies to {owner}, not {entry.name}: use --opt KEY=VALUE for its options")
        options[key] = value
    if epochs < 1 or batchsize < 1:
        raise LtcliError("--epochs and --batchsize must be at least 1")
    if not 0 <= ema_decay < 1:
        raise LtcliError(f"--ema-decay must be in [0, 1), got {ema_decay}")
    config = TrainConfig(
        dataset=dataset, data=str(data) if data else None, model=model, objective=entry.name,
        objective_options=options, train_rule=train_rule, drw_epoch=drw_epoch, cb_beta=cb_beta,
        positive_classes=[c.strip() for c in positive_classes.split(",")] if positive_classes else None,
        pos_neg_ratio=pos_neg_ratio,
        epochs=epochs, batch_size=batchsize, lr=lr, momentum=momentum,
        weight_decay=weight_decay, sched=sched, lr_steps=parse_int_list(lrstep, "--lrstep"), lr_decay=lr_decay,
        warmup_epochs=warmup, height=height, width=width, augment=augment, hflip=hflip, data_cache=data_cache,
        amp=amp, channels_last=channels_last, compile=compile_model, mixup=mixup, cutmix=cutmix,
        mix_prob=mix_prob, mix_switch_prob=mix_switch_prob, ema_decay=ema_decay, sync_bn=sync_bn,
        weights=str(weights) if weights else None, init_from=str(init_from) if init_from else None, freeze=freeze,
        pretrained=pretrained,
        seed=seed, device=device, workers=workers, datasets_dir=str(datasets_dir), logs_dir=str(logs_dir),
        strict=strict,
        select_metric=select_metric,
    )
    fit(config, console)
