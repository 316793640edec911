"""`ltcli export` and `ltcli predict --model`: the exported file computes what `ltcli test` scored,
for each kind of run (CIFAR ResNet, timm ResNet with EMA, LWS, RIDE, PaCo, a one-logit binary run),
with the post-hoc corrections folded in; preprocess.json is enough to rebuild the input; the card
holds the test's per-class table; every bad input is one line and leaves nothing behind."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from torch import nn

pytest.importorskip("onnxruntime", reason="the export tests need the export extra: pip install 'ltcli[export]'")
pytest.importorskip("onnxscript")
pytest.importorskip("safetensors")

from app_support import run_cli  # noqa: E402
from conftest import make_dataset, read_csv, write_image  # noqa: E402
from test_cli_evaluate import make_run  # noqa: E402

from ltcli.cli import app  # noqa: E402
from ltcli.data.transforms import build_transform  # noqa: E402
from ltcli.errors import LtcliError  # noqa: E402
from ltcli.export.predict import OnnxClassifier  # noqa: E402
from ltcli.export.preprocess import preprocess_record, read_preprocess  # noqa: E402

TINY = ("--epochs", "1", "--batchsize", "8", "--lrstep", "1", "--warmup", "0", "--height", "16", "--width", "16",
        "--workers", "0", "--device", "cpu", "--lr", "0.05")
KINDS = {  # name -> train arguments (lws: a stage two of the cifar run)
    "cifar": ("--model", "resnet20", "--objective", "CE"),
    "timm": ("--model", "resnet18", "--objective", "Focal", "--ema-decay", "0.5"),
    "lws": ("--model", "resnet20", "--recipe", "lws"),
    "ride": ("--model", "resnet20", "--objective", "RIDE", "--opt", "num_experts=2"),
    "paco": ("--model", "resnet20", "--objective", "PaCo", "--opt", "queue=16", "--opt", "dim=8"),
}


def train(root: Path, *args: str) -> Path:
    before = set(root.glob("logs/*/*/*/*"))
    run_cli(root, "train", "--dataset", "colours", *TINY, *args)
    (run,) = set(root.glob("logs/*/*/*/*")) - before
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One tiny trained run of each kind (one epoch on 16x16 colour images), untested."""
    root = tmp_path_factory.mktemp("export")
    make_dataset(root / "a_datasets" / "colours")
    found = {}
    for kind, args in KINDS.items():
        if kind == "paco" and not _has("lightly"):
            continue
        extra = ("--init-from", str(found["cifar"])) if kind == "lws" else ()
        found[kind] = train(root, *args, *extra)
    return found


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def export(run: Path, out: Path, *args: str, ok: bool = True):
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["export", "--run", str(run), "--out", str(out), *map(str, args)])
    if ok:
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result


def split_images(run: Path) -> Path:
    return Path(json.loads((run / "config.json").read_text())["dataset_root"]) / "test"


def assert_scores_like_the_test(out: Path, run: Path, predictions: str) -> None:
    """ONNX Runtime's probabilities on every test image are the ones `ltcli test` wrote."""
    rows = read_csv(run / predictions)
    log_probs = OnnxClassifier(out).log_probs([split_images(run) / row["file"] for row in rows])
    names = read_preprocess(out / "preprocess.json").class_names
    assert [names[i] for i in log_probs.argmax(1)] == [row["predicted"] for row in rows]
    np.testing.assert_allclose(np.exp(log_probs.max(1)), [float(r["probability"]) for r in rows], rtol=1e-4,
                               atol=1e-6)


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def card_table(card: str) -> list[list[str]]:
    """The per-class table's rows of cells."""
    section = card.split("### Per-class results")[1].split("\n## ")[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")][1:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


@pytest.mark.parametrize("kind", list(KINDS))
def test_export_scores_what_the_test_scored_and_the_card_holds_its_table(runs, kind, tmp_path):
    if kind not in runs:
        pytest.skip("PaCo needs lightly")
    run, out = runs[kind], tmp_path / "model"
    result = export(run, out)
    assert "tested the run first" in result.output  # the runs were untested: export ran `ltcli test`
    assert sorted(p.name for p in out.iterdir()) == ["MODEL_CARD.md", "model.onnx", "model.safetensors",
                                                     "preprocess.json"]
    assert_scores_like_the_test(out, run, "predictions.csv")
    card = (out / "MODEL_CARD.md").read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    index = front_matter(card)["model-index"][0]["results"][0]["metrics"]
    assert {m["type"]: m["value"] for m in index}["acc"] == pytest.approx(metrics["acc"], abs=1e-6)
    per_class = read_csv(run / "per_class.csv")
    table = card_table(card)
    assert [(r[0], int(r[1]), int(r[2]), r[3]) for r in table] == [
        (r["class"], int(r["train_count"]), int(r["test_count"]), r["shot_group"]) for r in per_class]
    assert [float(r[4]) for r in table] == pytest.approx([float(r["recall"]) for r in per_class], abs=5e-5)
    assert "ONNX Runtime against PyTorch" in card and "same top-1 class on 12/12" in card


def test_the_ema_weights_are_exported(runs, tmp_path):
    """The timm run kept an EMA: the exported network is the EMA's, not the trained weights'."""
    from ltcli.checkpoint import Checkpoint
    from ltcli.export.weights import load_network

    export(runs["timm"], tmp_path / "model")
    checkpoint = Checkpoint.load(runs["timm"] / "checkpoint_best.pt")
    exported = load_network(tmp_path / "model" / "model.safetensors").network.state_dict()
    key = "fc.weight"
    assert torch.equal(exported[key], checkpoint.model_ema[key])
    assert not torch.equal(exported[key], checkpoint.model[key])


@pytest.mark.parametrize(("flag", "tag"), [("--tau-norm", "taunorm"), ("--logit-adjust", "logitadjust")])
def test_a_correction_is_folded_into_the_network(runs, tmp_path, flag, tag):
    run = runs["cifar"]
    export(run, tmp_path / "model", flag, "0.7")
    assert_scores_like_the_test(tmp_path / "model", run, f"predictions_{tag}.csv")
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text()
    assert f"{flag[2:]} tau=0.7" in card and f"metrics_{tag}.json" in card


def test_a_swept_tau_is_the_one_the_test_chose_and_saved_results_are_reused(runs, tmp_path):
    run = runs["cifar"]
    first = export(run, tmp_path / "model", "--logit-adjust", "0,0.5,1", "--sweep")
    chosen = json.loads((run / "metrics_logitadjust.json").read_text())["posthoc"]
    assert chosen["chosen_on"] == "valid" and [t for t, _ in chosen["sweep"]] == [0, 0.5, 1]
    assert f"logit-adjust tau={chosen['logit_adjust']:g}" in (tmp_path / "model" / "MODEL_CARD.md").read_text()
    again = export(run, tmp_path / "model", "--logit-adjust", "0,0.5,1", "--sweep", "--force")
    assert "tested the run first" in first.output and "tested the run first" not in again.output


def test_a_one_logit_binary_run(tmp_path, make_class_folder):
    root = tmp_path / "a_datasets" / "pair"
    for split, count in (("train", 8), ("valid", 4), ("test", 6)):
        make_class_folder({"apple": count, "sky": count}, root / split)
    run = make_run(tmp_path / "logs", root, "ERM", "2026-02-01-00-00-00", seed=4, class_names=["apple", "sky"],
                   counts=[12, 4], outputs=1)
    export(run, tmp_path / "model", "--logit-adjust", "0.5")
    assert_scores_like_the_test(tmp_path / "model", run, "predictions_logitadjust.csv")


def test_export_net_of_one_logit_gives_the_sigmoid_probabilities():
    from ltcli.export.network import ExportNet

    linear = nn.Linear(4, 1)
    x = torch.randn(5, 4)
    probs = torch.softmax(ExportNet(linear, 2, one_logit=True)(x), 1)
    z = linear(x)[:, 0]
    torch.testing.assert_close(probs, torch.stack([1 - torch.sigmoid(z), torch.sigmoid(z)], 1))


@pytest.mark.parametrize(("fmt", "model_file"), [("torchscript", "model.torchscript.pt"),
                                                 ("safetensors", "model.safetensors")])
def test_other_formats(runs, tmp_path, fmt, model_file):
    from ltcli.export.weights import load_network

    run, out = runs["cifar"], tmp_path / "model"
    export(run, out, "--format", fmt)
    assert not (out / "model.onnx").exists() and (out / model_file).is_file()
    images = torch.stack([build_transform(16, 16, False, "cifar")(Image.open(p).convert("RGB"))
                          for p in sorted(split_images(run).rglob("*.png"))])
    reference = load_network(out / "model.safetensors")(images)
    if fmt == "torchscript":
        torch.testing.assert_close(torch.jit.load(str(out / model_file))(images), reference, rtol=1e-5, atol=1e-5)
    log_probs = torch.log_softmax(reference.double(), 1).detach().numpy()
    rows = read_csv(run / "predictions.csv")
    assert np.exp(log_probs.max(1)) == pytest.approx([float(r["probability"]) for r in rows], rel=1e-4)


# --- preprocess.json --------------------------------------------------------------------------------

def by_hand(image: Image.Image, record: dict) -> np.ndarray:
    """The steps of preprocess.json followed with PIL and numpy alone, as a consumer without torch would."""
    for step in record["steps"]:
        if step["op"] == "resize":
            size = step["size"]
            if isinstance(size, int):
                scale = size / min(image.size)
                image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
            elif "covers" in step["rule"]:
                scale = min(image.height / size[0], image.width / size[1])
                image = image.resize((round(image.width / scale), round(image.height / scale)), Image.BILINEAR)
            else:
                image = image.resize((size[1], size[0]), Image.BILINEAR)
        elif step["op"] == "center_crop":
            height, width = step["size"]
            top, left = round((image.height - height) / 2), round((image.width - width) / 2)
            image = image.crop((left, top, left + width, top + height))
        elif step["op"] == "to_float":
            array = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255
        elif step["op"] == "normalize":
            array = (array - np.array(step["mean"])[:, None, None]) / np.array(step["std"])[:, None, None]
    return array


@pytest.mark.parametrize(("height", "width", "augment", "image_size"), [
    (16, 16, "cifar", (23, 17)), (20, 24, "timm", (50, 31)), (24, 24, "timm", (40, 64))])
def test_preprocess_json_rebuilds_the_run_transform_and_suffices_by_hand(tmp_path, height, width, augment,
                                                                         image_size):
    transform = build_transform(height, width, False, augment)
    record = preprocess_record({"height": height, "width": width, "augment_resolved": augment}, transform, ["a", "b"])
    (tmp_path / "preprocess.json").write_text(json.dumps(record))
    rebuilt = read_preprocess(tmp_path / "preprocess.json").transform()
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (*image_size[::-1], 3), dtype=np.uint8))
    expected = transform(image)
    assert torch.equal(rebuilt(image), expected) and list(expected.shape) == record["input"]["shape"][1:]
    np.testing.assert_allclose(by_hand(image, record), expected.numpy(), atol=2e-2)


def test_edited_steps_are_refused(tmp_path):
    record = preprocess_record({"height": 16, "width": 16, "augment_resolved": "cifar"},
                               build_transform(16, 16, False, "cifar"), ["a", "b"])
    record["steps"][-1]["mean"][0] = 0.5
    (tmp_path / "preprocess.json").write_text(json.dumps(record))
    with pytest.raises(LtcliError, match="steps differ from the transform its recipe builds"):
        read_preprocess(tmp_path / "preprocess.json").transform()


# --- predict --model --------------------------------------------------------------------------------

def test_predict_model_takes_any_size_and_mode_like_predict_run(runs, tmp_path, cli):
    run, out = runs["cifar"], tmp_path / "model"
    export(run, out)
    folder = tmp_path / "odd"
    for i, (mode, size) in enumerate((("L", 9), ("RGBA", 30), ("P", 12), ("RGB", 64))):
        write_image(folder / f"{mode}-{size}.png", (200, 40, 40), seed=i, size=size, mode=mode)
    cli("predict", str(folder), "--model", str(out), "--out", "onnx.csv")
    cli("predict", str(folder), "--run", str(run), "--out", "torch.csv")
    onnx_rows, torch_rows = read_csv(tmp_path / "onnx.csv"), read_csv(tmp_path / "torch.csv")
    assert [r["class_1"] for r in onnx_rows] == [r["class_1"] for r in torch_rows] and len(onnx_rows) == 4
    cli("predict", str(folder), "--model", str(out / "model.onnx"), "--out", "file.csv")
    assert [r["class_1"] for r in read_csv(tmp_path / "file.csv")] == [r["class_1"] for r in onnx_rows]


def one_line_error(result, *texts: str) -> None:
    output = " ".join(result.output.split())
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert output.startswith("error:"), output
    for text in texts:
        assert text in output, output


def test_predict_refuses_a_preprocess_json_of_another_input(runs, tmp_path, cli):
    run, out = runs["cifar"], tmp_path / "model"
    export(run, out)
    other = preprocess_record({"height": 20, "width": 20, "augment_resolved": "cifar"},
                              build_transform(20, 20, False, "cifar"), ["apple", "leaf", "sky"])
    (out / "preprocess.json").write_text(json.dumps(other))
    one_line_error(cli("predict", str(split_images(run)), "--model", str(out), ok=False),
                   "takes input ['batch', 3, 16, 16], but its preprocess.json gives [batch, 3, 20, 20]")
    (out / "preprocess.json").unlink()
    one_line_error(cli("predict", str(split_images(run)), "--model", str(out), ok=False), "preprocess.json not found")
    one_line_error(cli("predict", str(split_images(run)), "--model", str(tmp_path / "none.onnx"), ok=False),
                   "no such exported model folder or .onnx file")
    one_line_error(cli("predict", str(split_images(run)), "--model", str(out), "--run", str(run), ok=False),
                   "not both")


# --- bad inputs: one line, nothing written -----------------------------------------------------------

def nothing_left(out: Path) -> None:
    assert not out.exists() and not list(out.parent.glob(f".{out.name}.*"))


def pretrain_copy(run: Path, where: Path) -> Path:
    copy = where / "logs" / "resnet20" / "colours" / "ERM" / "2026-03-01-00-00-00"
    shutil.copytree(run, copy)
    checkpoint = torch.load(copy / "checkpoint_best.pt", weights_only=True)
    checkpoint["config"]["command"] = "pretrain"
    torch.save(checkpoint, copy / "checkpoint_best.pt")
    return copy


@pytest.mark.parametrize(("case", "args", "message"), [
    ("format", ("--format", "pickle"), "unknown --format 'pickle': choose one of onnx, torchscript, safetensors"),
    ("quantize", ("--quantize", "int4"), "unknown --quantize 'int4': choose int8"),
    ("quantize", ("--quantize", "int8", "--format", "torchscript"), "--quantize int8 quantizes the ONNX model"),
    ("both", ("--tau-norm", "1", "--logit-adjust", "1"), "give --tau-norm or --logit-adjust, not both"),
    ("no-best", (), "has no checkpoint_best.pt"),
    ("pretrain", (), "is a pre-training run"),
    ("ride-tau-norm", ("--tau-norm", "1"), "--tau-norm needs a linear classifier"),
    ("exists", (), "already exists: pass --force"),
    ("inside", (), "lies inside the run folder"),
])
def test_bad_export_input_is_one_line_and_writes_nothing(runs, tmp_path, case, args, message):
    run = runs["ride"] if case == "ride-tau-norm" else runs["cifar"]
    out = tmp_path / "model"
    if case == "no-best":
        run = shutil.copytree(run, tmp_path / "copy", ignore=shutil.ignore_patterns("checkpoint_best.pt"))
    if case == "pretrain":
        run = pretrain_copy(run, tmp_path)
    if case == "exists":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    if case == "inside":
        out = run / "model"
    result = export(run, out, *args, ok=False)
    one_line_error(result, message)
    if case == "exists":
        assert [p.name for p in out.iterdir()] == ["keep.txt"]
    else:
        nothing_left(out)


def test_force_replaces_an_export_whole(runs, tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "old.txt").write_text("old")
    export(runs["cifar"], out, "--force")
    assert not (out / "old.txt").exists() and (out / "model.onnx").is_file() and nothing_after(out)


def nothing_after(out: Path) -> bool:
    return not list(out.parent.glob(f".{out.name}.*"))


def test_a_model_that_differs_from_pytorch_is_not_written(runs, tmp_path, monkeypatch):
    import ltcli.export.parity as parity

    monkeypatch.setattr(parity, "RELATIVE_TOLERANCE", -1.0)  # any difference, even 0, is too much
    one_line_error(export(runs["cifar"], tmp_path / "model", ok=False), "ONNX Runtime differs from PyTorch on 12 "
                   "images of test/", "nothing was written")
    nothing_left(tmp_path / "model")


class QR(nn.Module):  # torch.export cannot trace a reshape of its output with a dynamic batch
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.qr(x.flatten(2))[0].reshape(x.shape)


class Bessel(nn.Module):  # traced, but ONNX has no operator for it
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.special.i0e(x)


@pytest.mark.parametrize(("layer", "message"), [
    (QR, "cannot export layer 'layers.2.1' (QR) to ONNX: torch.export failed"),
    (Bessel, "cannot export layer 'layers.2.1' (Bessel: operator prims.bessel_i0e.default) to ONNX: No "
             "ONNX function found"),
])
def test_a_layer_that_cannot_be_exported_is_named(tmp_path, layer, message):
    from ltcli.export.network import ExportNet
    from ltcli.export.onnx_model import export_onnx
    from ltcli.models import create_model

    model = create_model("resnet20", num_classes=3).eval()
    model.layers[2] = nn.Sequential(model.layers[2], layer())
    with pytest.raises(LtcliError) as error:
        export_onnx(ExportNet(model, 3, False).eval(), torch.randn(2, 3, 16, 16), tmp_path / "m.onnx")
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_training_command_lists_the_options_away_from_their_defaults():
    from ltcli.config import TrainConfig
    from ltcli.export.card import training_command

    config = TrainConfig.create(dataset="colours", model="resnet20", epochs=30, lr=0.2, lr_steps=[20, 10],
                                objective="LDAM", objective_options={"max_margin": 0.3}, train_rule="DRW",
                                strict=True, workers=3).to_dict()
    assert training_command(config) == ("ltcli train --dataset colours --model resnet20 --epochs 30 --lr 0.2 "
                                        "--lrstep 20,10 --strict --objective LDAM --opt max_margin=0.3 "
                                        "--train-rule DRW")


# --- the demo data: predict --model equals predict --run; int8 --------------------------------------

@pytest.mark.slow
def test_demo_data_predict_model_equals_predict_run_and_int8(tmp_path, cli):
    cli("demo-data")
    cli("split", "digits-lt", "--ratios", "0.7,0.15,0.15", "--seed", "0")
    cli("train", "--dataset", "digits-lt", "--model", "resnet20", *TINY, "--batchsize", "32")
    (run,) = list(tmp_path.glob("logs/*/*/*/*"))
    result = cli("export", "--run", str(run), "--quantize", "int8")
    (out,) = list((tmp_path / "exports").iterdir())
    assert out.name == f"resnet20-digits-lt-CCE-{run.name}" and "int8: test accuracy" in result.output
    test_dir = tmp_path / "a_datasets" / "digits-lt" / "test"
    cli("predict", str(test_dir), "--model", str(out), "--out", "onnx.csv")
    cli("predict", str(test_dir), "--run", str(run), "--out", "torch.csv")
    onnx_rows, torch_rows = read_csv(tmp_path / "onnx.csv"), read_csv(tmp_path / "torch.csv")
    assert [(r["file"], r["class_1"]) for r in onnx_rows] == [(r["file"], r["class_1"]) for r in torch_rows]
    # the card's int8 accuracy, measured again here: the int8 model over every test image
    int8 = OnnxClassifier(out)
    from ltcli.export.onnx_model import open_session

    int8.session = open_session(out / "model.int8.onnx")
    files = sorted(test_dir.rglob("*.png"))
    predicted = int8.log_probs(files).argmax(1)
    truth = [int8.class_names.index(p.parent.name) for p in files]
    accuracy = float(np.mean(predicted == np.array(truth)))
    card = (out / "MODEL_CARD.md").read_text()
    assert f"test accuracy {accuracy:.4f} against" in card
    assert math.isclose(float(card.split("int8 model")[1].split("against ")[1].split(" ")[0]),
                        json.loads((run / "metrics.json").read_text())["acc"], abs_tol=1e-4)
