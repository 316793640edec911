"""Each option is declared once, as field metadata of the config dataclasses (ltcli.settings.option):
`ltcli train`'s and `ltcli pretrain`'s options and the app's Train-tab pickers are derived from it here
and compared with what the command and the page really offer."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import typer

from ltcli.cli import app
from ltcli.cli.declared import cli_fields, declare_options
from ltcli.config import TrainConfig
from ltcli.pretrain.config import PretrainConfig
from ltcli.settings import choices_of, field_choices, option

# the commands' own options, which are not run settings (and `ltcli train`'s objective alias flags)
NOT_SETTINGS = {"train": {"model_index", "resume", "config_file", "source_dataset", "source_loss"},  # XCurve's
                "pretrain": {"resume"}}


def command_options(name: str) -> dict[str, object]:
    command = typer.main.get_command(app).commands[name]
    return {p.name: p for p in command.params if p.name != "help"}


@pytest.mark.parametrize(("command", "cls"), [("train", TrainConfig), ("pretrain", PretrainConfig)])
def test_the_command_offers_exactly_the_declared_options(command, cls):
    from ltcli.cli.train import alias_table

    params = command_options(command)
    fields = cli_fields(cls)
    for f in fields:
        param = params[f.name]
        flags = list(f.metadata["flags"]) or ["--" + f.name.replace("_", "-")]
        assert param.opts == flags, f.name
        assert param.help == f.metadata["help"], f.name
        default = None if f.default is dataclasses.MISSING else f.default
        assert param.default == default or str(param.default) == default, f.name  # a Path option's default: text
    extra = NOT_SETTINGS[command] | (set(alias_table()) if command == "train" else set())
    assert set(params) == {f.name for f in fields} | extra
    config_only = {f.name for f in dataclasses.fields(cls)} - {f.name for f in fields}
    assert config_only <= {"nesterov"}  # settings a config file or the Python API gives


def test_train_help_lists_every_option_with_its_help(cli, monkeypatch):
    monkeypatch.setenv("TERMINAL_WIDTH", "400")  # typer's rich help: no option cut off
    monkeypatch.setenv("COLUMNS", "400")
    out = " ".join(cli("train", "--help").output.replace("│", " ").split())
    for f in cli_fields(TrainConfig):
        flag = (f.metadata["flags"] or ("--" + f.name.replace("_", "-"),))[0]
        assert flag in out, flag
        assert " ".join(f.metadata["help"].split()[:4]) in out, f.name


def test_the_apps_pickers_offer_the_declared_choices(tmp_path):
    gr = pytest.importorskip("gradio", reason="the web app needs the app extra")
    from ltcli.app.context import AppContext
    from ltcli.app.paths import AppRoot
    from ltcli.app.tabs.train import TrainTab

    tab = TrainTab(AppContext(AppRoot.at(tmp_path), None, tmp_path / "scratch"))
    with gr.Blocks():
        tab.build()
    offered = {name: [value for _, value in tab.choosers[name].choices]
               for name in ("objective", "train_rule", "freeze", "head", "sched")}
    declared = {name: list(choices_of(TrainConfig, name)) for name in offered}
    declared["sched"] = ["", *declared["sched"]]  # the page's "default", sent empty: the option left out
    assert offered == declared
    assert declared["freeze"] == ["none", "backbone", "backbone-except-bn", "backbone+classifier", "all"]


@pytest.mark.parametrize("name", ["sched", "amp", "channels_last", "data_cache", "augment", "freeze", "head"])
def test_the_cli_refuses_an_undeclared_choice_naming_the_declared_ones(cli, name):
    f = next(f for f in dataclasses.fields(TrainConfig) if f.name == name)
    flag = "--" + name.replace("_", "-")
    result = cli("train", "--dataset", "d", flag, "bogus", ok=False)
    assert result.exit_code == 1
    assert f"unknown {flag} 'bogus': choose one of {', '.join(field_choices(f))}" in result.output


def test_a_new_option_is_one_declaration():
    """A field with `option(...)` is a command-line option with its flag, type, default and help."""

    @dataclasses.dataclass
    class Extended(TrainConfig):
        label_smoothing: float = option(0.0, "Smooth the targets by this much.", flags=("--label-smoothing", "--ls"))

    def command(ctx, **values):
        pass

    declare_options(command, Extended)
    parameter = inspect.signature(command).parameters["label_smoothing"]
    assert parameter.default == 0.0
    info = parameter.annotation.__metadata__[0]  # typer.Option: the first flag takes its `default` slot
    assert (info.default, *info.param_decls) == ("--label-smoothing", "--ls")
    assert info.help == "Smooth the targets by this much."
    assert Extended(dataset="d", label_smoothing=0.1).to_dict()["label_smoothing"] == 0.1


@pytest.mark.parametrize("command", ["train", "pretrain"])
def test_min_lr_is_an_option_of_both_commands_from_its_one_declaration(cli, command):
    result = cli(command, "--dataset", "d", "--lr", "0.1", "--min-lr", "0.2", ok=False)
    assert result.exit_code == 1 and "--min-lr (0.2) must be below --lr (0.1)" in result.output
