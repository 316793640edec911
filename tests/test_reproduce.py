"""benchmarks/reproduce.py: the schedule scaling, the symlinked data with a carved validation split,
the table, and a real run of a recipe through the command line."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from conftest import make_class_images

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("reproduce", ROOT / "benchmarks" / "reproduce.py")
reproduce = sys.modules["reproduce"] = importlib.util.module_from_spec(spec)  # a script, not a package module
spec.loader.exec_module(reproduce)

LDAM = {"epochs": 200, "lr_steps": [160, 20, 20], "warmup_epochs": 5, "drw_epoch": 160}


@pytest.mark.parametrize(("epochs", "expected"), [
    (None, []),
    (200, ["--epochs", "200", "--lrstep", "160,20,20", "--warmup", "5", "--drw-epoch", "160"]),
    (20, ["--epochs", "20", "--lrstep", "16,2,2", "--warmup", "1", "--drw-epoch", "16"]),  # 0.5 rounds up
    (2, ["--epochs", "2", "--lrstep", "2", "--warmup", "0", "--drw-epoch", "1"]),  # drops at 1.6, 1.8 -> 2: none
])
def test_the_schedule_scales_to_the_epochs(epochs, expected):
    assert reproduce.scaled_schedule(LDAM, epochs) == expected


@pytest.fixture
def source(tmp_path: Path) -> Path:
    make_class_images({"apple": 30, "leaf": 12, "sky": 6}, tmp_path / "src" / "train")
    make_class_images({"apple": 4, "leaf": 4, "sky": 4}, tmp_path / "src" / "test")
    return tmp_path / "src"


def test_data_is_linked_not_copied_and_valid_is_carved_from_train(tmp_path, source):
    data = reproduce.prepare_data(source, tmp_path / "work", 0.1, None, None, seed=0)
    # 10% of each class by largest remainder, at least one: apple 27/3, leaf 11/1, sky 5/1.
    assert data.counts == {"train": 43, "valid": 5, "test": 12}
    files = {split: sorted((data.picked / split).rglob("*.png")) for split in ("train", "valid", "test")}
    assert all(p.is_symlink() and p.resolve().is_relative_to(source) for split in files.values() for p in split)
    train, valid = ({p.resolve() for p in files[s]} for s in ("train", "valid"))
    assert not train & valid and len(train | valid) == 48
    # The twin trains on the same images and validates on test/.
    assert {p.resolve() for p in (data.literature / "train").rglob("*.png")} == train
    assert {p.resolve() for p in (data.literature / "valid").rglob("*.png")} == {p.resolve() for p in files["test"]}
    assert not (data.literature / "test").exists()


def test_the_table_gives_mean_and_spread_over_seeds_and_the_published_number():
    recipe = ROOT / "recipes" / "cifar10-lt" / "erm.yaml"
    rows = [{"acc": 0.70, "many_shot_acc": 0.9, "medium_shot_acc": 0.6, "few_shot_acc": None, "lowest_recall": 0.4,
             "test_picked": 0.71, "minutes": 2.0, "same_trajectory": True},
            {"acc": 0.72, "many_shot_acc": 0.9, "medium_shot_acc": 0.7, "few_shot_acc": None, "lowest_recall": 0.5,
             "test_picked": 0.74, "minutes": 4.0, "same_trajectory": False}]
    text = reproduce.table({recipe: rows}, "Budget: x")
    # mean ± sample standard deviation: 71.0 ± 1.41 (sqrt(2) for 70 and 72), 65.0 ± 7.07, 72.5 ± 2.12, 3.0 ± 1.41
    assert ("| cifar10-lt/erm | 70.4 | 71.0 ± 1.4 | 90.0 ± 0.0 | 65.0 ± 7.1 | n/a | 45.0 ± 7.1 | 72.5 ± 2.1 "
            "| 3.0 ± 1.4 |") in text
    assert "no, in 1 of 2 runs" in text
    assert reproduce.spread([0.5]) == "50.0" and reproduce.spread([None]) == "n/a"


def test_a_recipe_run_gives_a_table_from_the_cli(tmp_path, source):
    """One seed of a real recipe through `ltcli train`/`test`, with its twin picked on test."""
    recipe = ROOT / "recipes" / "cifar10-lt" / "ldam-drw.yaml"
    out = tmp_path / "table.md"
    args = reproduce.parse([str(recipe), "--data", str(source), "--epochs", "2", "--seeds", "0", "--size", "16",
                            "--device", "cpu", "--workers", "0", "--out", str(out)])
    text = reproduce.reproduce(args)
    assert out.read_text() == text
    assert "43 train, 5 valid (0.1 of each class, split seed 0), 12 test" in text and "seeds 0;" in text
    (row,) = [line for line in text.splitlines() if line.startswith("| cifar10-lt/ldam-drw |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "77.0"  # the recipe's published number
    assert cells[3] == "n/a"  # no class has more than 100 training images
    acc, lowest, test_picked = float(cells[2]), float(cells[6]), float(cells[7])
    assert 0 <= lowest <= acc <= 100
    # Same seed, same images: the twin's best test accuracy over the epochs is at least the tested epoch's.
    assert test_picked >= acc
    assert "trained identically (same training losses every epoch): yes, in every run." in text
