"""`--method NAME` -> the pretext task. Each task is a class with `check(config)` (what it needs of the
options), `augment(config)` (the data pipeline's augmentation before the task's own batches) and
`method(config, mean, std) -> Method` (`ltcli.method`: the record the run loop reads, as an objective's)."""

from __future__ import annotations

from ltcli.errors import LtcliError
from ltcli.pretrain.moco import MoCoPretext
from ltcli.pretrain.rotation import RotationPretext

PRETEXTS = {task.name: task for task in (RotationPretext, MoCoPretext)}


def get_pretext(name: str):
    if name not in PRETEXTS:
        raise LtcliError(f"unknown --method {name!r}: choose one of {', '.join(PRETEXTS)}")
    return PRETEXTS[name]
