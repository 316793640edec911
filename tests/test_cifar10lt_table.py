"""benchmarks/cifar10lt_table.py: the recipe options a row passes (RIDE's re-weighting epoch scaled
with the run) and its arguments. The table itself is run by hand (--quick checks it end to end)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
spec = importlib.util.spec_from_file_location("cifar10lt_table", ROOT / "benchmarks" / "cifar10lt_table.py")
table = importlib.util.module_from_spec(spec)  # a script, not a package module
spec.loader.exec_module(table)


def test_rides_reweight_epoch_moves_with_the_run():
    values = {"epochs": 200, "objective_options": {"num_experts": 3, "reduce_dimension": True,
                                                   "reweight_epoch": 160}}
    # 160 of 200 epochs is 80%: 16 of 20; every option is passed (a given --opt replaces the file's set).
    assert table.objective_options(values, 20) == ["--opt", "num_experts=3", "--opt", "reduce_dimension=true",
                                                   "--opt", "reweight_epoch=16"]
    assert table.objective_options({"epochs": 200, "objective_options": {"reweight_epoch": 160}}, 1) == [
        "--opt", "reweight_epoch=0"]  # never after the last epoch
    assert table.objective_options({"epochs": 200}, 20) == []


def test_quick_mode_and_rows():
    args = table.parse(["--quick"])
    assert (args.epochs, args.size, args.max_train_images, args.out.name) == (1, 16, 300, "cifar10lt_quick.md")
    assert table.parse([]).epochs == 20 and table.parse([]).rows == "erm,bsce,la,ldam-drw,crt"
    with pytest.raises(SystemExit):
        table.parse(["--rows", "erm,focal"])


def test_the_x01_variant_is_the_ldam_drw_recipe_with_tenfold_drops(monkeypatch, tmp_path):
    passed = {}
    monkeypatch.setattr(table.reproduce, "train", lambda recipe, data, logs, options: passed.update(
        recipe=recipe, options=options) or tmp_path)
    monkeypatch.setattr(table.reproduce, "tested", lambda run, device: {"acc": 0.5})
    table.single_stage("ldam-drw-x0.1", tmp_path, tmp_path, ["--device", "cpu"], 20, 1)
    assert passed["recipe"].name == "ldam-drw.yaml"
    options = passed["options"]
    # Cao et al.'s 200-epoch schedule at 20 epochs: drops at 16 and 18, DRW from 16; the variant only swaps
    # the x0.01 drop for x0.1 (the recipe file's own lr_decay is 0.01).
    assert options[options.index("--lrstep") + 1] == "16,2,2"
    assert options[options.index("--drw-epoch") + 1] == "16"
    assert options[options.index("--lr-decay") + 1] == "0.1"
    table.single_stage("ldam-drw", tmp_path, tmp_path, ["--device", "cpu"], 20, 1)
    assert "--lr-decay" not in passed["options"]
