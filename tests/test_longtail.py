"""Long-tail profiles and the bundled demo dataset."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from ltcli.data.demo import write_demo_dataset
from ltcli.data.longtail import long_tail_counts


def test_cifar10_lt_if100_counts():
    # Published CIFAR-10-LT (Cao et al. 2019) train counts, as in ../shared/data's MANIFEST.
    assert long_tail_counts(5000, 10, 100, "exp") == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


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
