"""TrainConfig checks itself: every bad value is one LtcliError naming the flag, whoever builds the config."""

from __future__ import annotations

import dataclasses
import math

import pytest

from ltcli.config import DEFAULT, TrainConfig
from ltcli.errors import LtcliError
from ltcli.objectives import get_objective_entry, list_objectives


def config(**changes) -> TrainConfig:
    return TrainConfig(**{"dataset": "d", **changes})


@pytest.mark.parametrize(("changes", "message"), [
    ({"lr": -0.1}, "--lr must be above 0"),
    ({"lr": 0.0}, "--lr must be above 0"),
    ({"lr": math.nan}, "--lr must be above 0"),
    ({"momentum": -1.0}, "--momentum must be in [0, 1)"),
    ({"weight_decay": -1.0}, "--weight-decay must be at least 0"),
    ({"height": 0}, "--height must be at least 1"),
    ({"width": -3}, "--width must be at least 1"),
    ({"workers": -1}, "--workers must be at least 0"),
    ({"hflip": 5.0}, "--hflip must be in [0, 1]"),
    ({"warmup_epochs": -2}, "--warmup must be at least 0"),
    ({"lr_decay": -1.0}, "--lr-decay must be in (0, 1]"),
    ({"lr_steps": [5, 5], "epochs": 1}, "--lrstep 5,5 drops the rate at epoch(s) 5, but the run has only 1"),
    ({"lr_steps": [2, 0]}, "--lrstep needs positive whole stage lengths"),
    ({"epochs": 0}, "--epochs must be at least 1"),
    ({"batch_size": 0}, "--batchsize must be at least 1"),
    ({"ema_decay": 1.0}, "--ema-decay must be in [0, 1)"),
    ({"mix_prob": 1.5}, "--mix-prob must be in [0, 1]"),
    ({"cb_beta": 1.0, "train_rule": "Reweight"}, "--cb-beta must be in [0, 1)"),
    ({"min_lr": 0.5}, "--min-lr (0.5) must be below --lr (0.1)"),
    ({"seed": -1}, "--seed must be at least 0"),
    ({"sched": "linear"}, "unknown --sched 'linear'"),
    ({"augment": "heavy"}, "unknown --augment 'heavy'"),
    ({"select_metric": "lr"}, "unknown --select-metric 'lr'"),
    ({"device": "tpu"}, "unknown --device 'tpu'"),
    ({"freeze": "head"}, "unknown --freeze 'head'"),
    ({"train_rule": "Oversample"}, "unknown --train-rule 'Oversample'"),
    ({"train_rule": "DRW", "drw_epoch": 300}, "--drw-epoch must be in [0, 200)"),
    ({"pos_neg_ratio": "1:10"}, "--pos-neg-ratio stratifies binary tasks"),
    ({"dataset": None}, "give exactly one of --dataset"),
    ({"lr": "0.1"}, "--lr takes a number, got '0.1'"),
    ({"epochs": 2.5}, "--epochs takes a whole number"),
    ({"nesterov": True, "momentum": 0.0}, "--nesterov needs a momentum above 0"),
    ({"objective": "NoSuchLoss"}, "unknown objective 'NoSuchLoss'"),
])
def test_bad_values_are_one_line_errors(changes, message):
    with pytest.raises(LtcliError) as error:
        config(**changes)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(("objective", "options", "message"), [
    ("CCE", {"gamma": "abc"}, "objective CCE: option gamma takes a finite number, got 'abc'"),
    ("LA", {"tau": None}, "objective LA: option tau takes a finite number, got None"),
    ("LADE", {"alpha": [1]}, "objective LADE: option alpha takes a finite number, got [1]"),
    ("TPAUC", {"epoch_to_paced": 2.5}, "option epoch_to_paced takes a whole number"),
    ("CCE", {"gama": 1.0}, "objective CCE does not take gama"),
])
def test_objective_options_are_checked_before_anything_is_written(objective, options, message):
    with pytest.raises(LtcliError) as error:
        config(objective=objective, objective_options=options)
    assert message in str(error.value)


def test_per_class_options_wait_for_the_class_counts():
    """A per-class value cannot be checked without the counts: the config checks its type only (the
    objective, built before any run folder exists, checks the length); scalar ranges are checked."""
    assert config(objective="FL", objective_options={"alpha": [0.1] * 10}).objective_options["alpha"] == [0.1] * 10
    with pytest.raises(LtcliError, match="objective FL: gamma must be >= 0"):
        config(objective="FL", objective_options={"gamma": -1.0, "alpha": [0.1] * 10})


def test_a_saved_config_is_taken_as_it_ran():
    """Runs of an older ltcli stored the default stages [60, 60, 40, 40] for short runs too: resuming
    one must not fail on a rule added later; a new config with the same stages is refused."""
    saved = {**TrainConfig(dataset="d", epochs=3).to_dict(), "sched": "step", "lr_steps": [60, 60, 40, 40],
             "warmup_epochs": 5}
    resumed = TrainConfig.from_dict(saved)
    assert (resumed.lr_stages, resumed.warmup_epochs) == ([60, 60, 40, 40], 5)
    with pytest.raises(LtcliError, match="drops the rate at epoch"):
        TrainConfig(**{k: v for k, v in saved.items() if k != "schedule_scaled"})


def test_options_of_the_right_kind_are_conformed():
    made = config(objective="cce", objective_options={"gamma": 2})  # an int where a float is wanted
    assert made.objective == "CCE" and made.objective_options == {"gamma": 2.0}
    assert isinstance(made.objective_options["gamma"], float)
    assert config(objective="FL", objective_options={"alpha": [0.25, 0.75]}).objective_options["alpha"] == [0.25, 0.75]


@pytest.mark.parametrize("name", list_objectives())
def test_every_objective_builds_with_its_defaults(name):
    """Each registered objective's own defaults pass the checks (found from the registry, not by name)."""
    defaults = get_objective_entry(name).options
    assert config(objective=name, objective_options=defaults).objective == name


def test_defaults_live_in_one_place():
    """The CLI's option defaults are TrainConfig's: --help shows what a config without the flag gets."""
    import inspect

    from ltcli.cli.train import train

    parameters = inspect.signature(train).parameters  # generated from TrainConfig's fields: the same names
    checked = 0
    for field, parameter in parameters.items():
        if field in DEFAULT.__dict__ and parameter.default is not None and field not in ("datasets_dir", "logs_dir"):
            assert parameter.default == getattr(DEFAULT, field), field
            checked += 1
    assert checked >= 30
    assert {f.name for f in dataclasses.fields(TrainConfig)} >= set(DEFAULT.__dict__)


# --- combinations refused by the config itself (no runtime state needed) ---------------------------------
def test_a_rule_the_objective_cannot_take_is_refused_by_the_config_with_the_rules_own_message():
    """The rule x objective check reads only class flags: the config refuses it, with the message
    TrainRule.check gives on a built objective, so the CLI, config files and the app refuse it before
    anything is queued or written."""
    from ltcli.objectives import create_objective
    from ltcli.rebalance import TrainRule

    with pytest.raises(LtcliError) as built:
        TrainRule.create("DRW", epochs=10).check("BSCE", create_objective("BSCE", [5, 2]))
    with pytest.raises(LtcliError) as error:
        config(objective="bsce", train_rule="drw", epochs=10)
    assert str(error.value) == str(built.value)
    assert str(error.value).startswith("--train-rule DRW with BSCE is refused: BSCE already corrects for the training "
                                       "prior") and "\n" not in str(error.value)
    assert config(objective="LDAM", train_rule="DRW", epochs=10).rule.drw_epoch == 8  # LDAM-DRW itself is fine


def test_mixing_a_multi_view_objective_is_refused_by_the_config():
    with pytest.raises(LtcliError, match="--mixup/--cutmix mix single images; PaCo trains on 2 views"):
        config(objective="PaCo", cutmix=1.0)


def test_the_rule_is_built_once_by_the_validation_and_is_the_one_the_run_trains_with(monkeypatch):
    from ltcli.engine import assemble
    from ltcli.rebalance import TrainRule

    built = []
    original = TrainRule.create.__func__
    monkeypatch.setattr(TrainRule, "create",
                        classmethod(lambda cls, *a, **k: built.append(a) or original(cls, *a, **k)))
    made = config(train_rule="DRW", epochs=10, drw_epoch=3)
    assert made.rule.drw_epoch == 3 and made.rule.class_weights(2, [5, 1]) is None  # DRW waits until epoch 3
    assert len(built) == 1  # reading config.rule builds nothing again
    assert "TrainRule.create" not in open(assemble.__file__, encoding="utf-8").read()  # the engine takes config.rule


def test_the_objective_is_put_together_in_one_place():
    """build_objective: --opt options, --epochs for an objective paced over training, per-class lists
    only with the real counts."""
    made = config(objective="FeaBal", epochs=7, objective_options={"lam": 3})
    objective = made.build_objective([4, 2, 1])
    assert (objective.num_classes, objective.lam, objective.epochs) == (3, 3.0, 7)
    focal = config(objective="FL", objective_options={"alpha": [0.2, 0.8], "gamma": 2})
    assert focal.build_objective([3, 1]).alpha.tolist() == pytest.approx([0.2, 0.8])
    with pytest.raises(LtcliError, match="alpha needs one value per class"):
        focal.build_objective([3, 2, 1])


@pytest.mark.parametrize("objective, options, message", [
    ("FL", {"gamma": -1}, "gamma must be >= 0"), ("CE", {"label_smoothing": 1.0}, "label_smoothing must be in"),
    ("PaCo", {"queue": 0}, "queue must be in"), ("RIDE", {"num_experts": 0}, "num_experts must be in"),
    ("LAS", {"shape": "exp"}, "shape exp takes a power"), ("TPAUC", {"re_scheme": "cubic"}, "re_scheme must be"),
])
def test_validation_checks_option_ranges_without_building_the_objective(monkeypatch, objective, options, message):
    """The config refuses a bad value in one line, and builds no objective to find out (the engine builds
    it once, on the real class counts): the class's constructor is made to fail here."""
    import functools

    from ltcli.objectives import get_objective_entry

    cls = get_objective_entry(objective).cls

    @functools.wraps(cls.__init__)  # the same signature: the registry reads the options' names from it
    def never(*args, **kwargs):
        raise AssertionError(f"{objective} was built")

    monkeypatch.setattr(cls, "__init__", never)
    config(objective=objective)  # the defaults pass, nothing built
    with pytest.raises(LtcliError, match=message):
        config(objective=objective, objective_options=options)
