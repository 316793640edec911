"""The app against a hostile client (issue 21), through the real server and gradio_client: nothing
outside the root is listed or read, sizes past the bounds are refused before anything is queued,
Stop ends a stuck worker, and no error shows a server path or a traceback."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import png_bytes

pytest.importorskip("gradio", reason="the web app needs the app extra: pip install 'ltcli[app]'")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

GRADIO_UPLOADS = os.environ.get("GRADIO_TEMP_DIR") or str(Path(tempfile.gettempdir()) / "gradio")


@pytest.fixture(scope="module")
def client(served_app):
    return served_app.client()


def first_run(app_root: Path) -> Path:
    return sorted((app_root / "logs" / "resnet20" / "colours" / "ERM").glob("*"))[0]


def assert_public(message: str, app_root: Path) -> None:
    """One line, no traceback, no server path (the absolute root, gradio's upload folder, /tmp)."""
    assert "\n" not in message and "Traceback" not in message
    for private in (str(app_root), str(app_root.resolve()), GRADIO_UPLOADS, "/tmp/"):
        assert private not in message, message


def test_the_runs_filter_cannot_reach_outside_the_root(client, app_root):
    # A run outside the root where `logs/*/../../../outside/x/*/*` leads (the filter went into a glob),
    # and one reached through a symlink out of logs/.
    outside = app_root.parent / "outside"
    source = first_run(app_root)
    shutil.copytree(source, outside / "x" / "ERM" / source.name)
    shutil.copytree(source, outside / "linked" / "colours" / "ERM" / source.name)
    (outside / "x" / "ERM" / source.name / "config.json").write_text('{"name": "outside"}')
    link = app_root / "logs" / "linked"
    link.symlink_to(outside / "linked", target_is_directory=True)
    try:
        for bad in ("../../../outside/x", "../x", "*", "/etc", "colours/../../x"):
            with pytest.raises(AppError, match="dataset filter .* is refused: give one folder name") as error:
                client.predict(bad, api_name="/runs")
            assert_public(str(error.value), app_root)
        for dataset in ("", "colours"):
            listing = client.predict(dataset, api_name="/runs")
            runs = [row[-1] for row in listing["data"]]
            assert len(runs) == 2 and all(r.startswith("logs/resnet20/colours/") for r in runs), runs
    finally:
        link.unlink()
        shutil.rmtree(outside)


def test_an_image_folder_with_a_file_symlink_out_of_the_root_is_refused(client, app_root, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes())
    folder = app_root / "a_datasets" / "linked"
    folder.mkdir()
    (folder / "inside.png").symlink_to(next((app_root / "a_datasets/colours/test/sky").glob("*.png")))
    run = first_run(app_root).relative_to(app_root).as_posix()
    try:
        table, _ = client.predict(images=None, folder="a_datasets/linked", runs=[run], top_k=1, api_name="/infer")
        assert [row[0] for row in table["data"]] == ["a_datasets/linked/inside.png"]  # a link inside the root: fine
        (folder / "sub").mkdir()
        (folder / "sub" / "secret.png").symlink_to(secret)
        for path in ("a_datasets/linked", "a_datasets/linked/sub"):
            with pytest.raises(AppError, match=r"image folder .* is refused: .*secret\.png in it is a symlink out of "
                                               "the app's root") as error:
                client.predict(images=None, folder=path, runs=[run], top_k=1, api_name="/infer")
            assert_public(str(error.value), app_root)
        with pytest.raises(AppError, match="symlink out of the app's root"):
            client.predict(dataset="a_datasets/linked", log=False, api_name="/stats")
    finally:
        shutil.rmtree(folder)


TINY = dict(dataset="a_datasets/colours", model="resnet20", objective="ERM", epochs=1, batch_size=16, workers=0,
            lrstep="", sched="cosine", warmup="0", height=8, width=8, hflip=0)


@pytest.mark.parametrize(("changes", "message"), [
    ({"height": 100_000, "width": 100_000}, "--height must be at most 4096, got 100000"),
    ({"epochs": 1e20}, "--epochs must be at most 100000, got 100000000000000000000"),
    ({"batch_size": 1e9}, "--batchsize must be at most 65536, got 1000000000"),
    ({"workers": 1e6}, "--workers must be at most 64, got 1000000"),
])
def test_a_size_past_the_bounds_is_refused_before_it_is_queued(client, app_root, changes, message):
    before = [j["job"] for j in client.predict(api_name="/jobs")]
    with pytest.raises(AppError) as error:
        client.predict(**{**TINY, **changes}, api_name="/train")
    assert str(error.value) == message
    assert [j["job"] for j in client.predict(api_name="/jobs")] == before  # nothing queued
    with pytest.raises(AppError, match="--epochs must be at most 100000"):
        client.predict(run=first_run(app_root).relative_to(app_root).as_posix(), objective="GML", epochs=1e20,
                       api_name="/tune")


STUCK_WORKER = """#!{python}
# A training worker stuck inside a step: the engine's SIGTERM handler only raises a flag, and the step
# never returns to check it; it has started a loader process of its own.
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, lambda *args: None)
child = subprocess.Popen([sys.executable, "-c", "import time\\nwhile True: time.sleep(1)"])
with open({pids!r} + ".tmp", "w") as out:
    out.write(f"{{os.getpid()}} {{child.pid}}")
os.replace({pids!r} + ".tmp", {pids!r})
while True:
    time.sleep(0.05)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stop_kills_a_worker_stuck_in_a_step(client, served_app, app_root, tmp_path, monkeypatch):
    pids = tmp_path / "pids"
    worker = tmp_path / "stuck-python"
    worker.write_text(STUCK_WORKER.format(python=sys.executable, pids=str(pids)))
    worker.chmod(worker.stat().st_mode | stat.S_IXUSR)
    jobs = served_app.context.jobs
    monkeypatch.setattr(jobs, "python", str(worker))  # the queue runs `<python> -m ltcli.app.worker JOB`
    monkeypatch.setattr(jobs, "stop_grace", 2.0, raising=False)
    job = client.predict(**TINY, api_name="/train")
    deadline = time.monotonic() + 30
    while not pids.is_file():
        assert time.monotonic() < deadline, "the stuck worker did not start"
        time.sleep(0.1)
    worker_pid, child_pid = map(int, pids.read_text().split())
    time.sleep(0.5)  # it ignores SIGTERM from now on
    asked = time.monotonic()
    assert "stopping" in client.predict(job["job"], api_name="/stop")
    while True:
        state = {j["job"]: j for j in client.predict(api_name="/jobs")}[job["job"]]
        if state["state"] != "running":
            break
        assert time.monotonic() - asked < 2.0 + 8, "Stop did not end the stuck worker"
        time.sleep(0.2)
    assert state["state"] == "stopped" and state["message"].startswith("killed: it had not stopped 2 s after Stop")
    assert not alive(worker_pid)
    deadline = time.monotonic() + 5
    while alive(child_pid) and time.monotonic() < deadline:  # killed with it (its process group)
        time.sleep(0.1)
    assert not alive(child_pid)


def test_errors_name_uploads_by_their_own_name_and_root_files_relative(client, app_root, tmp_path):
    notes = tmp_path / "my notes.png"
    notes.write_bytes(b"not a picture")
    run = first_run(app_root).relative_to(app_root).as_posix()
    with pytest.raises(AppError) as error:
        client.predict(images=[handle_file(str(notes))], folder="", runs=[run], top_k=1, api_name="/infer")
    assert str(error.value) == "no readable image among my notes.png"
    (app_root / "a_datasets" / "empty").mkdir()
    try:
        with pytest.raises(AppError) as error:
            client.predict(dataset="a_datasets/empty", log=False, api_name="/stats")
        assert str(error.value) == "no class folders in a_datasets/empty: expected a_datasets/empty/<class>/<images>"
    finally:
        (app_root / "a_datasets" / "empty").rmdir()


@pytest.mark.parametrize("where", ["absolute", "dotdot", "logs"])
def test_positive_classes_reads_no_json_file_outside_the_data_areas(client, app_root, where):
    """The class2id file of --positive-classes is a path like any other: confined to data_split/ and
    a_datasets/, so the page cannot tell whether a server file exists nor quote its values."""
    secret = app_root.parent / "secret.json"
    secret.write_text('{"topsecret": 7}')
    in_logs = app_root / "logs" / "class2id.json"
    in_logs.write_text('{"topsecret": 7}')
    given = {"absolute": str(secret), "dotdot": "a_datasets/../../secret.json", "logs": "logs/class2id.json"}[where]
    expected = {"absolute": "relative to the app's root", "dotdot": "'..' would leave the app's root",
                "logs": "it must lie under data_split/ or a_datasets/"}[where]
    try:
        with pytest.raises(AppError) as error:
            client.predict(**TINY, positive_classes=given, api_name="/train")
        text = str(error.value)
        assert text.startswith("positive classes file ") and expected in text, text
        assert "topsecret" not in text and "7" not in text.replace(given, "")
        assert_public(text.replace(given, ""), app_root)  # the one path it quotes is the client's own
    finally:
        secret.unlink()
        in_logs.unlink()


def test_positive_classes_reads_a_class2id_file_under_the_root(client, app_root):
    mapping = app_root / "a_datasets" / "class2id.json"
    mapping.write_text('{"apple": 2, "leaf": 0}')
    try:
        with pytest.raises(AppError) as error:
            client.predict(**TINY, positive_classes="a_datasets/class2id.json", api_name="/train")
        assert str(error.value) == ("--positive-classes: in a_datasets/class2id.json, class 'apple' maps to 2; "
                                    "every class maps to 0 (negative) or 1 (positive)")
    finally:
        mapping.unlink()


def _run(app_root: Path) -> str:
    return first_run(app_root).relative_to(app_root).as_posix()


# Every endpoint with bad values: each a one-line error, no traceback, no server path.
BAD_INPUTS = [
    ("/train", {**TINY, "height": 100_000, "width": 100_000}, "--height must be at most"),
    ("/train", {**TINY, "epochs": 0}, "--epochs must be at least 1"),
    ("/train", {**TINY, "lr": -1}, "--lr must be above 0"),
    ("/train", {**TINY, "seed": -1}, "--seed must be at least 0"),
    ("/train", {**TINY, "model": "no-such-model"}, "unknown model"),
    ("/train", {**TINY, "objective": "nope"}, "unknown objective 'nope'"),  # TrainConfig refuses it
    ("/train", {**TINY, "dataset": "../outside"}, "'..'"),
    ("/train", {**TINY, "dataset": "/etc"}, "relative to the app's root"),
    ("/train", {**TINY, "dataset": "a_datasets/missing"}, "no dataset folder a_datasets/missing"),
    ("/train", {**TINY, "start_from": "/etc/passwd"}, "relative to the app's root"),
    ("/train", {**TINY, "lrstep": "a,b"}, "--lrstep takes whole numbers separated by commas or spaces"),
    ("/train", {**TINY, "warmup": "x"}, "--warmup takes a whole number"),
    ("/train", {**TINY, "imbalance_factor": -1}, "--imbalance-factor must be a finite number above 0"),
    ("/train", {**TINY, "hflip": 2}, "--hflip must be in"),
    ("/train", {**TINY, "clip_grad": 0}, "--clip-grad must be above 0"),  # a generated "more settings" input
    ("/train", {**TINY, "epochs": 1.5}, "epochs takes a whole number, got 1.5"),  # gradio rounded it to 2
    ("/train", {**TINY, "drw_epoch": 1.5}, "--drw-epoch takes a whole number, got 1.5"),  # a generated int box
    ("/tune", {"run": "RUN", "objective": "GML", "epochs": 2.5}, "epochs takes a whole number, got 2.5"),
    ("/stop", {"job": 99_999}, "no job 99999"),
    ("/infer", {"images": None, "folder": "", "runs": [], "top_k": 1}, "pick at least 1 run"),
    ("/infer", {"images": None, "folder": "", "runs": ["logs/../../x"], "top_k": 1}, "'..'"),
    ("/infer", {"images": None, "folder": "/etc", "runs": "RUN", "top_k": 1}, "relative to the app's root"),
    ("/infer", {"images": None, "folder": "a_datasets/colours", "runs": "RUN", "top_k": 0},
     "less than minimum value 1"),
    ("/infer", {"images": None, "folder": "", "runs": ["RUN"] * 17, "top_k": 1}, "pick at most 16 runs"),
    ("/compare", {"runs": ["RUN", "RUN"], "split": "test", "temperatures": "a,b"}, "temperature"),
    ("/compare", {"runs": ["RUN", "logs"], "split": "test", "temperatures": ""}, "is not a run folder"),
    ("/tune", {"run": "RUN", "objective": "GML", "epochs": 1e20}, "--epochs must be at most"),
    ("/tune", {"run": "RUN", "objective": "nope", "epochs": 1}, "unknown objective 'nope'"),
    ("/tune", {"run": "logs/none", "objective": "GML", "epochs": 1}, "is not a run folder"),
    ("/runs", {"dataset": "../../../outside/x"}, "is refused"),
    ("/test", {"run": ""}, "no run given"),
    ("/test", {"run": "a_datasets/colours"}, "must lie under logs/"),
    ("/resume", {"run": "/etc"}, "relative to the app's root"),
    ("/stats", {"dataset": "a_datasets/missing", "log": False}, "a_datasets/missing"),
    ("/stats", {"dataset": "x" * 10_000, "log": False}, "is refused"),
]


@pytest.mark.parametrize(("endpoint", "values", "message"), BAD_INPUTS,
                         ids=[f"{e}-{i}" for i, (e, _, _) in enumerate(BAD_INPUTS)])
def test_bad_inputs_are_one_line_errors(client, app_root, endpoint, values, message):
    run = _run(app_root)

    def fill(value):
        if value == "RUN":
            return [run] if endpoint == "/infer" else run
        return [run if v == "RUN" else v for v in value] if isinstance(value, list) else value

    before = [j["job"] for j in client.predict(api_name="/jobs")]
    with pytest.raises(AppError) as error:
        client.predict(**{k: fill(v) for k, v in values.items()}, api_name=endpoint)
    text = str(error.value)
    assert message in text, text
    assert_public(text, app_root)
    assert len(text) <= 500
    assert [j["job"] for j in client.predict(api_name="/jobs")] == before  # nothing queued
