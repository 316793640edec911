"""Every list of names has one owner; each copy or derived list is pinned here, so one that drifts
from its owner (as config.json's records once did, breaking `--config RUN/config.json`) fails a test."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import typer

from ltcli.cli import app
from ltcli.config import TrainConfig
from ltcli.data.make import SPLIT_KEYS, SplitOptions
from ltcli.evaluation import TEST_KEYS, PredictOptions, TestOptions
from ltcli.metrics import (
    BINARY_VALID_COLUMNS,
    HEADLINE_KEYS,
    LOWER_IS_BETTER,
    SELECT_METRICS,
    SHOT_ACC_KEYS,
    SUMMARY_KEYS,
    VALID_COLUMNS,
    evaluate_log_probs,
    log_probabilities,
)
from ltcli.pretrain.config import PretrainConfig
from ltcli.settings import field_choices


def command_options(name: str) -> dict[str, object]:
    """The click parameters of `ltcli NAME`, by parameter name."""
    command = typer.main.get_command(app).commands[name]
    return {param.name: param for param in command.params}


def test_split_options_are_the_split_commands_and_the_studys_keys():
    fields = [f.name for f in dataclasses.fields(SplitOptions)]
    own = {"name", "src", "data_split_dir", "datasets_dir"}  # where to read and write, not how to split
    assert set(command_options("split")) - own == set(fields)
    assert SPLIT_KEYS == ("src", *(name for name in fields if name != "force"))


def test_a_study_split_section_takes_every_split_key(tmp_path):
    """Each key the study accepts but `src` is a SplitOptions field (the runner builds one from the section)."""
    values = {"ratios": "0.6,0.2,0.2", "seed": 3, "link": "copy", "imbalance_factor": 10.0, "profile": "step",
              "class_order": "a,b", "n_max": 5, "counts": None, "similar": ("a:b:0.5:0.5",), "valid_from_train": 0.1,
              "unlabeled_pool": 0.01, "unlabeled_src": "pool"}
    assert set(values) | {"src"} == set(SPLIT_KEYS)
    assert dataclasses.asdict(SplitOptions(**values, force=True)) == {**values, "force": True}


def test_test_options_are_the_test_commands_and_the_studys_keys():
    assert TEST_KEYS == tuple(f.name for f in dataclasses.fields(TestOptions))
    assert set(TEST_KEYS) <= set(command_options("test"))


@pytest.mark.parametrize(("command", "options"), [("split", SplitOptions), ("test", TestOptions),
                                                  ("predict", PredictOptions)])
def test_each_declared_option_is_its_commands_with_its_declared_help(command, options):
    """The command's flag for each declared field carries the field's help and default."""
    params = command_options(command)
    for f in dataclasses.fields(options):
        assert params[f.name].help == f.metadata["help"], f.name
        default = f.default if f.default is not dataclasses.MISSING else None
        assert params[f.name].default == default, f.name


def test_a_study_test_section_takes_every_test_key(tmp_path):
    from ltcli.study.runner import test_options
    from ltcli.study.spec import read_study

    (tmp_path / "study.yaml").write_text(
        "name: s\ntrain: {dataset: colours, model: resnet20}\ngrid: {seed: [0]}\n"
        "test: {many-shot: 50, few_shot: 5, tau_norm: '0,1', logit_adjust: null, sweep: true, "
        "sweep_metric: nll, device: cpu}\n")
    study = read_study(tmp_path / "study.yaml")
    assert set(study.test) == set(TEST_KEYS)
    options = test_options(study)
    assert options.metric_options() == {"many_min": 50, "few_max": 5}
    plan = options.plan()
    assert (plan.sweep, plan.sweep_metric, list(plan.taus)) == (True, "nll", [0.0, 1.0])


def test_train_rules_are_the_rules_names():
    from ltcli.rebalance import RULES, TRAIN_RULES, TrainRule

    assert [name.lower() for name in TRAIN_RULES] == list(RULES)
    for name in TRAIN_RULES:
        assert TrainRule.create(name, epochs=10).name == name


def test_cifar_models_are_the_ones_registered_with_timm():
    import timm

    from ltcli.models import CIFAR_MODELS, list_models

    assert set(CIFAR_MODELS) == set(timm.list_models(module="cifar_resnet")) == {
        "resnet20", "resnet32", "resnet44", "resnet56", "resnet110"}
    assert set(CIFAR_MODELS) <= set(list_models("resnet*"))


@pytest.mark.parametrize("num_classes", [2, 4])
def test_every_metric_name_is_one_the_metrics_compute(num_classes):
    """SUMMARY_KEYS and VALID_COLUMNS name keys evaluate_log_probs really returns."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(40, num_classes))
    labels = np.arange(40) % num_classes
    metrics = evaluate_log_probs(log_probabilities(logits), labels, class_counts=[150, 50, 10, 5][:num_classes])
    assert set(SUMMARY_KEYS) <= set(metrics) and set(VALID_COLUMNS) <= set(metrics)
    assert set(SUMMARY_KEYS) == {*VALID_COLUMNS, *SHOT_ACC_KEYS, *BINARY_VALID_COLUMNS}


def test_the_chosen_metric_lists_name_metrics():
    from ltcli.app.catalog import CURVE_METRICS
    from ltcli.cli.listing import TABLE_TEST_KEYS
    from ltcli.study.results import GROUPS, METRICS

    assert set(LOWER_IS_BETTER) <= set(SELECT_METRICS) and SELECT_METRICS == ("loss", *VALID_COLUMNS)
    for chosen in (HEADLINE_KEYS, METRICS, GROUPS, [key for key, _ in TABLE_TEST_KEYS]):
        assert set(chosen) <= set(SUMMARY_KEYS), chosen
    assert set(CURVE_METRICS) <= set(VALID_COLUMNS)


def test_the_select_metric_help_names_every_column_and_which_are_minimised():
    """'... (highest wins); loss, nll, ece (lowest wins).': the two groups are the owner's."""
    help_text = next(f for f in dataclasses.fields(TrainConfig) if f.name == "select_metric").metadata["help"]
    highest, lowest = re.fullmatch(r".*?: (.*) \(highest wins\); (.*) \(lowest wins\)\.", help_text).groups()
    named = set(re.findall(r"[a-z][a-z0-9_]*[A-Z_]*", highest.replace("and on binary tasks", "")))
    assert named == {*(set(SELECT_METRICS) - LOWER_IS_BETTER), *BINARY_VALID_COLUMNS, "tpauc_ALPHA_BETA"}
    assert set(lowest.split(", ")) == set(LOWER_IS_BETTER)


def declared_choice_fields() -> list:
    found = []
    for cls in (TrainConfig, PretrainConfig, SplitOptions, TestOptions):
        for f in dataclasses.fields(cls):
            choices = field_choices(f, offered=True) if "help" in f.metadata else None
            if choices:
                found.append(pytest.param(f, choices, id=f"{cls.__name__}.{f.name}"))
    return found


@pytest.mark.parametrize(("field", "choices"), declared_choice_fields())
def test_a_help_that_spells_choices_spells_them_all(field, choices):
    """A help text naming two or more of its field's choices names every one (objective names are
    listed by `ltcli objectives` instead, and a help naming none is not a list)."""
    words = set(re.findall(r"[\w+-]+", field.metadata["help"]))
    named = [choice for choice in choices if choice in words]
    assert len(named) < 2 or set(named) == set(choices), f"{field.name}: help lacks {set(choices) - set(named)}"


@pytest.mark.parametrize(("command", "parameter", "owner"), [
    ("download", "name", "ltcli.data.download:DOWNLOADS"),
    ("split", "link", "ltcli.data.split:LINK_MODES"),
    ("split", "profile", "ltcli.data.longtail:PROFILES"),
    ("test", "split_name", "ltcli.workflows:TEST_SPLITS"),
    ("plot", "kind", "ltcli.cli.plot:KINDS"),
    ("plot", "split_name", "ltcli.workflows:TEST_SPLITS"),
    ("study", "executor", "ltcli.study.runner:EXECUTORS"),
])
def test_a_commands_help_names_every_choice_its_owner_holds(command, parameter, owner):
    import importlib

    module, name = owner.split(":")
    choices = tuple(getattr(importlib.import_module(module), name))
    help_text = command_options(command)[parameter].help
    assert all(re.search(rf"(?<![\w-]){re.escape(choice)}(?![\w-])", help_text) for choice in choices), help_text
