"""test, predict, runs and plot through the CLI, on run folders made in the test (an untrained
network: fast, and enough to check that every file agrees with every other), plus one real training
run for --select-metric."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
from sklearn.metrics import roc_auc_score

from ltcli.atomic import atomic_write_text
from ltcli.config import TrainConfig
from ltcli.metrics import SUMMARY_KEYS
from ltcli.models import create_model
from ltcli.run_folder import PER_CLASS_COLUMNS

CLASSES = ["apple", "leaf", "sky"]
COUNTS = [24, 12, 6]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def svg_texts(path: Path) -> list[str]:
    return ["".join(e.itertext()) for e in ET.parse(path).getroot().iter() if e.tag.endswith("}text")]


def make_run(logs: Path, data_root: Path, objective: str, stamp: str, seed: int, class_names=CLASSES,
             counts=COUNTS, outputs: int | None = None, select_metric: str = "acc", valid_acc=(0.5, 0.75)) -> Path:
    """A run folder as `ltcli train` leaves it, with an untrained resnet20 (seeded) as its best checkpoint."""
    torch.manual_seed(seed)
    model = create_model("resnet20", num_classes=outputs or len(class_names))
    config = {
        **TrainConfig(dataset=data_root.name, model="resnet20", objective=objective, epochs=len(valid_acc),
                      height=16, width=16, select_metric=select_metric).to_dict(),
        "dataset_name": data_root.name, "dataset_root": str(data_root), "valid_split": "valid",
        "augment_resolved": "cifar", "class_names": class_names, "class_counts": counts,
    }
    run = logs / "resnet20" / data_root.name / objective / stamp
    run.mkdir(parents=True)
    atomic_write_text(run / "config.json", json.dumps(config))
    torch.save({"model": model.state_dict(), "epoch": 1, "class_names": class_names, "class_counts": counts,
                "config": config, "select_metric": select_metric}, run / "checkpoint_best.pt")
    rows = "".join(f"{e},{1.5 - 0.1 * e},{acc}\n" for e, acc in enumerate(valid_acc))
    atomic_write_text(run / "valid.csv", "epoch,loss,acc\n" + rows)
    atomic_write_text(run / "train.csv", "epoch,loss,acc,lr\n" + "".join(f"{e},1.0,0.5,0.1\n" for e in range(2)))
    return run


@pytest.fixture
def two_runs(tmp_path, split_dataset) -> tuple[Path, Path]:
    logs = tmp_path / "logs"
    return (make_run(logs, split_dataset, "ERM", "2026-01-01-00-00-00", seed=1),
            make_run(logs, split_dataset, "CCE", "2026-01-02-00-00-00", seed=2, select_metric="loss"))


def test_test_writes_every_result_and_they_agree(cli, two_runs):
    run = two_runs[0]
    result = cli("test", "--run", str(run))
    for text in ("balanced_acc", "few_shot_acc", "tpauc_0.5_0.5", "weakest classes:"):
        assert text in result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(SUMMARY_KEYS) | {"tpauc_0.5_0.5", "per_class_precision", "per_class_f1", "shot_groups"} <= set(metrics)
    assert metrics["members"][0]["stamp"] == run.name and metrics["label"] == f"ERM {run.name}"
    assert metrics["class_counts"] == COUNTS and metrics["num_samples"] == 12
    per_class = read_csv(run / "per_class.csv")
    assert tuple(per_class[0]) == PER_CLASS_COLUMNS and [r["class"] for r in per_class] == CLASSES
    assert [r["shot_group"] for r in per_class] == ["medium", "few", "few"]  # 24, 12, 6 training images
    predictions = read_csv(run / "predictions.csv")
    assert len(predictions) == 12 and list(predictions[0]) == ["file", "true", "predicted", "probability"]
    assert predictions[0]["file"] == str(Path("apple") / "img000.png")
    for row in per_class:  # recall and precision recomputed from predictions.csv
        true = [p for p in predictions if p["true"] == row["class"]]
        predicted = [p for p in predictions if p["predicted"] == row["class"]]
        assert int(row["test_count"]) == len(true) == 4
        assert float(row["recall"]) == pytest.approx(sum(p["predicted"] == row["class"] for p in true) / 4)
        if predicted:
            assert float(row["precision"]) == pytest.approx(sum(p["true"] == row["class"] for p in predicted)
                                                            / len(predicted))
        else:
            assert row["precision"] == ""  # never predicted: undefined, left blank
    assert metrics["acc"] == pytest.approx(sum(p["true"] == p["predicted"] for p in predictions) / 12)
    recall_svg = svg_texts(run / "per_class_recall.svg")
    assert [t for t in recall_svg if t in CLASSES] == CLASSES and "training images" in recall_svg
    assert all(name in svg_texts(run / "confusion_matrix.svg") for name in CLASSES)
    assert not (run / "roc_curve.svg").exists()  # three classes: no ROC figure


def test_test_options_thresholds_tpauc_and_last_checkpoint(cli, two_runs):
    run = two_runs[0]
    (run / "checkpoint_last.pt").write_bytes((run / "checkpoint_best.pt").read_bytes())
    cli("test", "--run", str(run / "checkpoint_last.pt"), "--many-shot", "20", "--few-shot", "10",
        "--tpauc", "0.3,0.7", "--tpauc", "1,1", "--split", "valid")
    metrics = json.loads((run / "metrics_valid.json").read_text())
    assert metrics["checkpoint"] == "checkpoint_last.pt" and metrics["split"] == "valid"
    assert {"tpauc_0.3_0.7", "tpauc_1_1"} <= set(metrics) and "tpauc_0.5_0.5" not in metrics
    assert metrics["tpauc_1_1"] == pytest.approx(metrics["auroc"])
    assert [r["shot_group"] for r in read_csv(run / "per_class_valid.csv")] == ["many", "medium", "few"]
    assert not (run / "metrics.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tpauc", "1.5,0.5"), "TPAUC alpha must be in (0, 1]"),
        (("--tpauc", "half"), "--tpauc takes ALPHA,BETA"),
        (("--split", "train"), "--split must be test or valid"),
        (("--many-shot", "10", "--few-shot", "50"), "few-shot bound 50 is above the many-shot bound 10"),
        (("--run", "2030-01-01-00-00-00"), "no run 2030-01-01-00-00-00"),
        (("--run", "nowhere"), "is neither a run folder, a checkpoint .pt nor a stamp"),
        (("--datetime", "latest"), "give --run or --datetime, not both"),
    ],
)
def test_test_bad_input_is_one_line(cli, two_runs, args, message):
    result = cli("test", "--run", str(two_runs[0]), *args, ok=False)
    assert result.exit_code == 1 and message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_an_ensemble_averages_and_names_its_members(cli, two_runs, tmp_path):
    erm, cce = two_runs
    result = cli("test", "--run", erm.name, "--run", str(cce))  # a stamp and a path
    out = next((tmp_path / "logs" / "ensembles" / "colours").iterdir())
    assert "ensemble members" in result.output and str(out.relative_to(tmp_path)) in " ".join(result.output.split())
    metrics = json.loads((out / "metrics.json").read_text())
    assert [m["stamp"] for m in metrics["members"]] == [erm.name, cce.name]
    assert [m["objective"] for m in metrics["members"]] == ["ERM", "CCE"]
    assert all("acc" in m and "balanced_acc" in m for m in metrics["members"])
    assert metrics["label"] == f"ensemble of 2: ERM {erm.name} + CCE {cce.name}"
    assert not (erm / "metrics.json").exists() and not (cce / "metrics.json").exists()
    assert len(read_csv(out / "predictions.csv")) == 12
    again = cli("test", "--run", str(erm), "--run", str(cce), "--out", str(out), ok=False)
    assert "already holds metrics.json" in " ".join(again.output.split())
    cli("test", "--run", str(erm), "--run", str(cce), "--out", str(out), "--force")


def test_an_ensemble_needs_the_same_classes(cli, two_runs, tmp_path, split_dataset):
    other = make_run(tmp_path / "logs", split_dataset, "ERM", "2026-01-03-00-00-00", seed=3,
                     class_names=["apple", "leaf", "sun"])
    result = cli("test", "--run", str(two_runs[0]), "--run", str(other), ok=False)
    assert "their classes differ" in " ".join(result.output.split())
    assert not list((tmp_path / "logs" / "ensembles" / "colours").iterdir())  # no empty folder left


@pytest.fixture
def binary_run(tmp_path, make_class_folder) -> tuple[Path, Path]:
    """A one-logit binary run (classes [negative, positive] = [apple, sky]) and its dataset."""
    root = tmp_path / "a_datasets" / "pair"
    for split, count in (("train", 8), ("valid", 4), ("test", 6)):
        make_class_folder({"apple": count, "sky": count}, root / split)
    run = make_run(tmp_path / "logs", root, "ERM", "2026-02-01-00-00-00", seed=4, class_names=["apple", "sky"],
                   counts=[8, 8], outputs=1)
    return run, root


def test_a_binary_run_gets_a_roc_curve(cli, binary_run):
    run, _ = binary_run
    cli("test", "--run", str(run))
    metrics = json.loads((run / "metrics.json").read_text())
    predictions = read_csv(run / "predictions.csv")
    positive_probability = [float(p["probability"]) if p["predicted"] == "sky" else 1 - float(p["probability"])
                            for p in predictions]
    labels = [p["true"] == "sky" for p in predictions]
    assert metrics["num_classes"] == 2
    assert metrics["auroc"] == pytest.approx(roc_auc_score(labels, positive_probability), abs=1e-6)
    texts = svg_texts(run / "roc_curve.svg")
    assert any(t.startswith(f"ERM {run.name} (AUROC {metrics['auroc']:.3f})") for t in texts)
    assert "TPAUC region (alpha=0.5, beta=0.5)" in texts


def test_a_binary_ensemble_draws_each_member_and_the_average(cli, binary_run, tmp_path):
    run, root = binary_run
    other = make_run(tmp_path / "logs", root, "CCE", "2026-02-02-00-00-00", seed=5, class_names=["apple", "sky"],
                     counts=[8, 8], outputs=1)
    cli("test", "--run", str(run), "--run", str(other), "--out", str(tmp_path / "pair-ensemble"))
    metrics = json.loads((tmp_path / "pair-ensemble" / "metrics.json").read_text())
    texts = svg_texts(tmp_path / "pair-ensemble" / "roc_curve.svg")
    for member in metrics["members"]:
        assert f"{member['objective']} {member['stamp']} (AUROC {member['auroc']:.3f})" in texts
    assert f"ensemble (AUROC {metrics['auroc']:.3f})" in texts


def test_predict_top_k_from_the_checkpoint_alone(cli, binary_run, two_runs, tmp_path, split_dataset):
    erm, cce = two_runs
    images = tmp_path / "new"
    (images / "sub").mkdir(parents=True)
    for source, target in (("apple/img000.png", "a.png"), ("sky/img001.png", "sub/b.png")):
        (images / target).write_bytes((split_dataset / "test" / source).read_bytes())
    (images / "notes.txt").write_text("not an image")
    (images / "broken.png").write_bytes(b"not a png")
    single = tmp_path / "single.csv"
    result = cli("predict", "--run", str(erm), str(images), "--top-k", "3", "--out", str(single))
    assert "skipped 1 unreadable image" in result.output and "skipped 1 non-image file" in result.output
    rows = read_csv(single)
    assert [Path(r["file"]).name for r in rows] == ["a.png", "b.png"]
    assert list(rows[0]) == ["file", "class_1", "probability_1", "class_2", "probability_2", "class_3",
                             "probability_3"]
    for row in rows:
        probs = [float(row[f"probability_{k}"]) for k in (1, 2, 3)]
        assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0)
        assert sorted(row[f"class_{k}"] for k in (1, 2, 3)) == CLASSES
    cli("predict", "--run", str(cce), str(images), "--out", str(tmp_path / "other.csv"))
    cli("predict", "--run", str(erm), "--run", cce.name, str(images), "--out", str(tmp_path / "both.csv"))

    def probabilities(path):
        return {(r["file"], r[f"class_{k}"]): float(r[f"probability_{k}"]) for r in read_csv(path) for k in (1, 2, 3)}

    alone, other = probabilities(single), probabilities(tmp_path / "other.csv")
    both = probabilities(tmp_path / "both.csv")
    for key, value in both.items():
        assert value == pytest.approx((alone[key] + other[key]) / 2, abs=1e-6)
    # only the checkpoint is needed: no dataset folder, no config.json
    binary, root = binary_run
    import shutil

    shutil.rmtree(root)
    (binary / "config.json").unlink()
    cli("predict", "--run", str(binary / "checkpoint_best.pt"), str(images / "a.png"), "--out",
        str(tmp_path / "binary.csv"))
    row = read_csv(tmp_path / "binary.csv")[0]
    assert {row["class_1"], row["class_2"]} == {"apple", "sky"}
    assert float(row["probability_1"]) + float(row["probability_2"]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--run", "RUN", "missing.png"), "no such file or folder: missing.png"),
        (("--run", "RUN", "notes.txt"), "notes.txt is not an image file"),
        (("--run", "RUN", "--top-k", "0", "img.png"), "--top-k must be at least 1"),
        (("--run", "RUN", "--out", "taken.csv", "img.png"), "taken.csv already exists: pass --force"),
        (("img.png",), "give the run to predict with: --run PATH or --run STAMP"),
    ],
)
def test_predict_bad_input_is_one_line(cli, two_runs, tmp_path, args, message):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "taken.csv").write_text("mine")
    (tmp_path / "img.png").write_bytes((tmp_path / "a_datasets/colours/test/apple/img000.png").read_bytes())
    result = cli("predict", *(str(two_runs[0]) if a == "RUN" else a for a in args), ok=False)
    assert result.exit_code == 1 and message in " ".join(result.output.split())
    assert (tmp_path / "taken.csv").read_text() == "mine"


def test_runs_table_fits_80_columns_and_csv_has_everything(cli, two_runs, tmp_path):
    erm, cce = two_runs
    cli("test", "--run", str(erm))
    table = cli("runs").output
    assert max(len(line) for line in table.splitlines()) <= 80
    assert erm.name in table and cce.name in table and "objective" in table
    assert "resnet20 / colours" in table  # shared model and dataset go to the title, not a column
    erm_line = next(line for line in table.splitlines() if erm.name in line)
    metrics = json.loads((erm / "metrics.json").read_text())
    assert f"{metrics['acc']:.3f}" in erm_line and "2/2" in erm_line
    filtered = cli("runs", "--objective", "erm").output
    assert erm.name in filtered and cce.name not in filtered and "objective" not in filtered
    rows = list(csv.DictReader(cli("runs", "--csv").output.splitlines()))
    assert [r["stamp"] for r in rows] == [erm.name, cce.name]
    assert rows[0]["select_metric"] == "acc" and float(rows[0]["best_valid"]) == 0.75  # max of acc
    assert rows[1]["select_metric"] == "loss" and float(rows[1]["best_valid"]) == pytest.approx(1.4)  # min of loss
    assert float(rows[0]["test_balanced_acc"]) == pytest.approx(metrics["balanced_acc"])
    assert rows[1]["test_acc"] == "" and {"test_tpauc_0.5_0.5", "test_few_shot_acc", "path"} <= set(rows[0])


def test_plot_per_class_and_shots_compare_tested_runs(cli, two_runs, tmp_path):
    erm, cce = two_runs
    untested = cli("plot", "--kind", "per-class", "--run", str(erm), ok=False)
    assert "has no per_class.csv: run `ltcli test` on it first" in " ".join(untested.output.split())
    cli("test", "--run", str(erm))
    cli("test", "--run", str(cce))
    per_class = tmp_path / "per_class.svg"
    cli("plot", "--kind", "per-class", "--run", str(erm), "--run", cce.name, "--out", str(per_class), "--png")
    texts = svg_texts(per_class)
    assert {f"ERM {erm.name}", f"CCE {cce.name}", "training images", *CLASSES} <= set(texts)
    assert per_class.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    shots = tmp_path / "shots.svg"
    cli("plot", "--kind", "shots", "--dataset", "colours", "--out", str(shots))
    texts = svg_texts(shots)
    assert {f"ERM {erm.name}", f"CCE {cce.name}", "many-shot", "few-shot", "n/a"} <= set(texts)  # no many-shot class
    curves = tmp_path / "curves.svg"
    cli("plot", "--run", erm.name, "--metrics", "acc", "--out", str(curves))
    assert f"ERM {erm.name} (valid)" in svg_texts(curves)
    wrong = cli("plot", "--kind", "shots", "--metrics", "acc", ok=False)
    assert "--metrics applies to --kind curves only" in wrong.output
    assert "unknown --kind 'bars'" in " ".join(cli("plot", "--kind", "bars", ok=False).output.split())


def test_select_metric_picks_the_best_checkpoint(cli, split_dataset, tmp_path, monkeypatch):
    """Scripted validation numbers (the network is real, its metrics are replaced): the lowest NLL is
    at epoch 1, neither the first nor the last, and top-1 accuracy would have picked epoch 2."""
    import ltcli.engine.loop as loop

    script = iter([{"nll": 0.9, "acc": 0.1}, {"nll": 0.5, "acc": 0.2}, {"nll": 0.7, "acc": 0.9}])
    real = loop.evaluate_logits  # where the loop meets ltcli.metrics
    monkeypatch.setattr(loop, "evaluate_logits", lambda *a, **k: {**real(*a, **k), **next(script)})
    result = cli("train", "--dataset", "colours", "--objective", "ERM", "--model", "resnet20", "--epochs", "3",
                 "--batchsize", "8", "--lrstep", "3", "--warmup", "0", "--height", "8", "--width", "8",
                 "--workers", "0", "--device", "cpu", "--select-metric", "nll")
    assert "done: best valid nll 0.5000" in " ".join(result.output.split())
    run = next((tmp_path / "logs" / "resnet20" / "colours" / "ERM").iterdir())
    assert json.loads((run / "config.json").read_text())["select_metric"] == "nll"
    best = torch.load(run / "checkpoint_best.pt", weights_only=True)
    assert best["select_metric"] == "nll" and best["epoch"] == 1 and best["valid_metrics"]["nll"] == 0.5
    valid = read_csv(run / "valid.csv")
    assert [float(r["nll"]) for r in valid] == [0.9, 0.5, 0.7]
    assert {"balanced_acc", "macro_f1", "ece", "gmean_recall", "hmean_recall", "lowest_recall"} <= set(valid[0])
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"valid/balanced_acc", "valid/gmean_recall", "valid/hmean_recall", "valid/lowest_recall"} <= tags
    result = cli("train", "--dataset", "colours", "--select-metric", "lr", ok=False)
    assert "unknown --select-metric 'lr'" in " ".join(result.output.split())
