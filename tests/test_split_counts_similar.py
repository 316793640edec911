"""`ltcli split --counts` (exact training counts) and `--similar` (virtual similar samples)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import tree_digest, write_image
from PIL import Image

from ltcli.data.counts import parse_counts
from ltcli.data.split import allocate
from ltcli.errors import LtcliError

CLASSES = {"a": 30, "b": 20, "c": 10}


def train_counts(root: Path) -> dict[str, int]:
    return {c.name: sum(1 for _ in c.iterdir()) for c in sorted((root / "train").iterdir())}


def test_parse_counts_forms():
    names = ["b", "a", "c"]
    assert parse_counts("5,4,3", names) == {"a": 5, "b": 4, "c": 3}  # sorted class order
    assert parse_counts("7*2,1", names) == {"a": 7, "b": 7, "c": 1}
    assert parse_counts("c=1, a=2, b=3", names) == {"a": 2, "b": 3, "c": 1}
    for text, message in [("5,4", "2 count(s) for 3 classes"), ("a=1,b=2", "missing: 'c'"),
                          ("a=1,b=2,z=3", "class 'z'"), ("a=1,2,3", "CLASS=N or none"), ("0,1,1", "at least 1"),
                          ("x,1,1", "whole number")]:
        with pytest.raises(LtcliError, match=re.escape(message)):
            parse_counts(text, names)


def test_counts_exact_on_disk_raw_source(cli, make_class_folder, tmp_path):
    source = make_class_folder(CLASSES, tmp_path / "data_split" / "fruit")
    before = tree_digest(source)
    cli("split", "fruit", "--counts", "12,9,3")
    root = tmp_path / "a_datasets" / "fruit"
    assert train_counts(root) == {"a": 12, "b": 9, "c": 3}
    manifest = json.loads((root / "split.json").read_text())
    assert manifest["counts"]["train"] == {"a": 12, "b": 9, "c": 3}
    assert manifest["exact_counts"]["targets"] == {"a": 12, "b": 9, "c": 3}
    assert manifest["exact_counts"]["available"] == {"a": 21, "b": 14, "c": 7}  # 70% of each class
    for split, index in (("valid", 1), ("test", 2)):  # valid/test as a plain split makes them
        assert manifest["counts"][split] == {c: allocate(n, (0.7, 0.15, 0.15))[index] for c, n in CLASSES.items()}
    assert tree_digest(source) == before


def test_counts_by_name_keeps_a_presplit_test_whole(cli, make_class_folder, tmp_path):
    source = tmp_path / "data_split" / "pre"
    make_class_folder({"a": 10, "b": 8}, source / "train")
    make_class_folder({"a": 6, "b": 6}, source / "test")
    cli("split", "pre", "--counts", "b=2,a=7")
    root = tmp_path / "a_datasets" / "pre"
    assert train_counts(root) == {"a": 7, "b": 2}
    assert {c.name: len(list(c.iterdir())) for c in (root / "test").iterdir()} == {"a": 6, "b": 6}


@pytest.mark.parametrize(("args", "message"), [
    (("--counts", "12,9,8"), "asks 8 training images of class 'c', which has only 7"),
    (("--counts", "1,1,1", "--imbalance-factor", "10"), "drop --imbalance-factor"),
    (("--similar", "a:z:0.5:0.2"), "class 'z'"),
    (("--similar", "a:b:1.5:0.2"), "P must be in"),
    (("--similar", "a:b:0.5"), "A:B:P:LAMBDA"),
    (("--similar", "a:b:0.5:0.2", "--similar", "a:c:0.1:0.2"), "twice"),
])
def test_bad_counts_and_similar_are_one_line_errors(cli, make_class_folder, tmp_path, args, message):
    make_class_folder(CLASSES, tmp_path / "data_split" / "fruit")
    result = cli("split", "fruit", *args, ok=False)
    assert result.exit_code == 1 and message in result.output
    assert "Traceback" not in result.output and not (tmp_path / "a_datasets" / "fruit").exists()


def test_similar_mixes_pixels_and_leaves_source_untouched(cli, tmp_path):
    source = tmp_path / "data_split" / "mix"
    for i in range(10):  # class a 12x12 RGB, class b 8x8 (resized to 12x12): distinct random pixels
        write_image(source / "a" / f"a{i}.png", (200, 30, 30), seed=i, size=12)
        write_image(source / "b" / f"b{i}.png", (30, 30, 200), seed=100 + i, size=8)
        write_image(source / "g" / f"g{i}.png", (90, 90, 90), seed=200 + i, size=12, mode="L")
    before = tree_digest(source)
    cli("split", "mix", "--ratios", "0.6,0.2,0.2", "--similar", "a:b:0.5:0.2", "--similar", "g:a:1:0.7")
    root = tmp_path / "a_datasets" / "mix"
    assert tree_digest(source) == before
    manifest = json.loads((root / "split.json").read_text())
    mixes = manifest["similar"]["mixes"]
    assert len(mixes["a"]) == 3 and len(mixes["g"]) == 6  # round_half_up(0.5 * 6) and all 6 of g
    train_a = sorted(p.name for p in (root / "train" / "a").iterdir())
    assert len(train_a) == 6 and sum(name.startswith("similar_") for name in train_a) == 3
    replaced = {Path(m["a"]).name for m in mixes["a"]}
    assert not replaced & set(train_a)  # the replaced originals are gone from train/a
    for split in ("valid", "test"):
        assert not any(p.name.startswith("similar_") for p in (root / split).rglob("*"))
    assert manifest["counts"]["train"]["a"] == 6
    for name, lam in (("a", 0.2), ("g", 0.7)):
        for mix in mixes[name]:
            image_a, image_b = Image.open(mix["a"]), Image.open(mix["b"])
            assert Path(mix["b"]).parent.name == ("b" if name == "a" else "a")
            mode = "L" if name == "g" and image_b.mode == "L" else "RGB"
            x_a = np.asarray(image_a.convert(mode), dtype=float)
            x_b = np.asarray(image_b.convert(mode).resize(image_a.size, Image.Resampling.BILINEAR), dtype=float)
            expected = lam * x_a + (1 - lam) * x_b
            got = np.asarray(Image.open(root / mix["file"]), dtype=float)
            assert got.shape == expected.shape
            assert np.abs(got - expected).max() <= 1.0
    # The b partners cycle through b's 6 training images in a seeded order (3 needed, all distinct).
    assert len({m["b"] for m in mixes["a"]}) == 3
    assert {Path(m["b"]).parent.name for m in mixes["g"]} == {"a"}
    assert len({m["b"] for m in mixes["g"]}) == 6  # a's 6 training images (before its own mixing), each once
