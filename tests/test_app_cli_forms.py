"""The app takes every form the CLI takes: the values are derived from the CLI side's own source of
truth (the objective registry with its aliases, FREEZE_MODES, TRAIN_RULES, SCHEDULES, PROFILES, HEADS,
`ltcli split`'s reading of --imbalance-factor), so the two cannot drift apart again. And its Infer
and Tune pickers offer no pre-training run (only the Train tab's start point may be one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="the web app needs the app extra: pip install 'ltcli[app]'")

import gradio as gr  # noqa: E402
from conftest import RecordingQueue as Queue  # noqa: E402
from conftest import make_class_images, make_dataset

from ltcli.app.context import AppContext  # noqa: E402
from ltcli.app.paths import AppRoot  # noqa: E402
from ltcli.app.tabs.compare import CompareTab  # noqa: E402
from ltcli.app.tabs.infer import InferTab  # noqa: E402
from ltcli.app.tabs.train import TrainTab  # noqa: E402
from ltcli.config import TrainConfig  # noqa: E402
from ltcli.data.longtail import PROFILES  # noqa: E402
from ltcli.engine.schedule import SCHEDULES  # noqa: E402
from ltcli.models.heads import HEADS  # noqa: E402
from ltcli.models.weights import FREEZE_MODES  # noqa: E402
from ltcli.objectives import get_objective_entry, list_objectives  # noqa: E402
from ltcli.rebalance import TRAIN_RULES  # noqa: E402


def objective_forms() -> list[tuple[str, str]]:
    """(what a user may type, the registered name) for every name and alias, as typed and in lower case
    (the CLI looks objectives up case-insensitively)."""
    forms = []
    for name in list_objectives():
        entry = get_objective_entry(name)
        for typed in (entry.name, *entry.other_names):
            forms += [(typed, entry.name), (typed.lower(), entry.name)]
    return sorted(set(forms))


CLI_CHOICES = {
    "objective": [typed for typed, _ in objective_forms()],
    "train_rule": [*TRAIN_RULES, *(rule.lower() for rule in TRAIN_RULES)],
    "freeze": list(FREEZE_MODES),
    "head": list(HEADS),
    "sched": list(SCHEDULES),
    "profile": list(PROFILES),
}




@pytest.fixture
def root(tmp_path) -> Path:
    make_dataset(tmp_path / "a_datasets" / "colours")
    return tmp_path


def train_tab(root: Path) -> tuple[TrainTab, Queue]:
    queue = Queue()
    return TrainTab(AppContext(AppRoot.at(root), queue, root / "scratch")), queue


QUICK = dict(epochs=4, height=16, width=16)


def test_every_choice_the_cli_takes_passes_the_pages_pickers(root):
    tab, _ = train_tab(root)
    with gr.Blocks():
        tab.build()
    for chooser, values in CLI_CHOICES.items():
        component = tab.choosers[chooser]
        for value in values:
            assert component.preprocess(value) == value, (chooser, value)  # gr.Error when refused


@pytest.mark.parametrize(("typed", "registered"), objective_forms())
def test_every_objective_name_and_alias_reaches_the_run(root, typed, registered):
    tab, queue = train_tab(root)
    tab.train("a_datasets/colours", objective=typed, **QUICK)
    assert TrainConfig.create(**queue.submitted[0]).objective == registered


def test_every_train_rule_and_freeze_mode_is_taken(root):
    tab, queue = train_tab(root)
    for rule in CLI_CHOICES["train_rule"]:
        tab.train("a_datasets/colours", train_rule=rule, **QUICK)
    for mode in FREEZE_MODES:
        head = "lws" if mode == "backbone+classifier" else "plain"  # as on the CLI: that mode trains LWS scales
        tab.train("a_datasets/colours", freeze=mode, head=head, **QUICK)
    configs = [TrainConfig.create(**given) for given in queue.submitted]
    rules = [c.train_rule for c in configs[:len(CLI_CHOICES["train_rule"])]]
    assert rules == [*TRAIN_RULES, *TRAIN_RULES]
    assert [c.freeze for c in configs[len(rules):]] == list(FREEZE_MODES)


def test_a_weights_file_under_models_pretrained_is_a_start_point(root):
    weights = root / "models" / "pretrained" / "resnet20.pt"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"state dict")
    tab, queue = train_tab(root)
    tab.train("a_datasets/colours", start_from="models/pretrained/resnet20.pt", **QUICK)
    assert queue.submitted[0]["weights"] == "models/pretrained/resnet20.pt"  # relative: the worker runs in the root
    with gr.Blocks():
        tab.build()
    assert "models/pretrained/resnet20.pt" in [value for _, value in tab.choosers["start_from"].choices]


def test_the_imbalance_factor_is_read_as_ltcli_split_reads_it(root, cli):
    """0.01-style (tail / head) and 100-style (head / tail) give one split, the one `ltcli split` makes."""
    make_class_images({"apple": 20, "leaf": 20, "sky": 20}, root / "data_split" / "fruit")
    tab, queue = train_tab(root)
    tab.train("data_split/fruit", imbalance_factor=0.1, **QUICK)
    tab.train("data_split/fruit", imbalance_factor=10, **QUICK)
    first, second = (given["dataset"] for given in queue.submitted)
    assert first == second  # the same split, reused
    cli("split", "fruit", "--imbalance-factor", "0.1", "--seed", "0")  # cli runs in tmp_path == root

    def train_counts(name: str) -> dict[str, int]:
        train = root / "a_datasets" / name / "train"
        return {d.name: len(list(d.iterdir())) for d in sorted(train.iterdir())}

    app_counts = train_counts(first)
    assert app_counts == train_counts("fruit")
    # 14 training images a class (70% of 20), exp profile: 14 * (1/10)^(i/2) -> 14, 4.43, 1.4
    assert app_counts == {"apple": 14, "leaf": 4, "sky": 1}


def write_run(root: Path, objective: str, stamp: str) -> str:
    run = root / "logs" / "resnet20" / "colours" / objective / stamp
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"epochs": 1, "model": "resnet20", "dataset": "colours"}))
    (run / "valid.csv").write_text("epoch,acc,loss\n0,0.5,1.0\n")
    (run / "metrics_test.json").write_text(json.dumps({"acc": 0.5}))
    return run.relative_to(root).as_posix()


def test_infer_and_tune_pickers_offer_no_pretraining_run(root):
    trained = write_run(root, "ERM", "2026-01-01-10-00-00")
    pretrained = write_run(root, "pretrain-rotation", "2026-01-01-11-00-00")
    context = AppContext(AppRoot.at(root), Queue(), root / "scratch")
    infer, compare, train = InferTab(context), CompareTab(context), TrainTab(context)
    with gr.Blocks():
        infer.build()
        compare.build()
        train.build()

    def offered(dropdown) -> list[str]:
        return [value for _, value in dropdown.choices]

    assert offered(infer.runs) == [trained]
    assert offered(compare.tune_run) == [trained]
    assert pretrained in offered(train.start_from) and trained in offered(train.start_from)
