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
from ltcli.app.declared_form import MAIN_FORM_FIELDS, SKIPPED_FIELDS, more_fields  # noqa: E402
from ltcli.app.paths import AppRoot  # noqa: E402
from ltcli.app.tabs.train import TrainTab  # noqa: E402
from ltcli.config import TrainConfig  # noqa: E402
from ltcli.settings import choices_of, field_choices  # noqa: E402


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
