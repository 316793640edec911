"""Bounds on sizes, counts and epochs (ltcli.bounds): checked by TrainConfig and PretrainConfig, so
the CLI, a config file and the web app refuse the same values with one line, before any run folder."""

from __future__ import annotations

import pytest

from ltcli import bounds
from ltcli.config import TrainConfig
from ltcli.errors import LtcliError
from ltcli.pretrain.config import PretrainConfig

OK = dict(dataset="d", height=32, width=32, batch_size=128, epochs=10, workers=2)


@pytest.mark.parametrize(("given", "message"), [
    ({"epochs": 10**20}, "--epochs must be at most 100000, got 100000000000000000000"),
    ({"epochs": 100_001}, "--epochs must be at most 100000"),
    ({"height": 100_000, "width": 100_000}, "--height must be at most 4096, got 100000"),
    ({"width": 4097}, "--width must be at most 4096, got 4097"),
    ({"batch_size": 65_537}, "--batchsize must be at most 65536"),
    ({"workers": 65}, "--workers must be at most 64, got 65"),
    ({"objective": "RIDE", "objective_options": {"num_experts": 100}},
     r"objective RIDE: num_experts must be in \[1, 16\], got 100"),
    ({"objective": "PaCo", "objective_options": {"queue": 10**9}}, r"queue must be in \[1, 65536\]"),
    ({"objective": "PaCo", "objective_options": {"dim": 10**6}}, r"dim in \[1, 4096\]"),
])
def test_a_train_config_past_a_bound_is_refused(given, message):
    with pytest.raises(LtcliError, match=message):
        TrainConfig.create(**{**OK, **given})


def test_the_bounds_themselves_are_accepted():
    config = TrainConfig.create(dataset="d", epochs=100_000, height=64, width=4096, batch_size=2, workers=64,
                                objective="RIDE", objective_options={"num_experts": 16})
    assert (config.epochs, config.width, config.objective_options["num_experts"]) == (100_000, 4096, 16)


def test_one_batch_must_fit_in_an_eighth_of_the_machine(monkeypatch):
    monkeypatch.setattr(bounds, "machine_memory", lambda: 2**30)  # a 1 GB machine: 128 MB a batch at most
    # 128 x 3 x 256 x 256 x 4 bytes = 96 MB: fits; x 2 views (MoCo) = 192 MB: does not
    TrainConfig.create(**{**OK, "height": 256, "width": 256})
    with pytest.raises(LtcliError, match=r"--batchsize 128 of 512x256 images is 192\.0 MB of input a batch, over "
                                         r"1/8 of this machine's 1\.0 GB of memory"):
        TrainConfig.create(**{**OK, "height": 512, "width": 256})
    with pytest.raises(LtcliError, match=r"--batchsize 128 x 2 views of 256x256 images is 192\.0 MB"):
        PretrainConfig(method="moco", dataset="d", height=256, width=256, batch_size=128)
    # a saved run's config (test, resume on another machine) is not refused for this machine's memory
    saved = TrainConfig.create(**{**OK, "height": 256, "width": 256}).to_dict()
    saved.update(height=512)
    assert TrainConfig.from_dict(saved).height == 512


@pytest.mark.parametrize(("given", "message"), [
    ({"epochs": 10**20}, "--epochs must be at most 100000"),
    ({"height": 100_000}, "--height must be at most 4096"),
    ({"moco_queue": 10**7, "method": "moco"}, "--moco-queue must be at most 65536"),
    ({"moco_dim": 10**5, "method": "moco"}, "--moco-dim must be at most 4096"),
])
def test_a_pretrain_config_past_a_bound_is_refused(given, message):
    with pytest.raises(LtcliError, match=message):
        PretrainConfig(**{"dataset": "d", **given})


@pytest.mark.parametrize(("args", "message"), [
    (("--epochs", "100000000000000000000"), "error: --epochs must be at most 100000, got 100000000000000000000"),
    (("--height", "100000", "--width", "100000"), "error: --height must be at most 4096, got 100000"),
    (("--objective", "RIDE", "--opt", "num_experts=100"),
     "error: objective RIDE: num_experts must be in [1, 16], got 100"),
])
def test_the_cli_refuses_with_one_line_and_writes_nothing(cli, split_dataset, tmp_path, args, message):
    result = cli("train", "--dataset", "colours", "--device", "cpu", *args, ok=False)
    assert result.exit_code == 1 and result.output.strip() == message
    assert not (tmp_path / "logs").exists()
