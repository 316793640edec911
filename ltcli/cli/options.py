"""Options that `ltcli train` and `ltcli pretrain` share: one declaration (type and help) each, so
the two commands cannot drift apart. Each command gives its own default from its config's DEFAULT."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DatasetOption = Annotated[str | None, typer.Option(help="Dataset under a_datasets/.")]
DataOption = Annotated[Path | None, typer.Option(
    help="Any folder with train/ and valid/ (or test/), or a folder of NAME_train.txt / NAME_val.txt / NAME_test.txt "
    "`path label` lists.")]
DataRootOption = Annotated[Path | None, typer.Option(
    help="Lists only: the folder the lists' image paths are relative to (default: the lists' folder).")]
ModelOption = Annotated[str, typer.Option(help="timm model name (see `ltcli models`).")]
LrOption = Annotated[float, typer.Option(help="Peak learning rate (SGD).")]
MomentumOption = Annotated[float, typer.Option(help="SGD momentum.")]
WeightDecayOption = Annotated[float, typer.Option(help="SGD weight decay.")]
LrDecayOption = Annotated[float, typer.Option(help="Factor applied at each step.")]
HeightOption = Annotated[int, typer.Option(help="Input height.")]
WidthOption = Annotated[int, typer.Option(help="Input width.")]
HflipOption = Annotated[float, typer.Option(help="Horizontal flip probability (0 for digits/text).")]
DataCacheOption = Annotated[
    str, typer.Option(help="auto, memory (decode once, augment batches on the device) or none (stream).")]
AmpOption = Annotated[str, typer.Option(
    help="Mixed precision: auto (bf16 on CUDA and on CPUs with native bf16, else off), bf16, fp16, off.")]
ChannelsLastOption = Annotated[str, typer.Option(
    help="channels_last memory format: auto (on for CUDA and for bf16 on CPU), on, off.")]
SeedOption = Annotated[int, typer.Option(help="Random seed.")]
DeviceOption = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
WorkersOption = Annotated[int, typer.Option(help="DataLoader worker processes (default: half the CPU cores, 2 to 8).")]
StrictOption = Annotated[bool, typer.Option(help="Decode every image first; stop if one is corrupt.")]
DatasetsDirOption = Annotated[Path, typer.Option(help="Folder of split datasets.")]
LogsDirOption = Annotated[Path, typer.Option(help="Folder of runs.")]
