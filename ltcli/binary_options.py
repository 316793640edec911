"""A run's binary-task options (--positive-classes, --pos-neg-ratio, --tpauc, a ranking --select-metric):
their checks, kept apart from TrainConfig's because they only matter when a run ranks one class against
the rest, and the TPAUC pairs valid.csv logs then.
"""

from __future__ import annotations

from typing import Any

from ltcli.errors import LtcliError


def check_binary_task(config: Any) -> None:
    """Canonicalise --positive-classes (names, or a class2id JSON file) and check the options that
    need a binary task; `config.rule` is the run's built --train-rule."""
    from ltcli.data.binary import class2id_file, read_class2id
    from ltcli.data.samplers import parse_pos_neg_ratio

    if config.positive_classes is not None:  # [] (a saved multi-class run's record) means none
        config.positive_classes = [str(c).strip() for c in config.positive_classes] or None
        if config.positive_classes is not None and not all(config.positive_classes):
            raise LtcliError("--positive-classes needs class names separated by commas")
        if class2id_file(config.positive_classes) is not None:
            config.positive_classes = read_class2id(config.positive_classes[0])
    if config.pos_neg_ratio is not None:
        parse_pos_neg_ratio(config.pos_neg_ratio)
        if not config.positive_classes:
            raise LtcliError("--pos-neg-ratio stratifies binary tasks: give --positive-classes too")
        if config.rule.samples:
            raise LtcliError(f"--pos-neg-ratio already decides the batches: drop --train-rule {config.rule.name}")
    check_ranking(config)


def check_ranking(config: Any) -> None:
    """--tpauc pairs and --select-metric: AUROC and TPAUC columns exist on binary tasks only."""
    from ltcli.metrics import BINARY_VALID_COLUMNS, SELECT_METRICS
    from ltcli.tpauc import parse_tpauc_key, parse_tpauc_pair, tpauc_key

    if config.tpauc is not None:
        config.tpauc = [parse_tpauc_pair(pair) for pair in config.tpauc]
        if not config.positive_classes:
            raise LtcliError("--tpauc adds TPAUC columns to a binary task's valid.csv: give --positive-classes too")
    metric = config.select_metric
    pair = parse_tpauc_key(metric) if isinstance(metric, str) else None
    if pair is not None:
        config.select_metric = metric = tpauc_key(*pair)  # tpauc_0.50_0.5 -> tpauc_0.5_0.5, the column's name
    if metric in SELECT_METRICS:
        return
    if pair is None and metric not in BINARY_VALID_COLUMNS:
        raise LtcliError(f"unknown --select-metric {metric!r}: choose one of "
                         f"{', '.join(SELECT_METRICS)}, or on a binary task auroc or tpauc_ALPHA_BETA")
    if not config.positive_classes:
        raise LtcliError(f"--select-metric {metric} ranks the positive class of a binary task: give "
                         f"--positive-classes, or choose one of {', '.join(SELECT_METRICS)}")


def ranking_pairs(config: Any) -> list[tuple[float, float]] | None:
    """The TPAUC (alpha, beta) pairs valid.csv logs: None on a multi-class task; --tpauc (default
    0.5,0.5) on a binary one, plus the pair of a tpauc_A_B --select-metric."""
    from ltcli.tpauc import TPAUC_DEFAULT, parse_tpauc_key

    if not config.positive_classes:
        return None
    pairs = [(float(a), float(b)) for a, b in config.tpauc] if config.tpauc is not None else list(TPAUC_DEFAULT)
    pair = parse_tpauc_key(config.select_metric)
    return pairs if pair is None or pair in pairs else [*pairs, pair]
