"""The train command and its option parsing."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from ltcli.cli import options
from ltcli.cli.app import app, console, friendly
from ltcli.cli.compat import SourceToolCommand
from ltcli.config import DEFAULT, TrainConfig, describe_schedule
from ltcli.errors import LtcliError
from ltcli.settings import DEFAULT_EPOCHS, DEFAULT_LR_STAGES, DEFAULT_WARMUP_EPOCHS

ALIAS_PANEL = "Options of the tools ltcli replaces (each sets one objective's option)"
# TrainConfig fields whose `train` parameter has another name (the rest share it).
PARAMETERS = {"batch_size": "batchsize", "lr_steps": "lrstep", "warmup_epochs": "warmup", "compile": "compile_model"}


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
    """'60,60,40,40', '60 60 40 40' and '[60, 60, 40, 40]' (the CCE tool's form) -> [60, 60, 40, 40]."""
    inner = text.strip()
    if inner.startswith("[") and inner.endswith("]"):
        inner = inner[1:-1]
    try:
        return [int(v) for v in re.split(r"[\s,]+", inner) if v]
    except ValueError:
        raise LtcliError(f"{option} takes whole numbers separated by commas or spaces, got {text!r}") from None


@app.command(cls=SourceToolCommand)
@friendly
def train(
    ctx: typer.Context,
    dataset: options.DatasetOption = None,
    data: options.DataOption = None,
    data_root: options.DataRootOption = None,
    model: options.ModelOption = DEFAULT.model,
    model_index: Annotated[int | None, typer.Option(
        "--model-index", "--model_index", help="The CCE tool's model number (its get_model.py), in place of "
        "--model: see `ltcli models --index`.")] = None,
    objective: Annotated[str, typer.Option(help="Loss (see `ltcli objectives`).")] = DEFAULT.objective,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = DEFAULT.epochs,
    batchsize: Annotated[int, typer.Option(
        "--batchsize", "--batch-size", help="Images per optimizer step (under torchrun: over all processes).")
    ] = DEFAULT.batch_size,
    lr: options.LrOption = DEFAULT.lr,
    momentum: options.MomentumOption = DEFAULT.momentum,
    weight_decay: options.WeightDecayOption = DEFAULT.weight_decay,
    sched: Annotated[str | None, typer.Option(
        help="step (drops after each --lrstep stage) or cosine (to --min-lr) \\[default: step "
        f"{','.join(map(str, DEFAULT_LR_STAGES))} for {DEFAULT_EPOCHS} epochs or with --lrstep, else cosine].")
    ] = None,
    lrstep: Annotated[str | None, typer.Option(
        help="Epochs in each stage (60,60,40,40 or '60 60 40 40' or '[60, 60, 40, 40]'); lr x --lr-decay after "
        f"each \\[default: {','.join(map(str, DEFAULT_LR_STAGES))} for {DEFAULT_EPOCHS} epochs, scaled to --epochs; "
        "used with --sched step].")
    ] = None,
    lr_decay: options.LrDecayOption = DEFAULT.lr_decay,
    warmup: Annotated[int | None, typer.Option(
        help=f"Epochs of linear warmup; a bare --warmup is {DEFAULT_WARMUP_EPOCHS} (the CCE tool's) "
        f"\\[default: {DEFAULT_WARMUP_EPOCHS} for {DEFAULT_EPOCHS} epochs, scaled to --epochs].")] = None,
    height: options.HeightOption = DEFAULT.height,
    width: options.WidthOption = DEFAULT.width,
    augment: Annotated[str, typer.Option(help="auto, cifar (pad-crop+flip), timm, none.")] = DEFAULT.augment,
    hflip: options.HflipOption = DEFAULT.hflip,
    data_cache: options.DataCacheOption = DEFAULT.data_cache,
    amp: options.AmpOption = DEFAULT.amp,
    channels_last: options.ChannelsLastOption = DEFAULT.channels_last,
    compile_model: Annotated[
        bool, typer.Option("--compile", help="torch.compile the model (slow start).")
    ] = DEFAULT.compile,
    mixup: Annotated[float, typer.Option(help="Mixup alpha (timm Mixup, one mix per batch); 0 = off.")] = DEFAULT.mixup,
    cutmix: Annotated[float, typer.Option(help="CutMix alpha; 0 = off.")] = DEFAULT.cutmix,
    mix_prob: Annotated[float, typer.Option(help="Chance a batch is mixed.")] = DEFAULT.mix_prob,
    mix_switch_prob: Annotated[
        float, typer.Option(help="Chance of CutMix rather than mixup when both on.")
    ] = DEFAULT.mix_switch_prob,
    ema_decay: Annotated[float, typer.Option(
        help="Keep an EMA of the weights (e.g. 0.999, timm ModelEmaV3 with warmup) and validate/test it; 0 = off."
    )] = DEFAULT.ema_decay,
    sync_bn: Annotated[
        bool, typer.Option(help="torchrun on GPUs: BatchNorm over all processes' batches.")
    ] = DEFAULT.sync_bn,
    weights: Annotated[Path | None, typer.Option(help="Start from a local state dict or checkpoint file.")] = None,
    init_from: Annotated[Path | None, typer.Option(help="Start from an earlier run's best checkpoint.")] = None,
    freeze: Annotated[
        str, typer.Option(help="What stays fixed: none; backbone (the classifier trains, cRT); backbone-except-bn "
                          "(classifier and BatchNorm train, MiSLAS); backbone+classifier (only LWS scales train); "
                          "all (only BatchNorm trains: shift learning).")
    ] = DEFAULT.freeze,
    reinit_head: Annotated[bool, typer.Option(
        help="Leave the classifier of --init-from/--weights out: start from a fresh one (cRT).")
    ] = DEFAULT.reinit_head,
    allow_partial: Annotated[bool, typer.Option(
        help="Train from --weights/--init-from even when fewer than half of the backbone's tensors fit.")
    ] = DEFAULT.allow_partial,
    head: Annotated[str, typer.Option(
        help="plain, or lws: each class's logit times a learned scale (Kang et al. 2020).")] = DEFAULT.head,
    recipe: Annotated[str | None, typer.Option(
        help="Second stage of a two-stage method, from --init-from/--weights: crt, lws or mislas; fills the "
        "options not given (see README).")] = None,
    opt: Annotated[list[str] | None, typer.Option(help="Objective option KEY=VALUE (repeatable).")] = None,
    train_rule: Annotated[
        str, typer.Option(help="None, Reweight, Resample, SqrtResample or DRW.")
    ] = DEFAULT.train_rule,
    drw_epoch: Annotated[
        int | None, typer.Option(help="Epoch DRW starts re-weighting (default: 80%).")
    ] = DEFAULT.drw_epoch,
    cb_beta: Annotated[float, typer.Option(help="beta of the effective-number class weights.")] = DEFAULT.cb_beta,
    positive_classes: Annotated[
        str | None, typer.Option(help="Binary task: these classes (comma separated) are positive, the rest negative; "
                                 "or a class2id JSON file (class name -> 0/1).")
    ] = None,
    tpauc: Annotated[list[str] | None, typer.Option(
        help="Binary task: log TPAUC(ALPHA,BETA) as valid.csv's tpauc_ALPHA_BETA each epoch (repeatable) "
        "[default: 0.5,0.5].")] = None,
    pos_neg_ratio: Annotated[
        str | None, typer.Option(help="Binary task: POS:NEG per batch, e.g. 1:10 (for pairwise AUC losses).")
    ] = None,
    unlabeled: Annotated[Path | None, typer.Option(
        help="Folder of unlabeled images (any layout) or a .txt list of their paths, pseudo-labelled by "
             "--pseudo-labels-from and trained on.")
    ] = None,
    pseudo_labels_from: Annotated[str | None, typer.Option(
        help="Run (folder or stamp) whose predictions label --unlabeled (Yang & Xu 2020); its classes must be the "
        "dataset's.")] = None,
    pseudo_threshold: Annotated[float, typer.Option(
        help="Keep a pseudo-label only at this top-1 probability or more; 0 keeps all (the paper's rule).")
    ] = DEFAULT.pseudo_threshold,
    pretrained: Annotated[bool, typer.Option(help="Start from timm's pretrained weights.")] = DEFAULT.pretrained,
    seed: options.SeedOption = DEFAULT.seed,
    device: options.DeviceOption = DEFAULT.device,
    workers: options.WorkersOption = DEFAULT.workers,
    strict: options.StrictOption = DEFAULT.strict,
    resume: Annotated[
        str | None, typer.Option(help="Continue an interrupted run (its folder, a checkpoint .pt in it, or its "
                                 "stamp); its own settings apply.")
    ] = None,
    datasets_dir: options.DatasetsDirOption = Path(DEFAULT.datasets_dir),
    logs_dir: options.LogsDirOption = Path(DEFAULT.logs_dir),
    select_metric: Annotated[str, typer.Option(
        help="Validation column that picks the best checkpoint: acc, balanced_acc, macro_f1, gmean_recall, "
        "hmean_recall, lowest_recall, top5acc, and on binary tasks auroc, tpauc_ALPHA_BETA (highest wins); loss, "
        "nll, ece (lowest wins).")] = DEFAULT.select_metric,
    name: Annotated[str, typer.Option(help="Experiment name, kept in config.json and shown by `ltcli runs`.")
                    ] = DEFAULT.name,
    config_file: Annotated[Path | None, typer.Option(
        "--config", help="YAML file of options (keys: option names; a run's config.json works too); options "
        "typed here win. See recipes/.")] = None,
    **aliases: Any,
) -> None:
    """Train a model; the run goes to logs/<model>/<dataset>/<objective>/<YYYY-MM-DD-HH-MM-SS>/."""
    from ltcli.engine.train import fit, resume_run
    from ltcli.runs import resume_target

    if resume is not None:
        if config_file is not None:
            raise LtcliError("--resume continues a run with its own settings: drop --config")
        resume_run(resume_target(logs_dir, resume), console)
        return
    options = {**parse_objective_options(opt or []), **alias_options(objective, aliases)}
    values = dict(
        dataset=dataset, data=str(data) if data else None, data_root=str(data_root) if data_root else None,
        model=model, objective=objective,
        objective_options=options, train_rule=train_rule, drw_epoch=drw_epoch, cb_beta=cb_beta,
        positive_classes=positive_classes.split(",") if positive_classes else None, pos_neg_ratio=pos_neg_ratio,
        tpauc=list(tpauc) if tpauc else None, unlabeled=str(unlabeled) if unlabeled else None,
        pseudo_labels_from=pseudo_labels_from, pseudo_threshold=pseudo_threshold,
        epochs=epochs, batch_size=batchsize, lr=lr, momentum=momentum, weight_decay=weight_decay, sched=sched,
        lr_steps=parse_int_list(lrstep, "--lrstep") if lrstep is not None else None, lr_decay=lr_decay,
        warmup_epochs=warmup, height=height, width=width, augment=augment, hflip=hflip, data_cache=data_cache,
        amp=amp, channels_last=channels_last, compile=compile_model, mixup=mixup, cutmix=cutmix,
        mix_prob=mix_prob, mix_switch_prob=mix_switch_prob, ema_decay=ema_decay, sync_bn=sync_bn,
        weights=str(weights) if weights else None, init_from=str(init_from) if init_from else None, freeze=freeze,
        pretrained=pretrained, seed=seed, device=device, workers=workers, datasets_dir=str(datasets_dir),
        logs_dir=str(logs_dir), strict=strict, select_metric=select_metric, reinit_head=reinit_head, head=head,
        allow_partial=allow_partial,
        recipe=recipe, name=name,
    )
    given = given_options(ctx, values)
    if model_index is not None:
        from ltcli.models.source_index import model_for_index

        if "model" in given:
            raise LtcliError("give --model NAME or --model_index N, not both")
        given["model"] = model_for_index(model_index)
    if config_file is not None:
        from ltcli.config_file import merge_given, read_config_file

        given = merge_given(read_config_file(config_file), given)
    config = TrainConfig.create(**given)
    if config.recipe is not None:
        console.print(describe_recipe(config, given))
    default = describe_default_schedule(config)
    # said once the run exists: a setting refused while the run is built stays a one-line error
    fit(config, console, on_start=None if default is None else lambda run: console.print(default))


def describe_default_schedule(config: TrainConfig) -> str | None:
    """One line: the schedule a run got when it left part of it out (None when all was given)."""
    from ltcli.settings import flag

    left_out = "/".join(flag(name) for name in config.scaled if name != "lr_steps" or config.sched == "step")
    if not left_out:
        return None
    return f"schedule: {describe_schedule(config)} (the default for {config.epochs} epochs: {left_out} not given)"


def given_options(ctx: typer.Context, values: dict[str, Any]) -> dict[str, Any]:
    """The options typed on the command line (or set from the environment), so that a --recipe
    fills only the others; objective options count as given when any was set."""
    given = {}
    for name, value in values.items():
        if name == "objective_options":
            typed = bool(value)  # from --opt and the alias flags together
        else:
            source = ctx.get_parameter_source(PARAMETERS.get(name, name))
            typed = source is not None and source.name != "DEFAULT"
        if typed:
            given[name] = value
    return given


def describe_recipe(config: TrainConfig, given: dict[str, Any]) -> str:
    """One line: the values the recipe set (the options given on the command line are not listed)."""
    from ltcli.recipes import get_recipe
    from ltcli.settings import flag

    filled = get_recipe(config.recipe).fill(given)
    settings = " ".join(flag(name) if value is True else f"{flag(name)} {value}" for name, value in filled.items())
    return f"recipe {config.recipe}: {settings}"


def alias_table() -> dict[str, tuple[str, str, str]]:
    """Parameter name -> (flag, objective, option) for every alias an objective declares."""
    from ltcli.objectives import get_objective_entry, list_objectives

    table = {}
    for name in list_objectives():
        entry = get_objective_entry(name)
        for flag, option in entry.aliases.items():
            table[flag.replace("-", "_")] = (f"--{flag}", entry.name, option)
    return table


def alias_options(objective: str, values: dict[str, Any]) -> dict[str, Any]:
    """The objective options set through alias flags; an alias of another objective is an error."""
    from ltcli.objectives import get_objective_entry

    entry = get_objective_entry(objective)
    options = {}
    for parameter, (flag, owner, option) in alias_table().items():
        value = values.get(parameter)
        if value is None:
            continue
        if owner != entry.name:
            raise LtcliError(f"{flag} applies to {owner}, not {entry.name}: use --opt KEY=VALUE for its options")
        options[option] = parse_option_value(value)
    return options


def declare_aliases(command: Any) -> None:
    """Give `command` one --flag per objective alias (help from the registry), in place of **aliases."""
    signature = inspect.signature(command, eval_str=True)  # the Annotated options, not their source text
    fixed = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    declared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            str | None, typer.Option(flag, help=f"{owner}'s {option} (as --opt {option}=VALUE).",
                                     rich_help_panel=ALIAS_PANEL)])
        for name, (flag, owner, option) in alias_table().items()
    ]
    command.__signature__ = signature.replace(parameters=[*fixed, *declared])


declare_aliases(train)
