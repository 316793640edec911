"""The app and list datasets whose images live elsewhere under the root (ImageNet-LT's lists in
a_datasets/NAME, its images in data_split/ImageNet): /train queues a run that trains on them, /stats
counts them and /test tests the run, all through the tabs' Python API (no browser)."""

from __future__ import annotations

import json

import pytest
from conftest import RecordingQueue as Queue
from test_lists import COUNTS, NAMES, make_lists

gr = pytest.importorskip("gradio", reason="the web app needs the app extra: pip install 'ltcli[app]'")

from ltcli.app.context import AppContext  # noqa: E402
from ltcli.app.paths import AppRoot  # noqa: E402
from ltcli.app.tabs.data import DataTab  # noqa: E402
from ltcli.app.tabs.runs import RunsTab  # noqa: E402
from ltcli.app.tabs.train import TrainTab  # noqa: E402

TINY = dict(model="resnet20", objective="ERM", epochs=1, batch_size=8, workers=0, warmup="0", sched="cosine",
            height=8, width=8, hflip=0)




@pytest.fixture
def root(tmp_path):
    lists = tmp_path / "a_datasets" / "imagenet_lt"
    lists.mkdir(parents=True)
    make_lists(lists, images=tmp_path / "data_split" / "ImageNet")
    (tmp_path / "a_datasets" / "folder_ds" / "train").mkdir(parents=True)
    return tmp_path


def test_a_list_dataset_with_an_image_root_trains_tests_and_counts(root, monkeypatch):
    from ltcli.app.worker import run_job

    queue = Queue()
    context = AppContext(AppRoot.at(root), queue, root / "scratch", device="cpu")
    TrainTab(context).train("a_datasets/imagenet_lt", data_root="data_split/ImageNet", name="lists", **TINY)
    (given,) = queue.submitted
    assert given["dataset"] == "imagenet_lt" and given["data_root"] == "data_split/ImageNet"

    monkeypatch.chdir(root)  # as the queue's worker process runs the job: in the root
    assert run_job({"config": given}, root / "status.json") == 0
    run = root / json.loads((root / "status.json").read_text())["run"]
    config = json.loads((run / "config.json").read_text())
    assert config["data_root"] == str((root / "data_split" / "ImageNet").resolve())
    assert config["class_counts"] == list(COUNTS["train"]) and config["data_lists"]["valid"]["file"] == "Toy_LT_val.txt"

    tested = RunsTab(context).test(context.root.relative(run), "test")  # the run's lists and image root, found again
    assert tested["split"] == "test" and tested["acc"] is not None
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["image_root"] == config["data_root"] and metrics["data_list"].endswith("Toy_LT_test.txt")
    assert metrics["per_class_support"] == list(COUNTS["test"]) and not metrics["skipped_files"]

    table, summary, _ = DataTab(context).stats("a_datasets/imagenet_lt", False, "data_split/ImageNet")
    rows = {row[0]: list(row[1:4]) for row in table.values.tolist()}
    expected = {name: [COUNTS[s][i] for s in ("train", "val", "test")] for i, name in enumerate(NAMES)}
    assert {name: rows[name] for name in NAMES} == expected
    assert "files training would skip: 0" in summary
    _, without, _ = DataTab(context).stats("a_datasets/imagenet_lt", False, "")  # the lists' folder: no images
    assert f"files training would skip: {sum(sum(c) for c in COUNTS.values())}" in without


@pytest.mark.parametrize(("dataset", "data_root", "message"), [
    ("a_datasets/imagenet_lt", "/etc", "give a path relative to the app's root"),
    ("a_datasets/imagenet_lt", "data_split/../../outside", "'..' would leave the app's root"),
    ("a_datasets/imagenet_lt", "logs", "it must lie under data_split/ or a_datasets/"),
    ("a_datasets/imagenet_lt", "data_split/missing", "no image root folder data_split/missing"),
    ("a_datasets/folder_ds", "data_split/ImageNet", "the image root is for list datasets"),
])
def test_a_bad_image_root_is_one_line_and_nothing_is_queued(root, dataset, data_root, message):
    queue = Queue()
    context = AppContext(AppRoot.at(root), queue, root / "scratch", device="cpu")
    with pytest.raises(gr.Error, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        TrainTab(context).train(dataset, data_root=data_root, **TINY)
    with pytest.raises(gr.Error, match="is refused|no image root|for list datasets"):
        DataTab(context).stats(dataset, False, data_root)
    assert queue.submitted == []


def test_an_image_root_symlinked_out_of_the_root_is_refused(root, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (root / "data_split" / "ImageNet" / "train" / "leak.JPEG").symlink_to(outside / "secret.JPEG")
    context = AppContext(AppRoot.at(root), Queue(), root / "scratch", device="cpu")
    with pytest.raises(gr.Error, match="symlink out of the app's root"):
        TrainTab(context).train("a_datasets/imagenet_lt", data_root="data_split/ImageNet", **TINY)
