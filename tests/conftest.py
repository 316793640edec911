"""Shared fixtures: small real image folders generated in the test, and an in-process CLI runner."""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ltcli.cli import app
from ltcli.engine.threads import CPUS_ENV
from ltcli.runs import is_stamp

# One CPU for every run the tests start (subprocesses inherit it): `--threads auto` then has one count
# to choose, so a resumed run repeats an uninterrupted one bit for bit (a different thread count
# rounds sums differently). tests/test_threads.py lifts it to test the choosing itself.
os.environ[CPUS_ENV] = "1"

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Distinct base colours, so a few epochs are enough to learn the classes.
COLOURS = {"apple": (220, 30, 30), "leaf": (30, 200, 40), "sky": (40, 60, 230), "sun": (240, 220, 20)}


def write_image(path: Path, colour: tuple[int, int, int], seed: int, size: int = 12, mode: str = "RGB") -> Path:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour)[None, None, :] + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "RGB").convert(mode).save(path)
    return path


def make_class_images(counts: dict[str, int], root: Path, suffix: str = ".png") -> Path:
    """root/<class>/<i>.png with `counts` images per class, each class its own colour."""
    for class_index, (name, count) in enumerate(counts.items()):
        colour = COLOURS.get(name, (40 * class_index % 255, 90, 160))
        for i in range(count):
            write_image(root / name / f"img{i:03d}{suffix}", colour, seed=1000 * class_index + i)
    return root


@pytest.fixture
def make_class_folder(tmp_path: Path) -> Callable[..., Path]:
    """make_class_folder({'apple': 10, 'leaf': 4}) -> a raw folder root/<class>/<i>.png."""

    def make(counts: dict[str, int], root: Path | None = None, suffix: str = ".png") -> Path:
        return make_class_images(counts, root or tmp_path / "raw", suffix)

    return make


def make_dataset(root: Path) -> Path:
    """root/{train,valid,test}/<class>/ with a long-tailed train split (the `split_dataset` layout)."""
    make_class_images({"apple": 24, "leaf": 12, "sky": 6}, root / "train")
    for split in ("valid", "test"):
        make_class_images({"apple": 4, "leaf": 4, "sky": 4}, root / split)
    return root


@pytest.fixture
def split_dataset(tmp_path: Path) -> Path:
    """a_datasets/colours/{train,valid,test}/<class>/ with a long-tailed train split."""
    return make_dataset(tmp_path / "a_datasets" / "colours")


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of content, plus each file's mtime, for every file under root."""
    digest = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest[str(path.relative_to(root))] = f"{hashlib.sha256(path.read_bytes()).hexdigest()}:{stat.st_mtime_ns}"
    return digest


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., object]:
    """Run `ltcli ARGS...` in-process with tmp_path as the working directory."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(app, [str(a) for a in args])
        if ok and result.exit_code != 0:
            raise AssertionError(f"ltcli {' '.join(map(str, args))} failed ({result.exit_code}):\n{result.output}"
                                 f"\n{result.exception!r}")
        return result

    return invoke


# Two tiny epochs of a CIFAR ResNet on 16x16 inputs: enough to exercise every file a run writes.
TRAIN_ARGS = ("--model", "resnet20", "--epochs", "2", "--batchsize", "8", "--lrstep", "1,1", "--warmup", "1",
              "--height", "16", "--width", "16", "--workers", "0", "--device", "cpu", "--lr", "0.05")


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def only_run(tmp_path: Path, objective: str) -> Path:
    runs = list((tmp_path / "logs" / "resnet20" / "colours" / objective).iterdir())
    assert len(runs) == 1 and is_stamp(runs[0].name)
    return runs[0]


def png_bytes(colour: tuple[int, int, int] = (200, 40, 40), seed: int = 0, size: int = 12) -> bytes:
    import io

    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour)[None, None, :] + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes(seed: int = 0, size: int = 32) -> bytes:
    import io

    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8), "RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


# Files with image names that do not decode, each made from real bytes: a JPEG cut in half, an empty
# file, and a text file named .jpg.
BAD_IMAGE_FILES: dict[str, Callable[[], bytes]] = {
    "truncated.jpg": lambda: jpeg_bytes(seed=7)[: len(jpeg_bytes(seed=7)) // 2],
    "zero-byte.jpg": lambda: b"",
    "text-named.jpg": lambda: b"these are notes, not a picture\n",
}


def write_bad_images(folder: Path, prefix: str = "") -> list[Path]:
    """Write every BAD_IMAGE_FILES entry into `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in BAD_IMAGE_FILES.items():
        path = folder / f"{prefix}{name}"
        path.write_bytes(make())
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def app_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A web-app root: a_datasets/colours and two tested one-epoch runs (ERM named 'baseline', and CCE)."""
    from app_support import APP_TRAIN_ARGS, run_cli

    root = tmp_path_factory.mktemp("app-root")
    make_dataset(root / "a_datasets" / "colours")
    for objective, name in (("ERM", "baseline"), ("CCE", "")):
        run_cli(root, "train", "--dataset", "colours", "--objective", objective, "--name", name, *APP_TRAIN_ARGS)
        run_cli(root, "test", "--dataset", "colours", "--model", "resnet20", "--objective", objective,
                "--datetime", "latest")
    return root


@pytest.fixture(scope="session")
def served_app(app_root: Path):
    """The app on `app_root`, served on a free localhost port for the whole session."""
    pytest.importorskip("gradio", reason="the web app needs the app extra: pip install 'ltcli[app]'")
    from app_support import serve_app

    served = serve_app(app_root, max_upload_mb=0.05)
    yield served
    served.close()


class RecordingQueue:
    """The app's job queue, recording what would run (the app tests check what the tabs queue)."""

    def __init__(self) -> None:
        self.submitted: list[dict] = []

    def submit(self, payload, label):
        self.submitted.append(payload["config"])
        return {"job": len(self.submitted), "state": "queued"}


def ctrl_c_enabled() -> None:
    """preexec_fn for a child that must see Ctrl-C: a process started in the background by a shell
    without job control inherits SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
