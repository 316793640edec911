"""`ltcli split --imbalance-factor`: long-tailed train parts of raw and of already split folders."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import png_bytes, tree_digest, write_bad_images

CLASSES = ("ant", "bee", "cow", "dog")
# 40 images per class split 0.5/0.25/0.25: 20 train, 10 valid, 10 test, so n_max = 20.
PER_CLASS = 40
RATIOS = "0.5,0.25,0.25"


def split_files(root: Path) -> dict[str, dict[str, list[str]]]:
    return {
        s.name: {c.name: sorted(f.name for f in c.iterdir()) for c in sorted(s.iterdir())}
        for s in sorted(root.iterdir()) if s.is_dir()
    }


def content_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of the bytes (mtime left out: copies get their own)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def balanced(make_class_folder, tmp_path) -> Path:
    return make_class_folder(dict.fromkeys(CLASSES, PER_CLASS), tmp_path / "data_split" / "zoo")


@pytest.mark.parametrize(
    ("classes", "profile", "factor", "expected"),
    [
        (CLASSES, "exp", "10", [20, 9, 4, 2]),  # 20 * 10^(-i/3): 20, 9.28, 4.31, 2
        (CLASSES, "exp", "2", [20, 15, 12, 10]),  # 20 * 2^(-i/3): 20, 15.87, 12.6, 10
        (CLASSES, "step", "5", [20, 20, 4, 4]),
        (CLASSES[:3], "exp", "4", [20, 10, 5]),
        (CLASSES[:3], "step", "2", [20, 10, 10]),  # 3 classes: a head of one
    ],
)
def test_long_tail_counts_are_exact(cli, make_class_folder, tmp_path, classes, profile, factor, expected):
    make_class_folder(dict.fromkeys(classes, PER_CLASS), tmp_path / "data_split" / "zoo")
    result = cli("split", "zoo", "--ratios", RATIOS, "--imbalance-factor", factor, "--profile", profile)
    files = split_files(tmp_path / "a_datasets" / "zoo")
    assert [len(files["train"][c]) for c in classes] == expected
    assert all(len(files[s][c]) == 10 for s in ("valid", "test") for c in classes)
    manifest = json.loads((tmp_path / "a_datasets" / "zoo" / "split.json").read_text())
    assert manifest["counts"]["train"] == dict(zip(classes, expected, strict=True))
    long_tail = manifest["long_tail"]
    assert long_tail["profile"] == profile and long_tail["imbalance_factor"] == float(factor)
    assert long_tail["n_max"] == 20 and long_tail["class_order"] == list(classes)
    assert long_tail["available"] == dict.fromkeys(classes, 20)
    assert long_tail["targets"] == dict(zip(classes, expected, strict=True))
    assert manifest["seed"] == 0 and manifest["layout"] == "raw"
    assert f"kept {sum(expected)} of {20 * len(classes)} training images" in " ".join(result.output.split())


def test_long_tail_keeps_valid_and_test_as_split_and_is_deterministic(cli, balanced, tmp_path):
    cli("split", "zoo", "--ratios", RATIOS, "--datasets-dir", "plain")
    cli("split", "zoo", "--ratios", RATIOS, "--imbalance-factor", "10", "--datasets-dir", "lt1")
    cli("split", "zoo", "--ratios", RATIOS, "--imbalance-factor", "10", "--datasets-dir", "lt2")
    cli("split", "zoo", "--ratios", RATIOS, "--imbalance-factor", "10", "--datasets-dir", "lt3", "--seed", "5")
    plain, lt1, lt2, lt3 = (split_files(tmp_path / d / "zoo") for d in ("plain", "lt1", "lt2", "lt3"))
    assert lt1 == lt2  # same inputs, same files
    for split in ("valid", "test"):
        assert lt1[split] == plain[split]  # the long tail only ever touches train
    for name in CLASSES:
        assert set(lt1["train"][name]) <= set(plain["train"][name])
    assert lt1["train"]["ant"] == plain["train"]["ant"]  # the head keeps its whole train part
    assert lt3["train"] != lt1["train"]  # another seed picks other images (and another split)
    assert [len(lt3["train"][c]) for c in CLASSES] == [len(lt1["train"][c]) for c in CLASSES]
    assert content_digest(tmp_path / "lt1" / "zoo" / "test") == content_digest(tmp_path / "plain" / "zoo" / "test")


def test_class_order_picks_the_head(cli, balanced, tmp_path):
    cli("split", "zoo", "--ratios", RATIOS, "--imbalance-factor", "10", "--class-order", "dog, cow,bee,ant")
    files = split_files(tmp_path / "a_datasets" / "zoo")
    assert [len(files["train"][c]) for c in ("dog", "cow", "bee", "ant")] == [20, 9, 4, 2]
    manifest = json.loads((tmp_path / "a_datasets" / "zoo" / "split.json").read_text())
    assert manifest["long_tail"]["class_order"] == ["dog", "cow", "bee", "ant"]


def test_n_max_lowers_the_head(cli, balanced, tmp_path):
    cli("split", "zoo", "--ratios", RATIOS, "--imbalance-factor", "4", "--profile", "step", "--n-max", "12")
    files = split_files(tmp_path / "a_datasets" / "zoo")
    assert [len(files["train"][c]) for c in CLASSES] == [12, 12, 3, 3]


def _one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert message.startswith("error:") and message.count("error:") == 1, message
    for fragment in fragments:
        assert fragment in message, message


def test_a_class_short_of_its_target_is_a_clear_error(cli, make_class_folder, tmp_path):
    make_class_folder({"ant": 40, "bee": 12, "cow": 40, "dog": 40}, tmp_path / "data_split" / "zoo")
    # bee has 6 training images, but exp F=10 from n_max 20 needs int(9.28) = 9 at position 2.
    result = cli("split", "zoo", "--ratios", RATIOS, "--imbalance-factor", "10", ok=False)
    _one_line_error(result, "class 'bee' (position 2 of the class order) has 6 training image(s)", "needs 9",
                    "--n-max 15 or less", "--class-order")
    assert not (tmp_path / "a_datasets" / "zoo").exists()
    cli("split", "zoo", "--ratios", RATIOS, "--imbalance-factor", "10", "--n-max", "15")  # the advice works
    cli("split", "zoo", "--ratios", RATIOS, "--imbalance-factor", "10", "--force",
        "--class-order", "ant,cow,dog,bee")  # so does putting bee last (it needs 2)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--imbalance-factor", "0"), ("--imbalance-factor must be a finite number above 0",)),
        (("--imbalance-factor", "0.01"), ("imbalance factor 100 leaves 'cow', 'dog' no image",)),  # = 100
        (("--imbalance-factor", "10", "--profile", "linear"), ("unknown --profile 'linear'", "exp, step")),
        (("--profile", "step"), ("--profile shape a long tail", "add --imbalance-factor")),
        (("--class-order", "ant,bee"), ("--class-order shape a long tail",)),
        (("--imbalance-factor", "10", "--class-order", "ant,bee,cow"), ("must name each of the 4 classes", "'dog'")),
        (("--imbalance-factor", "10", "--class-order", "ant,bee,cow,dog,eel"), ("unknown 'eel'",)),
        (("--imbalance-factor", "100"), ("leaves 'cow', 'dog' no image",)),
        (("--imbalance-factor", "10", "--n-max", "0"), ("--n-max must be at least 1",)),
    ],
)
def test_bad_long_tail_options(cli, balanced, tmp_path, args, fragments):
    _one_line_error(cli("split", "zoo", "--ratios", RATIOS, *args, ok=False), *fragments)
    assert not (tmp_path / "a_datasets" / "zoo").exists()


@pytest.fixture
def presplit(make_class_folder, tmp_path) -> Path:
    """An already split source: 20 train images per class, a balanced test of 5 (and a README)."""
    root = tmp_path / "cifar-like"
    make_class_folder(dict.fromkeys(CLASSES[:3], 20), root / "train")
    make_class_folder(dict.fromkeys(CLASSES[:3], 5), root / "test")
    (root / "README.txt").write_text("metadata beside the splits")
    return root


@pytest.mark.parametrize("with_valid", [False, True])
def test_presplit_source_keeps_test_untouched(cli, presplit, make_class_folder, tmp_path, with_valid):
    if with_valid:
        make_class_folder(dict.fromkeys(CLASSES[:3], 3), presplit / "valid")
    source_before = tree_digest(presplit)
    test_before = content_digest(presplit / "test")
    result = cli("split", "cifar", "--src", presplit, "--imbalance-factor", "10")
    out = tmp_path / "a_datasets" / "cifar"
    assert tree_digest(presplit) == source_before  # the source is only read
    assert content_digest(out / "test") == test_before  # every test file, byte for byte, same place
    if with_valid:
        assert content_digest(out / "valid") == content_digest(presplit / "valid")
    else:
        assert not (out / "valid").exists()
    files = split_files(out)
    assert [len(files["train"][c]) for c in CLASSES[:3]] == [20, 6, 2]  # 20 * 10^(-1/2) = 6.32
    for name in CLASSES[:3]:
        kept = out / "train" / name
        for file in kept.iterdir():
            assert file.read_bytes() == (presplit / "train" / name / file.name).read_bytes()
    manifest = json.loads((out / "split.json").read_text())
    assert manifest["layout"] == "split" and manifest["ratios"] is None
    assert list(manifest["counts"]) == (["train", "valid", "test"] if with_valid else ["train", "test"])
    assert manifest["long_tail"]["available"] == dict.fromkeys(CLASSES[:3], 20)
    assert "test unchanged" in " ".join(result.output.split())


def test_presplit_without_long_tail_is_a_faithful_copy(cli, presplit, tmp_path):
    cli("split", "cifar", "--src", presplit, "--link", "hardlink")
    out = tmp_path / "a_datasets" / "cifar"
    for split in ("train", "test"):
        assert content_digest(out / split) == content_digest(presplit / split)
    assert json.loads((out / "split.json").read_text())["long_tail"] is None


def test_presplit_skips_unreadable_files_and_lists_them(cli, presplit, tmp_path):
    bad = write_bad_images(presplit / "test" / "bee")
    (presplit / "train" / "ant" / "labels.csv").write_text("a,b\n")
    cli("split", "cifar", "--src", presplit, "--imbalance-factor", "2")
    manifest = json.loads((tmp_path / "a_datasets" / "cifar" / "split.json").read_text())
    assert sorted(manifest["skipped_corrupt"]) == sorted(str(p) for p in bad)
    assert [Path(p).name for p in manifest["skipped_non_images"]] == ["labels.csv"]
    assert manifest["counts"]["test"] == dict.fromkeys(CLASSES[:3], 5)


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ("ratios", ("already split (train, test)", "--ratios applies to raw folders only")),
        ("extra-class", ("classes of", "differ between splits", "class 'eel' is in test/ but missing from train/")),
        ("empty-class", ("class 'cow' has no readable images",)),
        ("no-train", ("has test/ but no train/ folder",)),
    ],
)
def test_presplit_bad_input(cli, presplit, tmp_path, change, fragments):
    args = []
    if change == "ratios":
        args = ["--ratios", "0.8,0.1,0.1"]
    elif change == "extra-class":
        (presplit / "test" / "eel").mkdir()
        (presplit / "test" / "eel" / "x.png").write_bytes(png_bytes())
    elif change == "empty-class":
        for file in (presplit / "test" / "cow").iterdir():
            file.unlink()
    else:
        (presplit / "train").rename(tmp_path / "elsewhere")
    _one_line_error(cli("split", "cifar", "--src", presplit, *args, ok=False), *fragments)
