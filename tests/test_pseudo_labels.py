"""Pseudo-labels (Yang & Xu 2020, Sec. 3): a finished run labels unlabeled images, the kept ones join
the training split, and the run records what was kept."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TRAIN_ARGS, make_class_images, only_run, read_csv, write_image
from PIL import Image

from ltcli.config import TrainConfig
from ltcli.errors import LtcliError

ONE_EPOCH = [a if a != "2" else "1" for a in TRAIN_ARGS]
ONE_EPOCH[ONE_EPOCH.index("--lrstep") + 1] = "1"
ONE_EPOCH[ONE_EPOCH.index("--warmup") + 1] = "0"


def unlabeled_folder(root):
    """9 readable images in class subfolders and loose, one that does not decode, one non-image."""
    for index, (name, colour) in enumerate((("a", (220, 30, 30)), ("b", (30, 200, 40)), ("c", (40, 60, 230)))):
        for i in range(2):
            write_image(root / name / f"u{i}.png", colour, seed=50_000 + 10 * index + i)
        write_image(root / f"loose{index}.png", colour, seed=60_000 + index)
    (root / "broken.png").write_bytes(b"not a png")
    (root / "notes.txt").write_text("ignored")
    return root


def independent_predictions(run, paths):
    """RUN's top-1 class and probability per file: its best checkpoint, one image at a time."""
    from ltcli.engine.classifier import load_run
    from ltcli.run_folder import RunFolder

    loaded = load_run(RunFolder(run), torch.device("cpu"))
    transform = loaded.eval_transform()
    with torch.no_grad():
        probs = [torch.softmax(loaded.network(transform(Image.open(p).convert("RGB"))[None]), 1)[0] for p in paths]
    return {str(p): (int(q.argmax()), float(q.max())) for p, q in zip(paths, probs, strict=True)}


@pytest.fixture
def first_run(cli, split_dataset, tmp_path):
    # a low rate, so that RUN's confidences are spread rather than all ~1 (for the threshold)
    cli("train", "--dataset", "colours", "--objective", "ERM", *ONE_EPOCH, "--lr", "0.002")
    return only_run(tmp_path, "ERM")


@pytest.mark.slow
def test_training_on_labelled_and_pseudo_labelled_images(cli, split_dataset, tmp_path, first_run):
    unlabeled = unlabeled_folder(tmp_path / "unlabeled")
    readable = sorted(p for p in unlabeled.rglob("*.png") if p.name != "broken.png")
    expected = independent_predictions(first_run, readable)
    names = ["apple", "leaf", "sky"]

    result = cli("train", "--dataset", "colours", "--objective", "CE", "--unlabeled", str(unlabeled),
                 "--pseudo-labels-from", str(first_run), *ONE_EPOCH)
    run = next(p for p in (tmp_path / "logs/resnet20/colours").glob("*/*") if p != first_run)
    rows = read_csv(run / "pseudo_labels.csv")
    assert {r["path"] for r in rows} == set(expected) and len(rows) == 9  # broken.png and notes.txt left out
    for row in rows:
        label, confidence = expected[row["path"]]
        assert row["label"] == names[label] and float(row["confidence"]) == pytest.approx(confidence, abs=1e-5)
        assert row["kept"] == "1"  # the paper's rule: every pseudo-label is kept
    kept = np.bincount([label for label, _ in expected.values()], minlength=3)
    config = json.loads((run / "config.json").read_text())
    record = config["pseudo_labels"]
    assert record["kept"] == 9 and record["images"] == 9 and record["unreadable"] == 1
    assert record["kept_per_class"] == dict(zip(names, kept.tolist(), strict=True))
    assert config["class_counts"] == (np.array([24, 12, 6]) + kept).tolist()  # counts include pseudo-labels
    assert config["labelled_train_images"] == 42
    assert "(51 train, 12 valid" in " ".join(result.output.split())  # 42 labelled + 9 pseudo-labelled per epoch

    # A threshold keeps only the confident ones: halfway between the 4th and 5th highest, 4 kept.
    confidences = sorted((c for _, c in expected.values()), reverse=True)
    assert confidences[3] - confidences[4] > 1e-4, confidences  # far apart next to float32 rounding
    threshold = (confidences[3] + confidences[4]) / 2
    cli("train", "--dataset", "colours", "--objective", "CE", "--unlabeled", str(unlabeled),
        "--pseudo-labels-from", str(first_run), "--pseudo-threshold", str(threshold), *ONE_EPOCH)
    newest = max((p for p in (tmp_path / "logs/resnet20/colours").glob("*/*") if p not in (first_run, run)),
                 key=lambda p: p.name)
    rows = read_csv(newest / "pseudo_labels.csv")
    assert [r["kept"] == "1" for r in rows] == [expected[r["path"]][1] >= threshold for r in rows]
    assert sum(r["kept"] == "1" for r in rows) == 4
    assert sum(json.loads((newest / "config.json").read_text())["class_counts"]) == 42 + 4


def test_refusals_are_one_line(cli, split_dataset, tmp_path, first_run):
    unlabeled = unlabeled_folder(tmp_path / "unlabeled")
    make_class_images({"apple": 6, "leaf": 6, "sun": 6}, tmp_path / "a_datasets" / "other" / "train")
    make_class_images({"apple": 2, "leaf": 2, "sun": 2}, tmp_path / "a_datasets" / "other" / "valid")
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    source = tmp_path / "data_split" / "colours"  # the split's own source: its images copied into a_datasets
    shutil.copytree(split_dataset / "test", source / "test")
    mixed = unlabeled_folder(tmp_path / "mixed")
    shutil.copy(split_dataset / "valid" / "sky" / "img001.png", mixed / "a" / "renamed.png")
    cases = [
        (("--dataset", "colours", "--unlabeled", source, "--pseudo-labels-from", first_run),
         f"--unlabeled {source} holds {source / 'test' / 'apple' / 'img000.png'}, a copy of the dataset's image "
         "a_datasets/colours/"),  # (the fixture's splits share images: which copy is named is not pinned)
        (("--dataset", "colours", "--unlabeled", mixed, "--pseudo-labels-from", first_run),
         f"holds {mixed / 'a' / 'renamed.png'}, a copy of the dataset's image a_datasets/colours/"),
        (("--dataset", "other", "--unlabeled", unlabeled, "--pseudo-labels-from", first_run),
         "predicts apple, leaf, sky, not the dataset's classes (apple, leaf, sun)"),
        (("--dataset", "colours", "--unlabeled", unlabeled),
         "--unlabeled DIR and --pseudo-labels-from RUN go together"),
        (("--dataset", "colours", "--unlabeled", tmp_path / "nowhere", "--pseudo-labels-from", first_run),
         "--unlabeled folder (or .txt list) not found"),
        (("--dataset", "colours", "--unlabeled", split_dataset / "test", "--pseudo-labels-from", first_run),
         "overlaps the dataset"),
        (("--dataset", "colours", "--unlabeled", empty, "--pseudo-labels-from", first_run), "holds no readable image"),
        (("--dataset", "colours", "--unlabeled", unlabeled, "--pseudo-labels-from", tmp_path / "nowhere"),
         "--pseudo-labels-from"),
    ]
    runs_before = sorted((tmp_path / "logs").rglob("config.json"))
    for args, message in cases:
        result = cli("train", *args, *ONE_EPOCH, ok=False)
        assert result.exit_code == 1 and result.output.startswith("error:"), result.output
        assert result.output.count("\n") == 1 and message in " ".join(result.output.split()), result.output
    assert sorted((tmp_path / "logs").rglob("config.json")) == runs_before  # nothing written


def test_threshold_range_in_the_config():
    with pytest.raises(LtcliError, match=r"--pseudo-threshold must be in \[0, 1\]"):
        TrainConfig(dataset="d", epochs=2, unlabeled="u", pseudo_labels_from="r", pseudo_threshold=1.5)
    with pytest.raises(LtcliError, match="--pseudo-threshold applies to --unlabeled"):
        TrainConfig(dataset="d", epochs=2, pseudo_threshold=0.5)


@pytest.mark.slow
def test_a_resumed_run_trains_on_the_pseudo_labels_it_recorded(cli, split_dataset, tmp_path, first_run, monkeypatch):
    """Resuming reads pseudo_labels.csv: the same images and labels, even with RUN gone."""
    import shutil

    from ltcli.engine import story
    from ltcli.engine.loop import STOP

    unlabeled = unlabeled_folder(tmp_path / "unlabeled")
    one_epoch = story.run_epoch

    def stop_after_the_first(*args, **kwargs):
        one_epoch(*args, **kwargs)
        STOP.requested = True  # as a Ctrl-C would: the next epoch stops at its first batch

    monkeypatch.setattr(story, "run_epoch", stop_after_the_first)
    args = [a if a != "1" else "2" for a in ONE_EPOCH]  # 2 epochs, --lrstep 2
    result = cli("train", "--dataset", "colours", "--objective", "CE", "--unlabeled", unlabeled,
                 "--pseudo-labels-from", first_run, *args, ok=False)
    assert result.exit_code == 130
    run = next(p for p in (tmp_path / "logs/resnet20/colours").glob("*/*") if p != first_run)
    recorded = (run / "pseudo_labels.csv").read_bytes()
    assert len(read_csv(run / "train.csv")) == 1
    monkeypatch.setattr(story, "run_epoch", one_epoch)
    shutil.rmtree(first_run)
    result = cli("train", "--resume", run)
    assert "(51 train, 12 valid" in " ".join(result.output.split())
    assert len(read_csv(run / "train.csv")) == 2 and (run / "pseudo_labels.csv").read_bytes() == recorded


def test_an_unlabeled_list_file_is_read_like_a_folder(tmp_path):
    """`--unlabeled LIST.txt`: the images its lines name (relative to the list's folder, labels ignored);
    a missing or undecodable one is counted, and a list naming a dataset image is refused."""
    from ltcli.data.unlabeled import unlabeled_images

    images = unlabeled_folder(tmp_path / "pool" / "images")
    listed = sorted(p for p in images.rglob("*.png") if p.name != "broken.png")[:4]
    lines = [f"images/{p.relative_to(images).as_posix()} 0" for p in listed]
    lines += ["images/broken.png 1", "images/gone.png 2"]
    (tmp_path / "pool" / "extra.txt").write_text("\n".join(lines) + "\n")
    dataset = make_class_images({"apple": 2}, tmp_path / "dataset")

    found = unlabeled_images(tmp_path / "pool" / "extra.txt", dataset)
    assert sorted(map(str, found.images)) == sorted(map(str, listed))
    assert sorted(Path(p).name for p in found.corrupt) == ["broken.png", "gone.png"]

    (tmp_path / "pool" / "data").symlink_to(dataset)  # a list reaching the dataset through a link
    inside = next(dataset.rglob("*.png")).relative_to(dataset)
    (tmp_path / "pool" / "leak.txt").write_text(f"data/{inside.as_posix()} 0\n")
    with pytest.raises(LtcliError, match="an image of the dataset"):
        unlabeled_images(tmp_path / "pool" / "leak.txt", dataset)
    (tmp_path / "pool" / "up.txt").write_text(f"../dataset/{inside.as_posix()} 0\n")
    with pytest.raises(LtcliError, match="a `..` step"):
        unlabeled_images(tmp_path / "pool" / "up.txt", dataset)
    with pytest.raises(LtcliError, match=r"--unlabeled folder \(or .txt list\) not found"):
        unlabeled_images(tmp_path / "pool" / "none.txt", dataset)
