"""Bad input to every command: exit 1 with exactly one `error:` line (exit 2 for a usage error that
Typer reports), never a traceback, and nothing written or changed anywhere. A new option's bad value
belongs in BAD_INPUTS, so it cannot slip.

The cases run in-process (typer's CliRunner) against one session world: a dataset, a raw folder,
a trained ERM run, a trained PaCo run, a pre-training run and a folder of hostile files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import make_class_images, make_dataset, tree_digest
from typer.testing import CliRunner

from ltcli.cli import app

ONE_EPOCH = ("--model", "resnet20", "--epochs", "1", "--batchsize", "8", "--lrstep", "1", "--warmup", "0",
             "--height", "16", "--width", "16", "--workers", "0", "--device", "cpu")


def alias_bomb(levels: int) -> str:
    """A few hundred bytes of YAML whose aliases expand to 9**levels strings."""
    lines = ['l0: &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nopt: {{gamma: *l{levels - 1}}}\n"


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad-inputs")
    make_dataset(root / "a_datasets" / "colours")
    make_class_images({"apple": 4, "leaf": 4}, root / "data_split" / "raw")
    (root / "data_split" / "cifar10").mkdir()  # `download cifar10` must refuse it, never reach the network
    common = (*ONE_EPOCH, "--datasets-dir", root / "a_datasets", "--logs-dir", root / "logs")
    for objective in ("ERM", "PaCo"):
        result = invoke("train", "--dataset", "colours", "--objective", objective, *common)
        assert result.exit_code == 0, result.output
    result = invoke("pretrain", "--dataset", "colours", *common)
    assert result.exit_code == 0, result.output
    files = root / "files"
    files.mkdir()
    (files / "bomb.yaml").write_text(alias_bomb(5))  # 59049 values: small enough to show main's error line
    (files / "dup.yaml").write_text("epochs: 1\nlr: 0.1\nepochs: 2\n")
    erm_config = json.loads(next((root / "logs").rglob("ERM/*/config.json")).read_text())
    (files / "typo.json").write_text(json.dumps({**erm_config, "lrr": 0.5}))
    (files / "long.yaml").write_text(f"epochs: {'9' * 5000}x\n")
    (files / "empty-grid.yaml").write_text("name: x\ntrain: {epochs: 1}\ngrid: {}\n")
    (files / "typo-grid.yaml").write_text("name: x\ntrain: {epochs: 1}\ngrid: {lrr: [0.1, 0.2]}\n")
    study = "name: x\ntrain: {dataset: colours, epochs: 1}\n"
    (files / "huge-grid.yaml").write_text(study + "grid: {seed: {from: 0, to: 100000000, step: 1}}\n")
    (files / "wide-grid.yaml").write_text(study + "grid: {seed: {from: 0, to: 999, step: 1}, "
                                          "lr: {from: 0.01, to: 1, step: 0.01}}\n")
    (files / "notes.pt").write_text("cat these notes: not a checkpoint\n")
    (files / "image.png").write_bytes((root / "a_datasets" / "colours" / "test" / "apple" / "img000.png").read_bytes())
    return root


def expand(args: tuple[str, ...], root: Path) -> list[str]:
    runs = {name: str(next((root / "logs").rglob(f"{name}/*/config.json")).parent)
            for name in ("ERM", "PaCo", "pretrain-rotation")}
    places = {"{root}": str(root), "{files}": str(root / "files"), "{erm}": runs["ERM"], "{paco}": runs["PaCo"],
              "{pretrain}": runs["pretrain-rotation"], "{data}": str(root / "a_datasets"),
              "{logs}": str(root / "logs")}
    expanded = []
    for arg in args:
        for key, value in places.items():
            arg = arg.replace(key, value)
        expanded.append(arg)
    return expanded


DATA = ("--datasets-dir", "{data}")
LOGS = ("--logs-dir", "{logs}")
TRAIN = ("train", *DATA, *LOGS, "--device", "cpu")

# (args, exit code, what the error line says)
BAD_INPUTS = [
    # split (items 1, 2)
    (("split", "", "--src", "{root}/data_split/raw", "--force", *DATA), 1, "takes a name, not a path"),
    (("split", ".", "--src", "{root}/data_split/raw", "--force", *DATA), 1, "takes a name, not a path"),
    (("split", "../data_split/raw", "--src", "{root}/data_split/raw", "--force", *DATA), 1, "takes a name"),
    (("split", "x", "--src", "{root}/nowhere", *DATA), 1, "nowhere"),
    (("split", "x", "--src", "{root}/data_split/raw", "--ratios", "0.5,0.5,0.5", *DATA), 1, "--ratios"),
    (("split", "x", "--src", "{root}/data_split/raw", "--imbalance-factor", "nan", *DATA), 1, "--imbalance-factor"),
    (("split", "x", "--src", "{root}/data_split/raw", "--profile", "step", *DATA), 1, "add --imbalance-factor"),
    (("split", "x", "--seed", "abc"), 2, "seed"),
    # train (items 1, 6, 7, 16, 18)
    ((*TRAIN, "--dataset", "../a_datasets/colours"), 1, "--dataset takes a name, not a path"),
    ((*TRAIN, "--dataset", ""), 1, "--dataset takes a name"),
    ((*TRAIN, "--dataset", "colours", "--objective", "PaCo", "--batchsize", "1"), 1, "--batchsize must be at least 2"),
    ((*TRAIN, "--dataset", "colours", "--batchsize", "0"), 1, "--batchsize must be at least"),
    ((*TRAIN, "--dataset", "colours", "--clip-grad", "0"), 1, "--clip-grad must be above 0, got 0.0"),
    ((*TRAIN, "--dataset", "colours", "--clip-grad", "nan"), 1, "--clip-grad must be above 0"),
    ((*TRAIN, "--dataset", "colours", "--config", "{files}/bomb.yaml"), 1, "aliases (*name) expand to more than"),
    ((*TRAIN, "--dataset", "colours", "--config", "{files}/dup.yaml"), 1, "key 'epochs' is given twice"),
    ((*TRAIN, "--dataset", "colours", "--config", "{files}/typo.json"), 1, "unknown key 'lrr' (did you mean 'lr'?)"),
    ((*TRAIN, "--dataset", "colours", "--config", "{files}/long.yaml"), 1, "--epochs takes a whole number, got"),
    ((*TRAIN, "--dataset", "colours", "--weights", "{files}/notes.pt"), 1, "not a PyTorch file (it is a text file"),
    ((*TRAIN, "--dataset", "colours", "--objective", "Nope"), 1, "Nope"),
    ((*TRAIN, "--dataset", "colours", "--epochs", "0"), 1, "--epochs must be at least 1"),
    ((*TRAIN, "--resume", "{root}/nowhere"), 1, "is neither a run folder"),
    ((*TRAIN, "--dataset", "colours", "--epochs", "many"), 2, "epochs"),
    # test (items 1, 8, 17, 18)
    (("test", "--run", "{erm}", "--dataset", "../x", *DATA, *LOGS), 1, "--dataset takes a name"),
    (("test", "--run", "{pretrain}", *LOGS), 1, "is a pre-training run (`ltcli pretrain`)"),
    (("test", "--run", "{files}/notes.pt", "--data", "{data}/colours"), 1, "not a PyTorch file (it is a text file"),
    (("test", "--run", "{erm}", "--split", "train"), 1, "--split must be test or valid"),
    (("test", "--run", "{erm}", "--tau-norm", "abc"), 1, "--tau-norm"),
    (("test", "--run", "{root}/nowhere"), 1, "is neither a run folder"),
    (("test", "--datetime", "latest", "--dataset", "a/b", *LOGS), 1, "--dataset takes a name"),
    # predict (items 9, 17)
    (("predict", "{files}/image.png", "--run", "{erm}", "--batch-size", "0", "--out", "p.csv"), 1,
     "--batch-size must be at least 1"),
    (("predict", "{files}/image.png", "--run", "{erm}", "--top-k", "0", "--out", "p.csv"), 1, "--top-k"),
    (("predict", "{files}/image.png", "--run", "{pretrain}", "--out", "p.csv"), 1, "is a pre-training run"),
    (("predict", "{files}/image.png", "--out", "p.csv"), 1, "give the run to predict with"),
    (("predict", "{files}/image.png", "--run", "latest", "--dataset", "..", *LOGS, "--out", "p.csv"), 1,
     "--dataset takes a name"),
    (("predict", "{files}/image.png", "--model", "{files}/none.onnx", "--out", "p.csv"), 1,
     "no such exported model folder or .onnx file"),
    (("predict", "{files}/image.png", "--model", "{files}", "--out", "p.csv"), 1, "holds no model.onnx"),
    # export (its own file: tests/test_export.py)
    (("export", "--run", "{pretrain}", "--out", "m"), 1, "is a pre-training run"),
    (("export", "--run", "{erm}", "--out", "m", "--format", "pickle"), 1, "unknown --format 'pickle'"),
    (("export", "--run", "{erm}", "--out", "m", "--quantize", "int8", "--format", "torchscript"), 1,
     "--quantize int8 quantizes the ONNX model"),
    (("export", "--run", "{erm}", "--out", "{erm}/model"), 1, "lies inside the run folder"),
    (("export", "--run", "{erm}", "--tau-norm", "1", "--logit-adjust", "1"), 1, "not both"),
    # stats
    (("stats", ""), 1, "give a dataset NAME or a folder PATH"),
    (("stats", "nowhere", *DATA), 1, "no dataset 'nowhere'"),
    (("stats", "colours", *DATA, "--out", "x.txt"), 1, "--out must end in .svg or .png"),
    # runs (items 1, 3: a filter is a name, never a glob or a path)
    (("runs", "--dataset", "../../x", *LOGS), 1, "--dataset takes a name"),
    (("runs", "--model", "resnet20/..", *LOGS), 1, "--model takes a name"),
    (("runs", "--objective", "a/b", *LOGS), 1, "--objective takes a name, not a path"),
    # plot
    (("plot", "--dataset", "../x", *LOGS, "--out", "p.svg"), 1, "--dataset takes a name"),
    (("plot", "--kind", "pie", *LOGS), 1, "unknown --kind 'pie'"),
    (("plot", "--run", "{erm}", "--out", "p.txt"), 1, "--out must end in .svg or .png"),
    # pretrain
    (("pretrain", "--dataset", "../x", *DATA, *LOGS, "--device", "cpu"), 1, "--dataset takes a name"),
    (("pretrain", "--dataset", "colours", "--method", "nope", *DATA, *LOGS, "--device", "cpu"), 1, "nope"),
    # download, demo-data (nothing reaches the network)
    (("download", "imagenet-99"), 1, "unknown dataset 'imagenet-99'"),
    (("download", "cifar10", "--root", "{root}/data_split"), 1, "already exists"),
    (("demo-data", "--imbalance-factor", "0", "--root", "d"), 1, "imbalance"),
    (("demo-data", "--imbalance-factor", "nan", "--root", "d"), 1, "imbalance"),
    # study (a bad study file is refused before any split or run is made)
    (("study", "{files}/empty-grid.yaml", *LOGS), 1, "`grid:` must map options to lists of values"),
    (("study", "{files}/typo-grid.yaml", *LOGS), 1, "unknown option 'lrr' (did you mean 'lr'?)"),
    (("study", "{files}/none.yaml", *LOGS), 1, "no config file"),
    (("study", "{files}/huge-grid.yaml", *LOGS), 1, "gives 100000001 values; a study has at most 10000 points"),
    (("study", "{files}/wide-grid.yaml", *LOGS), 1, "the grid has 100000 points; a study has at most 10000"),
    (("split", "many", "--src", "{root}/data_split/raw", "--counts", "1*99999999999", *DATA), 1,
     "--counts gives more counts than the 2 classes"),
    # models, objectives
    (("models", "--nope"), 2, "No such option"),
    (("objectives", "extra"), 2, "unexpected extra argument"),
]


@pytest.mark.parametrize(("args", "code", "message"), BAD_INPUTS, ids=[" ".join(a[:3]) for a, _, _ in BAD_INPUTS])
def test_bad_input_is_one_line_and_leaves_everything_as_it_was(world, tmp_path, monkeypatch, args, code, message):
    monkeypatch.chdir(tmp_path)
    before = tree_digest(world), tree_digest(tmp_path)
    result = invoke(*expand(args, world))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    text = " ".join(result.output.split())
    assert message in text, result.output
    if code == 1:
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
        assert len(lines[0]) < 1000, f"an error line of {len(lines[0])} characters"
    assert (tree_digest(world), tree_digest(tmp_path)) == before, "the command wrote or changed files"


def test_every_command_has_a_bad_input():
    commands = {info.name or info.callback.__name__ for info in app.registered_commands}
    covered = {args[0] for args, _, _ in BAD_INPUTS}
    assert commands - covered <= {"app"}, f"no bad input for: {sorted(commands - covered - {'app'})}"


# --- item 8: tau-norm on a PaCo run works (its classifier is the backbone's linear one) -------------


def test_tau_norm_on_a_paco_run_uses_its_backbone_classifier(world, tmp_path, monkeypatch):
    import torch

    from ltcli.data.loaders import image_folder
    from ltcli.engine.classifier import load_run
    from ltcli.run_folder import RunFolder, read_csv_rows

    monkeypatch.chdir(tmp_path)
    run = expand(("{paco}",), world)[0]
    out = tmp_path / "results"
    result = invoke("test", "--run", run, "--tau-norm", "0", "--out", str(out))
    assert result.exit_code == 0, result.output
    swept = invoke("test", "--run", run, "--tau-norm", "0,1", "--sweep", "--out", str(tmp_path / "swept"))
    assert swept.exit_code == 0, swept.output
    assert json.loads((tmp_path / "swept" / "metrics_taunorm.json").read_text())["posthoc"]["tau_norm"] in (0, 1)
    # tau 0 is the plain classifier without its bias: computed here from the backbone's own forward
    member = load_run(RunFolder(Path(run)), torch.device("cpu"))
    split = Path(world / "a_datasets" / "colours" / "test")
    dataset = image_folder(split, member.eval_transform())
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    with torch.no_grad():
        logits = member.network.backbone(images) - member.network.backbone.get_classifier().bias
    expected = [member.class_names[i] for i in logits.argmax(1).tolist()]
    files = [Path(path).relative_to(split).as_posix() for path, _ in dataset.samples]
    rows = {row["file"]: row["predicted"] for row in read_csv_rows(out / "predictions_taunorm.csv")}
    assert [rows[f] for f in files] == expected


# --- items 6 and 16 at the reader: what stays allowed --------------------------------------------


def test_config_file_merge_keys_and_small_aliases_still_read(tmp_path):
    from ltcli.config_file import read_config_file
    from ltcli.errors import LtcliError

    path = tmp_path / "ok.yaml"
    path.write_text("lrstep: [2, 1]\nmixup: &alpha 0.2\ncutmix: *alpha\nopt: {<<: {gamma: 1.0}, gamma: 2.0}\n")
    values = read_config_file(path)
    assert values["lr_steps"] == [2, 1] and values["mixup"] == values["cutmix"] == 0.2
    assert values["objective_options"] == {"gamma": 2.0}  # a merge key's value may be overridden
    nested = tmp_path / "nested.yaml"
    nested.write_text("opt: {gamma: 1.0, gamma: 2.0}\n")
    with pytest.raises(LtcliError, match=r"line 1, column \d+\): key 'gamma' is given twice"):
        read_config_file(nested)
    cyclic = tmp_path / "cyclic.yaml"
    cyclic.write_text("opt: &loop {gamma: *loop}\n")
    with pytest.raises(LtcliError, match="expand to more than"):
        read_config_file(cyclic)
