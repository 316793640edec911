"""`ltcli stats`: every number checked against counts the test derives from what it wrote."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import BAD_IMAGE_FILES, png_bytes
from PIL import Image

from ltcli.data.stats import dataset_stats

RNG = np.random.default_rng(11)


def image_bytes(mode: str, size: tuple[int, int], fmt: str = "PNG") -> bytes:
    pixels = RNG.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, fmt)
    return buffer.getvalue()


# (relative path, kind, stored mode, (width, height)); kind: image, bad, text, hidden, loose.
GOOD = [
    ("train/cat/c0.png", "RGB", (12, 12)), ("train/cat/c1.png", "RGB", (12, 12)),
    ("train/cat/c2.png", "L", (12, 12)), ("train/cat/sub/c3.png", "RGBA", (20, 10)),
    ("train/dog/d0.tif", "CMYK", (16, 16)), ("train/dog/d1.png", "P", (16, 16)),
    ("train/dog/d2.png", "RGB", (12, 12)),
    ("train/emu/e0.png", "L", (8, 8)),
    ("valid/cat/c0.png", "RGB", (12, 12)), ("valid/dog/d0.png", "RGB", (12, 12)),
    ("test/cat/c0.png", "RGB", (12, 12)), ("test/dog/d0.png", "RGB", (12, 12)), ("test/emu/e0.png", "RGBA", (8, 8)),
]
BAD = {"train/cat/truncated.jpg": "truncated.jpg", "train/dog/zero-byte.jpg": "zero-byte.jpg",
       "test/emu/text-named.jpg": "text-named.jpg"}
NON_IMAGES = ["train/cat/notes.txt", "test/dog/labels.csv"]
HIDDEN = ["train/cat/.DS_Store", "valid/dog/.hidden/h.png"]
LOOSE = ["train/readme.md"]
# byte copies: a train image leaked into test, and a duplicate inside train
COPIES = {"test/cat/leak.png": "train/cat/c1.png", "train/dog/d2-copy.png": "train/dog/d2.png"}


@pytest.fixture
def dataset(tmp_path) -> Path:
    root = tmp_path / "a_datasets" / "pets"
    for relative, mode, size in GOOD:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image_bytes(mode, size, "TIFF" if relative.endswith(".tif") else "PNG"))
    for relative, kind in BAD.items():
        (root / relative).write_bytes(BAD_IMAGE_FILES[kind]())
    for relative in NON_IMAGES + LOOSE:
        (root / relative).write_text("text")
    for relative in HIDDEN:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(png_bytes())
    for copy, original in COPIES.items():
        (root / copy).write_bytes((root / original).read_bytes())
    (root / "split.json").write_text("{}")  # metadata beside the splits: not a loose file
    return root


def expected_counts() -> dict[str, dict[str, int]]:
    counts = {split: dict.fromkeys(["cat", "dog", "emu"], 0) for split in ("train", "valid", "test")}
    for relative in [g[0] for g in GOOD] + list(COPIES):
        split, name = relative.split("/")[:2]
        counts[split][name] += 1
    return counts


def test_stats_numbers(dataset):
    stats = dataset_stats(dataset)
    counts = expected_counts()
    assert stats.layout == "split" and stats.splits == ["train", "valid", "test"]
    assert stats.counts == counts
    assert counts["train"] == {"cat": 4, "dog": 4, "emu": 1}  # the derivation itself, spelled out
    assert stats.imbalance_ratio() == 4 / 1
    assert stats.groups() == {"head": [], "medium": [], "tail": ["cat", "dog", "emu"]}
    assert stats.missing_classes() == {"train": [], "valid": ["emu"], "test": []}
    images = GOOD + [(copy, *next((m, s) for r, m, s in GOOD if r == original)) for copy, original in COPIES.items()]
    assert stats.modes == dict(Counter(mode for _, mode, _ in images))
    assert stats.sizes == dict(Counter(f"{w}x{h}" for _, _, (w, h) in images))
    assert stats.formats == {"PNG": len(images) - 1, "TIFF": 1}
    assert sorted(stats.undecodable) == sorted(BAD)
    assert sorted(stats.non_images) == sorted(NON_IMAGES)
    assert sorted(stats.hidden) == sorted(HIDDEN)
    assert stats.loose == LOOSE
    assert stats.nested_images == 1
    assert stats.duplicates_across_splits == [["test/cat/leak.png", "train/cat/c1.png"]]
    assert stats.duplicates_within_splits == [["train/dog/d2-copy.png", "train/dog/d2.png"]]
    assert stats.exif_rotated == 0


@pytest.mark.parametrize(("tail", "groups"), [(19, ("head", "medium", "tail")), (20, ("head", "medium", "medium"))])
def test_groups_use_the_shot_thresholds_of_ltcli_test(tmp_path, tail, groups):
    """Head: more than 100 training images; tail: fewer than 20 (metrics.shot_groups)."""
    root = tmp_path / "raw"
    for name, count in (("a", 101), ("b", 100), ("c", tail)):
        (root / name).mkdir(parents=True)
        for i in range(count):
            (root / name / f"{i}.png").write_bytes(png_bytes(seed=i, size=2))
    stats = dataset_stats(root)
    assert stats.layout == "raw" and stats.counts == {"all": {"a": 101, "b": 100, "c": tail}}
    by_class = {c: g for g, members in stats.groups().items() for c in members}
    assert tuple(by_class[c] for c in "abc") == groups
    assert stats.imbalance_ratio() == pytest.approx(101 / tail)
    # file i of every class has the same bytes (same seed): seeds 0..99 recur, all inside the one split
    assert len(stats.duplicates_within_splits) == 100 and stats.duplicates_across_splits == []


def test_stats_json_matches_and_plots(cli, dataset, tmp_path):
    result = cli("stats", "pets", "--json", "--log", "--out", "hist.svg")
    document = json.loads(result.output)
    assert document["counts"] == expected_counts()
    assert document["totals"] == {s: sum(c.values()) for s, c in expected_counts().items()}
    assert document["imbalance_ratio"] == 4.0
    assert document["missing_classes"]["valid"] == ["emu"]
    assert document["group_thresholds"] == {"head_more_than": 100, "tail_fewer_than": 20}
    assert document["histogram"] == "hist.svg"
    svg = (tmp_path / "hist.svg").read_text()
    assert all(name in svg for name in ("cat", "dog", "emu", "train", "valid", "test", "log scale"))
    cli("stats", str(dataset), "--out", "linear.svg")  # a PATH works too
    linear = (tmp_path / "linear.svg").read_text()
    assert "log scale" not in linear and linear != svg


def test_stats_text_report(cli, dataset, tmp_path):
    output = " ".join(cli("stats", "pets", "--no-plot").output.split())
    assert "imbalance ratio (train): 4.0 (4 / 1)" in output
    assert "classes missing from a split: valid: emu" in output
    assert "image files that do not decode (skipped): 3" in output and "train/cat/truncated.jpg" in output
    assert "non-image files (skipped): 2" in output
    assert "duplicate files across splits (same bytes): 1 test/cat/leak.png = train/cat/c1.png" in output
    assert "head 0, medium 0, tail 3" in output
    assert not (tmp_path / "logs").exists()  # --no-plot writes nothing


def test_stats_default_histogram_goes_under_logs(cli, make_class_folder, tmp_path):
    make_class_folder({"apple": 3, "leaf": 2}, tmp_path / "data_split" / "fruit")
    output = " ".join(cli("stats", "fruit").output.split())
    assert "raw layout: all" in output and "class histogram: logs/plots/stats-fruit.svg" in output
    assert (tmp_path / "logs" / "plots" / "stats-fruit.svg").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [(("nowhere",), "no dataset 'nowhere'"), (("pets", "--out", "h.pdf"), "--out must end in .svg or .png")],
)
def test_stats_bad_input(cli, dataset, args, message):
    result = cli("stats", *args, ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert message in " ".join(result.output.split())


def test_stats_only_reads(cli, dataset):
    from conftest import tree_digest

    before = tree_digest(dataset)
    cli("stats", str(dataset), "--no-plot")
    assert tree_digest(dataset) == before


@pytest.mark.parametrize(
    ("command", "shown"),
    [("stats", "(defaultlogs/plots/stats-NAME.svg)"), ("split", "(default0.7,0.15,0.15)"),
     ("split", "(default:thelargesttraincountavailable)")],
)
def test_help_shows_defaults_that_rich_markup_could_swallow(cli, command, shown):
    assert shown in "".join(cli(command, "--help").output.replace("│", "").split())


def _commands() -> list[str]:
    from ltcli.cli import app

    return sorted(c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands)


@pytest.mark.parametrize("command", _commands())
def test_help_holds_no_emoji_that_rich_made_of_colons(cli, command, monkeypatch):
    """rich's emoji codes turned `split --help`'s `A:B:P:LAMBDA` into `A🅱P:LAMBDA`: no help shows an emoji."""
    from rich._emoji_codes import EMOJI

    monkeypatch.setenv("COLUMNS", "400")
    emoji = {char for value in EMOJI.values() for char in value if ord(char) > 0x2100}
    output = cli(command, "--help").output
    assert not set(output) & emoji, sorted(set(output) & emoji)
    if command == "split":
        assert "A:B:P:LAMBDA:" in output
