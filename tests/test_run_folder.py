"""RunFolder owns every file of a run: round trips, and a corrupt run reported without hiding the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ltcli.config import TrainConfig
from ltcli.run_folder import PER_CLASS_COLUMNS, ResultsFolder, RunFileError, RunFolder
from ltcli.runs import list_runs, summarize_run


def write_run(logs: Path, objective: str, stamp: str, valid_acc: tuple[float, ...] = (0.5, 0.75)) -> RunFolder:
    """A run folder as `ltcli train` and `ltcli test` leave it, through RunFolder's own writers."""
    run = RunFolder(logs / "resnet20" / "colours" / objective / stamp)
    run.path.mkdir(parents=True)
    run.write_config(TrainConfig(dataset="colours", model="resnet20", objective=objective, epochs=3).to_dict())
    run.write_log("train", [{"epoch": e, "loss": 1.0 - 0.1 * e, "acc": 0.5, "lr": 0.1} for e in range(len(valid_acc))])
    run.write_log("valid", [{"epoch": e, "loss": 1.2, "acc": acc} for e, acc in enumerate(valid_acc)])
    run.write_metrics("test", {"label": f"{objective} {stamp}", "acc": 0.8, "balanced_acc": 0.7, "few_shot_acc": 0.4,
                               "many_shot_acc": 0.9, "medium_shot_acc": None, "shot_groups": {}})
    run.write_per_class("test", [{"class": c, "train_count": n, "test_count": 4, "shot_group": "few", "recall": r,
                                  "precision": r, "f1": r} for c, n, r in (("apple", 24, 0.75), ("sky", 6, None))])
    return run


def test_files_round_trip(tmp_path):
    run = write_run(tmp_path / "logs", "ERM", "2026-01-01-00-00-00")
    assert (run.model, run.dataset, run.objective, run.stamp) == ("resnet20", "colours", "ERM", "2026-01-01-00-00-00")
    assert run.read_config()["objective"] == "ERM"
    assert run.read_log_columns("valid") == {"epoch": [0.0, 1.0], "loss": [1.2, 1.2], "acc": [0.5, 0.75]}
    assert run.read_per_class("test") == (["apple", "sky"], [24, 6], [0.75, None])
    assert (run.path / "per_class.csv").read_text().splitlines()[0] == ",".join(PER_CLASS_COLUMNS)
    assert run.read_metrics("valid") == {}  # never tested on valid/
    assert run.results_files("valid", binary=True)["roc"].name == "roc_curve_valid.svg"
    summary = summarize_run(run)
    assert (summary["epochs_done"], summary["best_valid"], summary["test"]["acc"], summary["error"]) == (2, 0.75, 0.8,
                                                                                                        None)


CORRUPTIONS = {
    "truncated config.json": ("config.json", b'{"model": "resnet20", "epo', "config.json is unreadable"),
    "valid.csv row of words": ("valid.csv", b"epoch,loss,acc\n0,abc,xyz\n", "column 'loss' holds 'abc'"),
    "truncated metrics.json": ("metrics.json", b'{"acc": ', "metrics.json is unreadable"),
    "binary train.csv": ("train.csv", bytes(range(256)) * 4, "train.csv is unreadable"),
    "per_class.csv without counts": ("per_class.csv", b"class,recall\napple,0.5\n", "per_class.csv is unreadable"),
    "valid.csv row longer than its header": ("valid.csv", b"epoch,acc,loss\n0,0.5,1,99\n",
                                             "line 2 has more cells than the header"),
    "metrics.json acc of words": ("metrics.json", b'{"acc": "abc"}', "acc is 'abc', not a number"),
    "metrics.json balanced_acc a list": ("metrics.json", b'{"balanced_acc": [1]}', "balanced_acc is [1], not a number"),
}


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_one_corrupt_run_is_listed_as_unreadable_and_the_others_shown(cli, tmp_path, case):
    name, content, reason = CORRUPTIONS[case]
    logs = tmp_path / "logs"
    good = write_run(logs, "ERM", "2026-01-01-00-00-00")
    bad = write_run(logs, "CCE", "2026-01-02-00-00-00")
    (bad.path / name).write_bytes(content)
    shown = bad.path.relative_to(tmp_path)  # the CLI runs in tmp_path with --logs-dir logs

    listed = cli("runs", "--csv")
    rows = listed.output.splitlines()
    assert len(rows) == 3 and "Traceback" not in listed.output
    if name in ("config.json", "valid.csv", "metrics.json"):
        assert reason in listed.output and rows[-1].startswith(bad.stamp)
    table = " ".join(cli("runs").output.split())
    assert good.stamp in table and "0.750" in table  # the good run's best validation accuracy
    if name in ("config.json", "valid.csv", "metrics.json"):
        assert f"unreadable run {shown}" in table and reason in table

    kind = {"per_class.csv": "per-class", "metrics.json": "shots"}.get(name, "curves")
    plotted = cli("plot", "--kind", kind, "--out", str(tmp_path / "figure.svg"))
    text = " ".join(plotted.output.split())
    if name != "config.json":  # a run without a readable config is not listed as a run at all
        assert f"skipped unreadable run {shown}" in text and reason in text
    assert "plotted 1 run(s)" in text or name == "config.json"
    assert (tmp_path / "figure.svg").is_file()
    # named explicitly, the corrupt run is a one-line error
    if name != "config.json":
        named = cli("plot", "--kind", kind, "--run", str(bad.path), "--out", str(tmp_path / "bad.svg"), ok=False)
        assert named.exit_code == 1 and reason in " ".join(named.output.split())


def test_readers_raise_run_file_errors(tmp_path):
    folder = ResultsFolder(tmp_path)
    (tmp_path / "metrics.json").write_text("[1, 2]")
    with pytest.raises(RunFileError, match="not a JSON object"):
        folder.read_metrics()
    run = RunFolder(tmp_path)
    (tmp_path / "valid.csv").write_text("loss,acc\n0.5,0.5\n")
    with pytest.raises(RunFileError, match="a row has no epoch"):
        run.read_log("valid")


def test_listing_skips_nothing_silently(tmp_path):
    logs = tmp_path / "logs"
    write_run(logs, "ERM", "2026-01-01-00-00-00")
    broken = write_run(logs, "CCE", "2026-01-02-00-00-00")
    broken.config_path.write_text("{")
    summaries = [summarize_run(r) for r in list_runs(logs)]
    assert [s["error"] is None for s in summaries] == [True, False]
    assert json.loads((logs / "resnet20/colours/ERM/2026-01-01-00-00-00/metrics.json").read_text())["acc"] == 0.8
