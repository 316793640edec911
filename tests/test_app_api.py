"""The web app driven through gradio_client, as a script would: /runs, /infer, /compare, /stats,
/test, and refusals (paths outside the root, bad and oversized uploads) as one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import png_bytes
from PIL import Image

pytest.importorskip("gradio", reason="the web app needs the app extra: pip install 'ltcli[app]'")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

CLASSES = ["apple", "leaf", "sky"]


@pytest.fixture(scope="module")
def client(served_app):
    return served_app.client()


def run_paths(app_root: Path) -> dict[str, str]:
    """objective -> root-relative run folder."""
    return {p.parent.name: p.relative_to(app_root).as_posix()
            for p in sorted((app_root / "logs" / "resnet20" / "colours").glob("*/*"))}


def test_runs_lists_every_run_with_its_name_and_test_numbers(client, app_root):
    listing = client.predict("", api_name="/runs")
    rows = {row[3]: dict(zip(listing["headers"], row, strict=True)) for row in listing["data"]}
    assert set(rows) == {"ERM", "CCE"}
    for objective, run in run_paths(app_root).items():
        metrics = json.loads((app_root / run / "metrics.json").read_text())
        row = rows[objective]
        assert row["run"] == run and row["epochs"] == "1/1" and row["state"] == "tested"
        assert row["test acc"] == pytest.approx(metrics["acc"], abs=1e-4)
        assert row["test bal"] == pytest.approx(metrics["balanced_acc"], abs=1e-4)
    assert rows["ERM"]["name"] == "baseline" and rows["CCE"]["name"] == ""
    from app_support import run_cli

    from ltcli.cli.listing import runs_table
    from ltcli.runs import list_runs, summarize_run

    summaries = [summarize_run(r) for r in list_runs(app_root / "logs")]  # `ltcli runs` shows the name too
    table, _ = runs_table(summaries, "runs")
    names = next(c for c in table.columns if c.header == "name")
    assert sorted(names._cells) == ["", "baseline"]
    import csv
    import io

    csv_rows = {r["objective"]: r for r in csv.DictReader(io.StringIO(run_cli(app_root, "runs", "--csv")))}
    assert csv_rows["ERM"]["name"] == "baseline" and csv_rows["CCE"]["name"] == ""


def test_infer_top_classes_of_an_uploaded_image(client, app_root):
    image = next((app_root / "a_datasets/colours/test/sky").glob("*.png"))
    run = run_paths(app_root)["ERM"]
    table, note = client.predict(images=[handle_file(str(image))], folder="", runs=[run], top_k=5,
                                 api_name="/infer")
    assert table["headers"] == ["file", "class_1", "probability_1", "class_2", "probability_2", "class_3",
                                "probability_3"]  # 3 classes: top-5 shows all three
    (row,) = table["data"]
    assert row[0] == image.name
    assert row[1] in CLASSES and sorted(row[1::2][:3]) == CLASSES
    probabilities = row[2::2]
    assert math.isclose(sum(probabilities), 1.0, rel_tol=1e-6)
    assert probabilities == sorted(probabilities, reverse=True)
    assert "1 image(s)" in note


def test_infer_a_folder_with_an_ensemble_matches_the_library(client, app_root):
    from ltcli.engine.classifier import predict_files
    from ltcli.run_folder import RunFolder

    runs = list(run_paths(app_root).values())
    table, note = client.predict(images=None, folder="a_datasets/colours/test/leaf", runs=runs, top_k=1,
                                 api_name="/infer")
    assert note.startswith("ensemble of 2: 4 image(s)")
    expected = predict_files([RunFolder(app_root / r) for r in runs], [app_root / "a_datasets/colours/test/leaf"],
                             "cpu", 1)
    assert [r[1] for r in table["data"]] == [r["class_1"] for r in expected.rows]
    assert [r[2] for r in table["data"]] == pytest.approx([r["probability_1"] for r in expected.rows])
    assert table["data"][0][0] == "a_datasets/colours/test/leaf/img000.png"


@pytest.mark.parametrize(("name", "content", "message"), [
    ("notes.png", b"these are notes, not a picture\n", "no readable image"),
    ("notes.txt", b"plain text\n", "Invalid file type|is not an image file"),
])
def test_a_bad_upload_is_a_message(client, app_root, tmp_path, name, content, message):
    bad = tmp_path / name
    bad.write_bytes(content)
    with pytest.raises(AppError, match=message):
        client.predict(images=[handle_file(str(bad))], folder="", runs=[run_paths(app_root)["ERM"]], top_k=5,
                       api_name="/infer")


def test_an_upload_over_the_size_limit_is_refused(client, app_root, tmp_path):
    big = tmp_path / "big.png"  # noise does not compress: about 190 KB, over the 0.05 MB limit of served_app
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(big)
    with pytest.raises(Exception, match="(?i)size|large|limit|413"):
        client.predict(images=[handle_file(str(big))], folder="", runs=[run_paths(app_root)["ERM"]], top_k=5,
                       api_name="/infer")
    small = tmp_path / "small.png"
    small.write_bytes(png_bytes())
    table, _ = client.predict(images=[handle_file(str(small))], folder="", runs=[run_paths(app_root)["ERM"]],
                              top_k=5, api_name="/infer")
    assert len(table["data"]) == 1


def test_compare_two_runs(client, app_root):
    runs = run_paths(app_root)
    table, figure, confusions, note = client.predict(runs=[runs["ERM"], runs["CCE"]], split="test",
                                                     temperatures="", api_name="/compare")
    assert table["headers"][:3] == ["run", "acc", "balanced_acc"]
    for row, objective in zip(table["data"], ("ERM", "CCE"), strict=True):
        metrics = json.loads((app_root / runs[objective] / "metrics.json").read_text())
        assert row[0].startswith(objective)
        values = dict(zip(table["headers"][1:], row[1:], strict=True))
        for key, value in values.items():
            assert value == (None if metrics[key] is None else pytest.approx(metrics[key], abs=1e-4)), key
    with Image.open(figure) as image:
        assert image.format == "PNG" and image.width > 300
    assert [c["caption"] for c in confusions] == [row[0] for row in table["data"]]
    assert "2 runs on test" in note


def test_compare_with_a_temperature_ensemble_adds_its_tested_results(client, app_root):
    runs = run_paths(app_root)
    table, _, confusions, note = client.predict(runs=[runs["ERM"], runs["CCE"]], split="test", temperatures="1,2",
                                                api_name="/compare")
    assert [row[0] for row in table["data"]][-1] == "ensemble t=1,2" and len(confusions) == 3
    folder = next((app_root / "logs" / "ensembles" / "colours").glob("*"))
    metrics = json.loads((folder / "metrics_temperature.json").read_text())
    assert metrics["temperatures"] == [1.0, 2.0]
    assert table["data"][-1][1] == pytest.approx(metrics["acc"], abs=1e-4)
    assert folder.relative_to(app_root).as_posix() in note


def test_compare_needs_two_runs(client, app_root):
    with pytest.raises(AppError, match="pick at least 2 runs"):
        client.predict(runs=[run_paths(app_root)["ERM"]], split="test", temperatures="", api_name="/compare")


@pytest.mark.parametrize(("path", "message"), [
    ("../outside", "'..' would leave the app's root"),
    ("/etc", "give a path relative to the app's root"),
    ("logs/../../outside", "'..' would leave"),
    ("a_datasets/colours", "must lie under logs/"),
    ("logs/escape", "leads outside logs/"),
])
def test_a_path_outside_the_root_is_refused(client, app_root, tmp_path_factory, path, message):
    outside = tmp_path_factory.mktemp("outside")
    for area in ("logs", "a_datasets"):
        escape = app_root / area / "escape"
        if not escape.is_symlink():
            escape.symlink_to(outside, target_is_directory=True)
    runs = run_paths(app_root)
    with pytest.raises(AppError, match=message):
        client.predict(runs=[runs["ERM"], path], split="test", temperatures="", api_name="/compare")
    if path != "a_datasets/colours":
        with pytest.raises(AppError, match=message.replace("logs/", "a_datasets/")):
            client.predict(dataset=path.replace("logs", "a_datasets"), log=False, api_name="/stats")


def test_stats_counts_each_class(client):
    table, summary, histogram = client.predict(dataset="a_datasets/colours", log=True, api_name="/stats")
    rows = {row[0]: row[1:] for row in table["data"]}
    assert table["headers"] == ["class", "train", "valid", "test", "group"]
    assert rows["apple"][:3] == [24, 4, 4] and rows["sky"][:3] == [6, 4, 4] and rows["total"][:3] == [42, 12, 12]
    assert "imbalance ratio (train): 4.0" in summary
    assert Path(histogram).is_file()


def test_test_endpoint_writes_the_run_results(client, app_root):
    run = run_paths(app_root)["CCE"]
    metrics_file = app_root / run / "metrics_valid.json"
    assert not metrics_file.exists()
    result = client.predict(run=run, api_name="/test")  # the test split, as `ltcli test`
    assert result["split"] == "test"
    saved = json.loads((app_root / run / "metrics.json").read_text())
    assert result["acc"] == pytest.approx(saved["acc"]) and result["label"] == saved["label"]


def test_infer_with_an_exported_model_under_the_root(client, app_root):
    """An exported ONNX folder under exports/ classifies like its run, and nothing outside exports/ is taken."""
    pytest.importorskip("onnxruntime", reason="exported models need the export extra")
    pytest.importorskip("onnxscript")
    from app_support import run_cli

    from ltcli.app.catalog import export_choices
    from ltcli.app.paths import AppRoot
    from ltcli.engine.classifier import predict_files
    from ltcli.run_folder import RunFolder

    run = run_paths(app_root)["ERM"]
    run_cli(app_root, "export", "--run", run, "--out", "exports/erm")
    assert export_choices(AppRoot.at(app_root)) == ["exports/erm"]
    folder = "a_datasets/colours/test/leaf"
    table, note = client.predict(images=None, folder=folder, runs=[], top_k=1, exported="exports/erm",
                                 api_name="/infer")
    assert note.startswith("exports/erm (ONNX Runtime): 4 image(s)")
    expected = predict_files([RunFolder(app_root / run)], [app_root / folder], "cpu", 1)
    assert [r[1] for r in table["data"]] == [r["class_1"] for r in expected.rows]
    assert [r[2] for r in table["data"]] == pytest.approx([r["probability_1"] for r in expected.rows], rel=1e-4)
    with pytest.raises(AppError, match="must lie under exports/"):
        client.predict(images=None, folder=folder, runs=[], top_k=1, exported=run, api_name="/infer")


def test_a_studys_table_shows_its_results_and_summary(client, app_root):
    folder = app_root / "logs" / "studies" / "toy-search"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.csv").write_text("trial,state,balanced_acc,lr\n0,complete,0.75,0.1\n1,pruned,,1e-07\n")
    (folder / "table.md").write_text("# toy-search: search of valid balanced_acc (maximize)\n")
    frame, summary = client.predict(name="toy-search", api_name="/study")
    assert frame["headers"] == ["trial", "state", "balanced_acc", "lr"]
    assert [row[:2] for row in frame["data"]] == [["0", "complete"], ["1", "pruned"]]
    assert "search of valid balanced_acc" in summary
    for name, message in (("../../etc", "is refused"), ("nothing-here", "has no results.csv yet")):
        with pytest.raises(AppError, match=message):
            client.predict(name=name, api_name="/study")


def test_the_curves_plot_gets_numeric_axes_and_none_when_empty(app_root):
    """Gradio 6's line plot draws nothing after an empty frame and makes object columns nominal axes (every
    value its own tick): the Runs and Train tabs send None for no curves, else a frame with numeric epoch and
    value whose numbers are the run's train.csv and valid.csv, read here with csv."""
    import csv

    import gradio as gr

    from ltcli.app.catalog import CURVE_METRICS, curve_frame, curve_rows
    from ltcli.run_folder import RunFolder

    assert curve_frame([]) is None
    run = app_root / run_paths(app_root)["ERM"]
    frame = curve_frame(curve_rows(RunFolder(run)))
    plot = gr.LinePlot(None, x="epoch", y="value", color="curve")
    assert plot.postprocess(frame).datatypes == {"epoch": "quantitative", "value": "quantitative", "curve": "nominal"}
    expected = {}
    for split in ("train", "valid"):
        with open(run / f"{split}.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                for metric in CURVE_METRICS:
                    if row.get(metric) not in (None, "") and not math.isnan(float(row[metric])):
                        expected[(int(row["epoch"]) + 1, f"{split} {metric}")] = float(row[metric])
    got = {(int(e), c): v for e, v, c in frame.itertuples(index=False)}
    assert got.keys() == expected.keys() and len(got) >= 2
    assert all(got[key] == pytest.approx(value) for key, value in expected.items())
