"""`ltcli train --config FILE`: file values count as typed options, the command line wins, a run's
config.json starts the same run again, and bad files are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TRAIN_ARGS, make_dataset

from ltcli.config import TrainConfig
from ltcli.config_file import read_config_file


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[TrainConfig]:
    """`ltcli train` builds its config as usual; `fit` only records it instead of training."""
    import ltcli.engine.train

    configs: list[TrainConfig] = []
    monkeypatch.setattr(ltcli.engine.train, "fit", lambda config, console=None, **_: configs.append(config))
    return configs


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("key", "text", "field", "expected"), [
    ("lr", "0.2", "lr", 0.2),
    ("batchsize", "64", "batch_size", 64),
    ("batch-size", "64", "batch_size", 64),
    ("batch_size", "64", "batch_size", 64),
    ("train-rule", "DRW", "train_rule", "DRW"),
    ("train_rule", "DRW", "train_rule", "DRW"),
    ("lrstep", "160,20,20", "lr_steps", [160, 20, 20]),
    ("lrstep", "[160, 20, 20]", "lr_steps", [160, 20, 20]),
    ("warmup", "3", "warmup_epochs", 3),
    ("weight_decay", "2e-4", "weight_decay", 0.0002),  # a string to YAML 1.1, a number to ltcli
    ("amp", "off", "amp", "off"),  # a boolean to YAML 1.1
    ("opt", "{max_margin: 0.3}", "objective_options", {"max_margin": 0.3}),
])
def test_every_spelling_of_a_key_sets_its_option(tmp_path, cli, captured, key, text, field, expected):
    path = write(tmp_path / "run.yaml", f"objective: LDAM\nepochs: 200\n{key}: {text}\n")
    assert read_config_file(path)[field] == expected
    cli("train", "--config", path, "--dataset", "any")
    assert getattr(captured[0], field) == expected


def test_typed_options_win_even_when_they_equal_the_default(tmp_path, cli, captured):
    path = write(tmp_path / "run.yaml", "dataset: colours\nlr: 0.2\nepochs: 30\nlrstep: 20,10\nseed: 3\n")
    cli("train", "--config", path, "--lr", "0.1", "--seed", "5")  # 0.1 is --lr's default: typed all the same
    config = captured[0]
    assert (config.lr, config.seed, config.epochs, config.lr_steps, config.dataset) == (0.1, 5, 30, [20, 10],
                                                                                       "colours")


def test_file_values_count_as_given_so_a_recipe_does_not_fill_them(tmp_path, cli, captured):
    path = write(tmp_path / "crt.yaml", "recipe: crt\nepochs: 3\nlr: 0.02\n")
    cli("train", "--config", path, "--dataset", "colours", "--init-from", "logs/some/run")
    config = captured[0]
    assert (config.epochs, config.lr) == (3, 0.02)  # the file's, not the recipe's 10 epochs
    assert (config.freeze, config.reinit_head, config.sched) == ("backbone", True, "cosine")  # the recipe's


def test_typed_data_replaces_the_files_dataset_and_objective_options_follow_the_objective(tmp_path, cli, captured):
    path = write(tmp_path / "ldam.yaml", "dataset: cifar10-lt\nobjective: LDAM\nopt: {max_margin: 0.3}\n")
    cli("train", "--config", path, "--data", "somewhere", "--objective", "ERM")
    assert (captured[0].dataset, captured[0].data, captured[0].objective) == (None, "somewhere", "ERM")
    assert "max_margin" not in captured[0].objective_options  # LDAM's margin left with LDAM
    cli("train", "--config", path, "--opt", "scale=20")
    assert captured[1].objective_options["max_margin"] == 0.3 and captured[1].objective_options["scale"] == 20


def test_an_objective_flag_is_a_key_too(tmp_path, cli, captured):
    cli("train", "--config", write(tmp_path / "cce.yaml", "dataset: d\nobjective: CCE\nccegamma: 4.5\n"))
    assert captured[0].objective_options["gamma"] == 4.5
    result = cli("train", "--config", write(tmp_path / "erm.yaml", "dataset: d\nobjective: ERM\nccegamma: 2\n"),
                 ok=False)
    assert result.exit_code == 1 and "CCE's 'gamma' does not apply to objective ERM" in result.output


@pytest.mark.parametrize(("text", "message"), [
    ("dataset: d\nlearning_rate: 0.1\n", "unknown key 'learning_rate'"),
    ("dataset: d\ntrain-rul: DRW\n", "unknown key 'train-rul' (did you mean 'train-rule'?)"),
    ("dataset: d\nlr: fast\n", "'lr' takes a number, got 'fast'"),
    ("dataset: d\nepochs: ten\n", "--epochs takes a whole number, got 'ten'"),
    ("dataset: d\nlr: -1\n", "--lr must be above 0"),
    ("dataset: d\nlrstep: 100,x\n", "'lrstep' takes whole numbers"),
    ("dataset: d\nopt: gamma=2\n", "'opt' takes a mapping of objective options"),
    ("dataset: d\nlr: 0.1\n  epochs: 3\n", "is not valid YAML (line 3"),
    ("- lr\n- 0.1\n", "must hold `option: value` lines"),
    ("dataset: d\nresume: latest\n", "--resume continues a run with its own settings"),
    ("dataset: d\nbatchsize: 8\nbatch_size: 16\n", "which another key of the file sets too"),
])
def test_a_bad_file_is_one_error_line_naming_the_key(tmp_path, cli, captured, text, message):
    result = cli("train", "--config", write(tmp_path / "bad.yaml", text), ok=False)
    assert result.exit_code == 1 and not captured
    assert message in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_a_missing_file_and_resume_with_a_file_are_errors(tmp_path, cli):
    result = cli("train", "--config", tmp_path / "nope.yaml", ok=False)
    assert result.exit_code == 1 and "no config file" in result.output
    result = cli("train", "--config", write(tmp_path / "a.yaml", "lr: 0.1\n"), "--resume", "latest", ok=False)
    assert result.exit_code == 1 and "drop --config" in result.output


def test_a_saved_runs_config_starts_the_same_run_again(tmp_path, cli):
    """Run 1 from a YAML file; run 2 from run 1's config.json: the same settings are saved."""
    make_dataset(tmp_path / "a_datasets" / "colours")
    options = dict(zip(TRAIN_ARGS[::2], TRAIN_ARGS[1::2], strict=True))
    yaml_lines = [f"{flag.removeprefix('--')}: {value}" for flag, value in options.items()]
    first_file = write(tmp_path / "first.yaml", "\n".join([
        "dataset: colours", "objective: LDAM", "train-rule: DRW", "drw_epoch: 1", "opt: {max_margin: 0.4}",
        "weight_decay: 2e-4", "seed: 7", *yaml_lines]) + "\n")
    cli("train", "--config", first_file)
    (first,) = (tmp_path / "logs").rglob("config.json")
    cli("train", "--config", first)
    second = next(p for p in (tmp_path / "logs").rglob("config.json") if p != first)
    # thread_choices are measured step times (--threads auto), not settings: they differ run to run
    saved = [{k: v for k, v in json.loads(p.read_text()).items() if k != "thread_choices"} for p in (first, second)]
    assert saved[0] == saved[1]
    assert (saved[0]["objective"], saved[0]["train_rule"], saved[0]["drw_epoch"], saved[0]["seed"]) == (
        "LDAM", "DRW", 1, 7)
    assert saved[0]["objective_options"]["max_margin"] == 0.4 and saved[0]["weight_decay"] == 0.0002
    assert saved[0]["epochs"] == 2 and saved[0]["lr_steps"] == [1, 1] and saved[0]["batch_size"] == 8


def test_a_saved_config_with_a_typed_option_changes_only_that(tmp_path, cli, captured):
    record = {"dataset": "colours", "lr": 0.3, "epochs": 12, "lr_steps": [6, 6], "class_names": ["a", "b"],
              "versions": {"torch": "x"}, "amp_resolved": "off", "schedule_scaled": ["lr_steps"]}
    path = write(tmp_path / "config.json", json.dumps(record))
    assert read_config_file(path) == {"dataset": "colours", "lr": 0.3, "epochs": 12}  # records and scaled parts out
    cli("train", "--config", path, "--lr", "0.05")
    assert (captured[0].lr, captured[0].epochs, captured[0].dataset) == (0.05, 12, "colours")


def folder_run(tmp_path: Path) -> tuple[list, str]:
    make_dataset(tmp_path / "a_datasets" / "colours")
    return ["--dataset", "colours"], "colours"


def list_run(tmp_path: Path) -> tuple[list, str]:
    from test_lists import make_lists

    images, root = tmp_path / "images", tmp_path / "lists"
    root.mkdir()
    make_lists(root, images=images)
    return ["--data", root, "--data-root", images], "lists"  # a lists dataset is named after its folder


def pseudo_label_run(tmp_path: Path) -> tuple[list, str]:
    """A folder run that adds pseudo-labelled images, labelled by an earlier ERM run."""
    from conftest import only_run, write_image
    from typer.testing import CliRunner

    from ltcli.cli import app

    data, name = folder_run(tmp_path)
    result = CliRunner().invoke(app, ["train", *data, "--objective", "ERM", *map(str, TRAIN_ARGS)])
    assert result.exit_code == 0, result.output
    pool = tmp_path / "unlabeled"
    for i, colour in enumerate(((220, 30, 30), (30, 200, 40), (40, 60, 230))):
        write_image(pool / f"u{i}.png", colour, seed=80_000 + i)
    return [*data, "--unlabeled", pool, "--pseudo-labels-from", only_run(tmp_path, "ERM")], name


@pytest.mark.parametrize("make", [folder_run, list_run, pseudo_label_run], ids=["folder", "lists", "pseudo-labels"])
def test_a_runs_config_json_reproduces_it(tmp_path, cli, make):
    """`--config RUN/config.json` accepts every record run_record writes (the list dataset's
    data_lists, the pseudo-labels') and saves the same config.json again."""
    from ltcli.engine.record import RUN_RECORDS

    data, dataset = make(tmp_path)
    cli("train", *data, "--objective", "CCE", *TRAIN_ARGS)
    runs = tmp_path / "logs" / "resnet20" / dataset / "CCE"
    (first,) = runs.iterdir()
    cli("train", "--config", first / "config.json")
    (second,) = [run for run in runs.iterdir() if run != first]
    saved = [json.loads((run / "config.json").read_text()) for run in (first, second)]
    measured = [run.pop("thread_choices") for run in saved]  # step times (--threads auto), not settings
    assert saved[0] == saved[1] and all(measured)
    written = set(saved[0]) - set(TrainConfig.__dataclass_fields__)
    assert written <= set(RUN_RECORDS)
    expected = {"data_lists"} if dataset == "lists" else {"pseudo_labels", "labelled_train_images"} \
        if "--unlabeled" in data else set()
    assert expected <= written


def test_every_record_is_known_to_a_saved_run_file():
    """The keys that mark a saved run's file are records run_record writes."""
    from ltcli.config_file import RUN_RECORD_KEYS
    from ltcli.engine.record import RUN_RECORDS

    assert set(RUN_RECORD_KEYS) <= set(RUN_RECORDS)
