"""A second stage is filed apart from its first (issue 31, A7): logs/<model>/<dataset>/ERM+crt/ for a
--recipe crt run, ERM+stage2/ for a plain --init-from a training run, and --objective names those
folders in `ltcli test`, `runs` and `plot`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import only_run

from ltcli.errors import LtcliError
from ltcli.run_folder import RunFolder
from ltcli.runs import objective_folder, train_group

BASE = ("--model", "resnet20", "--batchsize", "8", "--height", "16", "--width", "16", "--workers", "0",
        "--device", "cpu", "--lr", "0.05", "--epochs", "1", "--lrstep", "1", "--warmup", "0")


def fake_run(root: Path, group: str, command: str = "train") -> RunFolder:
    path = root / "logs" / "resnet20" / "colours" / group / "2026-01-01-00-00-00"
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"command": command}))
    return RunFolder(path)


@pytest.mark.parametrize(("objective", "recipe", "source", "expected"), [
    ("ERM", None, None, "ERM"),  # a first stage
    ("ERM", "crt", None, "ERM+crt"),  # a recipe from --weights FILE
    ("LAS", "mislas", "ERM", "LAS+mislas"),
    ("ERM", "lws", "ERM+crt", "ERM+lws"),
    ("ERM", None, "ERM", "ERM+stage2"),  # a plain --init-from a training run
    ("GML", None, "ERM", "GML+stage2"),  # the app's tune
    ("ERM", None, "ERM+stage2", "ERM+stage3"),
    ("ERM", None, "ERM+crt", "ERM+stage3"),
    ("ERM", None, "pretrain-rotation", "ERM"),  # from a pre-training run: still the first labelled stage
])
def test_the_objective_folder_of_a_training_run(tmp_path, objective, recipe, source, expected):
    run = None
    if source is not None:
        run = fake_run(tmp_path, source, "pretrain" if source.startswith("pretrain-") else "train")
    assert train_group(objective, recipe, run) == expected


@pytest.mark.parametrize(("typed", "folder"), [
    ("ERM", "ERM"), ("ce", "ERM"), ("erm+CRT", "ERM+crt"), ("LAS+mislas", "LAS+mislas"), ("erm+stage2", "ERM+stage2"),
    ("ERM+stage12", "ERM+stage12"), ("pretrain-rotation", "pretrain-rotation"), ("Pretrain-MoCo", "pretrain-moco"),
])
def test_objective_filters_name_folders(typed, folder):
    assert objective_folder(typed) == folder


@pytest.mark.parametrize(("typed", "message"), [
    ("ERM+magic", "--objective 'ERM+magic': after '+' comes a recipe (crt, lws, mislas) or stageN, N >= 2"),
    ("ERM+stage1", "after '+' comes a recipe"),
    ("ERM+stage", "after '+' comes a recipe"),
    ("nope+crt", "unknown objective 'nope'"),
    ("ERM/../x", "--objective takes a name, not a path"),
])
def test_bad_objective_filters_are_one_line_errors(typed, message):
    with pytest.raises(LtcliError) as caught:
        objective_folder(typed)
    assert message in str(caught.value)


@pytest.mark.slow
def test_a_crt_stage_is_filed_and_found_apart_from_its_first_stage(cli, split_dataset, tmp_path):
    cli("train", "--dataset", "colours", "--objective", "ERM", *BASE)
    first = only_run(tmp_path, "ERM")
    cli("train", "--dataset", "colours", *BASE, "--recipe", "crt", "--init-from", str(first))
    second = only_run(tmp_path, "ERM+crt")
    assert json.loads((second / "config.json").read_text())["recipe"] == "crt"
    assert only_run(tmp_path, "ERM") == first  # the stage-one folder holds the stage-one run alone
    cli("train", "--dataset", "colours", "--objective", "ERM", *BASE, "--init-from", str(first))
    third = only_run(tmp_path, "ERM+stage2")

    cli("test", "--dataset", "colours", "--objective", "erm+crt", "--datetime", "latest")
    assert (second / "metrics.json").is_file() and not (first / "metrics.json").exists()
    cli("test", "--dataset", "colours", "--objective", "ERM", "--datetime", "latest")
    assert (first / "metrics.json").is_file() and not (third / "metrics.json").exists()

    listed = cli("runs", "--csv", "--objective", "ERM+crt").output
    rows = [line for line in listed.splitlines()[1:] if line]
    assert len(rows) == 1 and second.name in rows[0] and "ERM+crt" in rows[0]
    every = cli("runs", "--csv").output
    assert {"ERM", "ERM+crt", "ERM+stage2"} <= {row["objective"] for row in read_rows(every)}
    plotted = cli("plot", "--kind", "shots", "--objective", "ERM+crt", "--out", "shots.svg").output
    assert "plotted 1 run(s)" in plotted and (tmp_path / "shots.svg").is_file()  # the one tested ERM+crt run


def read_rows(text: str) -> list[dict]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text)))

