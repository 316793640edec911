"""The hostile probe of issue 31, re-run against the current code (part B's kinds of cases): data loss
through --force or overlapping folders, path traversal in the app's inputs, huge labels and sizes,
NaN/inf/huge numbers in the numeric options of split/train/test/study/pretrain/app, missing external
tools, the same files under other paths, fractions where whole numbers are meant, copied checkpoints,
name collisions, and help-text rendering.

Every refusal must be one `error:` line (exit 1; exit 2 for a usage error Typer reports), no
traceback, and nothing written or changed; the other cases check the right behaviour. Each case is
quick: one session world (a tiny split dataset, a raw folder, a one-epoch ERM run, a one-epoch
pre-training run, a few hostile files) serves them all. Case ids start with their kind, so
`pytest -rA tests/test_hostile_probe.py` counts them by kind (benchmarks/probe/count.py does)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import typer
from conftest import make_class_images, make_dataset, tree_digest, write_image
from typer.testing import CliRunner

from ltcli.cli import app

ONE_EPOCH = ("--model", "resnet20", "--epochs", "1", "--batchsize", "8", "--lrstep", "1", "--warmup", "0",
             "--height", "16", "--width", "16", "--workers", "0", "--device", "cpu")


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    make_dataset(root / "a_datasets" / "colours")
    make_class_images({"apple": 6, "leaf": 6}, root / "data_split" / "raw")
    make_class_images({"apple": 6, "leaf": 6}, root / "data_split" / "other")
    common = (*ONE_EPOCH, "--datasets-dir", root / "a_datasets", "--logs-dir", root / "logs")
    for command in (("train", "--objective", "ERM"), ("pretrain",)):
        result = invoke(*command, "--dataset", "colours", *common)
        assert result.exit_code == 0, result.output
    files = root / "files"
    files.mkdir()
    erm = next((root / "logs").rglob("ERM/*/config.json")).parent
    pretrain = next((root / "logs").rglob("pretrain-rotation/*/config.json")).parent
    shutil.copy(pretrain / "checkpoint_best.pt", files / "ssp-copy.pt")
    shutil.copy(erm / "checkpoint_best.pt", files / "erm-copy.pt")
    shutil.copytree(root / "a_datasets" / "colours" / "test", files / "test-copy")  # the same images elsewhere
    shutil.copytree(root / "a_datasets" / "colours" / "valid", files / "valid-copy")
    big = files / "biglist"  # a lists dataset whose one label is 300,000,000 (B3)
    write_image(big / "c0" / "10.png", (200, 40, 40), seed=1)
    for split in ("train", "val", "test"):
        (big / f"biglist_{split}.txt").write_text("c0/10.png 300000000\n")
    (files / "grid-nan.yaml").write_text("name: g\ntrain: {dataset: colours, epochs: 1}\n"
                                         "grid: {lr: {from: 0.1, to: .nan, step: 0.1}}\n")
    (files / "grid-inf.yaml").write_text("name: g\ntrain: {dataset: colours, epochs: 1}\n"
                                         "grid: {lr: {from: 0.1, to: .inf, step: 0.1}}\n")
    (files / "grid-frac.yaml").write_text("name: g\ntrain: {dataset: colours}\ngrid: {epochs: [1.5]}\n")
    (files / "grid-huge.yaml").write_text("name: g\ntrain: {dataset: colours}\ngrid: {epochs: [1e30]}\n")
    (files / "study.yaml").write_text(f"name: ok\ntrain: {{dataset: colours, datasets_dir: {root / 'a_datasets'}, "
                                      "epochs: 1}\ngrid: {seed: [0]}\n")
    (files / "slash.yaml").write_text("name: ../../escape\ntrain: {dataset: colours, epochs: 1}\ngrid: {seed: [0]}\n")
    (files / "image.png").write_bytes((root / "a_datasets" / "colours" / "test" / "apple" / "img000.png").read_bytes())
    return root


def places(root: Path) -> dict[str, str]:
    runs = {name: str(next((root / "logs").rglob(f"{name}/*/config.json")).parent)
            for name in ("ERM", "pretrain-rotation")}
    return {"{root}": str(root), "{files}": str(root / "files"), "{erm}": runs["ERM"],
            "{pretrain}": runs["pretrain-rotation"], "{data}": str(root / "a_datasets"), "{logs}": str(root / "logs"),
            "{raw}": str(root / "data_split")}


def expand(args: tuple[str, ...], root: Path) -> list[str]:
    out = []
    for arg in args:
        for key, value in places(root).items():
            arg = arg.replace(key, value)
        out.append(arg)
    return out


DATA = ("--datasets-dir", "{data}")
LOGS = ("--logs-dir", "{logs}")
TRAIN = ("train", "--dataset", "colours", *DATA, *LOGS, *ONE_EPOCH)
SPLIT = ("split", "new", "--src", "{raw}/raw", *DATA)
TEST = ("test", "--run", "{erm}", *DATA)
PRETRAIN = ("pretrain", "--dataset", "colours", *DATA, *LOGS, *ONE_EPOCH)
STUDY = ("study", "{files}/study.yaml", *LOGS)

# (kind-id, args, exit code, what the error says): each refused in one line, nothing written
REFUSED = [
    # data loss: --force and overlapping folders (B1)
    ("data-loss-force-over-raw", ("split", "other", "--src", "{raw}/raw", "--datasets-dir", "{raw}", "--force"), 1,
     "not a split written by ltcli"),
    ("data-loss-force-over-unsplit", ("split", "colours", "--src", "{raw}/raw", *DATA, "--force"), 1,
     "not a split written by ltcli"),
    ("data-loss-dest-inside-src", ("split", "inner", "--src", "{raw}/raw", "--datasets-dir", "{raw}/raw"), 1,
     "must not overlap the source"),
    ("data-loss-test-out-another-run", ("test", "--run", "{erm}", "--out", "{pretrain}", *DATA), 1,
     "is another run's folder"),
    ("data-loss-logs-in-dataset", (*TRAIN[:-len(ONE_EPOCH)], "--logs-dir", "{data}/colours/train", *ONE_EPOCH), 1,
     "inside the dataset"),
    # huge labels and sizes (B3)
    ("huge-list-label", ("train", "--data", "{files}/biglist", *LOGS, *ONE_EPOCH), 1, "300000000"),
    ("huge-height", (*TRAIN, "--height", "100000"), 1, "--height must be at most"),
    ("huge-batch", (*TRAIN, "--batchsize", "1000000000000"), 1, "--batchsize must be at most"),
    ("huge-epochs", (*TRAIN, "--epochs", "1000000000"), 1, "--epochs must be at most"),
    ("huge-counts", (*SPLIT, "--counts", "99999999999,1"), 1, "--counts"),
    ("huge-n-max", (*SPLIT, "--imbalance-factor", "10", "--n-max", "1000000000000000"), 1, "--n-max"),
    ("huge-jobs", (*STUDY, "--jobs", "1000000"), 1, "--jobs must be from 1 to 1024"),
    ("huge-upload", ("app", "--max-upload-mb", "1e303"), 2, "--max-upload-mb"),
    ("huge-moco-queue", (*PRETRAIN, "--method", "moco", "--moco-queue", "1000000000"), 1, "--moco-queue"),
    ("huge-grid-epochs", ("study", "{files}/grid-huge.yaml", *LOGS), 1, "epochs"),
    # NaN, inf and huge numbers in numeric options (B4, B5, B11)
    ("non-finite-split-if-inf", (*SPLIT, "--imbalance-factor", "inf"), 1, "--imbalance-factor"),
    ("non-finite-split-if-huge", (*SPLIT, "--imbalance-factor", "1e308"), 1, "--imbalance-factor"),
    ("non-finite-split-valid-nan", (*SPLIT, "--valid-from-train", "nan"), 1, "--valid-from-train"),
    ("non-finite-split-pool-inf", (*SPLIT, "--imbalance-factor", "2", "--unlabeled-pool", "inf"), 1,
     "--unlabeled-pool"),
    ("non-finite-split-ratios", (*SPLIT, "--ratios", "nan,0.5,0.5"), 1, "--ratios"),
    ("non-finite-split-similar", (*SPLIT, "--similar", "apple:leaf:nan:0.5"), 1, "--similar"),
    ("non-finite-train-lr-nan", (*TRAIN, "--lr", "nan"), 1, "--lr"),
    ("non-finite-train-lr-inf", (*TRAIN, "--lr", "inf"), 1, "--lr"),
    ("non-finite-train-momentum", (*TRAIN, "--momentum", "nan"), 1, "--momentum"),
    ("non-finite-train-wd", (*TRAIN, "--weight-decay", "inf"), 1, "--weight-decay"),
    ("non-finite-train-hflip", (*TRAIN, "--hflip", "nan"), 1, "--hflip"),
    ("non-finite-train-ema", (*TRAIN, "--ema-decay", "nan"), 1, "--ema-decay"),
    ("non-finite-train-mixup", (*TRAIN, "--mixup", "inf"), 1, "--mixup"),
    ("non-finite-train-min-lr", (*TRAIN, "--min-lr", "nan"), 1, "--min-lr"),
    ("non-finite-train-lr-decay", (*TRAIN, "--lr-decay", "inf"), 1, "--lr-decay"),
    ("non-finite-train-cb-beta", (*TRAIN, "--train-rule", "Reweight", "--cb-beta", "nan"), 1, "--cb-beta"),
    ("non-finite-train-opt", (*TRAIN, "--objective", "FL", "--opt", "gamma=nan"), 1, "gamma"),
    ("non-finite-train-pos-neg", (*TRAIN, "--positive-classes", "leaf", "--pos-neg-ratio", "nan:1"), 1,
     "--pos-neg-ratio"),
    ("non-finite-train-tpauc", (*TRAIN, "--positive-classes", "leaf", "--tpauc", "nan,0.3"), 1,
     "alpha must be in (0, 1], got nan"),
    ("non-finite-test-tpauc", (*TEST, "--tpauc", "inf,0.3"), 1, "alpha must be in (0, 1], got inf"),
    ("non-finite-test-tau", (*TEST, "--tau-norm", "nan"), 1, "--tau-norm"),
    ("non-finite-test-la", (*TEST, "--logit-adjust", "inf"), 1, "--logit-adjust"),
    ("non-finite-test-temperature", (*TEST, "--temperatures", "nan"), 1,
     "--temperatures must be finite and > 0, got nan"),
    ("non-finite-study-grid-nan", ("study", "{files}/grid-nan.yaml", *LOGS), 1, "finite"),
    ("non-finite-study-grid-inf", ("study", "{files}/grid-inf.yaml", *LOGS), 1, "finite"),
    ("non-finite-study-time", (*STUDY, "--executor", "local", "--time", "-5"), 1, "--time"),
    ("non-finite-study-cpus", (*STUDY, "--executor", "local", "--cpus", "-2"), 1, "--cpus"),
    ("non-finite-pretrain-momentum", (*PRETRAIN, "--method", "moco", "--moco-momentum", "nan"), 1,
     "--moco-momentum"),
    ("non-finite-pretrain-temperature", (*PRETRAIN, "--method", "moco", "--temperature", "inf"), 1, "--temperature"),
    ("non-finite-app-upload-nan", ("app", "--max-upload-mb", "nan"), 2, "--max-upload-mb"),
    ("non-finite-app-upload-negative", ("app", "--max-upload-mb", "-1"), 2, "--max-upload-mb"),
    # missing external tools (B6)
    ("missing-tool-slurm", (*STUDY, "--executor", "slurm"), 1, "slurm"),
    # same content under another path (B7)
    ("same-content-unlabeled-copy", (*TRAIN, "--unlabeled", "{files}/test-copy", "--pseudo-labels-from", "{erm}"), 1,
     "test"),
    ("same-content-unlabeled-source", (*TRAIN, "--unlabeled", "{data}/colours", "--pseudo-labels-from", "{erm}"), 1,
     "colours"),
    ("same-content-extra-unlabeled-copy", (*PRETRAIN, "--extra-unlabeled", "{files}/valid-copy"), 1, "valid"),
    # fractions where whole numbers are meant (B8)
    ("fraction-train-epochs", (*TRAIN, "--epochs", "1.5"), 2, "valid integer"),
    ("fraction-train-batch", (*TRAIN, "--batchsize", "2.5"), 2, "--batchsize"),
    ("fraction-train-lrstep", (*TRAIN, "--lrstep", "1.5"), 1, "--lrstep"),
    ("fraction-split-seed", (*SPLIT, "--seed", "1.5"), 2, "valid integer"),
    ("fraction-split-counts", (*SPLIT, "--counts", "2.5,1"), 1, "--counts"),
    ("fraction-test-many-shot", (*TEST, "--many-shot", "2.5"), 2, "valid integer"),
    ("fraction-study-jobs", (*STUDY, "--jobs", "1.5"), 2, "valid integer"),
    ("fraction-study-grid", ("study", "{files}/grid-frac.yaml", *LOGS), 1, "whole number"),
    # copied checkpoints (B9)
    ("copied-ckpt-pretrain-predict", ("predict", "{files}/image.png", "--run", "{files}/ssp-copy.pt", "--out",
                                      "p.csv"), 1, "--weights"),
    ("copied-ckpt-resume", ("train", "--resume", "{files}/erm-copy.pt", *LOGS), 1, "checkpoint_last.pt"),
    ("copied-ckpt-init-from-file", (*TRAIN, "--init-from", "{files}/erm-copy.pt"), 1, "--weights"),
    # name collisions (B10)
    ("collision-dataset-and-data", (*TRAIN, "--data", "{data}/colours"), 1, "give exactly one of --dataset"),
    ("collision-split-existing", ("split", "colours", "--src", "{raw}/raw", *DATA), 1, "exists"),
    ("collision-objective-folder-name", (*TRAIN[:-len(ONE_EPOCH)], *ONE_EPOCH, "--objective", "ERM+crt"), 1,
     "unknown objective"),
    ("collision-model-path", (*TRAIN, "--model", "../resnet20"), 1, "model"),
    ("collision-study-name-path", ("study", "{files}/slash.yaml", *LOGS), 1, "name"),
    ("collision-positional-and-option", (*TRAIN, "colours"), 1, "not both"),
]


@pytest.mark.parametrize(("case", "args", "code", "message"), REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_in_one_line_with_nothing_written(world, tmp_path, monkeypatch, case, args, code, message):
    monkeypatch.chdir(tmp_path)
    before = tree_digest(world), tree_digest(tmp_path)
    result = invoke(*expand(args, world))
    text = " ".join(result.output.split())
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    assert message.lower() in text.lower(), result.output
    if code == 1:
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert (tree_digest(world), tree_digest(tmp_path)) == before, "the command wrote or changed files"


# --- the app's inputs (B2, B8), through its tabs as the API calls them -------------------------------------
class Queue:
    def __init__(self) -> None:
        self.requests: list[dict] = []

    def submit(self, request, label):
        self.requests.append(request)
        return {"job": len(self.requests), "state": "queued"}


def app_call(world: Path, tab: str, method: str, *args, **kwargs):
    gr = pytest.importorskip("gradio")
    from ltcli.app.context import AppContext
    from ltcli.app.paths import AppRoot
    from ltcli.app.tabs.compare import CompareTab
    from ltcli.app.tabs.data import DataTab
    from ltcli.app.tabs.infer import InferTab
    from ltcli.app.tabs.runs import RunsTab
    from ltcli.app.tabs.train import TrainTab

    queue = Queue()
    context = AppContext(AppRoot.at(world), queue, world.parent / f"{world.name}-scratch")
    tabs = {"train": TrainTab, "compare": CompareTab, "data": DataTab, "infer": InferTab, "runs": RunsTab}
    with pytest.raises(gr.Error) as error:
        getattr(tabs[tab](context), method)(*args, **kwargs)
    return error.value.message, queue


def erm_relative(world: Path) -> str:
    return Path(places(world)["{erm}"]).relative_to(world).as_posix()


APP_TRAIN = dict(model="resnet20", epochs=1, height=16, width=16)
APP_REFUSED = [
    ("app-path-positive-absolute", "train", "train", ("a_datasets/colours",),
     dict(more={"positive_classes": ["/etc/x.json"]}, **APP_TRAIN), "positive classes file"),
    ("app-path-positive-dotdot", "train", "train", ("a_datasets/colours",),
     dict(more={"positive_classes": ["../../x.json"]}, **APP_TRAIN), "positive classes file"),
    ("app-path-start-from-outside", "train", "train", ("a_datasets/colours",),
     dict(start_from="/tmp", **APP_TRAIN), "start point"),
    ("app-path-dataset-dotdot", "train", "train", ("a_datasets/../../etc",), APP_TRAIN, "dataset"),
    ("app-path-data-root-absolute", "train", "train", ("a_datasets/colours",), dict(data_root="/", **APP_TRAIN),
     "root"),
    ("app-path-compare-outside", "compare", "compare", (["/tmp", "../x"],), {}, "refused"),
    ("app-path-tune-outside", "compare", "tune", ("/etc",), {}, "refused"),
    ("app-path-infer-folder", "infer", "infer", (), dict(folder="/etc", runs=["{erm}"]), "refused"),
    ("app-path-stats-dotdot", "data", "stats", ("a_datasets/../../",), {}, "refused"),
    ("app-path-test-outside", "runs", "test", ("logs/../../",), {}, "refused"),
    ("non-finite-app-lr", "train", "train", ("a_datasets/colours",), dict(lr=float("nan"), **APP_TRAIN), "lr"),
    ("non-finite-app-epochs-inf", "train", "train", ("a_datasets/colours",),
     dict(APP_TRAIN, epochs=float("inf")), "epochs"),
    ("non-finite-app-imbalance", "train", "train", ("data_split/raw",), dict(imbalance_factor=float("inf"),
                                                                             **APP_TRAIN), "imbalance"),
    ("fraction-app-epochs", "train", "train", ("a_datasets/colours",), dict(APP_TRAIN, epochs=1.5),
     "epochs takes a whole number, got 1.5"),
    ("fraction-app-batch", "train", "train", ("a_datasets/colours",), dict(batch_size=2.5, **APP_TRAIN),
     "--batchsize takes a whole number, got 2.5"),
    ("fraction-app-tune-epochs", "compare", "tune", ("{erm}",), dict(epochs=2.5), "whole number"),
    ("huge-app-epochs", "train", "train", ("a_datasets/colours",), dict(APP_TRAIN, epochs=1e20), "epochs"),
]


@pytest.mark.parametrize(("case", "tab", "method", "args", "kwargs", "message"), APP_REFUSED,
                         ids=[c[0] for c in APP_REFUSED])
def test_the_apps_inputs_are_refused_in_one_line(world, case, tab, method, args, kwargs, message):
    relative = {"{erm}": erm_relative(world)}
    args = tuple(relative.get(a, a) if isinstance(a, str) else a for a in args)
    kwargs = {k: [relative.get(v, v) for v in value] if isinstance(value, list) else relative.get(value, value)
              if isinstance(value, str) else value for k, value in kwargs.items()}
    before = tree_digest(world)
    text, queue = app_call(world, tab, method, *args, **kwargs)
    assert message.lower() in text.lower() and "\n" not in text.strip(), text
    assert queue.requests == [] and tree_digest(world) == before


# --- right behaviour -----------------------------------------------------------------------------------------
def test_missing_tool_lightly_is_one_line(world, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "lightly", None)  # import lightly -> ImportError
    result = invoke(*expand((*PRETRAIN, "--method", "moco"), world))
    assert result.exit_code == 1 and result.output.startswith("error:") and "ltcli[ssl]" in result.output


def test_missing_tool_submitit_is_one_line(world, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "submitit", None)
    result = invoke(*expand((*STUDY, "--executor", "local"), world))
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "Traceback" not in result.output and "submitit" in text, result.output


def test_missing_tool_gradio_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "gradio", None)
    result = invoke("app")
    assert result.exit_code == 1 and result.output.startswith("error:") and "ltcli[app]" in result.output


def test_copied_checkpoint_tests_with_the_data_given(world, tmp_path, monkeypatch):
    """A best checkpoint copied out of its run is enough to test (the checkpoint holds the config)."""
    monkeypatch.chdir(tmp_path)
    copy = tmp_path / "elsewhere" / "best.pt"
    copy.parent.mkdir()
    shutil.copy(world / "files" / "erm-copy.pt", copy)
    result = invoke("test", "--run", str(copy), "--data", str(world / "a_datasets" / "colours"), "--out", "out")
    assert result.exit_code == 0, result.output
    original = invoke("test", "--run", places(world)["{erm}"], "--out", "orig",
                      "--data", str(world / "a_datasets" / "colours"))
    assert original.exit_code == 0, original.output
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["acc"] == pytest.approx(
        json.loads((tmp_path / "orig" / "metrics.json").read_text())["acc"])


def test_same_content_duplicates_across_splits_are_reported_by_stats(world, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dataset = tmp_path / "dup"
    shutil.copytree(world / "a_datasets" / "colours", dataset)
    shutil.copy(dataset / "test" / "apple" / "img000.png", dataset / "train" / "apple" / "copy-of-test.png")
    result = invoke("stats", str(dataset))
    assert result.exit_code == 0, result.output
    assert "duplicate" in result.output.lower()


def test_data_loss_none_when_splitting_a_splits_train_beside_it(world, tmp_path, monkeypatch):
    """A source inside the datasets folder (a split's train/) splits into a sibling; the source stays."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(world / "a_datasets" / "colours", tmp_path / "a_datasets" / "colours")
    source = tmp_path / "a_datasets" / "colours" / "train"
    before = tree_digest(source)
    result = invoke("split", "again", "--src", str(source), "--datasets-dir", str(tmp_path / "a_datasets"))
    assert result.exit_code == 0, result.output
    assert tree_digest(source) == before and (tmp_path / "a_datasets" / "again" / "split.json").is_file()


def test_huge_many_shot_bound_leaves_no_class_many_shot(world, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("test", "--run", places(world)["{erm}"], "--data", str(world / "a_datasets" / "colours"),
                    "--many-shot", str(10**21), "--few-shot", "1", "--out", "out")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["many_shot_acc"] is None and metrics["few_shot_acc"] is None  # every class is medium-shot


def test_huge_top_k_lists_every_class_once(world, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("predict", str(world / "files" / "image.png"), "--run", places(world)["{erm}"],
                    "--top-k", str(10**12), "--out", "p.csv")
    assert result.exit_code == 0, result.output
    header = (tmp_path / "p.csv").read_text().splitlines()[0].split(",")
    assert sorted(h for h in header if h.startswith("class_")) == ["class_1", "class_2", "class_3"]


def test_collision_two_runs_in_one_second_get_two_folders(tmp_path):
    from ltcli.runs import create_run_dir

    first = create_run_dir(tmp_path, "m", "d", "ERM")
    second = create_run_dir(tmp_path, "m", "d", "ERM")
    assert first.path != second.path and first.path.is_dir() and second.path.is_dir()


def test_collision_a_lists_dataset_has_one_name(world):
    """The same lists folder given by --data is named by its folder, as the app names it (B10)."""
    from ltcli.data.source import resolve_source

    _, name = resolve_source(None, world / "files" / "biglist", world / "a_datasets")
    assert name == "biglist"


COMMANDS = sorted(typer.main.get_command(app).commands)  # every command, from the app itself


@pytest.mark.parametrize("command", COMMANDS, ids=[f"help-{c}" for c in COMMANDS])
def test_help_renders_as_written(command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.setenv("TERMINAL_WIDTH", "300")
    result = invoke(command, "--help")
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert "🅱" not in result.output and "\N{REPLACEMENT CHARACTER}" not in result.output
    if command == "split":
        assert "A:B:P:LAMBDA" in result.output
