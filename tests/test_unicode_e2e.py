"""Class and dataset names with spaces and non-ASCII letters, end to end:
split (long-tailed) -> stats -> train -> test -> plot, checking folders, CSVs, JSON and SVGs."""

from __future__ import annotations

import csv
import json

from conftest import write_image

CLASSES = {"red apple": (220, 30, 30), "grünes Blatt": (30, 200, 40), "небо": (40, 60, 230)}
DATASET = "früchte lt"


def test_unicode_names_end_to_end(cli, tmp_path):
    for index, (name, colour) in enumerate(CLASSES.items()):
        for i in range(12):
            write_image(tmp_path / "data_split" / DATASET / name / f"bild {i:02d}.png", colour, seed=100 * index + i)
    order = "небо,red apple,grünes Blatt"
    cli("split", DATASET, "--ratios", "0.5,0.25,0.25", "--imbalance-factor", "3", "--class-order", order)
    root = tmp_path / "a_datasets" / DATASET
    # 6 training images each; exp with F = 3 from n_max 6: 6, int(6 / sqrt(3)) = 3, 2
    expected_train = {"небо": 6, "red apple": 3, "grünes Blatt": 2}
    assert {name: len(list((root / "train" / name).iterdir())) for name in CLASSES} == expected_train
    manifest = json.loads((root / "split.json").read_text(encoding="utf-8"))
    assert manifest["long_tail"]["class_order"] == order.split(",")

    stats = json.loads(cli("stats", DATASET, "--json", "--out", "classes.svg").output)
    assert stats["counts"]["train"] == {name: expected_train[name] for name in sorted(CLASSES)}
    assert stats["imbalance_ratio"] == 3.0
    histogram = (tmp_path / "classes.svg").read_text(encoding="utf-8")
    assert all(name in histogram for name in CLASSES)

    cli("train", "--dataset", DATASET, "--model", "resnet20", "--objective", "ERM", "--epochs", "1",
        "--batchsize", "4", "--lrstep", "1", "--warmup", "0", "--height", "16", "--width", "16",
        "--workers", "0", "--device", "cpu")
    run = next((tmp_path / "logs" / "resnet20" / DATASET / "ERM").iterdir())
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["class_names"] == sorted(CLASSES) and config["dataset_name"] == DATASET

    tested = cli("test", "--dataset", DATASET, "--model", "resnet20", "--objective", "ERM", "--datetime", "latest")
    assert "небо" in tested.output
    with open(run / "per_class.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["class"] for row in rows] == sorted(CLASSES)
    assert [int(row["train_count"]) for row in rows] == [expected_train[name] for name in sorted(CLASSES)]
    with open(run / "predictions.csv", newline="", encoding="utf-8") as handle:
        predictions = list(csv.DictReader(handle))
    assert len(predictions) == 9 and {row["true"] for row in predictions} == set(CLASSES)
    assert all(row["file"].split("/")[0] in CLASSES and " " in row["file"] for row in predictions)
    matrix = (run / "confusion_matrix.svg").read_text(encoding="utf-8")
    assert all(name in matrix for name in CLASSES)

    out = tmp_path / "plots" / "kurven ü.svg"
    cli("plot", "--dataset", DATASET, "--out", str(out))
    assert "ERM" in out.read_text(encoding="utf-8")
