"""Long-tail profiles and the bundled demo dataset."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from ltcli.data.demo import write_demo_dataset
from ltcli.data.longtail import (
    largest_feasible_n_max,
    long_tail_counts,
    parse_class_order,
    plan_long_tail,
    subsample,
)
from ltcli.errors import LtcliError

CIFAR10_LT_IF100 = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]  # Cao et al. 2019, every repo since


def test_cifar10_lt_if100_counts():
    assert long_tail_counts(5000, 10, 100, "exp") == CIFAR10_LT_IF100


@pytest.mark.shared_data
def test_the_shared_cifar10_lt_has_the_published_counts_and_ltcli_reads_them():
    """The real CIFAR-10-LT the benchmarks train on (../shared/data; skipped in a user's clone): ltcli's
    folder scan finds the published train counts, head to tail, and the balanced test set."""
    from conftest import SHARED_DATA

    from ltcli.data.folder import scan_class_folders

    root = SHARED_DATA / "cifar10-lt-if100"
    if not (root / "train").is_dir():
        pytest.skip(f"no {root}: the shared datasets are not on this machine")
    train, test = scan_class_folders(root / "train", verify=False), scan_class_folders(root / "test", verify=False)
    assert sorted((len(files) for files in train.images.values()), reverse=True) == CIFAR10_LT_IF100
    assert sorted(train.images) == sorted(test.images) and {len(f) for f in test.images.values()} == {1000}


@pytest.mark.parametrize(
    ("n_max", "classes", "factor", "expected"),
    [
        # Published CIFAR-10-LT train counts for F = 10 and 50 (Cao et al. 2019 and every repo since).
        (5000, 10, 10, [5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500]),
        (5000, 10, 50, [5000, 3237, 2096, 1357, 878, 568, 368, 238, 154, 100]),
        (20, 4, 10, [20, 9, 4, 2]),  # 20 * 10^(-1/3) = 9.28, 20 * 10^(-2/3) = 4.31
        (20, 3, 4, [20, 10, 5]),
        (6, 3, 3, [6, 3, 2]),  # 6 / sqrt(3) = 3.46
        (7, 1, 10, [7]),
    ],
)
def test_exp_profile_exact_counts(n_max, classes, factor, expected):
    assert long_tail_counts(n_max, classes, factor, "exp") == expected


@pytest.mark.parametrize(
    ("n_max", "classes", "factor", "total"),
    # Published training-set sizes: CIFAR-10-LT 20431 / 13996 / 11203, CIFAR-100-LT 19573 / 12608 / 10847.
    [(5000, 10, 10, 20431), (5000, 10, 50, 13996), (5000, 10, 200, 11203),
     (500, 100, 10, 19573), (500, 100, 50, 12608), (500, 100, 100, 10847)],
)
def test_exp_profile_published_totals(n_max, classes, factor, total):
    assert sum(long_tail_counts(n_max, classes, factor, "exp")) == total


@pytest.mark.parametrize(("n_max", "classes", "factor"), [(500, 100, 100), (5000, 10, 10), (600, 7, 50)])
def test_exp_profile_matches_formula(n_max, classes, factor):
    counts = long_tail_counts(n_max, classes, factor, "exp")
    expected = [int(n_max * (1 / factor) ** (i / (classes - 1))) for i in range(classes)]
    assert counts == expected
    assert counts[0] == n_max and counts == sorted(counts, reverse=True)


@pytest.mark.parametrize(("classes", "head"), [(10, 5), (7, 3), (2, 1)])
def test_step_profile(classes, head):
    counts = long_tail_counts(1000, classes, 10, "step")
    assert counts == [1000] * head + [100] * (classes - head)


@pytest.mark.parametrize(
    ("n_max", "classes", "factor", "expected"),
    [
        (20, 4, 5, [20, 20, 4, 4]),
        (20, 3, 2, [20, 10, 10]),
        (20, 5, 10, [20, 20, 2, 2, 2]),
        (5000, 10, 100, [5000] * 5 + [50] * 5),
    ],
)
def test_step_profile_exact_counts(n_max, classes, factor, expected):
    assert long_tail_counts(n_max, classes, factor, "step") == expected


@pytest.mark.parametrize(("factor", "profile", "message"), [(0.5, "exp", "imbalance factor must be >= 1"),
                                                             (10, "linear", "unknown long-tail profile 'linear'")])
def test_long_tail_counts_rejects_bad_input(factor, profile, message):
    with pytest.raises(LtcliError, match=message):
        long_tail_counts(100, 5, factor, profile)


CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_plan_long_tail_on_balanced_cifar10_keeps_the_head_whole():
    plan = plan_long_tail(dict.fromkeys(CIFAR10, 5000), 100, "exp")
    assert plan.n_max == 5000 and plan.class_order == CIFAR10
    assert list(plan.targets.values()) == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert plan.to_dict()["available"] == dict.fromkeys(CIFAR10, 5000)


def test_plan_long_tail_follows_the_class_order_and_n_max():
    order = list(reversed(CIFAR10))
    plan = plan_long_tail(dict.fromkeys(CIFAR10, 5000), 10, "step", order, n_max=400)
    assert [plan.targets[name] for name in order] == [400] * 5 + [40] * 5
    assert plan.targets["truck"] == 400 and plan.targets["airplane"] == 40


def test_plan_long_tail_refuses_a_class_that_cannot_reach_its_target():
    available = {"a": 100, "b": 30, "c": 100}  # exp F=10 from 100 needs 31 of b
    with pytest.raises(LtcliError) as error:
        plan_long_tail(available, 10, "exp")
    message = str(error.value)
    assert "class 'b' (position 2 of the class order) has 30 training image(s)" in message
    # b needs int(100 * 10^-0.5) = 31; from n_max 98 it needs int(30.99) = 30, from 99 int(31.31) = 31.
    assert "needs 31" in message and "--n-max 98 or less" in message


def test_plan_long_tail_refuses_an_empty_tail():
    with pytest.raises(LtcliError, match="leaves 'c' no image"):
        plan_long_tail({"a": 5, "b": 5, "c": 5}, 10, "exp")


@pytest.mark.parametrize(
    ("available", "factor", "profile", "expected"),
    [
        ([100, 30, 100], 10, "exp", 98),
        ([5000] * 10, 100, "exp", 5000),
        ([50, 50, 3], 10, "step", 39),  # the tail needs int(n / 10) <= 3
        ([0, 5], 2, "exp", 0),
    ],
)
def test_largest_feasible_n_max(available, factor, profile, expected):
    assert largest_feasible_n_max(available, factor, profile) == expected

    def fits(n_max: int) -> bool:
        targets = long_tail_counts(n_max, len(available), factor, profile)
        return all(t <= a for t, a in zip(targets, available, strict=True))

    assert fits(expected) and (expected == max(available) or not fits(expected + 1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b", "missing 'c'"),
        ("a,b,c,d", "unknown 'd'"),
        ("a,b,b,c", "repeated 'b'"),
        ("a,x", "unknown 'x'; missing 'b', 'c'"),
    ],
)
def test_parse_class_order_names_every_class_once(text, message):
    with pytest.raises(LtcliError, match=message):
        parse_class_order(text, ["a", "b", "c"])


def test_parse_class_order_default_and_given():
    assert parse_class_order(None, ["b", "c", "a"]) == ["a", "b", "c"]
    assert parse_class_order("c, a,b", ["a", "b", "c"]) == ["c", "a", "b"]
    assert parse_class_order("red apple,небо", ["небо", "red apple"]) == ["red apple", "небо"]


def test_subsample_is_seeded_per_class_and_sorted(tmp_path):
    files = [tmp_path / f"{i:03d}.png" for i in range(50)]
    first = subsample(files, 10, seed=0, class_name="cat")
    assert first == subsample(list(reversed(files)), 10, seed=0, class_name="cat")  # input order does not matter
    assert first == sorted(first) and len(set(first)) == 10 and set(first) <= set(files)
    assert first != subsample(files, 10, seed=1, class_name="cat")
    assert first != subsample(files, 10, seed=0, class_name="dog")


def test_demo_dataset_is_long_tailed_real_and_deterministic(tmp_path):
    first = write_demo_dataset(tmp_path / "a")
    second = write_demo_dataset(tmp_path / "b")
    assert first == second
    counts = list(first.values())
    assert list(first) == [str(d) for d in range(10)]
    assert counts == sorted(counts, reverse=True) and counts[0] / counts[-1] >= 10
    digest = lambda root: {  # noqa: E731
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.png"))
    }
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    image = Image.open(next((tmp_path / "a" / "3").iterdir()))
    assert image.size == (8, 8) and image.mode == "L"
    assert np.asarray(image).max() > 200  # real strokes, not blank
    with pytest.raises(FileExistsError):
        write_demo_dataset(tmp_path / "a")
