"""The settings `ltcli train` and `ltcli pretrain` share, declared once: `RunSettings` holds each
shared field with its default and its metadata (`option`: the command-line flag and its aliases, the
help, where its choices come from), and `TrainConfig` and `PretrainConfig` extend it. The checks on
values that need no runtime state live here too, so both commands refuse a value with the same line
(the schedule's own rules are in ltcli.schedule_rules).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltcli.choices import AMP_MODES, CACHE_MODES, SCHEDULES, SWITCH_MODES, check_device_name, parse_threads
from ltcli.errors import LtcliError, shown
from ltcli.layout import DATASETS_DIR, LOGS_DIR

DEFAULT_LR_STAGES = (60, 60, 40, 40)  # epochs of each step stage of a DEFAULT_EPOCHS run (--lrstep not given)
DEFAULT_WARMUP_EPOCHS = 5  # warmup of a DEFAULT_EPOCHS run (--warmup not given); also what a bare --warmup means
DEFAULT_EPOCHS = 200


def default_workers(cpus: int | None) -> int:
    """DataLoader workers: half the CPU cores, 2 to 8. Decoding and augmenting a JPEG at 224 px takes
    several ms a core, so two workers starve a GPU; 2 keeps small machines (and CI) as they were."""
    return min(8, max(2, (cpus or 2) // 2))


DEFAULT_WORKERS = default_workers(os.cpu_count())


def parse_int_list(text: str, option: str) -> list[int]:
    """'60,60,40,40', '60 60 40 40' and '[60, 60, 40, 40]' (the CCE tool's form) -> [60, 60, 40, 40]."""
    inner = text.strip()
    if inner.startswith("[") and inner.endswith("]"):
        inner = inner[1:-1]
    try:
        return [int(v) for v in re.split(r"[\s,]+", inner) if v]
    except ValueError:
        raise LtcliError(f"{option} takes whole numbers separated by commas or spaces, got {text!r}") from None


def comma_items(value: str | Sequence[Any]) -> list[str]:
    """'a, b' or a YAML list [a, b] -> ['a', 'b'] (stripped, empty items dropped): the values a command
    line types as one comma-separated text and a study or config file may write as a list."""
    parts = value.split(",") if isinstance(value, str) else value
    return [text for text in (str(part).strip() for part in parts) if text]


def parse_option_value(text: str) -> Any:
    """'2' -> 2, '0.5' -> 0.5, 'true' -> True, '1,2' -> [1, 2], anything else stays a string."""
    if "," in text:
        return [parse_option_value(part) for part in text.split(",")]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_objective_options(pairs: list[str]) -> dict[str, Any]:
    """`--opt KEY=VALUE` pairs (the command line's, the app's, a study's) -> {key: value}; the objective's
    registry checks the names and types."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise LtcliError(f"--opt takes KEY=VALUE, got {pair!r}")
        options[key.strip().replace("-", "_")] = parse_option_value(value.strip())
    return options
def read_later(module: str, name: str) -> Callable[[], tuple[str, ...]]:
    """A zero-argument function that imports `module` when called and returns its `name` as a tuple
    (called first where `name` is a function): a registry's names read when asked, not at import."""
    def read() -> tuple[str, ...]:
        import importlib

        value = getattr(importlib.import_module(module), name)
        return tuple(value() if callable(value) else value)

    return read


def spelled(choices: Sequence[str], last: str = "or") -> str:
    """'a, b or c': a choice list as a help text writes it, from the tuple the code checks against."""
    return f"{', '.join(choices[:-1])} {last} {choices[-1]}" if len(choices) > 1 else "".join(choices)


def option(default: Any = None, help: str = "", *, flags: tuple[str, ...] = (), choices: Any = None,
           cli_type: Any = None, parse: Callable[[Any], Any] | None = None, cli: bool = True,
           suggest: Any = None, panel: str | None = None, factory: Callable[[], Any] | None = None) -> Any:
    """A config field and its one declaration for every front end.

    flags: the command-line flag then its aliases (default: --field-name); choices: a tuple, or a
    zero-argument function returning one (a registry read when asked), checked by the config;
    suggest: the same for names a registry canonicalises (aliases, any case), offered but not
    checked here (the registry's own check names them); cli_type: the type the
    command line reads when it differs from the field's (Path for a str path); parse: turns what the
    command line read into the field's value; cli=False: a config-file/API-only setting."""
    metadata = {"help": help, "flags": flags, "choices": choices, "suggest": suggest, "cli_type": cli_type,
                "parse": parse, "cli": cli, "panel": panel}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# Flags whose name is not the field's with dashes, filled from the declarations (register_flags).
FLAGS: dict[str, str] = {}


def register_flags(cls: type) -> type:
    """Record the flags `cls` declares, so `flag(name)` names a field as the command line spells it."""
    for f in dataclasses.fields(cls):
        if f.metadata.get("flags"):
            FLAGS[f.name] = f.metadata["flags"][0]
    return cls


def flag(name: str) -> str:
    return FLAGS.get(name, "--" + name.replace("_", "-"))


def cli_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of `cls` that are command-line options (not the config-file-only ones)."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("cli", True) and "help" in f.metadata]


def field_choices(f: dataclasses.Field, offered: bool = False) -> tuple[str, ...] | None:
    """The choices a field declares (a registry's are read now), or None for free values; `offered`:
    also the names it suggests (a picker's list)."""
    choices = f.metadata.get("choices")
    if choices is None and offered:
        choices = f.metadata.get("suggest")
    return tuple(choices() if callable(choices) else choices) if choices is not None else None


def declared_field(cls: type, name: str) -> dataclasses.Field:
    """Field `name` of dataclass `cls`, with its declaration (`option`) in its metadata."""
    return next(f for f in dataclasses.fields(cls) if f.name == name)


def choices_of(cls: type, name: str) -> tuple[str, ...]:
    """The names a picker offers for field `name` of config class `cls` (its choices or suggestions)."""
    found = field_choices(declared_field(cls, name), offered=True)
    if found is None:
        raise KeyError(f"{cls.__name__}.{name} declares no choices")
    return found


@register_flags
@dataclass
class RunSettings:
    """The settings of a run that trains a network, shared by `train` and `pretrain`."""

    dataset: str | None = option(None, f"Dataset under {DATASETS_DIR}/.")
    data: str | None = option(None, "Any folder with train/ and valid/ (or test/), or a folder of NAME_train.txt / "
                              "NAME_val.txt / NAME_test.txt `path label` lists.", cli_type=Path)
    data_root: str | None = option(None, "Lists only: the folder the lists' image paths are relative to (default: "
                                   "the lists' folder).", cli_type=Path)
    model: str = option("resnet32", "timm model name (see `ltcli models`).",
                        suggest=read_later("ltcli.models", "OFFERED_MODELS"))
    epochs: int = option(DEFAULT_EPOCHS, "Epochs to train.")
    batch_size: int = option(128, "Images per optimizer step (under torchrun: over all processes; pretrain "
                             "--method rotation trains on their 4 rotations).", flags=("--batchsize", "--batch-size"))
    lr: float = option(0.1, "Peak learning rate (SGD).")
    momentum: float = option(0.9, "SGD momentum.")
    weight_decay: float = option(5e-4, "SGD weight decay.")
    sched: str | None = option(  # None: cosine, or step at DEFAULT_EPOCHS (default_sched); pretrain: cosine
        None, "step (drops after each --lrstep stage) or cosine (to --min-lr) \\[default: step "
        f"{','.join(map(str, DEFAULT_LR_STAGES))} for {DEFAULT_EPOCHS} epochs or with --lrstep, else cosine].",
        choices=SCHEDULES)
    lr_steps: list[int] | None = option(  # None: DEFAULT_LR_STAGES (train: scaled to --epochs, default_schedule)
        None, "Epochs in each stage (60,60,40,40 or '60 60 40 40' or '[60, 60, 40, 40]'); lr x --lr-decay after "
        f"each \\[default: {','.join(map(str, DEFAULT_LR_STAGES))} for {DEFAULT_EPOCHS} epochs, scaled to --epochs by "
        "train; used with --sched step].", flags=("--lrstep",), cli_type=str,
        parse=lambda text: parse_int_list(text, "--lrstep"))
    lr_decay: float = option(0.1, "Factor applied at each step.")
    warmup_epochs: int | None = option(  # None: DEFAULT_WARMUP_EPOCHS scaled to --epochs (default_warmup)
        None, f"Epochs of linear warmup; a bare --warmup is {DEFAULT_WARMUP_EPOCHS} (the CCE tool's) \\[default: "
        f"{DEFAULT_WARMUP_EPOCHS} for {DEFAULT_EPOCHS} epochs, scaled to --epochs; as long as the run: an error].",
        flags=("--warmup",))
    min_lr: float = option(0.0, "The rate --sched cosine decays to (below --lr).")
    clip_grad: float | None = option(None, "Clip the gradients' global L2 norm to this value before each optimizer "
                                     "step (timm's dispatch_clip_grad) \\[default: no clipping].")
    height: int = option(32, "Input height.")
    width: int = option(32, "Input width.")
    hflip: float = option(0.5, "Horizontal flip probability (0 for digits/text).")
    data_cache: str = option("auto", "auto, memory (decode once, augment batches on the device) or none (stream).",
                             choices=CACHE_MODES)
    amp: str = option("auto", "Mixed precision: auto (bf16 on CUDA and on CPUs with native bf16, else off), bf16, "
                      "fp16, off.", choices=AMP_MODES)
    channels_last: str = option("auto", "channels_last memory format: auto (on for CUDA and for bf16 on CPU), on, off.",
                                choices=SWITCH_MODES)
    seed: int = option(0, "Random seed.")
    device: str = option("auto", "auto, cpu or cuda.")
    workers: int = option(DEFAULT_WORKERS, "DataLoader worker processes (default: half the CPU cores, 2 to 8).")
    threads: int | str = option("auto", "Intra-op CPU threads: auto (measure the candidates on the first steps and "
                                "again when steps slow down: fits a machine shared with other busy processes) or a "
                                "number to force.", cli_type=str, parse=parse_threads)
    strict: bool = option(False, "Decode every image first; stop if one is corrupt.")
    datasets_dir: str = option(DATASETS_DIR, "Folder of split datasets.", cli_type=Path)
    logs_dir: str = option(LOGS_DIR, "Folder of runs.", cli_type=Path)

    # A saved run's config (from_dict) was checked when the run started; rules added since then
    # (a --lrstep drop after the last epoch) must not stop it from being resumed or tested.
    saved: dataclasses.InitVar[bool] = False

    def _check_shared_numbers(self) -> None:
        for name in ("epochs", "batch_size", "height", "width"):
            at_least(self, name, 1)
        for name in ("workers", "seed", "warmup_epochs"):
            at_least(self, name, 0)
        for name in ("weight_decay", "min_lr"):
            at_least(self, name, 0.0)
        in_range(self, "lr", 0.0, math.inf, low_open=True)
        in_range(self, "lr_decay", 0.0, 1.0, low_open=True)
        in_range(self, "momentum", 0.0, 1.0, high_open=True)
        in_range(self, "hflip", 0.0, 1.0)
        if self.clip_grad is not None:
            in_range(self, "clip_grad", 0.0, math.inf, low_open=True)
        if self.seed >= 2**32:
            raise LtcliError(f"--seed must be below 2**32, got {self.seed}")
        if self.min_lr >= self.lr:
            raise LtcliError(f"--min-lr ({self.min_lr}) must be below --lr ({self.lr})")

    def _check_declared_choices(self) -> None:
        """Every field that declares choices holds one of them; exactly one of --dataset and --data."""
        for f in dataclasses.fields(self):
            choices = field_choices(f)
            if choices is not None and getattr(self, f.name) not in choices:
                raise LtcliError(f"unknown {flag(f.name)} {shown(getattr(self, f.name))}: "
                                 f"choose one of {', '.join(choices)}")
        check_device_name(self.device)
        self.threads = parse_threads(self.threads)
        if (self.dataset is None) == (self.data is None):
            raise LtcliError(f"give exactly one of --dataset NAME (under {DATASETS_DIR}/) or --data PATH")


def check_types(config: Any, lists: tuple[str, ...] = ()) -> None:
    """Each field of a config dataclass holds its declared type (int, float, bool, str; None where
    allowed) and each field named in `lists` a list: a value from JSON or Python, not only the CLI."""
    hints = {"int": int, "float": (int, float), "bool": bool, "str": str}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        kind = str(f.type).replace(" | None", "")
        if value is None and "None" in str(f.type):
            continue
        wanted = hints.get(kind)
        if wanted is None:
            continue
        if isinstance(value, bool) and kind != "bool" or not isinstance(value, wanted):
            raise LtcliError(f"{flag(f.name)} takes {_describe(kind)}, got {shown(value)}")
    for name in lists:
        value = getattr(config, name)
        if value is not None and not isinstance(value, list):
            raise LtcliError(f"{flag(name)} takes a list, got {shown(value)}")


def _describe(kind: str) -> str:
    return {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "text"}[kind]


def at_least(config: Any, name: str, low: float) -> None:
    value = getattr(config, name)
    if not math.isfinite(value) or value < low:
        raise LtcliError(f"{flag(name)} must be at least {low:g}, got {value}")


def in_range(config: Any, name: str, low: float, high: float, low_open: bool = False,
             high_open: bool = False) -> None:
    value = getattr(config, name)
    inside = math.isfinite(value) and (value > low if low_open else value >= low) and (
        value < high if high_open else value <= high)
    if not inside:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        if high == math.inf:
            interval = f"above {low:g}"
        raise LtcliError(f"{flag(name)} must be {'in ' if high != math.inf else ''}{interval}, got {value}")
