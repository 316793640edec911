"""The schedule a run gets when it names none, and old runs keeping the schedule they trained with."""

from __future__ import annotations

import json
import math

import pytest
import torch

from ltcli.config import TrainConfig
from ltcli.config_file import read_config_file
from ltcli.engine.schedule import create_scheduler
from ltcli.schedule_rules import default_sched


def lrs_per_epoch(config: TrainConfig, updates_per_epoch: int = 4) -> list[float]:
    """The rate of each epoch's first update, from the scheduler a run of `config` builds."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=config.lr)
    scheduler = create_scheduler(optimizer, config.sched, config.epochs, updates_per_epoch, config.lr_stages,
                                 config.lr_decay, config.warmup_epochs, config.min_lr)
    lrs, updates = [], 0
    for _ in range(config.epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        for _ in range(updates_per_epoch):
            updates += 1
            scheduler.step_update(num_updates=updates)
    return lrs


@pytest.mark.parametrize(("epochs", "given", "expected"), [
    (200, False, "step"), (4, False, "cosine"), (30, False, "cosine"), (199, False, "cosine"), (400, False, "cosine"),
    (30, True, "step"),
])
def test_default_sched(epochs, given, expected):
    assert default_sched(epochs, stages_given=given) == expected


def test_a_short_default_run_decays_by_cosine_to_zero():
    """4 epochs of 4 updates, no warmup: update t runs at 0.1 * (1 + cos(pi * t / 16)) / 2 (timm's cosine)."""
    config = TrainConfig(dataset="d", epochs=4, lr=0.1)
    expected = [0.1 * (1 + math.cos(math.pi * 4 * e / 16)) / 2 for e in range(4)]
    assert lrs_per_epoch(config) == pytest.approx(expected, rel=1e-6)
    # The old default (stages 1,1,1,1) ran epochs 2-4 at a tenth of the rate or less.
    assert lrs_per_epoch(TrainConfig(dataset="d", epochs=4, lr=0.1, sched="step")) == pytest.approx(
        [0.1, 0.01, 0.001, 0.0001])


# config.json of a 4-epoch run made before the default became cosine: the step stages were the
# 200-epoch ones scaled, recorded as scaled.
OLD_RECORD = {"dataset": "colours", "epochs": 4, "lr": 0.1, "sched": "step", "lr_steps": [1, 1, 1, 1],
              "warmup_epochs": 0, "schedule_scaled": ["warmup_epochs", "lr_steps"], "amp_resolved": "off",
              "versions": {"torch": "x"}}


def test_an_old_run_resumes_with_the_schedule_it_trained_with():
    config = TrainConfig.from_dict(OLD_RECORD)  # what --resume and `ltcli test` build from a checkpoint's config
    assert (config.sched, config.lr_stages, config.warmup_epochs) == ("step", [1, 1, 1, 1], 0)
    assert lrs_per_epoch(config) == pytest.approx([0.1, 0.01, 0.001, 0.0001])


def test_an_old_config_json_restarts_with_the_schedule_it_trained_with(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(OLD_RECORD))
    values = read_config_file(path)
    assert values["sched"] == "step" and "lr_steps" not in values  # the scaled stages are scaled again
    config = TrainConfig.create(**values)
    assert (config.sched, config.lr_stages, config.warmup_epochs) == ("step", [1, 1, 1, 1], 0)


def test_a_new_run_records_a_default_sched_as_a_default(tmp_path):
    record = {**TrainConfig(dataset="colours", epochs=10).to_dict(), "versions": {"torch": "x"}}
    assert record["sched"] == "cosine" and "sched" in record["schedule_scaled"]
    assert TrainConfig.from_dict(record).sched == "cosine"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(record))
    values = read_config_file(path)
    assert "sched" not in values  # chosen for the epochs: --config with --epochs 200 gets the 200-epoch steps
    assert TrainConfig.create(**{**values, "epochs": 200}).sched == "step"
