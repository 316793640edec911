"""List datasets (`relative/path label` files, as ImageNet-LT's `train/n01440764/n01440764_10026.JPEG 0`):
parsing, checks with one-line errors naming file and line, and every command that takes a dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TRAIN_ARGS, write_image

from ltcli.data.list_index import parse_list
from ltcli.data.lists import find_lists
from ltcli.data.source import open_source, open_train_data, source_of_run
from ltcli.errors import LtcliError

WNIDS = ("n01440764", "n01443537", "n01484850")  # tench, goldfish, great white shark
NAMES = ("tench", "goldfish", "shark")
COUNTS = {"train": (12, 6, 3), "val": (3, 3, 3), "test": (3, 3, 3)}


def make_lists(root: Path, images: Path | None = None, name: str = "Toy_LT", classes: bool = True) -> Path:
    """ImageNet-LT's layout: images at IMAGES/<split>/<wnid>/<wnid>_<i>.JPEG, lists NAME_<split>.txt in ROOT."""
    images = images or root
    for split, counts in COUNTS.items():
        lines = []
        for label, (wnid, count) in enumerate(zip(WNIDS, counts, strict=True)):
            colour = tuple(220 if c == label else 30 for c in range(3))
            for i in range(count):
                relative = f"{split}/{wnid}/{wnid}_{i}.JPEG"
                write_image(images / relative, colour, seed=100 * label + i, size=12)
                lines.append(f"{relative} {label}")
        (root / f"{name}_{split}.txt").write_text("\n".join(lines) + "\n")
    if classes:
        (root / f"{name}_classes.txt").write_text("\n".join(NAMES) + "\n")
    return root


@pytest.fixture
def lists(tmp_path: Path) -> Path:
    root = tmp_path / "lists"
    root.mkdir()
    return make_lists(root)


def test_a_list_parses_into_arrays_and_reads_its_images_lazily(lists):
    index = parse_list(lists / "Toy_LT_train.txt")
    assert len(index) == 21 and index.labels.dtype == np.int32 and index.offsets.dtype == np.int64
    assert np.bincount(index.labels).tolist() == [12, 6, 3]
    assert index.path(13) == "train/n01443537/n01443537_1.JPEG" and isinstance(index.buffer, bytes)
    source = open_source(lists)
    assert source.kind == "lists" and source.splits == ["train", "valid", "test"]
    data = open_train_data(source, lambda image: torch.tensor(image.size), lambda image: image.size)
    assert data.valid_split == "valid" and data.class_names == list(NAMES)
    assert data.train.samples[13] == (str(lists / "train/n01443537/n01443537_1.JPEG"), 1)
    image, label = data.train[13]
    assert image.tolist() == [12, 12] and label == 1
    (lists / "train/n01443537/n01443537_1.JPEG").unlink()  # a missing image: skipped and counted
    assert data.train[13] is None and data.train.failed_paths() == [str(lists / "train/n01443537/n01443537_1.JPEG")]
    assert len(data.train.decoded_samples()) == 20


def test_names_default_to_label_numbers_and_plain_names_and_valid_work(tmp_path):
    root = tmp_path / "plain"
    root.mkdir()
    make_lists(root, name="x", classes=False)
    for split in ("train", "val", "test"):
        (root / f"x_{split}.txt").rename(root / f"{'valid' if split == 'val' else split}.txt")
    source = open_source(root)
    assert source.lists.name == "" and source.splits == ["train", "valid", "test"]
    assert source.class_names() == ["0", "1", "2"]


def test_images_under_another_root_and_blank_lines(tmp_path):
    images, root = tmp_path / "images", tmp_path / "lists"
    root.mkdir()
    make_lists(root, images=images)
    text = (root / "Toy_LT_val.txt").read_text()
    (root / "Toy_LT_val.txt").write_text("\n" + text.replace("\n", "\r\n", 2) + "\n\n")
    source = open_source(root, images)
    dataset = source.open_split("valid", transform=lambda image: 0)
    assert len(dataset) == 9 and dataset[0] == (0, 0) and dataset.index.line_numbers[0] == 2
    assert source.relative("valid", dataset.file_path(4)) == "val/n01443537/n01443537_1.JPEG"
    assert not list(root.glob("val"))  # nothing written next to the lists or the images


BAD_LINES = [
    ("train", 3, "train/n01440764/a.JPEG", "expected `relative/path label`, found one field"),
    ("train", 2, "train/n01440764/a.JPEG -1", "a negative label: '-1'"),
    ("val", 4, "val/n01440764/a.JPEG 1.5", "a label that is not an integer: '1.5'"),
    ("val", 1, "val/n01440764/a.JPEG three", "a label that is not an integer: 'three'"),
    ("test", 5, "test/n01440764/a.JPEG 7", "label 7 has no class name ({lists}/Toy_LT_classes.txt names 3)"),
    ("train", 6, "train/n01440764/a.JPEG 99999999999999999999", "label 9999999999999999999"),  # past int64
    # a list is data: it never makes ltcli read outside the image root (the app's root included)
    ("train", 7, "/etc/passwd 1", "an absolute path in '/etc/passwd': image paths are relative to the image root"),
    ("val", 2, "../../secret.png 0", "a `..` step in '../../secret.png'"),
    ("test", 3, "test/../../x.png 2", "a `..` step in 'test/../../x.png'"),
    ("train", 4, "train/a\0b.JPEG 0", "a NUL byte in 'train/a\\0b.JPEG'"),
]


@pytest.mark.parametrize(("split", "line", "text", "message"), BAD_LINES)
def test_a_bad_line_is_an_error_naming_file_and_line(lists, split, line, text, message):
    path = lists / f"Toy_LT_{split}.txt"
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")
    source = open_source(lists)
    with pytest.raises(LtcliError) as raised:
        for name in source.splits:
            source.open_split(name)
    assert str(raised.value).startswith(f"{path}:{line}: {message.format(lists=lists)}"), str(raised.value)


def test_a_label_beyond_the_train_lists_classes_and_a_missing_class(lists):
    (lists / "Toy_LT_classes.txt").unlink()
    path = lists / "Toy_LT_val.txt"
    path.write_text(path.read_text() + "val/x.JPEG 3\n")
    with pytest.raises(LtcliError, match=r"Toy_LT_val.txt:10: label 3 has no class name \(the train list has labels "
                                         r"0..2\)"):
        open_source(lists).open_split("valid")
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines() if line[-2:] not in (" 2", " 3")))
    with pytest.raises(LtcliError, match=r"Toy_LT_val.txt:1: the valid list has no line of class 2: every split"):
        open_source(lists).open_split("valid")


def test_two_datasets_lists_in_one_folder_are_refused(lists):
    (lists / "Other_train.txt").write_text("a.jpg 0\n")
    with pytest.raises(LtcliError, match="several datasets"):
        find_lists(lists)


def test_a_changed_list_is_named_when_a_run_is_tested_again(lists):
    record = open_source(lists).record()
    assert set(record["data_lists"]) == {"train", "valid", "test"}
    assert source_of_run(record).image_root == lists
    with open(lists / "Toy_LT_test.txt", "a") as handle:
        handle.write("test/n01440764/n01440764_0.JPEG 0\n")
    with pytest.raises(LtcliError, match="Toy_LT_test.txt changed since the run was trained"):
        source_of_run(record)


def test_a_bad_line_on_the_command_line_is_one_line_and_exit_1(cli, lists):
    path = lists / "Toy_LT_train.txt"
    path.write_text(path.read_text() + "train/x.JPEG -3\n")
    result = cli("train", "--data", lists, *TRAIN_ARGS, ok=False)
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last == f"error: {path}:22: a negative label: '-3' (labels are 0, 1, 2, ...)"


@pytest.mark.parametrize(("label", "lines"), [(300_000_000, 1), (20_000_000, 1), (3, 3)])
def test_a_huge_label_without_a_classes_file_is_refused_before_any_name_is_made(cli, tmp_path, label, lines):
    """No classes file: the classes are labels 0..max, each needing a train line; a label past the
    line count is refused at once (it made 300 million names and was killed for memory)."""
    root = tmp_path / "huge"
    root.mkdir()
    body = "".join(f"c0/{i}.png 0\n" for i in range(lines - 1)) + f"c0/10.png {label}\n"
    for split in ("train", "test"):
        (root / f"{split}.txt").write_text(body)
    result = cli("stats", str(root), "--no-plot", ok=False)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"error: {root / 'train.txt'}:{lines}: label {label} is past the classes a {lines}-line train list can hold "
        "(with no classes file the labels 0..max are the classes and each needs a train line): number the classes "
        "0, 1, 2, ... or add a classes.txt")


def test_lists_train_test_predict_stats_and_runs(cli, tmp_path):
    images, root = tmp_path / "images", tmp_path / "lists"
    root.mkdir()
    make_lists(root, images=images)
    (images / "train/n01440764/n01440764_3.JPEG").unlink()  # skipped and listed in the run
    trained = cli("train", "--data", root, "--data-root", images, *TRAIN_ARGS, "--data-cache", "none")
    assert "the file is missing" in " ".join(trained.output.split())
    (run,) = list((tmp_path / "logs" / "resnet20" / "lists" / "CCE").iterdir())
    config = json.loads((run / "config.json").read_text())
    assert config["dataset_root"] == str(root) and config["data_root"] == str(images)
    assert config["class_names"] == list(NAMES) and config["class_counts"] == [12, 6, 3]
    assert config["data_lists"]["valid"]["file"] == "Toy_LT_val.txt"
    skipped = json.loads((run / "skipped_files.json").read_text())
    assert skipped["files"]["train"] == ["train/n01440764/n01440764_3.JPEG"]

    cli("test", "--run", run)  # finds the lists and the image root from config.json
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["class_counts"] == [12, 6, 3] and sum(metrics["per_class_support"]) == 9
    predictions = (run / "predictions.csv").read_text().splitlines()
    assert predictions[1].startswith("test/n01440764/n01440764_0.JPEG,tench,")

    (images / "extra.txt").write_text("test/n01484850/n01484850_0.JPEG 2\nnot/there.jpg\n")
    result = cli("predict", images / "extra.txt", "--run", run, "--out", tmp_path / "p.csv")
    assert "skipped 1 unreadable image(s)" in result.output
    assert (tmp_path / "p.csv").read_text().count("n01484850_0.JPEG") == 1

    stats = json.loads(cli("stats", root, "--data-root", images, "--json", "--no-plot").output)
    assert stats["layout"] == "lists" and stats["class_names"] == list(NAMES)
    assert stats["counts"]["train"] == {"tench": 11, "goldfish": 6, "shark": 3}
    assert stats["unreadable"] == ["train/n01440764/n01440764_3.JPEG"]

    listed = cli("runs", "--dataset", "lists").output
    assert run.name in listed


def test_a_lists_dataset_has_one_name_its_folders(tmp_path):
    """--data PATH, --dataset NAME and the app file a lists dataset's runs under one name (its folder's),
    so `ltcli runs --dataset NAME` finds them all; the NAME of NAME_train.txt made a second one."""
    from ltcli.app.datasets import training_dataset
    from ltcli.app.paths import AppRoot
    from ltcli.data.source import resolve_source

    folder = tmp_path / "a_datasets" / "toylists"
    folder.mkdir(parents=True)
    make_lists(folder)
    by_path = resolve_source(None, folder, tmp_path / "a_datasets")[1]
    by_name = resolve_source("toylists", None, tmp_path / "a_datasets")[1]
    in_app = training_dataset(AppRoot.at(tmp_path), "a_datasets/toylists", None, "exp", 0)[0]
    assert by_path == by_name == in_app == "toylists"


def test_pretrain_on_lists_with_an_unlabeled_list(cli, tmp_path, lists):
    pool = tmp_path / "pool"
    for i in range(3):
        write_image(pool / "img" / f"{i}.jpg", (90, 90, 90), seed=i)
    (pool / "unlabeled.txt").write_text("img/0.jpg\nimg/1.jpg\nimg/2.jpg 5\n")
    cli("pretrain", "--data", lists, "--extra-unlabeled", pool / "unlabeled.txt", "--model", "resnet20", "--epochs",
        "1", "--batchsize", "8", "--height", "16", "--width", "16", "--workers", "0", "--device", "cpu")
    (run,) = list((tmp_path / "logs").rglob("config.json"))
    config = json.loads(run.read_text())
    assert config["extra_unlabeled_images"] == 3 and config["train_images"] == 24
    assert config["data_lists"]["train"]["file"] == "Toy_LT_train.txt"


def test_the_apps_picker_offers_and_uses_a_lists_dataset(tmp_path):
    from ltcli.app.catalog import dataset_choices
    from ltcli.app.datasets import training_dataset
    from ltcli.app.paths import AppRoot

    folder = tmp_path / "a_datasets" / "imagenet_lt"
    folder.mkdir(parents=True)
    make_lists(folder)
    root = AppRoot.at(tmp_path)
    assert "a_datasets/imagenet_lt" in dataset_choices(root)
    assert training_dataset(root, "a_datasets/imagenet_lt", None, "exp", 0)[0] == "imagenet_lt"
    raw = tmp_path / "data_split" / "lt_lists"
    raw.mkdir(parents=True)
    make_lists(raw)
    with pytest.raises(LtcliError, match="used as they are, never split"):
        training_dataset(root, "data_split/lt_lists", None, "exp", 0)


def test_split_refuses_a_lists_folder_and_writes_nothing(cli, tmp_path, lists):
    result = cli("split", "toy", "--src", lists, ok=False)
    assert result.exit_code == 1 and "holds `path label` lists: they are used as they are" in result.output
    assert not (tmp_path / "a_datasets").exists()


def test_a_typed_dataset_drops_the_config_files_image_root_but_a_typed_root_keeps_its_lists():
    from ltcli.config_file import merge_given

    saved = {"data": "lists", "data_root": "images", "epochs": 3}
    assert merge_given(saved, {"data": "other"}) == {"data": "other", "epochs": 3}
    assert merge_given(saved, {"dataset": "cifar"}) == {"dataset": "cifar", "epochs": 3}
    assert merge_given(saved, {"data_root": "moved"}) == {"data": "lists", "data_root": "moved", "epochs": 3}


@pytest.mark.slow
def test_pseudo_labels_train_on_a_list_dataset(cli, tmp_path):
    from conftest import read_csv
    from test_pseudo_labels import ONE_EPOCH, independent_predictions

    images, root = tmp_path / "images", tmp_path / "lists"
    root.mkdir()
    make_lists(root, images=images)
    data = ("--data", root, "--data-root", images)
    cli("train", *data, "--objective", "ERM", *ONE_EPOCH, "--lr", "0.002")
    (first,) = list((tmp_path / "logs" / "resnet20" / "lists" / "ERM").iterdir())
    pool = images / "unlabeled"  # beside the listed images, under the same image root: allowed
    for i, colour in enumerate(((220, 30, 30), (30, 220, 30), (30, 30, 220))):
        write_image(pool / f"u{i}.png", colour, seed=70_000 + i, size=12)
    expected = independent_predictions(first, sorted(pool.iterdir()))

    result = cli("train", *data, "--objective", "CE", "--unlabeled", pool, "--pseudo-labels-from", first, *ONE_EPOCH)
    assert "(24 train, 9 valid" in " ".join(result.output.split())  # 21 listed + 3 pseudo-labelled
    (run,) = [p for p in (tmp_path / "logs" / "resnet20" / "lists").glob("*/*") if p != first]
    rows = read_csv(run / "pseudo_labels.csv")
    assert {r["path"]: r["label"] for r in rows} == {p: NAMES[label] for p, (label, _) in expected.items()}
    kept = np.bincount([label for label, _ in expected.values()], minlength=3)
    config = json.loads((run / "config.json").read_text())
    assert config["pseudo_labels"]["kept"] == 3 and config["labelled_train_images"] == 21
    assert config["class_counts"] == (np.array(COUNTS["train"]) + kept).tolist()

    refused = cli("train", *data, "--objective", "CE", "--unlabeled", images / "test", "--pseudo-labels-from", first,
                  *ONE_EPOCH, ok=False)
    assert refused.exit_code == 1 and "an image of the dataset's lists" in " ".join(refused.output.split())
