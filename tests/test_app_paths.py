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
    assert root.confine_name("cifar", "a_datasets") == root.datasets / "cifar"
    for bad in ("a/b", "..", ".hidden", ""):
        with pytest.raises(PathRefused):
            root.confine_name(bad, "a_datasets")
    assert root.relative(root.logs / "m" / "d") == "logs/m/d"


def test_number_boxes_give_whole_numbers():
    assert whole(3.0, "epochs") == 3
    with pytest.raises(Exception, match="epochs takes a whole number"):
        whole(2.5, "epochs")
