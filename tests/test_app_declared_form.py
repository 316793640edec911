"""The Train tab's "more settings" are generated from TrainConfig's declarations: every declared field
is in the hand-laid form, the generated accordion, or the skipped list (a new option fails this test
until it is placed), each generated component carries its field's help, choices and default, and the
values it sends reach the queued run's config or are refused in one line with nothing queued."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="the web app needs the app extra: pip install 'ltcli[app]'")

import gradio as gr  # noqa: E402
from conftest import RecordingQueue as Queue  # noqa: E402
from conftest import make_dataset

from ltcli.app.context import AppContext  # noqa: E402
from ltcli.app.declared_form import (  # noqa: E402
    FORM_INPUTS,
    MAIN_FORM_FIELDS,
    SKIPPED_FIELDS,
    form_values,
    more_fields,
)
from ltcli.app.paths import AppRoot  # noqa: E402
from ltcli.app.tabs.train import FORM_ROWS, TrainTab  # noqa: E402
from ltcli.cli.declared import cli_fields, settings_from_cli  # noqa: E402
from ltcli.config import TrainConfig  # noqa: E402
from ltcli.data.make import SplitOptions  # noqa: E402
from ltcli.settings import choices_of, declared_field, field_choices  # noqa: E402


@pytest.fixture
def tab_and_queue(tmp_path: Path) -> tuple[TrainTab, Queue]:
    make_dataset(tmp_path / "a_datasets" / "colours")
    queue = Queue()
    return TrainTab(AppContext(AppRoot.at(tmp_path), queue, tmp_path / "scratch")), queue


@pytest.fixture
def built(tab_and_queue) -> tuple[TrainTab, Queue]:
    with gr.Blocks():
        tab_and_queue[0].build()
    return tab_and_queue


QUICK = dict(epochs=4, height=16, width=16)
CLI_DEFAULTS = {f.name: None for f in cli_fields(TrainConfig)}  # every option left out
FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def test_every_declared_field_is_in_the_form_the_accordion_or_the_skipped_list(built):
    tab, _ = built
    main, generated, skipped = set(MAIN_FORM_FIELDS), set(tab.more), set(SKIPPED_FIELDS)
    assert main | generated | skipped == set(FIELDS)
    assert len(main) + len(generated) + len(skipped) == len(FIELDS)  # no field in two of them
    assert "clip_grad" in generated  # the newest option, declared once in RunSettings, reached the page


def test_the_form_sets_only_the_fields_it_claims(built):
    tab, queue = built
    tab.train("a_datasets/colours", warmup="1", sched="step", lrstep="2,2", name="x", **QUICK)
    assert set(queue.submitted[0]) <= set(MAIN_FORM_FIELDS)


def test_each_component_carries_its_fields_declaration(built):
    tab, _ = built
    assert list(tab.more) == [f.name for f in more_fields()]
    for name, component in tab.more.items():
        f = FIELDS[name]
        assert component.info == f.metadata["help"].replace("\\[", "["), name
        declared = field_choices(f, offered=True)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if declared is not None:
            assert isinstance(component, gr.Dropdown), name
            assert [value for _, value in component.choices] == list(choices_of(TrainConfig, name))
            assert component.value == default
        elif f.type == "bool":
            assert isinstance(component, gr.Checkbox) and component.value is default, name
        elif f.type.replace(" | None", "") in ("int", "float"):
            assert isinstance(component, gr.Number) and component.value == default, name
            # whole numbers step by 1 and are not rounded by gradio (1.5 must reach `whole` and be refused)
            assert component.precision is None and (component.step == 1 or not f.type.startswith("int")), name
        else:
            assert isinstance(component, gr.Textbox), name
    assert {"data_cache", "amp", "channels_last", "augment", "select_metric"} <= {
        name for name, c in tab.more.items() if isinstance(c, gr.Dropdown)}


def test_the_train_endpoint_takes_the_forms_parameters_then_one_per_generated_field(built):
    tab, _ = built
    handler = tab.submit_handler(list(tab.more))
    names = [name for name, *_ in gr.utils.get_function_params(handler)]
    own = [name for name in inspect.signature(tab.train).parameters if name != "more"]
    assert names == [*own, *tab.more]
    assert own[:3] == ["dataset", "imbalance_factor", "profile"]  # as documented
    assert own[-2:] == ["data_root", "ensemble"]


def test_a_generated_setting_reaches_the_queued_config(tab_and_queue):
    tab, queue = tab_and_queue
    tab.train("a_datasets/colours", **QUICK, more={"clip_grad": 1.0})
    assert queue.submitted[0]["clip_grad"] == 1.0
    assert TrainConfig.create(**queue.submitted[0]).clip_grad == 1.0


def test_the_pages_values_are_read_as_the_fields_types(built):
    """What the page sends (floats from number boxes, text, empty boxes) through the button's handler."""
    tab, queue = built
    handler = tab.submit_handler(list(tab.more))
    params = list(inspect.signature(handler).parameters.values())
    values = {p.name: p.default for p in params[1:]} | dict(QUICK, objective="Focal", train_rule="DRW")
    values |= {"drw_epoch": 3.0, "objective_options": "gamma=1.5", "clip_grad": None, "min_lr": 0.001,
               "augment": "none", "nesterov": True}
    handler("a_datasets/colours", *(values[p.name] for p in params[1:]))
    config = TrainConfig.create(**queue.submitted[0])
    assert queue.submitted[0]["drw_epoch"] == 3 and isinstance(queue.submitted[0]["drw_epoch"], int)
    assert config.objective_options == {"gamma": 1.5}
    assert "clip_grad" not in queue.submitted[0] and config.clip_grad is None  # empty: the default
    assert (config.min_lr, config.augment, config.nesterov) == (0.001, "none", True)


@pytest.mark.parametrize(("more", "message"), [
    ({"clip_grad": 0}, "--clip-grad must be above 0, got 0"),
    ({"nosuch": 1}, "more: unknown setting 'nosuch'"),
    ({"clip_gard": 1.0}, "(did you mean 'clip_grad'?)"),
    ({"lr": 0.5}, "more: 'lr' is set by its own box of the form"),
    ({"data": "/etc"}, "more: 'data' is not a setting of the page"),
    ({"drw_epoch": 2.5}, "--drw-epoch takes a whole number, got 2.5"),
])
def test_a_refused_setting_is_one_line_and_queues_nothing(tab_and_queue, more, message):
    tab, queue = tab_and_queue
    with pytest.raises(gr.Error) as refused:
        tab.train("a_datasets/colours", **QUICK, more=more)
    assert message in refused.value.message and "\n" not in refused.value.message
    assert queue.submitted == []


def test_the_pseudo_label_settings_are_not_offered_without_their_inputs():
    """pseudo_threshold applies to --unlabeled/--pseudo-labels-from, which the page does not offer: a
    threshold alone was a field that could only fail (issue 31, A6)."""
    offered = {f.name for f in more_fields()}
    assert not offered & {"unlabeled", "pseudo_labels_from", "pseudo_threshold"}
    from ltcli.app.declared_form import page_values
    from ltcli.errors import LtcliError

    with pytest.raises(LtcliError, match="'pseudo_threshold' is not a setting of the page: applies to unlabeled"):
        page_values({"pseudo_threshold": 0.5})


# The main form: each input's component and reading come from its field's declaration (issue 28, item 2).
def declared_inputs() -> list:
    return [pytest.param(name, cls, field_name, id=name) for name, (cls, field_name) in FORM_INPUTS.items()]


@pytest.mark.parametrize(("name", "cls", "field_name"), declared_inputs())
def test_each_main_form_input_carries_its_fields_declaration(built, name, cls, field_name):
    tab, _ = built
    f = declared_field(cls, field_name)
    component = tab.choosers[name]
    assert component.label == field_name.replace("_", " ")
    assert component.info == f.metadata["help"].replace("\\[", "[")
    declared = f.metadata["choices"] or f.metadata["suggest"]
    if declared is None:
        assert not isinstance(component, gr.Dropdown), name
        return
    declared = list(declared() if callable(declared) else declared)
    default = f.default
    offered = [value for _, value in component.choices]
    assert offered == (["", *declared] if default is None else declared)  # "" (shown "default"): left out
    assert component.value == ("" if default is None else default)
    assert component.allow_custom_value == (f.metadata["choices"] is None)  # registry names: aliases, any case


def test_the_main_form_the_accordion_and_the_pickers_share_no_field():
    claimed = [field_name for cls, field_name in FORM_INPUTS.values() if cls is TrainConfig]
    assert len(claimed) == len(set(claimed))
    assert set(MAIN_FORM_FIELDS) == set(claimed) | {"dataset", "init_from", "weights"}
    assert {name for name, (cls, _) in FORM_INPUTS.items() if cls is SplitOptions} == {"imbalance_factor", "profile"}


def test_the_main_form_lays_out_every_input_of_the_train_endpoint_once(built):
    tab, _ = built
    own = [name for name in inspect.signature(tab.train).parameters if name != "more"]
    laid_out = [name for row in FORM_ROWS for name in row]
    assert sorted(laid_out) == sorted(own)
    assert set(own) == {*FORM_INPUTS, "dataset", "start_from", "ensemble"}  # the pickers and the ensemble box


@pytest.mark.parametrize("lrstep", ["60,60,40,40", "60 60 40 40", "[60, 60, 40, 40]", " 60, 60 40,40 "])
def test_the_lr_steps_box_takes_what_lrstep_takes(tab_and_queue, lrstep):
    tab, queue = tab_and_queue
    tab.train("a_datasets/colours", lrstep=lrstep, epochs=200, height=16, width=16)
    assert queue.submitted[0]["lr_steps"] == [60, 60, 40, 40]  # it was commas only
    assert settings_from_cli(TrainConfig, {**CLI_DEFAULTS, "lr_steps": lrstep})["lr_steps"] == [60, 60, 40, 40]


@pytest.mark.parametrize(("inputs", "argv"), [
    ({"lrstep": "a,b"}, ("train", "--dataset", "colours", "--lrstep", "a,b")),
    ({"lrstep": "60;60"}, ("train", "--dataset", "colours", "--lrstep", "60;60")),
    ({"warmup": "x"}, None),
    ({"imbalance_factor": -1}, ("split", "fruit", "--imbalance-factor", "-1")),
    ({"imbalance_factor": 0}, ("split", "fruit", "--imbalance-factor", "0")),  # the page took 0 as "none"
])
def test_a_refused_input_reads_as_the_command_lines_refusal(tab_and_queue, cli, inputs, argv):
    """The page's values go through the declared parser: the same one-line refusal as the flag's,
    before anything is split or queued."""
    tab, queue = tab_and_queue
    with pytest.raises(gr.Error) as refused:
        tab.train("data_split/fruit", **inputs, **QUICK)
    assert queue.submitted == [] and "\n" not in refused.value.message
    if argv is None:
        assert refused.value.message == "--warmup takes a whole number, got 'x'"
        return
    result = cli(*argv, ok=False)
    assert result.exit_code == 1
    assert f"error: {refused.value.message}" in " ".join(result.output.split())


@pytest.mark.parametrize(("typed", "factor"), [(100, 100.0), ("100", 100.0), (0.01, 100.0), ("0.1", 10.0), (2, 2.0)])
def test_the_imbalance_factor_is_read_by_its_declaration(typed, factor):
    values = form_values({"imbalance_factor": typed})
    assert values[SplitOptions] == {"imbalance_factor": pytest.approx(factor)} and values[TrainConfig] == {}


def test_demo_data_takes_the_declared_imbalance_factor(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setenv("TERMINAL_WIDTH", "400")
    help_text = " ".join(cli("demo-data", "--help").output.replace("│", " ").split())
    f = declared_field(SplitOptions, "imbalance_factor")
    assert "--imbalance-factor,--imb_factor" in help_text and f.metadata["help"] in help_text
