"""bf16 autocast on CPUs that have it: `--amp auto` follows torch's report of the CPU, the run records
what it got, objectives still compute in float32, and evaluation sees float32 logits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import TRAIN_ARGS, only_run, read_csv
from torch import nn

from ltcli.engine import compute as compute_module
from ltcli.engine import loop
from ltcli.engine.compute import Compute, cpu_has_native_bf16, resolve_compute
from ltcli.models.heads import TrainStep
from ltcli.objectives import create_objective

CPU = torch.device("cpu")


@pytest.mark.parametrize(("avx512_bf16", "amx", "native"), [
    (True, False, True), (False, True, True), (True, True, True), (False, False, False)])
def test_native_bf16_is_what_torch_reports(monkeypatch, avx512_bf16, amx, native):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert cpu_has_native_bf16() is native


@pytest.mark.parametrize("native", [True, False])
def test_auto_is_bf16_exactly_on_a_cpu_with_native_bf16(monkeypatch, native):
    monkeypatch.setattr(compute_module, "cpu_has_native_bf16", lambda: native)
    auto = resolve_compute("auto", "auto", CPU)
    expected = ("bf16", True, None) if native else ("off", False, None)
    assert (auto.amp_name, auto.channels_last, auto.scaler) == expected
    # Given modes are taken as given, whatever the CPU.
    assert resolve_compute("off", "auto", CPU).amp_name == "off"
    assert resolve_compute("bf16", "off", CPU).dtype is torch.bfloat16
    assert resolve_compute("bf16", "off", CPU).channels_last is False


def test_the_objective_computes_in_float32_under_bf16_autocast():
    """The network runs in bf16, the loss does not: LDAM's loss equals a float64 reference computed from
    the same logits to float32 precision (a bf16 loss would be off by ~1e-2)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4))
    counts = [40, 20, 8, 2]
    objective = create_objective("LDAM", counts)
    seen = {}
    original = objective.forward

    def spy(logits, targets, **extra):
        seen["dtype"] = logits.dtype
        return original(logits, targets, **extra)

    objective.forward = spy
    images, targets = torch.randn(16, 3, 2, 2), torch.randint(0, 4, (16,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(images).dtype is torch.bfloat16  # the autocast region really is bf16
    logits, loss = loop.forward_loss(TrainStep(model, False), objective, images, targets,
                                     Compute(CPU, torch.bfloat16))
    assert seen["dtype"] is torch.float32 and logits.dtype is torch.float32 and loss.dtype is torch.float32
    # LDAM by hand (Cao et al. 2019): margin C / n_j^(1/4), largest 0.5, logits scaled by s = 30.
    margins = 1 / np.array(counts, dtype=np.float64) ** 0.25
    margins *= 0.5 / margins.max()
    z = logits.detach().double().numpy().copy()
    z[np.arange(16), targets.numpy()] -= margins[targets.numpy()]
    z *= 30
    reference = np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(16), targets.numpy()])
    assert loss.item() == pytest.approx(reference, rel=1e-5)


def test_auto_trains_a_tiny_run_in_bf16_and_records_it(cli, split_dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(compute_module, "cpu_has_native_bf16", lambda: True)
    network_dtypes = set()
    original = loop.step_outputs

    def recording(step, images, targets):
        def call(*args):
            out = step(*args)
            network_dtypes.add(out["logits"].dtype)
            return out
        return original(call, images, targets)

    monkeypatch.setattr(loop, "step_outputs", recording)
    cli("train", "--dataset", "colours", "--objective", "ERM", *TRAIN_ARGS)  # --amp auto
    run = only_run(tmp_path, "ERM")
    config = json.loads((run / "config.json").read_text())
    assert (config["amp"], config["amp_resolved"], config["channels_last_resolved"]) == ("auto", "bf16", True)
    assert network_dtypes == {torch.bfloat16}
    rows = read_csv(run / "valid.csv")
    assert len(rows) == 2 and all(0 <= float(r["acc"]) <= 1 and np.isfinite(float(r["loss"])) for r in rows)
    checkpoint = torch.load(run / "checkpoint_last.pt", weights_only=True)
    assert all(t.dtype == torch.float32 for t in checkpoint["model"].values() if t.is_floating_point())
