"""`ltcli split`, `demo-data` and `stats` on hostile file systems and numbers: a one-line error and
exit code 1 (never a traceback), no data lost, no junk left behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import tree_digest

from ltcli.data.staging import LEGACY_STALE_AFTER_S, host_tag
from ltcli.errors import describe_os_error

COUNTS = {"apple": 8, "leaf": 6}
ROOT = Path(__file__).resolve().parents[1]


def one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert message.startswith("error:") and message.count("error:") == 1, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def hidden(folder: Path) -> list[str]:
    """Hidden entries of `folder`: staging and replaced folders must never be left there."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.is_dir() else []


def run_ltcli(cwd: Path, *args: str, script: str | None = None) -> subprocess.CompletedProcess:
    """`python -m ltcli ARGS` (or a script that patches something, then runs the CLI) in a real process."""
    command = [sys.executable, "-c", script, *args] if script else [sys.executable, "-m", "ltcli", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def fruit(make_class_folder, tmp_path) -> Path:
    return make_class_folder(COUNTS, tmp_path / "data_split" / "fruit")


@pytest.fixture
def umask():
    """Set a known umask for the test, then put the old one back."""
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


# 1. File-system errors: one line, exit 1 -------------------------------------------------------------------


def test_describe_os_error():
    assert describe_os_error(PermissionError(13, "Permission denied", "/x/y")) == "permission denied: /x/y"
    renamed = OSError(18, "Invalid cross-device link", "a", None, "b")
    assert describe_os_error(renamed) == "invalid cross-device link: a -> b"
    assert describe_os_error(OSError(28, "No space left on device")) == "no space left on device"
    assert describe_os_error(OSError("disk full")) == "disk full"


def test_split_under_a_file_is_a_one_line_error(cli, fruit, tmp_path):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    one_line_error(cli("split", "fruit", "--datasets-dir", "blocker/sets", ok=False), "not a directory", "blocker")
    assert (tmp_path / "blocker").read_text() == "a file where a folder should be"
    assert hidden(tmp_path) == []


def test_split_over_a_file_named_like_the_split_is_refused(cli, fruit, tmp_path):
    (tmp_path / "a_datasets").mkdir()
    (tmp_path / "a_datasets" / "fruit").write_text("keep me")
    one_line_error(cli("split", "fruit", "--force", ok=False), "a_datasets/fruit exists and is not a folder")
    assert (tmp_path / "a_datasets" / "fruit").read_text() == "keep me"
    assert hidden(tmp_path / "a_datasets") == []


def test_split_that_cannot_copy_a_file_is_a_one_line_error_and_leaves_nothing(cli, fruit, tmp_path, monkeypatch):
    def denied(src, dst, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(src))

    monkeypatch.setattr("ltcli.data.split.shutil.copy2", denied)
    message = one_line_error(cli("split", "fruit", ok=False), "error: permission denied:", "data_split/fruit/")
    assert "img0" in message  # the file it could not read
    assert not (tmp_path / "a_datasets" / "fruit").exists()
    assert hidden(tmp_path / "a_datasets") == []


def test_split_of_an_unreadable_source_is_a_one_line_error(cli, fruit, tmp_path, monkeypatch):
    iterdir = Path.iterdir

    def guarded(self):
        if self.name == "fruit" and self.parent.name == "data_split":
            raise PermissionError(13, "Permission denied", str(self))
        return iterdir(self)

    monkeypatch.setattr(Path, "iterdir", guarded)
    one_line_error(cli("split", "fruit", ok=False), "error: permission denied: data_split/fruit")
    assert not (tmp_path / "a_datasets").exists()


def test_split_file_system_error_in_a_real_process(fruit, tmp_path):
    (tmp_path / "blocker").write_text("")
    result = run_ltcli(tmp_path, "split", "fruit", "--datasets-dir", "blocker/sets")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: not a directory: blocker/sets"


def test_demo_data_under_a_file_is_an_error_not_already_exists(cli, tmp_path):
    (tmp_path / "blocker").write_text("")
    one_line_error(cli("demo-data", "--root", "blocker", ok=False), "file exists: blocker")
    assert (tmp_path / "blocker").read_text() == ""


def test_demo_data_that_cannot_write_is_a_one_line_error_and_leaves_nothing(cli, tmp_path, monkeypatch):
    def denied(self, path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("PIL.Image.Image.save", denied)
    one_line_error(cli("demo-data", ok=False), "error: permission denied:", "0000.png")
    assert list((tmp_path / "data_split").iterdir()) == []


@pytest.mark.parametrize(("where", "fragment"), [(("--out", "blocker/hist.svg"), "file exists: blocker"),
                                                 (("--logs-dir", "blocker"), "not a directory: blocker/plots")])
def test_stats_histogram_under_a_file_is_a_one_line_error(cli, fruit, tmp_path, where, fragment):
    (tmp_path / "blocker").write_text("")
    one_line_error(cli("stats", "fruit", *where, ok=False), fragment)


def test_error_paths_print_as_they_are(cli):
    one_line_error(cli("split", "x[red]y", ok=False), "folder not found: data_split/x[red]y")


# 2. Replacing and interrupted splits leave no junk -----------------------------------------------------------


def undeletable_rmtree(real):
    """shutil.rmtree that cannot delete a tree holding a file named LOCKED (and deletes none of it)."""

    def rmtree(path, ignore_errors=False, onerror=None):
        locked = sorted(Path(path).rglob("LOCKED"))
        if not locked:
            return real(path, ignore_errors=ignore_errors, onerror=onerror)
        if not ignore_errors:
            raise PermissionError(13, "Permission denied", str(locked[0]))

    return rmtree


def test_force_over_an_old_split_that_cannot_be_deleted_keeps_it_whole(cli, fruit, tmp_path, monkeypatch):
    cli("split", "fruit")
    out = tmp_path / "a_datasets" / "fruit"
    (out / "train" / "apple" / "LOCKED").write_text("")
    before = tree_digest(out)
    monkeypatch.setattr(shutil, "rmtree", undeletable_rmtree(shutil.rmtree))
    one_line_error(cli("split", "fruit", "--force", "--seed", "9", ok=False),
                   "cannot replace a_datasets/fruit", "permission denied", "LOCKED", "left as it was")
    assert tree_digest(out) == before  # the old split, whole and in place
    assert hidden(tmp_path / "a_datasets") == []  # no .fruit.old-, no staging


PARTLY_DELETABLE = """
import shutil
from pathlib import Path

real = shutil.rmtree

def rmtree(path, ignore_errors=False, onerror=None):
    locked = sorted(Path(path).rglob("LOCKED"))
    if not locked:
        return real(path, ignore_errors=ignore_errors, onerror=onerror)
    for entry in sorted(Path(path).rglob("*"), reverse=True):  # deepest first, all but LOCKED
        if entry.is_dir() and not any(entry.iterdir()):
            entry.rmdir()
        elif entry.is_file() and entry.name != "LOCKED":
            entry.unlink()
    if not ignore_errors:
        raise PermissionError(13, "Permission denied", str(locked[0]))

shutil.rmtree = rmtree
from ltcli.cli import main
main()
"""


def test_force_over_an_old_split_that_is_partly_deleted_keeps_the_new_one(cli, fruit, tmp_path):
    cli("split", "fruit")
    out = tmp_path / "a_datasets" / "fruit"
    (out / "train" / "apple" / "LOCKED").write_text("")
    result = run_ltcli(tmp_path, "split", "fruit", "--force", "--seed", "9", script=PARTLY_DELETABLE)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("error: wrote the new a_datasets/fruit, but part of the old one cannot be deleted")
    assert "LOCKED" in result.stderr and "delete that by hand" in result.stderr
    assert json.loads((out / "split.json").read_text())["seed"] == 9  # the new split is in place
    [left] = hidden(tmp_path / "a_datasets")
    assert left.startswith(".fruit.trash-") and left in result.stderr  # reported, not stray
    cli("split", "fruit", "--force", "--seed", "3")  # its writer is gone: the next split removes it
    assert hidden(tmp_path / "a_datasets") == []
    assert json.loads((out / "split.json").read_text())["seed"] == 3


SLOW_SPLIT = """
import time
import ltcli.data.split as split

place = split._place

def slow(*args):
    time.sleep(0.2)
    place(*args)

split._place = slow
from ltcli.cli import main
main()
"""


def test_a_killed_split_leaves_staging_that_the_next_split_removes(cli, fruit, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-c", SLOW_SPLIT, "split", "fruit"], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    datasets = tmp_path / "a_datasets"
    deadline = time.monotonic() + 60
    try:
        while not any(p.is_file() for name in hidden(datasets) for p in (datasets / name).rglob("*")):
            assert time.monotonic() < deadline and process.poll() is None, "the split never started copying"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    [staging] = hidden(datasets)
    assert staging.startswith(".fruit.") and not (datasets / "fruit").exists()
    cli("split", "fruit")
    assert hidden(datasets) == []
    assert (datasets / "fruit" / "split.json").is_file()


def test_only_stale_staging_of_this_name_is_removed(cli, fruit, tmp_path):
    cli("split", "fruit")
    datasets = tmp_path / "a_datasets"
    host, gone = host_tag(), dead_pid()
    names = {
        f".fruit.staging-{host}-{gone}-abcd1234": False,  # writer gone: removed
        f".fruit.old-{host}-{gone}": False,
        f".fruit.trash-{host}-{gone}": False,
        f".fruit.staging-{host}-{os.getpid()}-abcd1234": True,  # writer alive (this test): kept
        f".fruit.staging-another-host-{gone}-abcd1234": True,  # a PID of another host means nothing here
        f".fruit.old-{host}-2-{gone}": True,  # nor on host HOST-2
        f".fruit.v2.staging-{host}-{gone}-abcd1234": True,  # another dataset's
        ".fruit.k3j4h5g6": False,  # before PIDs were recorded, and old enough
        ".fruit.old-4242": False,
        ".fruit.zz9y8x7w": True,  # before PIDs, but recent: maybe still being written
    }
    for name in names:
        (datasets / name / "train").mkdir(parents=True)
        (datasets / name / "train" / "x.png").write_bytes(b"")
    long_ago = time.time() - LEGACY_STALE_AFTER_S - 60
    for name in (".fruit.k3j4h5g6", ".fruit.old-4242"):
        os.utime(datasets / name, (long_ago, long_ago))
    cli("split", "fruit", "--force")
    assert hidden(datasets) == sorted(name for name, kept in names.items() if kept)


def test_a_split_lost_between_the_renames_of_a_swap_is_restored(cli, fruit, tmp_path):
    cli("split", "fruit")
    datasets = tmp_path / "a_datasets"
    before = tree_digest(datasets / "fruit")
    (datasets / "fruit").rename(datasets / f".fruit.old-{host_tag()}-{dead_pid()}")  # killed mid-swap
    one_line_error(cli("split", "fruit", "--seed", "5", ok=False), "already exists", "--force")
    assert tree_digest(datasets / "fruit") == before
    assert hidden(datasets) == []


def test_demo_data_removes_stale_staging(cli, tmp_path):
    stale = tmp_path / "data_split" / f".digits-lt.staging-{host_tag()}-{dead_pid()}-abcd1234"
    (stale / "3").mkdir(parents=True)
    cli("demo-data")
    assert hidden(tmp_path / "data_split") == []
    assert len(list((tmp_path / "data_split" / "digits-lt").iterdir())) == 10


def test_demo_data_force_over_an_undeletable_demo_keeps_it(cli, tmp_path, monkeypatch):
    cli("demo-data")
    demo = tmp_path / "data_split" / "digits-lt"
    (demo / "LOCKED").write_text("")
    before = tree_digest(demo)
    monkeypatch.setattr(shutil, "rmtree", undeletable_rmtree(shutil.rmtree))
    one_line_error(cli("demo-data", "--force", "--imbalance-factor", "20", ok=False),
                   "cannot replace data_split/digits-lt", "left as it was")
    assert tree_digest(demo) == before
    assert hidden(tmp_path / "data_split") == []


# 3. Numbers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "fragment"), [
    ("nan", "--imbalance-factor must be a finite number above 0"),
    ("inf", "--imbalance-factor must be a finite number above 0"),
    ("-inf", "--imbalance-factor must be a finite number above 0"),
    ("0", "--imbalance-factor must be a finite number above 0"),
    ("-3", "--imbalance-factor must be a finite number above 0"),
])
def test_split_refuses_impossible_imbalance_factors(cli, fruit, tmp_path, value, fragment):
    one_line_error(cli("split", "fruit", "--imbalance-factor", value, ok=False), fragment, value)
    assert not (tmp_path / "a_datasets").exists()


@pytest.mark.parametrize("ratios", ["nan,0.5,0.5", "0.5,nan,0.5", "inf,0,0", "1,inf,-inf"])
def test_split_refuses_non_finite_ratios(cli, fruit, tmp_path, ratios):
    one_line_error(cli("split", "fruit", "--ratios", ratios, ok=False), "--ratios must be finite numbers", ratios)
    assert not (tmp_path / "a_datasets").exists()


def test_split_refuses_n_max_below_one_before_scanning(cli, fruit, tmp_path, monkeypatch):
    def no_scan(*args, **kwargs):
        raise AssertionError("scanned before checking --n-max")

    monkeypatch.setattr("ltcli.cli.data.scan_with_progress", no_scan)
    one_line_error(cli("split", "fruit", "--imbalance-factor", "2", "--n-max", "-4", ok=False),
                   "--n-max must be at least 1, got -4")


@pytest.mark.parametrize(("value", "fragments"), [
    ("1e9", ("--imbalance-factor 1e+09 leaves digit(s)", "9 no image", "the largest allowed is 174")),
    ("175", ("--imbalance-factor 175 leaves digit(s) 9 no image", "the largest allowed is 174")),
    ("nan", ("--imbalance-factor must be a finite number above 0", "nan")),
    ("inf", ("--imbalance-factor must be a finite number above 0", "inf")),
    ("1e-9", ("--imbalance-factor 1e+09 leaves digit(s)",)),  # tail / head: 1e-9 is 1e9
])
def test_demo_data_refuses_a_factor_that_leaves_a_digit_empty(cli, tmp_path, value, fragments):
    one_line_error(cli("demo-data", "--imbalance-factor", value, ok=False), *fragments)
    assert not (tmp_path / "data_split").exists()


def test_demo_data_refuses_bad_numbers_even_when_the_demo_exists(cli, tmp_path):
    cli("demo-data")
    one_line_error(cli("demo-data", "--imbalance-factor", "nan", ok=False), "finite number")


def test_the_largest_demo_factor_leaves_one_image():
    from ltcli.data.demo import demo_counts
    from ltcli.data.longtail import largest_imbalance_factor, long_tail_counts

    assert demo_counts(174)[-1] == 1
    assert largest_imbalance_factor(174, 10) == 174
    # 49 * (1 / 49) is 0.999... in floating point: the tail of F = 49 is empty, so a hair less is the largest
    assert long_tail_counts(49, 10, 49.0)[-1] == 0
    assert largest_imbalance_factor(49, 10) == 48.99 and long_tail_counts(49, 10, 48.99)[-1] == 1


# 4. Already split sources ----------------------------------------------------------------------------------


@pytest.fixture
def presplit(make_class_folder, tmp_path) -> Path:
    root = tmp_path / "cifar-like"
    make_class_folder({"ant": 6, "bee": 6}, root / "train")
    make_class_folder({"ant": 3, "bee": 3}, root / "test")
    return root


@pytest.mark.parametrize(("where", "fragment"), [
    ("train", "class 'eel' is in train/ but missing from test/"),
    ("test", "class 'eel' is in test/ but missing from train/"),
])
def test_presplit_class_in_one_split_only_is_named_with_the_split_it_is_missing_from(
    cli, presplit, make_class_folder, tmp_path, where, fragment
):
    make_class_folder({"eel": 3}, presplit / where)
    one_line_error(cli("split", "cifar", "--src", presplit, ok=False), fragment, "every split needs the same")
    assert not (tmp_path / "a_datasets").exists()


def test_presplit_class_in_one_of_three_splits(cli, presplit, make_class_folder, tmp_path):
    make_class_folder({"ant": 2, "bee": 2, "eel": 2}, presplit / "valid")
    one_line_error(cli("split", "cifar", "--src", presplit, ok=False),
                   "class 'eel' is in valid/ but missing from train/, test/")


def test_presplit_folders_beside_the_splits_are_reported_not_dropped_silently(
    cli, presplit, make_class_folder, tmp_path
):
    make_class_folder({"ant": 2, "bee": 2}, presplit / "val")  # meant as valid/
    make_class_folder({"eel": 3}, presplit / "eel")  # a class beside the splits
    result = cli("split", "cifar", "--src", presplit)
    output = " ".join(result.output.split())
    assert "ignored 2 folder(s) beside the split folders" in output
    assert f"{presplit / 'eel'}/" in "".join(result.output.split()) and "val/" in output
    manifest = json.loads((tmp_path / "a_datasets" / "cifar" / "split.json").read_text())
    assert manifest["ignored_folders"] == [str(presplit / "eel"), str(presplit / "val")]


# 5. Broken links ----------------------------------------------------------------------------------------


def test_split_lists_broken_links(cli, fruit, tmp_path):
    (fruit / "apple" / "moved.png").symlink_to(tmp_path / "nowhere.png")
    (fruit / "leaf" / "loop.png").symlink_to(fruit / "leaf" / "loop.png")
    result = cli("split", "fruit")
    output = " ".join(result.output.split())
    assert "skipped 2 broken link(s)" in output
    assert "moved.png ->" in output and "loop.png ->" in output
    manifest = json.loads((tmp_path / "a_datasets" / "fruit" / "split.json").read_text())
    assert sorted(Path(p).name for p in manifest["skipped_broken_links"]) == ["loop.png", "moved.png"]
    assert {c: sum(manifest["counts"][s][c] for s in manifest["counts"]) for c in COUNTS} == COUNTS


def test_stats_lists_broken_links_and_unreadable_files(cli, fruit, tmp_path, monkeypatch):
    (fruit / "apple" / "moved.png").symlink_to(tmp_path / "nowhere.png")
    read_bytes = Path.read_bytes

    def guarded(self):
        if self.name == "img001.png" and self.parent.name == "leaf":
            raise PermissionError(13, "Permission denied", str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", guarded)
    document = json.loads(cli("stats", "fruit", "--json", "--no-plot").stdout)
    assert document["unreadable"] == ["apple/moved.png", "leaf/img001.png"]
    assert document["undecodable"] == [] and document["non_images"] == []
    assert document["counts"]["all"] == {"apple": 8, "leaf": 5}
    output = " ".join(cli("stats", "fruit", "--no-plot").output.split())
    assert "files that cannot be read: broken links, no permission (skipped): 2" in output
    assert "apple/moved.png" in output


# 6. Modes --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o755), (0o027, 0o750)])
def test_split_folder_gets_the_normal_mode(cli, fruit, tmp_path, umask, mask, mode):
    umask(mask)
    cli("split", "fruit")
    assert os.stat(tmp_path / "a_datasets" / "fruit").st_mode & 0o777 == mode
    assert os.stat(tmp_path / "a_datasets" / "fruit" / "train").st_mode & 0o777 == mode


def test_demo_folder_gets_the_normal_mode(cli, tmp_path, umask):
    cli("demo-data")
    assert os.stat(tmp_path / "data_split" / "digits-lt").st_mode & 0o777 == 0o755
