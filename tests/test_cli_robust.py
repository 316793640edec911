"""Training and testing on folders with files that do not decode: skipped and counted, or --strict."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import BAD_IMAGE_FILES, TRAIN_ARGS, write_bad_images, write_image

ONE_EPOCH = ("--model", "resnet20", "--objective", "ERM", "--epochs", "1", "--batchsize", "8", "--lrstep", "1",
             "--warmup", "0", "--height", "16", "--width", "16", "--workers", "0", "--device", "cpu")


def test_undecodable_files_are_skipped_counted_and_tested_around(cli, split_dataset, tmp_path):
    bad_train = write_bad_images(split_dataset / "train" / "apple")
    bad_valid = split_dataset / "valid" / "sky" / "v-truncated.jpg"
    bad_valid.write_bytes(BAD_IMAGE_FILES["truncated.jpg"]())
    bad_test = split_dataset / "test" / "leaf" / "t-zero-byte.jpg"
    bad_test.write_bytes(BAD_IMAGE_FILES["zero-byte.jpg"]())
    result = cli("train", "--dataset", "colours", *ONE_EPOCH)
    squashed = "".join(result.output.split())  # rich may wrap a long path anywhere
    for path, split in [(p, "train") for p in bad_train] + [(bad_valid, "valid")]:
        shown = path.relative_to(tmp_path)  # as the user named it: --dataset reads a_datasets/ in the cwd
        assert squashed.count(f"warning:skipped{shown}({split})") == 1  # warned once each
    assert "skipped 4 file(s) that do not decode" in " ".join(result.output.split())
    run = next((tmp_path / "logs" / "resnet20" / "colours" / "ERM").iterdir())
    record = json.loads((run / "skipped_files.json").read_text())
    assert record["count"] == 4
    assert record["data_root"] == str(split_dataset.resolve())
    assert sorted(record["files"]["train"]) == sorted(p.relative_to(split_dataset).as_posix() for p in bad_train)
    assert record["files"]["valid"] == ["valid/sky/v-truncated.jpg"]
    assert json.loads((run / "config.json").read_text())["strict"] is False
    assert len(list(csv.DictReader(open(run / "train.csv", encoding="utf-8")))) == 1  # the epoch finished

    tested = " ".join(cli("test", "--run", str(run)).output.split())
    assert "skipped 1 file(s) that do not decode" in tested
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["skipped_files"] == ["leaf/t-zero-byte.jpg"] and metrics["num_samples"] == 12
    with open(run / "predictions.csv", newline="", encoding="utf-8") as handle:
        predicted = [row["file"] for row in csv.DictReader(handle)]
    assert len(predicted) == 12 and not any(Path(f).name.startswith("t-") for f in predicted)


def test_a_clean_run_records_zero_skipped(cli, split_dataset, tmp_path):
    result = cli("train", "--dataset", "colours", *ONE_EPOCH, "--strict")
    assert "skipped" not in result.output
    run = next((tmp_path / "logs" / "resnet20" / "colours" / "ERM").iterdir())
    record = json.loads((run / "skipped_files.json").read_text())
    assert record["count"] == 0 and record["files"] == {"train": [], "valid": []}
    assert json.loads((run / "config.json").read_text())["strict"] is True


def test_strict_refuses_before_writing_a_run(cli, split_dataset, tmp_path):
    bad = write_bad_images(split_dataset / "train" / "leaf")
    result = cli("train", "--dataset", "colours", *ONE_EPOCH, "--strict", ok=False)
    message = " ".join(result.output.split())
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert message.startswith("error: --strict: 3 image file(s) do not decode:"), message
    squashed = "".join(result.output.split())
    assert all(str(path.relative_to(tmp_path)) in squashed for path in bad)
    assert "train without --strict to skip them" in message
    assert not (tmp_path / "logs").exists()  # scanned up front: no run folder, no half run


@pytest.mark.parametrize(("cache", "message"), [
    ("memory", "none of the 9 training files decode"),
    ("none", "no training image of epoch 1 decoded"),
])
def test_a_training_split_where_nothing_decodes_is_a_one_line_error(cli, tmp_path, cache, message):
    root = tmp_path / "a_datasets" / "broken"
    for name in ("a", "b", "c"):
        write_bad_images(root / "train" / name)
        write_image(root / "valid" / name / "ok.png", (90, 90, 90), seed=1)
    args = ("--dataset", "broken", "--objective", "ERM", "--data-cache", cache, *TRAIN_ARGS)
    result = cli("train", *args, ok=False)
    assert result.exit_code == 1
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output
