"""`ltcli pretrain` scales or refuses a whole-run warmup exactly as `ltcli train` does (one rule,
`schedule_rules.default_warmup` / `schedule_rules.check_warmup`, shared by both configs)."""

from __future__ import annotations

import pytest

from ltcli.config import TrainConfig
from ltcli.errors import LtcliError
from ltcli.pretrain.config import PretrainConfig


@pytest.mark.parametrize(("epochs", "warmup"), [
    (2, 0),     # round(2 * 5/200) = 0: a 2-epoch run does not warm up at all
    (40, 1),    # round(40 * 5/200) = 1
    (100, 3),   # 100 * 5/200 = 2.5, rounded half up: 3
    (200, 5),   # the 200-epoch default
    (1000, 5),  # never longer than 5
])
def test_a_warmup_left_out_is_scaled_to_the_epochs_as_train_scales_it(epochs, warmup):
    pre = PretrainConfig(dataset="d", epochs=epochs)
    train = TrainConfig(dataset="d", epochs=epochs)
    assert pre.warmup_epochs == train.warmup_epochs == warmup


@pytest.mark.parametrize(("epochs", "warmup"), [(2, 5), (2, 2), (5, 5)])
def test_a_given_whole_run_warmup_is_refused_with_trains_message(epochs, warmup):
    with pytest.raises(LtcliError) as train_error:
        TrainConfig(dataset="d", epochs=epochs, warmup_epochs=warmup)
    with pytest.raises(LtcliError) as pre_error:
        PretrainConfig(dataset="d", epochs=epochs, warmup_epochs=warmup)
    assert str(pre_error.value) == str(train_error.value)
    assert f"--warmup {warmup} lasts the whole run (--epochs {epochs})" in str(pre_error.value)


def test_a_saved_pretraining_with_a_whole_run_warmup_still_resumes():
    saved = PretrainConfig(dataset="d", epochs=3, warmup_epochs=1).to_dict() | {"warmup_epochs": 3}
    assert PretrainConfig.from_dict(saved).warmup_epochs == 3


def test_the_cli_scales_a_short_pretrainings_warmup(cli, monkeypatch):
    seen: list[PretrainConfig] = []
    monkeypatch.setattr("ltcli.pretrain.run.pretrain", lambda config, console: seen.append(config))
    cli("pretrain", "--dataset", "d", "--epochs", "2")
    assert seen[0].warmup_epochs == 0
    result = cli("pretrain", "--dataset", "d", "--epochs", "2", "--warmup", ok=False)  # bare: 5
    assert result.exit_code == 1
    assert "error: --warmup 5 lasts the whole run (--epochs 2)" in " ".join(result.output.split())
    assert len(seen) == 1
