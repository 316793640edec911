"""The course app's tune-then-ensemble from the Train tab (issue 31, A6): "start from" an earlier run,
train (GML, a few epochs), then test the new run averaged with the start run, softmax(z_new / t1) and
softmax(z_start / t2). Checked on the spot (nothing queued on a bad value), then run by the worker
after the training; its results equal `ltcli test --run NEW --run START --temperatures t1,t2`'s."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="the web app needs the app extra: pip install 'ltcli[app]'")

import gradio as gr  # noqa: E402
from app_support import APP_TRAIN_ARGS, run_cli, serve_app, wait_for  # noqa: E402
from conftest import make_dataset  # noqa: E402

from ltcli.app.context import AppContext  # noqa: E402
from ltcli.app.paths import AppRoot  # noqa: E402
from ltcli.app.tabs.compare import CompareTab  # noqa: E402
from ltcli.app.tabs.train import TrainTab  # noqa: E402
from ltcli.config import TrainConfig  # noqa: E402

STAMP = "2026-01-01-00-00-00"


class WholeQueue:
    """Records each job's whole request (the config and what follows the training)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []

    def submit(self, request, label):
        self.requests.append(request)
        return {"job": len(self.requests), "state": "queued"}


def fake_run(root: Path, group: str, config: dict) -> str:
    folder = root / "logs" / "resnet20" / "colours" / group / STAMP
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder.relative_to(root).as_posix()


@pytest.fixture
def root(tmp_path) -> Path:
    make_dataset(tmp_path / "a_datasets" / "colours")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "w.pt").write_bytes(b"")
    fake_run(tmp_path, "ERM", TrainConfig(dataset="colours", model="resnet20", epochs=4).to_dict())
    fake_run(tmp_path, "pretrain-rotation", {"command": "pretrain", "model": "resnet20"})
    return tmp_path


def tabs(root: Path) -> tuple[TrainTab, CompareTab, WholeQueue]:
    queue = WholeQueue()
    context = AppContext(AppRoot.at(root), queue, root / "scratch")
    return TrainTab(context), CompareTab(context), queue


TRAINED = f"logs/resnet20/colours/ERM/{STAMP}"
QUICK = dict(objective="GML", epochs=2, height=16, width=16)


def test_the_train_tab_queues_the_ensemble_after_the_training(root):
    train, _, queue = tabs(root)
    train.train("a_datasets/colours", start_from=TRAINED, ensemble=" 1,2 ", **QUICK)
    train.train("a_datasets/colours", start_from=TRAINED, **QUICK)  # no temperatures: a plain training
    first, second = queue.requests
    assert first["ensemble"] == {"temperatures": "1,2"} and "ensemble" not in second
    assert first["config"] == second["config"] and first["config"]["init_from"] == TRAINED


def test_the_compare_tabs_tune_takes_the_same_ensemble(root):
    _, compare, queue = tabs(root)
    compare.tune(TRAINED, "GML", 3, ensemble="0.5,1")
    (request,) = queue.requests
    assert request["ensemble"] == {"temperatures": "0.5,1"} and request["config"]["init_from"] == TRAINED


@pytest.mark.parametrize(("start", "temperatures", "message"), [
    ("", "1,2", "the ensemble (t1,t2) averages the new run with the run it starts from: pick an earlier run"),
    ("models/w.pt", "1,2", "pick an earlier run in 'start from'"),  # weights: no run to average with
    (TRAINED, "1", "the ensemble takes two temperatures, t1 (the tuned run) and t2 (the run it starts from)"),
    (TRAINED, "1,2,3", "the ensemble takes two temperatures"),
    (TRAINED, "nan,1", "--temperatures must be finite and > 0, got nan"),
    (TRAINED, "1,-2", "--temperatures must be finite and > 0, got -2"),
    (TRAINED, "1e400,1", "--temperatures must be finite and > 0, got inf"),
    (TRAINED, "one,two", "--temperatures takes one number per --run, comma-separated (1,2), got 'one,two'"),
    (f"logs/resnet20/colours/pretrain-rotation/{STAMP}", "1,2", "is a pre-training run (no classifier)"),
])
def test_a_bad_ensemble_is_one_line_and_queues_nothing(root, start, temperatures, message):
    train, _, queue = tabs(root)
    with pytest.raises(gr.Error) as error:
        train.train("a_datasets/colours", start_from=start, ensemble=temperatures, **QUICK)
    assert message in error.value.message and "\n" not in error.value.message
    assert queue.requests == []


@pytest.mark.slow
def test_tune_then_ensemble_through_the_app_api_equals_ltcli_test(tmp_path):
    root = tmp_path
    make_dataset(root / "a_datasets" / "colours")
    run_cli(root, "train", "--dataset", "colours", "--objective", "ERM", *APP_TRAIN_ARGS)
    (start,) = (root / "logs" / "resnet20" / "colours" / "ERM").iterdir()
    served = serve_app(root)
    try:
        client = served.client()
        job = client.predict(dataset="a_datasets/colours", start_from=start.relative_to(root).as_posix(),
                             model="resnet20", objective="GML", epochs=1, batch_size=16, workers=0, height=12,
                             width=12, hflip=0, sched="cosine", warmup="0", lrstep="", ensemble="1,2",
                             api_name="/train")

        def ended():
            found = {j["job"]: j for j in client.predict(api_name="/jobs")}[job["job"]]
            return found if found["state"] not in ("queued", "running") else None

        done = wait_for(ended, 180, "the tune and its ensemble")
    finally:
        served.close()
    assert done["state"] == "finished", done
    tuned = root / done["run"]
    assert tuned.parent.name == "GML+stage2"  # filed apart from the run it tunes (A7)
    folder = re.search(r"results in (\S+)$", done["message"]).group(1)
    ensemble = json.loads((root / folder / "metrics_temperature.json").read_text())
    assert ensemble["temperatures"] == [1.0, 2.0]
    assert f"acc {ensemble['acc']:.4f}" in done["message"] and "ensemble t=1,2" in done["message"]
    for run in (tuned, start):  # each member tested on its own too, for the Compare tab
        assert json.loads((run / "metrics.json").read_text())["split"] == "test"
    run_cli(root, "test", "--run", str(tuned), "--run", str(start), "--temperatures", "1,2", "--out", "by-cli")
    by_cli = json.loads((root / "by-cli" / "metrics_temperature.json").read_text())
    assert by_cli["acc"] == pytest.approx(ensemble["acc"]) and by_cli["balanced_acc"] == pytest.approx(
        ensemble["balanced_acc"])
