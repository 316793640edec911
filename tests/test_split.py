"""`ltcli split`: stratified, seeded, never touching the source, and clear about bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import tree_digest

from ltcli.data.split import allocate, parse_ratios
from ltcli.errors import LtcliError

COUNTS = {"apple": 40, "leaf": 20, "sky": 7}


def split_files(root: Path) -> dict[str, dict[str, list[str]]]:
    return {
        s: {c.name: sorted(f.name for f in c.iterdir()) for c in sorted((root / s).iterdir())}
        for s in ("train", "valid", "test")
    }


@pytest.mark.parametrize(
    ("n", "ratios", "expected"),
    [
        (40, (0.7, 0.15, 0.15), [28, 6, 6]),
        (20, (0.7, 0.15, 0.15), [14, 3, 3]),
        (7, (0.7, 0.15, 0.15), [5, 1, 1]),  # 4.9/1.05/1.05 -> floors 4,1,1 + the largest remainder to train
        (3, (0.8, 0.1, 0.1), [1, 1, 1]),  # every split gets one
        (10, (0.8, 0.2, 0.0), [8, 2, 0]),
    ],
)
def test_allocate_largest_remainder(n, ratios, expected):
    assert allocate(n, ratios) == expected
    assert sum(expected) == n


def test_split_is_stratified_and_complete(cli, make_class_folder, tmp_path):
    source = make_class_folder(COUNTS, tmp_path / "data_split" / "fruit")
    result = cli("split", "fruit")
    files = split_files(tmp_path / "a_datasets" / "fruit")
    for name, n in COUNTS.items():
        got = [len(files[s][name]) for s in ("train", "valid", "test")]
        assert got == allocate(n, (0.7, 0.15, 0.15))
        every = sorted(f for s in files for f in files[s][name])
        assert every == sorted(p.name for p in (source / name).iterdir())  # each image exactly once
    manifest = json.loads((tmp_path / "a_datasets" / "fruit" / "split.json").read_text())
    assert manifest["counts"]["train"] == {"apple": 28, "leaf": 14, "sky": 5}
    assert manifest["seed"] == 0 and manifest["ratios"] == {"train": 0.7, "valid": 0.15, "test": 0.15}
    assert manifest["source"] == str(source.resolve())
    assert "apple" in result.output and "28" in result.output  # the printed table


def test_split_is_deterministic_and_seeded(cli, make_class_folder, tmp_path):
    make_class_folder(COUNTS, tmp_path / "data_split" / "fruit")
    cli("split", "fruit", "--seed", "3", "--datasets-dir", "one")
    cli("split", "fruit", "--seed", "3", "--datasets-dir", "two")
    cli("split", "fruit", "--seed", "4", "--datasets-dir", "three")
    first, second, third = (split_files(tmp_path / d / "fruit") for d in ("one", "two", "three"))
    assert first == second
    assert first != third
    # copies are byte-identical to their sources
    copied = tmp_path / "one" / "fruit" / "train" / "apple" / first["train"]["apple"][0]
    assert copied.read_bytes() == (tmp_path / "data_split" / "fruit" / "apple" / copied.name).read_bytes()


@pytest.mark.parametrize("link", ["copy", "hardlink", "symlink"])
def test_split_never_changes_the_source(cli, make_class_folder, tmp_path, link):
    source = make_class_folder(COUNTS, tmp_path / "data_split" / "fruit")
    (source / "apple" / "notes.txt").write_text("not an image")
    before = tree_digest(source)
    cli("split", "fruit", "--link", link)
    cli("split", "fruit", "--link", link, "--force")
    assert tree_digest(source) == before
    placed = next((tmp_path / "a_datasets" / "fruit" / "train" / "apple").iterdir())
    if link == "symlink":
        assert placed.is_symlink() and placed.resolve().parent == (source / "apple").resolve()
    elif link == "hardlink":
        assert os.stat(placed).st_ino == os.stat(source / "apple" / placed.name).st_ino
    else:
        assert not placed.is_symlink() and os.stat(placed).st_ino != os.stat(source / "apple" / placed.name).st_ino


def test_split_refuses_existing_destination_without_force(cli, make_class_folder, tmp_path):
    make_class_folder(COUNTS, tmp_path / "data_split" / "fruit")
    cli("split", "fruit")
    marker = tmp_path / "a_datasets" / "fruit" / "train" / "apple"
    before = tree_digest(tmp_path / "a_datasets" / "fruit")
    result = cli("split", "fruit", "--seed", "9", ok=False)
    assert result.exit_code == 1
    assert "already exists" in result.output and "--force" in result.output
    assert tree_digest(tmp_path / "a_datasets" / "fruit") == before
    cli("split", "fruit", "--seed", "9", "--force")
    assert marker.is_dir()
    assert json.loads((tmp_path / "a_datasets" / "fruit" / "split.json").read_text())["seed"] == 9


def test_split_force_never_replaces_a_raw_dataset(cli, make_class_folder, tmp_path):
    """--force replaces a split ltcli wrote (it has split.json), never a raw folder that has the NAME."""
    make_class_folder(COUNTS, tmp_path / "data_split" / "toy")
    other = make_class_folder({"apple": 5}, tmp_path / "data_split" / "other")
    before = tree_digest(other)
    result = cli("split", "other", "--src", "data_split/toy", "--datasets-dir", "data_split", "--force", ok=False)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "error: data_split/other is not a split written by ltcli (it has no split.json): "
        "--force replaces only such a split; move it away or choose another NAME")
    assert tree_digest(other) == before


def _one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert message.startswith("error:"), message
    for fragment in fragments:
        assert fragment in message, message


def test_missing_source_folder(cli):
    _one_line_error(cli("split", "nothing-here", ok=False), "folder not found", "nothing-here")


def test_no_class_folders(cli, tmp_path):
    (tmp_path / "data_split" / "flat").mkdir(parents=True)
    (tmp_path / "data_split" / "flat" / "a.png").write_bytes(b"")
    _one_line_error(cli("split", "flat", ok=False), "no class folders")


def test_empty_class(cli, make_class_folder, tmp_path):
    make_class_folder({"apple": 5}, tmp_path / "data_split" / "fruit")
    (tmp_path / "data_split" / "fruit" / "pear").mkdir()
    _one_line_error(cli("split", "fruit", ok=False), "'pear'", "no readable images")


def test_class_too_small_for_every_split(cli, make_class_folder, tmp_path):
    make_class_folder({"apple": 5, "leaf": 2}, tmp_path / "data_split" / "fruit")
    _one_line_error(cli("split", "fruit", ok=False), "'leaf' has 2 image(s)", "3 splits", "--ratios")
    assert not (tmp_path / "a_datasets" / "fruit").exists()
    cli("split", "fruit", "--ratios", "0.5,0.5,0")  # two splits need two images: fine


@pytest.mark.parametrize("ratios", ["0.7,0.2", "0.5,0.5,0.5", "a,b,c", "0,0.5,0.5"])
def test_bad_ratios(cli, make_class_folder, tmp_path, ratios):
    make_class_folder({"apple": 5}, tmp_path / "data_split" / "fruit")
    _one_line_error(cli("split", "fruit", "--ratios", ratios, ok=False), "--ratios")


def test_non_images_skipped_and_corrupt_images_listed(cli, make_class_folder, tmp_path):
    source = make_class_folder({"apple": 6, "leaf": 6}, tmp_path / "data_split" / "fruit")
    (source / "apple" / "readme.txt").write_text("hello")
    (source / "apple" / ".DS_Store").write_bytes(b"\0\0")
    (source / "leaf" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage")
    (source / "leaf" / "empty.jpg").write_bytes(b"")
    good = (source / "leaf" / "img000.png").read_bytes()
    (source / "leaf" / "truncated.png").write_bytes(good[: len(good) // 2])
    result = cli("split", "fruit")
    output = " ".join(result.output.split())
    assert "skipped 1 non-image file(s)" in output
    assert "skipped 3 unreadable image(s)" in output
    for name in ("broken.png", "empty.jpg", "truncated.png"):
        assert name in output
    manifest = json.loads((tmp_path / "a_datasets" / "fruit" / "split.json").read_text())
    assert [Path(p).name for p in manifest["skipped_non_images"]] == ["readme.txt"]
    assert sorted(Path(p).name for p in manifest["skipped_corrupt"]) == ["broken.png", "empty.jpg", "truncated.png"]
    assert sum(manifest["counts"][s]["leaf"] for s in ("train", "valid", "test")) == 6


def test_split_refuses_overlapping_destination(make_class_folder, tmp_path):
    from ltcli.data.split import check_destination

    source = make_class_folder({"apple": 5}, tmp_path / "raw")
    with pytest.raises(LtcliError, match="must not overlap"):
        check_destination(source, source / "inner", force=True)


def test_parse_ratios_accepts_valid():
    assert parse_ratios("0.8,0.1,0.1") == (0.8, 0.1, 0.1)
