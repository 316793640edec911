"""Training through the app's /train: worker processes, a queue of one, Stop at a batch boundary,
runs that `ltcli test` and a restarted app see like any other."""

from __future__ import annotations

import json

import pytest
from app_support import run_cli, serve_app, wait_for

pytest.importorskip("gradio", reason="the web app needs the app extra: pip install 'ltcli[app]'")

pytestmark = pytest.mark.slow  # worker processes train for real

TINY = dict(model="resnet20", objective="ERM", batch_size=32, workers=0, lrstep="", sched="cosine", warmup="0",
            height=8, width=8, hflip=0)


def test_train_queue_stop_and_restart(tmp_path):
    root = tmp_path
    run_cli(root, "demo-data")
    run_cli(root, "split", "digits-lt", "--seed", "0")
    served = serve_app(root)
    try:
        client = served.client()
        # Two trainings submitted back to back (/train only queues): the first runs, the second waits.
        first = client.predict(dataset="a_datasets/digits-lt", epochs=1, name="app demo", clip_grad=5.0, **TINY,
                               api_name="/train")  # clip_grad: a generated "more settings" input
        second = client.predict(dataset="a_datasets/digits-lt", epochs=200, name="to stop", **TINY, api_name="/train")
        assert second["job"] == first["job"] + 1 and second["state"] == "queued" and second["ahead"] == 1
        jobs = {j["job"]: j for j in client.predict(api_name="/jobs")}
        assert jobs[second["job"]]["state"] == "queued" and jobs[second["job"]]["ahead"] == 1

        def ended(job_id):
            job = {j["job"]: j for j in client.predict(api_name="/jobs")}[job_id]
            return job if job["state"] not in ("queued", "running") else None

        done = wait_for(lambda: ended(first["job"]), 120, "the first training")
        assert done["state"] == "finished", done
        run = root / done["run"]
        config = json.loads((run / "config.json").read_text())
        assert config["name"] == "app demo" and config["epochs"] == 1 and config["dataset"] == "digits-lt"
        assert config["clip_grad"] == 5.0
        assert len((run / "valid.csv").read_text().splitlines()) == 2  # header + one epoch

        # The run is an ordinary run folder: `ltcli test` takes it.
        run_cli(root, "test", "--run", done["run"])
        assert json.loads((run / "metrics.json").read_text())["split"] == "test"

        # The second job starts only after the first ended; Stop ends it at a batch boundary.
        jobs = {j["job"]: j for j in client.predict(api_name="/jobs")}
        assert jobs[second["job"]]["started"] >= done["ended"]
        running = wait_for(lambda: next((j for j in client.predict(api_name="/jobs")
                                         if j["job"] == second["job"] and j["run"]), None), 60, "the second run")
        stopped_run = root / running["run"]
        wait_for(lambda: (stopped_run / "valid.csv").is_file(), 60, "an epoch of the second run")
        assert "stopping" in client.predict(second["job"], api_name="/stop")
        stopped = wait_for(lambda: ended(second["job"]), 60, "the stop")
        assert stopped["state"] == "stopped" and "--resume" in stopped["message"]
        assert (stopped_run / "checkpoint_last.pt").is_file()
    finally:
        served.close()

    # A restarted app (a new context on the same root) shows both runs: the finished (tested) one
    # and the interrupted one; the jobs are gone with the old app, the runs are not.
    from ltcli.app.server import make_context
    from ltcli.app.tabs.runs import RunsTab

    context = make_context(root, device="cpu")
    try:
        assert context.jobs.jobs() == []
        listing = RunsTab(context).runs("")
        states = dict(zip(listing["run"], listing["state"], strict=True))
        assert states == {done["run"]: "tested", running["run"]: "interrupted"}
    finally:
        context.jobs.shutdown()
