"""The pretrain command: self-supervised pre-training of a backbone on a dataset's images, labels unused."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ltcli.cli import options
from ltcli.cli.app import app, console, friendly
from ltcli.cli.compat import SourceToolCommand
from ltcli.cli.train import parse_int_list
from ltcli.errors import LtcliError
from ltcli.pretrain.config import DEFAULT, MOCO_PANEL, PretrainConfig
from ltcli.settings import DEFAULT_EPOCHS, DEFAULT_WARMUP_EPOCHS

# PretrainConfig fields whose `pretrain` parameter has another name (the rest share it).
PARAMETERS = {"batch_size": "batchsize", "lr_steps": "lrstep", "warmup_epochs": "warmup"}


@app.command(cls=SourceToolCommand)
@friendly
def pretrain(
    ctx: typer.Context,
    method: Annotated[str, typer.Option(
        help="rotation (predict 0/90/180/270 degrees, Gidaris et al. 2018) or moco (momentum contrast, He et al. "
        "2020; needs `pip install \"ltcli\\[ssl]\"`).")] = DEFAULT.method,  # \[: not rich markup
    dataset: options.DatasetOption = None,
    data: options.DataOption = None,
    data_root: options.DataRootOption = None,
    extra_unlabeled: Annotated[Path | None, typer.Option(
        help="A folder of more images (any layout, outside the dataset), or a list file of image paths (relative to "
        "its folder), added to the pre-training images.")] = None,
    model: options.ModelOption = DEFAULT.model,
    epochs: Annotated[int, typer.Option(help="Pre-training epochs.")] = DEFAULT.epochs,
    batchsize: Annotated[int, typer.Option(
        "--batchsize", "--batch-size", help="Images per optimizer step (rotation trains on their 4 rotations).")
    ] = DEFAULT.batch_size,
    lr: options.LrOption = DEFAULT.lr,
    momentum: options.MomentumOption = DEFAULT.momentum,
    weight_decay: options.WeightDecayOption = DEFAULT.weight_decay,
    sched: Annotated[str, typer.Option(help="cosine or step (drops after each --lrstep stage).")] = DEFAULT.sched,
    lrstep: Annotated[str | None, typer.Option(help="With --sched step: epochs in each stage.")] = None,
    lr_decay: options.LrDecayOption = DEFAULT.lr_decay,
    warmup: Annotated[int | None, typer.Option(
        help=f"Epochs of linear warmup \\[default: {DEFAULT_WARMUP_EPOCHS} for {DEFAULT_EPOCHS} epochs, scaled to "
        "--epochs as in `ltcli train`; as long as the run: an error].")] = None,
    height: options.HeightOption = DEFAULT.height,
    width: options.WidthOption = DEFAULT.width,
    hflip: options.HflipOption = DEFAULT.hflip,
    data_cache: options.DataCacheOption = DEFAULT.data_cache,
    amp: options.AmpOption = DEFAULT.amp,
    channels_last: options.ChannelsLastOption = DEFAULT.channels_last,
    moco_dim: Annotated[int, typer.Option(help="Size of the projected features.", rich_help_panel=MOCO_PANEL)
                        ] = DEFAULT.moco_dim,
    moco_queue: Annotated[int, typer.Option(help="Queued keys used as negatives.", rich_help_panel=MOCO_PANEL)
                          ] = DEFAULT.moco_queue,
    moco_momentum: Annotated[float, typer.Option(
        help="Momentum m of the key encoder: key = m key + (1 - m) query.", rich_help_panel=MOCO_PANEL)
    ] = DEFAULT.moco_momentum,
    temperature: Annotated[float, typer.Option(help="Temperature of the contrastive loss.",
                                               rich_help_panel=MOCO_PANEL)] = DEFAULT.temperature,
    seed: options.SeedOption = DEFAULT.seed,
    device: options.DeviceOption = DEFAULT.device,
    workers: options.WorkersOption = DEFAULT.workers,
    strict: options.StrictOption = DEFAULT.strict,
    resume: Annotated[
        str | None, typer.Option(help="Continue an interrupted pre-training run (its folder, a checkpoint .pt in it, "
                                 "or its stamp); its own settings apply.")
    ] = None,
    datasets_dir: options.DatasetsDirOption = Path(DEFAULT.datasets_dir),
    logs_dir: options.LogsDirOption = Path(DEFAULT.logs_dir),
) -> None:
    """Self-supervised pre-training on the training images without their labels (Yang & Xu, NeurIPS 2020,
    Sec. 4); the run goes to logs/<model>/<dataset>/pretrain-<method>/<YYYY-MM-DD-HH-MM-SS>/. Then train from
    its backbone: `ltcli train --init-from RUN`."""
    from ltcli.pretrain.run import pretrain as run_pretrain
    from ltcli.pretrain.run import resume_pretraining
    from ltcli.runs import resume_target

    if resume is not None:
        resume_pretraining(resume_target(logs_dir, resume), console)
        return
    values = dict(
        method=method, dataset=dataset, data=str(data) if data else None,
        data_root=str(data_root) if data_root else None,
        extra_unlabeled=str(extra_unlabeled) if extra_unlabeled else None, model=model, epochs=epochs,
        batch_size=batchsize, lr=lr, momentum=momentum, weight_decay=weight_decay, sched=sched,
        lr_steps=parse_int_list(lrstep, "--lrstep") if lrstep is not None else None, lr_decay=lr_decay,
        warmup_epochs=warmup, height=height, width=width, hflip=hflip, data_cache=data_cache, amp=amp,
        channels_last=channels_last, moco_dim=moco_dim, moco_queue=moco_queue, moco_momentum=moco_momentum,
        temperature=temperature, seed=seed, device=device, workers=workers, strict=strict,
        datasets_dir=str(datasets_dir), logs_dir=str(logs_dir),
    )
    refuse_other_methods_options(ctx, values)
    run_pretrain(PretrainConfig(**values), console)


def refuse_other_methods_options(ctx: typer.Context, values: dict[str, Any]) -> None:
    """MoCo's options typed for another method would be silently ignored: say so instead."""
    from ltcli.settings import flag

    if values["method"] == "moco":
        return
    typed = [name for name in PretrainConfig.MOCO_OPTIONS
             if (source := ctx.get_parameter_source(PARAMETERS.get(name, name))) is not None
             and source.name != "DEFAULT"]
    if typed:
        raise LtcliError(f"{', '.join(flag(name) for name in typed)} appl{'ies' if len(typed) == 1 else 'y'} to "
                         f"--method moco, not {values['method']}")
