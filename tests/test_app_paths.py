"""The app's root confinement: what a page or API path may name (no gradio needed)."""

from __future__ import annotations

import pytest

from ltcli.app.paths import AppRoot, PathRefused
from ltcli.app.tabs.common import whole


@pytest.fixture
def root(tmp_path):
    for area in ("data_split", "a_datasets", "logs"):
        (tmp_path / "root" / area).mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    return AppRoot.at(tmp_path / "root")


@pytest.mark.parametrize(("text", "message"), [
    ("", "no path given"),
    ("/etc/passwd", "relative to the app's root"),
    ("~/x", "relative to the app's root"),
    ("C:\\\\data", "relative to the app's root"),
    ("../outside", "'..'"),
    ("logs/../../outside", "'..'"),
    ("logs\\\\..\\\\..\\\\outside", "'..'"),
    ("elsewhere/x", "must lie under"),
])
def test_paths_that_leave_the_root_are_refused(root, text, message):
    with pytest.raises(PathRefused, match=message):
        root.confine(text)


def test_a_symlink_out_of_an_area_is_refused_and_one_inside_is_not(root, tmp_path):
    (root.logs / "out").symlink_to(tmp_path / "outside", target_is_directory=True)
    (root.datasets / "real").mkdir()
    (root.datasets / "alias").symlink_to(root.datasets / "real", target_is_directory=True)
    with pytest.raises(PathRefused, match="leads outside logs/"):
        root.confine("logs/out/run")
    assert root.confine("a_datasets/alias") == root.datasets / "real"
    with pytest.raises(PathRefused, match="must lie under logs/"):
        root.confine("a_datasets/alias", ("logs",))


def test_names_are_single_folders(root):
    assert root.check_name(" cifar ") == "cifar"
    for bad in ("a/b", "a\\b", "..", ".hidden", "", "c*"):
        with pytest.raises(PathRefused, match="give one folder name under a_datasets/"):
            root.check_name(bad)
    assert root.relative(root.logs / "m" / "d") == "logs/m/d"


def test_number_boxes_give_whole_numbers():
    assert whole(3.0, "epochs") == 3
    with pytest.raises(Exception, match="epochs takes a whole number"):
        whole(2.5, "epochs")


@pytest.mark.parametrize(("warmup", "lrstep", "expected_warmup", "expected_steps"), [
    ("", "", 0, [1, 1, 1, 1]),      # left empty: the defaults scaled to 4 epochs, as on the CLI
    ("  ", "", 0, [1, 1, 1, 1]),
    ("1", "3,1", 1, [3, 1]),        # given: taken as given
    (0, "", 0, [1, 1, 1, 1]),       # a number 0 from the API is a given 0, not "empty"
])
def test_the_train_tab_scales_a_schedule_left_empty(tmp_path, warmup, lrstep, expected_warmup, expected_steps):
    pytest.importorskip("gradio")
    from ltcli.app.context import AppContext
    from ltcli.app.paths import AppRoot
    from ltcli.app.tabs.train import TrainTab
    from ltcli.config import TrainConfig
    from tests.conftest import make_dataset

    make_dataset(tmp_path / "a_datasets" / "colours")
    submitted = []

    class Queue:
        def submit(self, payload, label):
            submitted.append(payload)
            return {"job": 0, "state": "queued"}

    context = AppContext(AppRoot.at(tmp_path), Queue(), tmp_path / "scratch")
    TrainTab(context).train("a_datasets/colours", epochs=4, warmup=warmup, lrstep=lrstep, height=16, width=16)
    given = submitted[0]["config"]
    assert ("warmup_epochs" in given) == (str(warmup).strip() != "")
    config = TrainConfig.create(**given)
    assert (config.warmup_epochs, config.lr_stages) == (expected_warmup, expected_steps)
