"""Choices flow one way: the configs check values against `ltcli.choices` and import nothing from
`ltcli.engine`, and the engine, data and model modules act on the very same choice lists."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ltcli import choices
from ltcli.data import memory, pipeline, transforms
from ltcli.engine import compute, runtime, schedule
from ltcli.models import heads, weights

PROBE = """
import json, sys
from ltcli.config import TrainConfig
from ltcli.pretrain.config import PretrainConfig
TrainConfig(dataset="d", epochs=3, sched="step", amp="off", freeze="backbone", head="lws", init_from="r")
PretrainConfig(dataset="d", epochs=3)
print(json.dumps(sorted(m for m in sys.modules if m == "ltcli.engine" or m.startswith("ltcli.engine."))))
"""


def test_config_imports_nothing_from_the_engine():
    # a fresh interpreter: this test process has the engine loaded already
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []


def test_engine_and_configs_share_one_choice_list_each():
    assert schedule.SCHEDULES is choices.SCHEDULES
    assert compute.AMP_MODES is choices.AMP_MODES and compute.SWITCH_MODES is choices.SWITCH_MODES
    assert pipeline.CACHE_MODES is choices.CACHE_MODES
    assert transforms.AUGMENTS is choices.AUGMENTS
    assert heads.HEADS is choices.HEADS
    assert weights.FREEZE_MODES is choices.FREEZE_MODES
    assert runtime.check_device_name is choices.check_device_name
    assert not hasattr(memory, "CACHE_MODES")  # one home only


def test_each_shared_field_is_declared_once():
    """TrainConfig and PretrainConfig extend RunSettings and re-declare no shared field, except
    pretrain's --sched, whose default really differs (cosine, where train picks one for --epochs)."""
    import dataclasses

    from ltcli.config import TrainConfig
    from ltcli.pretrain.config import PretrainConfig
    from ltcli.settings import RunSettings

    shared = {f.name for f in dataclasses.fields(RunSettings)}
    assert issubclass(TrainConfig, RunSettings) and issubclass(PretrainConfig, RunSettings)
    assert not set(vars(TrainConfig)["__annotations__"]) & shared
    assert set(vars(PretrainConfig)["__annotations__"]) & shared == {"sched"}
    pretrain_own = {f.name for f in dataclasses.fields(PretrainConfig)} - shared
    assert pretrain_own and not pretrain_own & {f.name for f in dataclasses.fields(TrainConfig)}
    assert TrainConfig(dataset="d", epochs=30).sched == "cosine" and TrainConfig(dataset="d").sched == "step"
    assert PretrainConfig(dataset="d").sched == "cosine"


def test_no_library_module_imports_the_cli():
    """Only ltcli/cli/ and __main__ import ltcli.cli: the app and the library take what they share
    (the --opt parser, the declarations) from library modules, so nothing cycles through the CLI."""
    import ast

    package = Path(__file__).resolve().parents[1] / "ltcli"
    importers = []
    for path in package.rglob("*.py"):
        if path.parent.name == "cli" or path.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if any(n == "ltcli.cli" or n.startswith("ltcli.cli.") for n in names):
                importers.append(str(path.relative_to(package)))
    assert importers == []
