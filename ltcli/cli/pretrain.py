"""The pretrain command: self-supervised pre-training of a backbone on a dataset's images, labels unused."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ltcli.cli.compat import SourceToolCommand
from ltcli.cli.declared import declare_options, settings_from_cli, typed_options
from ltcli.cli.root import app, console, friendly
from ltcli.errors import LtcliError
from ltcli.pretrain.config import PretrainConfig


@app.command(cls=SourceToolCommand)
@friendly
def pretrain(
    ctx: typer.Context,
    resume: Annotated[
        str | None, typer.Option(help="Continue an interrupted pre-training run (its folder, a checkpoint .pt in it, "
                                 "or its stamp); its own settings apply.")
    ] = None,
    **values: Any,
) -> None:
    """Self-supervised pre-training on the training images without their labels (Yang & Xu, NeurIPS 2020,
    Sec. 4); the run goes to logs/<model>/<dataset>/pretrain-<method>/<YYYY-MM-DD-HH-MM-SS>/. Then train from
    its backbone: `ltcli train --init-from RUN`."""
    from ltcli.pretrain.run import pretrain as run_pretrain
    from ltcli.pretrain.run import resume_pretraining
    from ltcli.runs import resume_target

    if resume is not None:
        resume_pretraining(resume_target(Path(values["logs_dir"]), resume), console)
        return
    settings = settings_from_cli(PretrainConfig, values)  # every option of PretrainConfig (its declarations)
    refuse_other_methods_options(ctx, settings)
    run_pretrain(PretrainConfig(**settings), console)


def refuse_other_methods_options(ctx: typer.Context, values: dict[str, Any]) -> None:
    """MoCo's options typed for another method would be silently ignored: say so instead."""
    from ltcli.settings import flag

    if values["method"] == "moco":
        return
    typed = typed_options(ctx, PretrainConfig.MOCO_OPTIONS)
    if typed:
        raise LtcliError(f"{', '.join(flag(name) for name in typed)} appl{'ies' if len(typed) == 1 else 'y'} to "
                         f"--method moco, not {values['method']}")


declare_options(pretrain, PretrainConfig)
