"""The published-schedule study (studies/cifar10-lt-published.yaml): `split --valid-from-train` carving
valid/ out of a train/+test/ source, grid rows that set several options at once, and the study file
itself run as a one-epoch variant on tiny generated data."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import make_class_images, read_csv

from ltcli.errors import LtcliError
from ltcli.study.spec import read_study

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "studies" / "cifar10-lt-published.yaml"
TRAIN_COUNTS = {"apple": 20, "leaf": 9, "sky": 2}


def presplit_source(root: Path) -> Path:
    make_class_images(TRAIN_COUNTS, root / "train")
    make_class_images({name: 3 for name in TRAIN_COUNTS}, root / "test")
    return root


def files(folder: Path) -> dict[str, set[str]]:
    return {c.name: {p.name for p in c.iterdir()} for c in sorted(folder.iterdir())}


def test_valid_from_train_carves_each_class_and_keeps_test(cli, tmp_path):
    source = presplit_source(tmp_path / "src")
    cli("split", "carved", "--src", source, "--valid-from-train", "0.1", "--seed", "3")
    out = tmp_path / "a_datasets" / "carved"
    train, valid, test = (files(out / split) for split in ("train", "valid", "test"))
    # round(0.1 * n), at least one, at least one left to train on: 20 -> 2, 9 -> 1, 2 -> 1
    assert {name: len(names) for name, names in valid.items()} == {"apple": 2, "leaf": 1, "sky": 1}
    for name, total in TRAIN_COUNTS.items():
        assert not train[name] & valid[name]
        assert train[name] | valid[name] == {f"img{i:03d}.png" for i in range(total)}
    assert test == files(source / "test")
    manifest = json.loads((out / "split.json").read_text())
    assert manifest["counts"]["valid"] == {"apple": 2, "leaf": 1, "sky": 1}
    cli("split", "again", "--src", source, "--valid-from-train", "0.1", "--seed", "3")
    assert files(tmp_path / "a_datasets" / "again" / "valid") == valid  # seeded
    cli("split", "other", "--src", source, "--valid-from-train", "0.1", "--seed", "4")
    assert files(tmp_path / "a_datasets" / "other" / "valid")["apple"] != valid["apple"]


@pytest.mark.parametrize(("fraction", "setup", "message"), [
    ("0", "presplit", "--valid-from-train must be a fraction in (0, 1), got 0.0"),
    ("1.5", "presplit", "--valid-from-train must be a fraction in (0, 1), got 1.5"),
    ("nan", "presplit", "--valid-from-train must be a fraction in (0, 1), got nan"),
    ("0.1", "raw", "is a raw folder: give its valid share in --ratios"),
    ("0.1", "has-valid", "already has a valid/ folder: drop --valid-from-train"),
    ("0.1", "one-image", "class 'sky' has 1 training image(s): --valid-from-train needs two"),
])
def test_valid_from_train_refuses_in_one_line(cli, tmp_path, fraction, setup, message):
    source = tmp_path / "src"
    if setup == "raw":
        make_class_images(TRAIN_COUNTS, source)
    else:
        presplit_source(source)
    if setup == "has-valid":
        make_class_images({name: 1 for name in TRAIN_COUNTS}, source / "valid")
    if setup == "one-image":
        (source / "train" / "sky" / "img001.png").unlink()
    result = cli("split", "carved", "--src", source, "--valid-from-train", fraction, ok=False)
    assert result.exit_code == 1 and message in " ".join(result.output.split())
    assert not (tmp_path / "a_datasets" / "carved").exists()


ROWS = {"ERM": {"objective": "ERM"}, "LDAM-DRW": {"objective": "LDAM", "train_rule": "DRW", "drw_epoch": 1}}


def write(path: Path, document: dict) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def test_grid_rows_set_several_options_each(tmp_path):
    study = read_study(write(tmp_path / "s.yaml", {
        "name": "rows", "train": {"dataset": "d", "epochs": 2, "lr": 0.05}, "grid": {"method": ROWS, "seed": [0, 1]}}))
    assert [p.id for p in study.points] == ["method-ERM_seed-0", "method-ERM_seed-1", "method-LDAM-DRW_seed-0",
                                            "method-LDAM-DRW_seed-1"]
    ldam = study.points[2].train
    assert (ldam["objective"], ldam["train_rule"], ldam["drw_epoch"], ldam["seed"], ldam["lr"]) == (
        "LDAM", "DRW", 1, 0, 0.05)
    assert "train_rule" not in study.points[0].train
    assert study.grid["method"] == ["ERM", "LDAM-DRW"]


@pytest.mark.parametrize(("grid", "message"), [
    ({"objective": {"a": {"lr": 0.1}}}, "grid 'objective' names rows of options, but 'objective' is a train option"),
    ({"method": {"a": 3}}, "grid 'method': row 'a' must map train options to values"),
    ({"method": {"a": {"no_such_option": 1}}}, "no_such_option"),
])
def test_bad_grid_rows_are_one_line_errors(tmp_path, grid, message):
    path = write(tmp_path / "s.yaml", {"name": "rows", "train": {"dataset": "d"}, "grid": grid})
    with pytest.raises(LtcliError) as error:
        read_study(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_the_published_study_reads_as_its_recipes():
    """Its rows are the recipes' settings (recipes/cifar10-lt/*.yaml), but for the seed and the valid pick."""
    study = read_study(PUBLISHED)
    assert study.grid["method"] == ["ERM", "LA", "LDAM-DRW", "BSCE"]
    recipes = {"ERM": "erm", "LA": "la", "LDAM-DRW": "ldam-drw", "BSCE": "bsce"}
    from ltcli.config_file import read_config_file

    for point in study.points:
        recipe = read_config_file(ROOT / "recipes" / "cifar10-lt" / f"{recipes[point.values['method']]}.yaml")
        for key, value in recipe.items():
            if key not in ("dataset", "seed"):
                assert point.train[key] == value, (point.id, key)
        assert point.train["select_metric"] == "balanced_acc" and point.train["seed"] == 1
    assert study.points[0].split["valid_from_train"] == 0.1


def test_the_published_study_runs_as_a_one_epoch_variant(cli, tmp_path):
    """The study file as it is, but for a tiny generated train/+test/ source, one epoch and 8x8 images."""
    document = yaml.safe_load(PUBLISHED.read_text())
    document["split"]["src"] = str(presplit_source(tmp_path / "cifar-like"))
    document["split"]["link"] = "copy"
    document["train"].update({"epochs": 1, "lrstep": [1], "warmup": 0, "batchsize": 8, "height": 8, "width": 8,
                              "model": "resnet20"})
    document["grid"]["method"]["LDAM-DRW"]["drw_epoch"] = 0
    result = cli("study", write(tmp_path / "quick.yaml", document))
    rows = read_csv(tmp_path / "logs" / "studies" / "cifar10-lt-published" / "results.csv")
    assert [row["method"] for row in rows] == ["ERM", "LA", "LDAM-DRW", "BSCE"]
    expected = {"ERM": ("ERM", "None"), "LA": ("LA", "None"), "LDAM-DRW": ("LDAM", "DRW"), "BSCE": ("BSCE", "None")}
    for row in rows:
        config = json.loads((tmp_path / row["run"] / "config.json").read_text())
        assert (config["objective"], config["train_rule"]) == expected[row["method"]]
        assert config["class_counts"] == [18, 8, 1]  # 20, 9, 2 less the carved valid/
        assert 0.0 <= float(row["balanced_acc"]) <= 1.0
    assert "ran 4, skipped 0" in result.output


def load_table_script():
    import importlib.util
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("published_table", ROOT / "benchmarks" / "published_table.py")
    module = importlib.util.module_from_spec(spec)  # a script, not a package module
    spec.loader.exec_module(module)
    return module


def test_the_tables_published_figures_come_from_the_recipes():
    table = load_table_script()
    assert table.published("ERM") == (70.36, "Cao et al., NeurIPS 2019 (Table 2)")
    assert table.published("LDAM-DRW") == (77.03, "Cao et al., NeurIPS 2019 (Table 2)")
    assert table.published("LA") == (77.89, "Menon et al., ICLR 2021 (the authors' README)")
    assert table.published("BSCE")[0] is None  # its recipe says the figure is unverified
    assert list(table.RECIPES) == read_study(PUBLISHED).grid["method"]


@pytest.mark.parametrize(("values", "epoch"), [([0.1, 0.5, 0.96, 0.9, 1.0], 3), ([0.2, 0.2], 1), ([0.5, 0.9, 1.0], 3)])
def test_first_epoch_at_95_percent_of_the_final_value(values, epoch):
    assert load_table_script().first_reaching(values) == epoch


def test_a_finished_row_is_kept_as_text_and_read_back_without_its_run(tmp_path):
    """A row finished in one session stays in the table of a later one on a fresh machine."""
    table = load_table_script()
    run = tmp_path / "runs" / "method-ERM" / "resnet32" / "base" / "ERM" / "stamp"
    (run / "test-best").mkdir(parents=True)
    (run / "test-last").mkdir()
    (run / "checkpoint_last.pt").write_bytes(b"weights")
    (run / "config.json").write_text(json.dumps({"epochs": 2}))
    (run / "train.csv").write_text("epoch,loss,time_s\n0,2.0,60\n1,1.0,90\n")
    (run / "valid.csv").write_text("epoch,balanced_acc\n0,0.4\n1,0.5\n")
    for name, acc in (("best", 0.71), ("last", 0.70)):
        (run / f"test-{name}" / "metrics.json").write_text(json.dumps({"acc": acc, "many_shot_acc": 0.9}))
    kept = tmp_path / "kept"
    first = table.row_of("ERM", tmp_path / "runs" / "method-ERM", kept)
    assert (kept / "ERM" / "test-best" / "metrics.json").is_file()
    assert not (kept / "ERM" / "checkpoint_last.pt").exists()  # text only
    shutil.rmtree(tmp_path / "runs")  # the next session's machine: no run folders
    again = table.row_of("ERM", tmp_path / "runs" / "method-ERM", kept)
    assert again["best"]["acc"] == first["best"]["acc"] == 0.71 and again["last"]["acc"] == 0.70
    assert again["minutes"] == 2.5 and again["picked"] == 2 and again["epochs"] == 2
    assert table.row_of("LA", tmp_path / "runs" / "method-LA", kept) is None  # neither run nor record
    assert "| ERM | 2 | 71.00 (2) | 70.00 | 90.00 |" in "\n".join(table.table([again]))


PROTOCOL = ROOT / "studies" / "cifar10-lt-papers-protocol.yaml"


def test_the_papers_protocol_study_is_the_published_erm_and_ldam_drw_rows_on_all_training_images():
    """Same options as the published study's rows, but for the split (no valid/ carved) and the pick."""
    published = {point.id: point for point in read_study(PUBLISHED).points}
    protocols = read_study(PROTOCOL).points
    assert [point.id for point in protocols] == ["method-ERM", "method-LDAM-DRW"]
    for protocol in protocols:
        assert {k: v for k, v in protocol.train.items() if k != "select_metric"} == {
            k: v for k, v in published[protocol.id].train.items() if k != "select_metric"}
        assert protocol.train["select_metric"] == "acc" and "valid_from_train" not in protocol.split
        assert {k: v for k, v in protocol.split.items()} == {
            k: v for k, v in published[protocol.id].split.items() if k != "valid_from_train"}


def test_the_float32_protocol_study_is_the_protocol_erm_row_in_float32():
    protocol = read_study(PROTOCOL).points[0]
    (fp32,) = read_study(ROOT / "studies" / "cifar10-lt-papers-protocol-fp32.yaml").points
    assert fp32.id == protocol.id == "method-ERM" and fp32.split == protocol.split
    assert fp32.train.pop("amp") == "off" and fp32.train == protocol.train  # 'off' quoted: YAML reads off as False


def test_the_papers_protocol_study_validates_on_test_as_a_one_epoch_variant(cli, tmp_path):
    document = yaml.safe_load(PROTOCOL.read_text())
    source = presplit_source(tmp_path / "cifar-like")
    document["split"].update({"src": str(source), "link": "copy"})
    document["train"].update({"epochs": 1, "lrstep": [1], "warmup": 0, "batchsize": 8, "height": 8, "width": 8,
                              "model": "resnet20"})
    document["grid"]["method"]["LDAM-DRW"]["drw_epoch"] = 0
    cli("study", write(tmp_path / "quick.yaml", document))
    rows = read_csv(tmp_path / "logs" / "studies" / "cifar10-lt-papers-protocol" / "results.csv")
    assert [row["method"] for row in rows] == ["ERM", "LDAM-DRW"]
    for row in rows:
        run = tmp_path / row["run"]
        config = json.loads((run / "config.json").read_text())
        assert config["class_counts"] == [20, 9, 2]  # every training image
        assert config["valid_split"] == "test"  # each epoch is evaluated on test/, as the papers do
        valid = read_csv(run / "valid.csv")
        assert len(valid) == 1 and float(valid[0]["acc"]) * 9 == pytest.approx(round(float(valid[0]["acc"]) * 9))


def papers_protocol_run(root: Path, accuracies: list[float], valid_split: str = "test") -> Path:
    run = root / "method-ERM" / "resnet32" / "base" / "ERM" / "stamp"
    run.mkdir(parents=True)
    (run / "checkpoint_last.pt").write_bytes(b"weights")
    (run / "config.json").write_text(json.dumps({"epochs": 3, "class_counts": [50, 10], "valid_split": valid_split}))
    (run / "train.csv").write_text("epoch,loss,time_s\n0,2.0,30\n1,1.5,30\n2,1.0,60\n")
    (run / "valid.csv").write_text("epoch,acc\n" + "".join(f"{i},{a}\n" for i, a in enumerate(accuracies)))
    return run


def test_a_papers_protocol_row_is_test_picked_from_its_valid_csv_and_kept(tmp_path):
    table = load_table_script()
    papers_protocol_run(tmp_path / "runs", [0.5, 0.72, 0.7])
    kept = tmp_path / "kept"
    row = table.protocol_row("ERM", tmp_path / "runs" / "method-ERM", kept)
    assert (row["picked"], row["train_images"], row["minutes"]) == (2, 60, 2.0)
    assert (kept / "ERM-papers-protocol" / "valid.csv").is_file()
    shutil.rmtree(tmp_path / "runs")
    again = table.protocol_row("ERM", tmp_path / "runs" / "method-ERM", kept)
    # 72.00 test-picked at epoch 2, 70.00 last, against Cao et al.'s 70.36: +1.64
    expected = "| ERM (papers' protocol) | 3 | 60 | 72.00 (2) | 70.00 | 70.36 | +1.64 | 2 |"
    assert expected in table.protocol_table([again])


def test_the_figure_draws_a_papers_protocol_row_dashed_beside_its_published_row(tmp_path):
    table = load_table_script()
    papers_protocol_run(tmp_path / "runs", [0.5, 0.72, 0.7])
    protocol = table.protocol_row("ERM", tmp_path / "runs" / "method-ERM", tmp_path / "kept")
    assert protocol["cumulative"] == [0.5, 1.0, 2.0]  # minutes: 30 s, 30 s, 60 s
    published = {"method": "ERM", "balanced": [0.4, 0.6, 0.65], "cumulative": [1.0, 2.0, 3.0], "picked": 3,
                 "reach95": 3}
    table.figure([published], tmp_path / "with.svg", [protocol])
    table.figure([published], tmp_path / "without.svg")
    svg = (tmp_path / "with.svg").read_text()
    assert "ERM (papers' protocol): test/ acc each epoch, x its maximum" in svg  # its legend entry
    assert "stroke-dasharray" in svg and "stroke-dasharray" not in (tmp_path / "without.svg").read_text()


def test_a_float32_protocol_row_is_kept_and_named_apart(tmp_path):
    table = load_table_script()
    papers_protocol_run(tmp_path / "runs", [0.5, 0.72, 0.7])
    variant = table.PROTOCOL_STUDIES["cifar10-lt-papers-protocol-fp32"]
    row = table.protocol_row("ERM", tmp_path / "runs" / "method-ERM", tmp_path / "kept", variant)
    assert row["name"] == "ERM (papers' protocol, float32)"
    assert (tmp_path / "kept" / "ERM-papers-protocol-fp32" / "valid.csv").is_file()
    assert not (tmp_path / "kept" / "ERM-papers-protocol").exists()  # the bf16 row's record is left alone
    bf16 = table.protocol_row("ERM", tmp_path / "runs" / "method-ERM", tmp_path / "kept")
    table.figure([], tmp_path / "both.svg", [bf16, row])  # same method, same colour: told apart by the dashes
    dashes = set(re.findall(r"stroke-dasharray: ([0-9.,]+)", (tmp_path / "both.svg").read_text()))
    assert len(dashes) == 2, dashes


def test_a_papers_protocol_row_refuses_a_run_validated_on_valid(tmp_path):
    papers_protocol_run(tmp_path / "runs", [0.5, 0.6, 0.7], valid_split="valid")
    with pytest.raises(SystemExit, match="validated on valid/, not test/"):
        load_table_script().protocol_row("ERM", tmp_path / "runs" / "method-ERM", tmp_path / "kept")


def test_writing_the_table_again_keeps_the_hand_written_findings(tmp_path):
    table = load_table_script()
    out = tmp_path / "results.md"
    table.write_keeping_notes(out, "| first table |")
    out.write_text(out.read_text() + "ERM is 4.64 points short because ...\n")
    table.write_keeping_notes(out, "| second table |")
    assert out.read_text() == f"| second table |\n\n{table.NOTES}\nERM is 4.64 points short because ...\n"
