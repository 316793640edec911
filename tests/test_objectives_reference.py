"""Value and gradient checks of ``ltcli.objectives`` against independent numpy references.

The references live in ``tests/objective_reference.py`` (plain numpy, float64, written from the
papers' formulas; every convention is documented there).  All comparisons are in float64 with
``rtol=1e-6``.

Which objectives a test covers comes from the registry (``list_objectives()``, each entry's
``options`` read from its constructor, and the ``Objective`` class flags), so a newly registered
objective is tested by default. The per-objective references stay a mapping by name;
``test_every_registered_objective_has_a_reference_and_a_gradient_check`` and ``test_defaults``
fail for a registered objective that has none.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE), str(_HERE.parent)):
    if _p not in sys.path:
        sys.path.append(_p)

import numpy as np  # noqa: E402
import objective_reference as ref  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ltcli.objectives import create_objective, get_objective_entry, list_objectives  # noqa: E402

RTOL = 1e-6
ATOL = 1e-12

COUNTS4 = [100, 40, 10, 3]
COUNTS5 = [500, 120, 40, 9, 2]

# Fixed long-tailed batches; every batch contains the rare classes except "k4_absent", where
# class 2 is missing on purpose (exercises the absent-class conventions of LADE, GML, AUC).
CASES = {
    "k4_all": (COUNTS4, [0, 1, 2, 3, 0, 0, 1, 3, 0, 2], 0),
    "k5_all": (COUNTS5, [0, 4, 1, 2, 3, 0, 0, 1, 4, 0, 2, 3], 1),
    "k4_absent": (COUNTS4, [0, 0, 1, 3, 0, 1, 3, 0, 0], 2),
    "k5_tail": (COUNTS5, [4, 4, 3, 2, 1, 0, 4], 3),
}
CASE_IDS = list(CASES)


def _batch(case: str, cosine: bool = False):
    counts, targets, seed = CASES[case]
    rng = np.random.default_rng(1000 + seed)
    n, k = len(targets), len(counts)
    if cosine:
        logits = rng.uniform(-1.0, 1.0, size=(n, k))
    else:
        logits = rng.normal(0.0, 1.5, size=(n, k))
    return list(counts), logits, np.asarray(targets, dtype=np.int64)


def _features(case: str, dim: int = 6):
    counts, targets, seed = CASES[case]
    rng = np.random.default_rng(2000 + seed)
    return rng.normal(0.0, 1.0, size=(len(targets), dim))


def _t(x) -> torch.Tensor:
    return torch.tensor(np.asarray(x), dtype=torch.float64)


def _ty(y) -> torch.Tensor:
    return torch.tensor(np.asarray(y), dtype=torch.int64)


def _value(loss, logits, targets, **kw) -> float:
    out = loss(_t(logits), _ty(targets), **kw)
    assert isinstance(out, torch.Tensor)
    assert out.dim() == 0, f"objective must return a 0-dim tensor, got shape {tuple(out.shape)}"
    assert out.dtype == torch.float64, f"float64 in -> float64 out expected, got {out.dtype}"
    return float(out.item())


def _check(actual: float, expected: float) -> None:
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


def _cosine(name: str) -> bool:
    """Objectives that declare needs_cosine_head get logits in [-1, 1] (cosine similarities)."""
    return get_objective_entry(name).cls.needs_cosine_head


def _expert_logits(case: str, experts: int = 3, scale: float = 30.0):
    """RIDE's inputs: each expert's logits, s times cosine similarities, [experts, N, K]."""
    counts, targets, seed = CASES[case]
    rng = np.random.default_rng(3000 + seed)
    return scale * rng.uniform(-1.0, 1.0, size=(experts, len(targets), len(counts)))


def _contrast(case: str, dim: int = 5, queue: int = 7):
    """PaCo's inputs: unit queries and keys of the batch, a queue of unit keys with labels."""
    counts, targets, seed = CASES[case]
    rng = np.random.default_rng(4000 + seed)

    def unit(rows: int) -> np.ndarray:
        x = rng.normal(size=(rows, dim))
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    return unit(len(targets)), unit(len(targets)), unit(queue), rng.integers(0, len(counts), size=queue)


def _inputs(name: str, case: str) -> dict:
    """The extra forward() inputs an objective declares it needs (needs_features: penultimate features;
    the outputs of the model an objective wraps: RIDE's expert logits, PaCo's queries, keys and queue)."""
    if name == "RIDE":
        return {"expert_logits": _t(_expert_logits(case))}
    if name == "PaCo":
        queries, keys, queue, labels = _contrast(case)
        return {"queries": _t(queries), "keys": _t(keys), "queue": _t(queue), "queue_labels": _ty(labels)}
    return {"features": _t(_features(case))} if get_objective_entry(name).cls.needs_features else {}


def _epoch_options(name: str) -> list[str]:
    """Constructor options that tie an objective to the epoch (`epochs`, `epoch_to_paced`, ...)."""
    return [option for option in get_objective_entry(name).options if "epoch" in option]


# --------------------------------------------------------------------------------------------
# value checks: objectives that need only (logits, targets)
# --------------------------------------------------------------------------------------------
def _alpha_list(counts):
    # per-class focal weights, deliberately not normalised: inverse-frequency-like
    k = len(counts)
    return [0.25 + 0.5 * c / (k - 1) for c in range(k)]


# (name, options-from-counts, reference(logits, targets, counts)); logits are cosine similarities for
# the objectives that declare needs_cosine_head
SPECS = [
    ("ERM", lambda n: {}, lambda z, y, n: ref.erm(z, y)),
    ("ERM", lambda n: {"label_smoothing": 0.1}, lambda z, y, n: ref.erm(z, y, 0.1)),
    ("ERM", lambda n: {"label_smoothing": 0.3}, lambda z, y, n: ref.erm(z, y, 0.3)),
    ("CCE", lambda n: {"gamma": 0.0}, lambda z, y, n: ref.cce(z, y, 0.0)),
    ("CCE", lambda n: {"gamma": 1.0}, lambda z, y, n: ref.cce(z, y, 1.0)),
    ("CCE", lambda n: {"gamma": 2.5}, lambda z, y, n: ref.cce(z, y, 2.5)),
    ("COT", lambda n: {}, lambda z, y, n: ref.cot_primary(z, y)),
    ("FL", lambda n: {"gamma": 0.0}, lambda z, y, n: ref.focal(z, y, 0.0)),
    ("FL", lambda n: {"gamma": 1.0}, lambda z, y, n: ref.focal(z, y, 1.0)),
    ("FL", lambda n: {"gamma": 2.5}, lambda z, y, n: ref.focal(z, y, 2.5)),
    ("FL", lambda n: {"gamma": 2.0, "alpha": 0.25}, lambda z, y, n: ref.focal(z, y, 2.0, 0.25)),
    (
        "FL",
        lambda n: {"gamma": 1.0, "alpha": _alpha_list(n)},
        lambda z, y, n: ref.focal(z, y, 1.0, _alpha_list(n)),
    ),
    ("SquareAUC", lambda n: {}, lambda z, y, n: ref.square_auc(z, y)),
    ("BSCE", lambda n: {}, lambda z, y, n: ref.bsce(z, y, n)),
    ("LA", lambda n: {"tau": 0.5}, lambda z, y, n: ref.la(z, y, n, 0.5)),
    ("LA", lambda n: {"tau": 1.0}, lambda z, y, n: ref.la(z, y, n, 1.0)),
    ("LA", lambda n: {"tau": 2.0}, lambda z, y, n: ref.la(z, y, n, 2.0)),
    (
        "LDAM",
        lambda n: {"max_margin": 0.5, "scale": 30.0},
        lambda z, y, n: ref.ldam(z, y, n, 0.5, 30.0),
    ),
    (
        "LDAM",
        lambda n: {"max_margin": 0.3, "scale": 16.0},
        lambda z, y, n: ref.ldam(z, y, n, 0.3, 16.0),
    ),
    ("LADE", lambda n: {"alpha": 0.1, "lam": 0.1}, lambda z, y, n: ref.lade(z, y, n, 0.1, 0.1)),
    ("LADE", lambda n: {"alpha": 0.5, "lam": 0.0}, lambda z, y, n: ref.lade(z, y, n, 0.5, 0.0)),
    ("LADE", lambda n: {"alpha": 1.0, "lam": 0.5}, lambda z, y, n: ref.lade(z, y, n, 1.0, 0.5)),
    ("GML", lambda n: {}, lambda z, y, n: ref.gml(z, y, n)),
    ("LAS", lambda n: {"smooth_head": 0.3, "smooth_tail": 0.0}, lambda z, y, n: ref.las(z, y, n, 0.3, 0.0)),
    (
        "LAS",
        lambda n: {"smooth_head": 0.4, "smooth_tail": 0.1, "shape": "linear"},
        lambda z, y, n: ref.las(z, y, n, 0.4, 0.1, "linear"),
    ),
    (
        "LAS",
        lambda n: {"smooth_head": 0.2, "smooth_tail": 0.05, "shape": "convex"},
        lambda z, y, n: ref.las(z, y, n, 0.2, 0.05, "convex"),
    ),
    (
        "LAS",
        lambda n: {"smooth_head": 0.3, "smooth_tail": 0.1, "shape": "exp", "power": 2.0},
        lambda z, y, n: ref.las(z, y, n, 0.3, 0.1, "exp", 2.0),
    ),
]


def _spec_id(spec) -> str:
    name, opts, _ = spec
    o = opts(COUNTS4)
    if "alpha" in o and isinstance(o["alpha"], list):
        o = {**o, "alpha": "per-class"}
    return name + ("" if not o else "-" + ",".join(f"{k}={v}" for k, v in o.items()))


@pytest.mark.parametrize("case", CASE_IDS)
@pytest.mark.parametrize("spec", SPECS, ids=[_spec_id(s) for s in SPECS])
def test_matches_reference(spec, case):
    name, opts, reference = spec
    counts, z, y = _batch(case, cosine=_cosine(name))
    loss = create_objective(name, class_counts=counts, **opts(counts))
    loss.set_epoch(0)
    _check(_value(loss, z, y, **_inputs(name, case)), reference(z, y, counts))


@pytest.mark.parametrize("case", CASE_IDS)
def test_cot_complement_loss(case):
    counts, z, y = _batch(case)
    loss = create_objective("COT", class_counts=counts)
    loss.set_epoch(0)
    out = loss.complement_loss(_t(z), _ty(y))
    assert isinstance(out, torch.Tensor) and out.dim() == 0
    _check(float(out.item()), ref.cot_complement(z, y))
    # the first step is plain cross entropy
    _check(_value(loss, z, y), ref.erm(z, y))


# --------------------------------------------------------------------------------------------
# AUC losses: binary mode
# --------------------------------------------------------------------------------------------
BIN_TARGETS = np.array([0, 1, 0, 0, 0, 1, 0, 0, 1, 0], dtype=np.int64)  # 3 positives (rare)
BIN_COUNTS = [90, 10]  # [n_negative, n_positive]
BIN_SHAPES = ["N", "N1", "N2"]


def _binary_logits(shape: str, seed: int = 7):
    rng = np.random.default_rng(seed)
    n = BIN_TARGETS.shape[0]
    if shape == "N":
        return rng.normal(0.0, 1.5, size=(n,))
    if shape == "N1":
        return rng.normal(0.0, 1.5, size=(n, 1))
    return rng.normal(0.0, 1.5, size=(n, 2))


@pytest.mark.parametrize("seed", [7, 8])
@pytest.mark.parametrize("shape", BIN_SHAPES)
def test_square_auc_binary(shape, seed):
    z = _binary_logits(shape, seed)
    loss = create_objective("SquareAUC", class_counts=BIN_COUNTS)
    loss.set_epoch(0)
    _check(_value(loss, z, BIN_TARGETS), ref.square_auc(z, BIN_TARGETS))


TP_OPTS = [("Poly", 0.0), ("Poly", 1.0), ("Poly", 2.5), ("Exp", 1.0), ("Exp", 2.5)]
TP_PACED = 3


@pytest.mark.parametrize("epoch", [0, 2, 3, 6])
@pytest.mark.parametrize("scheme,gamma", TP_OPTS)
@pytest.mark.parametrize("shape", BIN_SHAPES)
def test_tpauc_binary(shape, scheme, gamma, epoch):
    z = _binary_logits(shape)
    loss = create_objective(
        "TPAUC", class_counts=BIN_COUNTS, gamma=gamma, epoch_to_paced=TP_PACED, re_scheme=scheme
    )
    loss.set_epoch(epoch)
    expected = ref.tpauc(z, BIN_TARGETS, gamma, epoch, TP_PACED, scheme)
    _check(_value(loss, z, BIN_TARGETS), expected)


@pytest.mark.parametrize("epoch", [2, 3, 6])
@pytest.mark.parametrize("scheme,gamma", TP_OPTS)
@pytest.mark.parametrize("case", ["k4_all", "k4_absent", "k5_tail"])
def test_tpauc_multiclass(case, scheme, gamma, epoch):
    counts, z, y = _batch(case)
    loss = create_objective(
        "TPAUC", class_counts=counts, gamma=gamma, epoch_to_paced=TP_PACED, re_scheme=scheme
    )
    loss.set_epoch(epoch)
    _check(_value(loss, z, y), ref.tpauc(z, y, gamma, epoch, TP_PACED, scheme))


@pytest.mark.parametrize("case", ["k4_all", "k5_all"])
def test_tpauc_before_pacing_equals_square_auc(case):
    counts, z, y = _batch(case)
    tp = create_objective("TPAUC", class_counts=counts, gamma=2.0, epoch_to_paced=5, re_scheme="Exp")
    sq = create_objective("SquareAUC", class_counts=counts)
    tp.set_epoch(4)
    sq.set_epoch(4)
    _check(_value(tp, z, y), _value(sq, z, y))
    # set_epoch can move back and forth (e.g. resumed runs)
    tp.set_epoch(5)
    paced = _value(tp, z, y)
    tp.set_epoch(4)
    _check(_value(tp, z, y), _value(sq, z, y))
    assert not math.isclose(paced, _value(sq, z, y), rel_tol=1e-6)


# --------------------------------------------------------------------------------------------
# FeaBal
# --------------------------------------------------------------------------------------------
FEABAL_EPOCHS = 20


@pytest.mark.parametrize("epoch", [0, 1, 5, 12, 19])
@pytest.mark.parametrize("lam", [60.0, 10.0])
@pytest.mark.parametrize("case", CASE_IDS)
def test_feabal(case, lam, epoch):
    counts, z, y = _batch(case)
    f = _features(case)
    loss = create_objective("FeaBal", class_counts=counts, lam=lam, epochs=FEABAL_EPOCHS)
    loss.set_epoch(epoch)
    expected = ref.feabal(z, y, f, counts, epoch, FEABAL_EPOCHS, lam)
    _check(_value(loss, z, y, features=_t(f)), expected)


@pytest.mark.parametrize("case", ["k4_all", "k5_tail"])
def test_feabal_epoch0_is_plain_ce(case):
    # curriculum(0) == 0 under every published variant of the schedule
    counts, z, y = _batch(case)
    f = _features(case)
    loss = create_objective("FeaBal", class_counts=counts, lam=60.0, epochs=FEABAL_EPOCHS)
    loss.set_epoch(0)
    _check(_value(loss, z, y, features=_t(f)), ref.erm(z, y))


# --------------------------------------------------------------------------------------------
# hand-computed tiny cases
# --------------------------------------------------------------------------------------------
LN = math.log


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.5])
def test_cce_hand(gamma):
    # sample 1: p = (4, 2, 1)/7, y = 0 -> CE = ln(7/4), q = (2/3, 1/3)
    # sample 2: p = (1, 1, 1)/3, y = 2 -> CE = ln 3,   q = (1/2, 1/2)
    z = np.array([[LN(4.0), LN(2.0), 0.0], [0.0, 0.0, 0.0]])
    y = np.array([0, 2])
    s1 = LN(7 / 4) + gamma / 2 * (2 / 3 * LN(2 / 3) + 1 / 3 * LN(1 / 3))
    s2 = LN(3.0) + gamma / 2 * LN(1 / 2)
    expected = (s1 + s2) / 2
    _check(ref.cce(z, y, gamma), expected)
    loss = create_objective("CCE", class_counts=[5, 3, 1], gamma=gamma)
    loss.set_epoch(0)
    _check(_value(loss, z, y), expected)


def test_cot_complement_hand():
    z = np.array([[LN(4.0), LN(2.0), 0.0], [0.0, 0.0, 0.0]])
    y = np.array([0, 2])
    h1 = -(2 / 3 * LN(2 / 3) + 1 / 3 * LN(1 / 3))
    h2 = LN(2.0)
    expected = -((h1 + h2) / 2) / 2  # -(1/(K-1)) mean H, K = 3
    _check(ref.cot_complement(z, y), expected)
    loss = create_objective("COT", class_counts=[5, 3, 1])
    _check(float(loss.complement_loss(_t(z), _ty(y)).item()), expected)


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0, 2.5])
def test_focal_hand(gamma):
    # sample 1: y = 0, p_y = 3/4;  sample 2: y = 1, p_y = 1/4
    z = np.array([[LN(3.0), 0.0], [LN(3.0), 0.0]])
    y = np.array([0, 1])
    t1 = (1 / 4) ** gamma * LN(4 / 3)
    t2 = (3 / 4) ** gamma * LN(4.0)
    _check(ref.focal(z, y, gamma), (t1 + t2) / 2)
    loss = create_objective("FL", class_counts=[3, 1], gamma=gamma)
    _check(_value(loss, z, y), (t1 + t2) / 2)
    # per-class alpha indexed by the target; plain mean (not divided by the alphas' sum)
    expected_a = (0.25 * t1 + 0.75 * t2) / 2
    _check(ref.focal(z, y, gamma, [0.25, 0.75]), expected_a)
    loss_a = create_objective("FL", class_counts=[3, 1], gamma=gamma, alpha=[0.25, 0.75])
    _check(_value(loss_a, z, y), expected_a)
    # scalar alpha multiplies every term
    loss_s = create_objective("FL", class_counts=[3, 1], gamma=gamma, alpha=0.5)
    _check(_value(loss_s, z, y), 0.5 * (t1 + t2) / 2)


def test_bsce_hand():
    # counts (3, 1): adjusted logits z + log n
    # s1: z=(0,0), y=0 -> p=(3/4, 1/4) -> ln(4/3); s2: z=(0,0), y=1 -> ln 4
    # s3: z=(ln 2, 0), y=1 -> adjusted (ln 6, 0) -> p_1 = 1/7 -> ln 7
    z = np.array([[0.0, 0.0], [0.0, 0.0], [LN(2.0), 0.0]])
    y = np.array([0, 1, 1])
    expected = (LN(4 / 3) + LN(4.0) + LN(7.0)) / 3
    _check(ref.bsce(z, y, [3, 1]), expected)
    loss = create_objective("BSCE", class_counts=[3, 1])
    _check(_value(loss, z, y), expected)
    # LA with tau = 1 is the same objective
    _check(_value(create_objective("LA", class_counts=[3, 1], tau=1.0), z, y), expected)


def test_erm_label_smoothing_hand():
    z = np.array([[LN(4.0), LN(2.0), 0.0]])
    y = np.array([0])
    eps = 0.3
    expected = (1 - eps) * LN(7 / 4) + eps * (LN(7 / 4) + LN(7 / 2) + LN(7.0)) / 3
    _check(ref.erm(z, y, eps), expected)
    loss = create_objective("ERM", class_counts=[5, 3, 1], label_smoothing=eps)
    _check(_value(loss, z, y), expected)


# scores s+ = (3/4, 1/2), s- = (1/4, 1/2):
# pair terms (1 - (s+ - s-))^2 = 1/4, 9/16, 9/16, 1 -> mean 19/32 = 0.59375
HAND_BIN_TARGETS = np.array([1, 1, 0, 0])
HAND_BIN_LOGITS = {
    "N": np.array([LN(3.0), 0.0, -LN(3.0), 0.0]),
    "N1": np.array([[LN(3.0)], [0.0], [-LN(3.0)], [0.0]]),
    "N2": np.array([[0.0, LN(3.0)], [0.0, 0.0], [0.0, -LN(3.0)], [0.0, 0.0]]),
}


@pytest.mark.parametrize("shape", BIN_SHAPES)
def test_square_auc_binary_hand(shape):
    z = HAND_BIN_LOGITS[shape]
    _check(ref.square_auc(z, HAND_BIN_TARGETS), 19 / 32)
    loss = create_objective("SquareAUC", class_counts=[2, 2])
    loss.set_epoch(0)
    _check(_value(loss, z, HAND_BIN_TARGETS), 19 / 32)


@pytest.mark.parametrize("shape", BIN_SHAPES)
@pytest.mark.parametrize("gamma,expected", [(1.0, 13 / 128), (2.0, 83 / 4096)])
def test_tpauc_binary_hand(shape, gamma, expected):
    # Poly: w+ = (1 - s+)^gamma = (1/4, 1/2)^gamma, w- = (s-)^gamma = (1/4, 1/2)^gamma
    # gamma=1: (1/64 + 9/128 + 9/128 + 1/4) / 4 = 13/128
    z = HAND_BIN_LOGITS[shape]
    _check(ref.tpauc(z, HAND_BIN_TARGETS, gamma, epoch=1, epoch_to_paced=1, re_scheme="Poly"), expected)
    loss = create_objective("TPAUC", class_counts=[2, 2], gamma=gamma, epoch_to_paced=1, re_scheme="Poly")
    loss.set_epoch(0)
    _check(_value(loss, z, HAND_BIN_TARGETS), 19 / 32)
    loss.set_epoch(1)
    _check(_value(loss, z, HAND_BIN_TARGETS), expected)


# --------------------------------------------------------------------------------------------
# defaults, names, set_epoch
# --------------------------------------------------------------------------------------------
# Objectives with dedicated tests (pacing epochs, features) besides the shared tables, and the test of
# their defaults.
DEDICATED = {"TPAUC": "test_defaults_tpauc", "FeaBal": "test_defaults_feabal", "RIDE": "test_defaults_ride",
             "PaCo": "test_defaults_paco"}

DEFAULTS = {
    # name: (extra options needed, reference with the defaults documented in objective_reference)
    "ERM": ({}, lambda z, y, n: ref.erm(z, y, 0.0)),
    "CCE": ({}, lambda z, y, n: ref.cce(z, y, 1.0)),
    "COT": ({}, lambda z, y, n: ref.cot_primary(z, y)),
    "FL": ({}, lambda z, y, n: ref.focal(z, y, 2.0, None)),
    "SquareAUC": ({}, lambda z, y, n: ref.square_auc(z, y)),
    "BSCE": ({}, lambda z, y, n: ref.bsce(z, y, n)),
    "LA": ({}, lambda z, y, n: ref.la(z, y, n, 1.0)),
    "LDAM": ({}, lambda z, y, n: ref.ldam(z, y, n, 0.5, 30.0)),
    "LADE": ({}, lambda z, y, n: ref.lade(z, y, n, 0.1, 0.1)),
    "GML": ({}, lambda z, y, n: ref.gml(z, y, n)),
    "LAS": ({}, lambda z, y, n: ref.las(z, y, n, 0.3, 0.0, "concave")),
}


@pytest.mark.parametrize("name", [name for name in list_objectives() if name not in DEDICATED])
def test_defaults(name):
    assert name in DEFAULTS, f"objective {name} has no defaults reference: add it to DEFAULTS"
    extra, reference = DEFAULTS[name]
    counts, z, y = _batch("k5_all", cosine=_cosine(name))
    loss = create_objective(name, class_counts=counts, **extra)
    loss.set_epoch(0)
    _check(_value(loss, z, y, **_inputs(name, "k5_all")), reference(z, y, counts))


def test_dedicated_defaults_tests_exist():
    for name, test in DEDICATED.items():
        assert name in list_objectives() and callable(globals().get(test)), (name, test)


def test_defaults_feabal():
    counts, z, y = _batch("k5_all")
    f = _features("k5_all")
    loss = create_objective("FeaBal", class_counts=counts, epochs=FEABAL_EPOCHS)
    loss.set_epoch(7)
    _check(_value(loss, z, y, features=_t(f)), ref.feabal(z, y, f, counts, 7, FEABAL_EPOCHS, 60.0))


def test_defaults_tpauc():
    # gamma=0.01, epoch_to_paced=10, re_scheme='Poly' are this reference's choice (see the
    # docstring of objective_reference.tpauc for the sources).
    counts, z, y = _batch("k5_all")
    loss = create_objective("TPAUC", class_counts=counts)
    loss.set_epoch(9)
    _check(_value(loss, z, y), ref.square_auc(z, y))
    loss.set_epoch(10)
    _check(_value(loss, z, y), ref.tpauc(z, y, 0.01, 10, 10, "Poly"))


# Hand-picked mixed spellings, then every registered name in lower, upper and swapped case.
SPELLINGS = list(dict.fromkeys(
    ["erm", "ERM", "Erm", "squareauc", "SQUAREAUC", "feabal", "FeaBal", "la"]
    + [spell(name) for name in list_objectives() for spell in (str.lower, str.upper, str.swapcase)]
))


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_name_case_insensitive(spelling):
    (name,) = [name for name in list_objectives() if name.lower() == spelling.lower()]
    # an objective with an `epochs` horizon gets a short one, as a short run would pass it
    opts = {"epochs": 10} if "epochs" in get_objective_entry(name).options else {}
    loss = create_objective(spelling, class_counts=COUNTS4, **opts)
    assert isinstance(loss, torch.nn.Module)
    assert type(loss) is get_objective_entry(name).cls
    assert callable(getattr(loss, "set_epoch", None))


# Found by signature: an objective without an epoch-related option must not depend on the epoch.
EPOCH_FREE = [name for name in list_objectives() if not _epoch_options(name)]
LATE_EPOCH = 199  # the last epoch of a run of the default 200 epochs (RIDE re-weights from its 160th)
EPOCH_DEPENDENT = [name for name in list_objectives() if _epoch_options(name)]


@pytest.mark.parametrize("name", EPOCH_FREE)
def test_set_epoch_is_noop(name):
    counts, z, y = _batch("k4_all", cosine=_cosine(name))
    loss = create_objective(name, class_counts=counts)
    inputs = _inputs(name, "k4_all")
    loss.set_epoch(0)
    v0 = _value(loss, z, y, **inputs)
    loss.set_epoch(LATE_EPOCH)
    _check(_value(loss, z, y, **inputs), v0)


@pytest.mark.parametrize("name", EPOCH_DEPENDENT)
def test_set_epoch_matters_with_an_epoch_option(name):
    # the converse: an epoch-related option (defaults) changes the loss by the last epoch of a default run
    counts, z, y = _batch("k4_all", cosine=_cosine(name))
    loss = create_objective(name, class_counts=counts)
    inputs = _inputs(name, "k4_all")
    loss.set_epoch(0)
    v0 = _value(loss, z, y, **inputs)
    loss.set_epoch(LATE_EPOCH)
    assert not math.isclose(_value(loss, z, y, **inputs), v0, rel_tol=RTOL), _epoch_options(name)


def test_the_epoch_lists_split_the_registry():
    assert sorted(EPOCH_FREE + EPOCH_DEPENDENT) == sorted(list_objectives())
    assert {"TPAUC", "FeaBal", "RIDE"} <= set(EPOCH_DEPENDENT)  # pacing epoch / curriculum horizon / DRW


# --------------------------------------------------------------------------------------------
# gradient checks (float64 torch.autograd.gradcheck on the logits)
# --------------------------------------------------------------------------------------------
GRAD_SPECS = [
    ("ERM", {"label_smoothing": 0.1}, "k4_all"),
    ("CCE", {"gamma": 2.5}, "k4_all"),
    ("COT", {}, "k4_all"),
    ("FL", {"gamma": 2.5, "alpha": [0.2, 0.4, 0.6, 0.8]}, "k4_all"),
    ("FL", {"gamma": 1.0}, "k4_absent"),
    ("SquareAUC", {}, "k4_absent"),
    ("BSCE", {}, "k4_all"),
    ("LA", {"tau": 2.0}, "k4_all"),
    ("LDAM", {"max_margin": 0.5, "scale": 30.0}, "k4_all"),
    ("LADE", {"alpha": 0.1, "lam": 0.1}, "k4_absent"),
    ("LADE", {"alpha": 1.0, "lam": 0.5}, "k4_all"),
    ("GML", {}, "k4_absent"),
    ("TPAUC", {"gamma": 2.0, "epoch_to_paced": 2, "re_scheme": "Poly"}, "k4_all"),  # epoch 0
    ("LAS", {"smooth_head": 0.4, "smooth_tail": 0.1, "shape": "convex"}, "k4_all"),
    ("LAS", {"smooth_head": 0.3, "smooth_tail": 0.0, "shape": "exp", "power": 0.5}, "k5_tail"),
]


@pytest.mark.parametrize(
    "name,opts,case", GRAD_SPECS, ids=[f"{s[0]}-{s[2]}-{i}" for i, s in enumerate(GRAD_SPECS)]
)
def test_gradcheck(name, opts, case):
    counts, z, y = _batch(case, cosine=_cosine(name))
    loss = create_objective(name, class_counts=counts, **opts)
    loss.set_epoch(0)
    x = _t(z).requires_grad_(True)
    yt = _ty(y)
    inputs = _inputs(name, case)
    assert torch.autograd.gradcheck(lambda a: loss(a, yt, **inputs), (x,), fast_mode=True)


def test_gradcheck_cot_complement():
    counts, z, y = _batch("k5_all")
    loss = create_objective("COT", class_counts=counts)
    x = _t(z).requires_grad_(True)
    yt = _ty(y)
    assert torch.autograd.gradcheck(lambda a: loss.complement_loss(a, yt), (x,), fast_mode=True)


@pytest.mark.parametrize("shape", BIN_SHAPES)
def test_gradcheck_square_auc_binary(shape):
    z = _binary_logits(shape)
    loss = create_objective("SquareAUC", class_counts=BIN_COUNTS)
    x = _t(z).requires_grad_(True)
    yt = _ty(BIN_TARGETS)
    assert torch.autograd.gradcheck(lambda a: loss(a, yt), (x,), fast_mode=True)


def _tpauc_frozen_weight_fn(loss, z0, y, ref_kwargs):
    """Wrap the objective so that gradcheck tests the *detached-weight* gradient.

    After pacing, the weights are constants for autograd, so the analytic gradient is that of
    F(x) = mean w(x0) Delta(x), whereas finite differences of the objective see
    G(x) = mean w(x) Delta(x).  We add the no-grad correction F_ref(x) - G_ref(x) (numpy
    reference, weights frozen at x0 vs. live weights; it is exactly 0 at x0): finite differences
    of the wrapped function then give grad F(x0), which must equal the objective's autograd
    gradient.  An implementation that does not detach the weights fails this check.
    """
    yt = _ty(y)

    def fn(a):
        a_np = a.detach().numpy()
        corr = ref.tpauc(a_np, y, weight_logits=z0, **ref_kwargs) - ref.tpauc(a_np, y, **ref_kwargs)
        return loss(a, yt) + corr

    return fn


@pytest.mark.parametrize(
    "scheme,gamma,where",
    [("Poly", 2.0, "k4_all"), ("Exp", 2.5, "k4_all"), ("Poly", 1.5, "bin-N"), ("Exp", 1.0, "bin-N2")],
)
def test_gradcheck_tpauc_paced(scheme, gamma, where):
    if where.startswith("bin-"):
        counts, z, y = BIN_COUNTS, _binary_logits(where[4:]), BIN_TARGETS
    else:
        counts, z, y = _batch(where)
    loss = create_objective("TPAUC", class_counts=counts, gamma=gamma, epoch_to_paced=2, re_scheme=scheme)
    loss.set_epoch(4)
    kw = {"gamma": gamma, "epoch": 4, "epoch_to_paced": 2, "re_scheme": scheme}
    _check(_value(loss, z, y), ref.tpauc(z, y, **kw))
    x = _t(z).requires_grad_(True)
    assert torch.autograd.gradcheck(_tpauc_frozen_weight_fn(loss, z, y, kw), (x,), fast_mode=True)


@pytest.mark.parametrize("epoch", [0, 9])
def test_gradcheck_feabal(epoch):
    counts, z, y = _batch("k4_all")
    f = _features("k4_all")
    loss = create_objective("FeaBal", class_counts=counts, lam=60.0, epochs=FEABAL_EPOCHS)
    loss.set_epoch(epoch)
    x = _t(z).requires_grad_(True)
    feats = _t(f).requires_grad_(True)
    yt = _ty(y)
    assert torch.autograd.gradcheck(lambda a, b: loss(a, yt, features=b), (x, feats), fast_mode=True)


# --------------------------------------------------------------------------------------------
# RIDE and PaCo: objectives of wrapped models (expert logits; queries, keys and a queue)
# --------------------------------------------------------------------------------------------
def _ride_value(loss, experts: np.ndarray, y) -> float:
    return _value(loss, experts.mean(axis=0), y, expert_logits=_t(experts))


def test_defaults_ride():
    counts, _, y = _batch("k5_all")
    experts = _expert_logits("k5_all")
    loss = create_objective("RIDE", class_counts=counts)  # 200 epochs: re-weighting from epoch 160
    for epoch in (0, 159, 160, 199):
        loss.set_epoch(epoch)
        _check(_ride_value(loss, experts, y), ref.ride(experts, y, counts, epoch, reweight_epoch=160))


RIDE_OPTIONS = [
    {"max_margin": 0.3, "scale": 16.0, "diversity_factor": -0.2},
    {"diversity_temperature": 2.0, "reweight_factor": 0.2, "reweight_epoch": 3, "epochs": 10},
    {"diversity_factor": 0.0, "max_margin": 0.0, "reweight_epoch": 50},
]


@pytest.mark.parametrize("epoch", [2, 3])
@pytest.mark.parametrize("options", RIDE_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("case", CASE_IDS)
def test_ride_matches_reference(case, options, epoch):
    counts, _, y = _batch(case)
    scale = options.get("scale", 30.0)
    experts = _expert_logits(case, experts=2, scale=scale)
    loss = create_objective("RIDE", class_counts=counts, **options)
    loss.set_epoch(epoch)
    reweight_epoch = options.get("reweight_epoch", int(0.8 * options.get("epochs", 200)))
    kwargs = {k: v for k, v in options.items() if k not in ("reweight_epoch", "epochs")}
    _check(_ride_value(loss, experts, y), ref.ride(experts, y, counts, epoch, reweight_epoch, **kwargs))


def test_ride_without_expert_logits_is_the_prediction_cross_entropy():
    counts, z, y = _batch("k4_all")
    _check(_value(create_objective("RIDE", class_counts=counts), z, y), ref.erm(z, y))


@pytest.mark.parametrize("epoch", [0, 5])
def test_gradcheck_ride(epoch):
    counts, _, y = _batch("k4_all")
    loss = create_objective("RIDE", class_counts=counts, scale=4.0, reweight_epoch=5)
    loss.set_epoch(epoch)
    x = _t(_expert_logits("k4_all", experts=2, scale=4.0)).requires_grad_(True)
    yt = _ty(y)
    # the experts' mean is the prediction; RIDE's KL target is computed from it without gradient
    assert torch.autograd.gradcheck(lambda a: loss(a.mean(0), yt, expert_logits=a), (x,), fast_mode=True)


def _paco_value(loss, z, y, case: str) -> float:
    return _value(loss, z, y, **_inputs("PaCo", case))


def test_defaults_paco():
    counts, z, y = _batch("k5_all")
    queries, keys, queue, labels = _contrast("k5_all")
    loss = create_objective("PaCo", class_counts=counts)
    _check(_paco_value(loss, z, y, "k5_all"),
           ref.paco(z, y, counts, queries, keys, queue, labels, alpha=0.01, beta=1.0, gamma=1.0, temperature=0.05))


PACO_OPTIONS = [
    {"alpha": 0.05, "temperature": 0.2},
    {"alpha": 1.0, "beta": 0.5, "gamma": 2.0, "temperature": 0.07, "supt": 2.0},
    {"alpha": 0.0, "gamma": 0.0, "temperature": 0.1},
]


@pytest.mark.parametrize("options", PACO_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("case", CASE_IDS)
def test_paco_matches_reference(case, options):
    counts, z, y = _batch(case)
    queries, keys, queue, labels = _contrast(case)
    loss = create_objective("PaCo", class_counts=counts, **options)
    _check(_paco_value(loss, z, y, case), ref.paco(z, y, counts, queries, keys, queue, labels, **options))


def test_paco_without_contrast_is_logit_adjusted_cross_entropy():
    counts, z, y = _batch("k4_all")
    _check(_value(create_objective("PaCo", class_counts=counts), z, y), ref.la(z, y, counts, 1.0))


def test_gradcheck_paco():
    counts, z, y = _batch("k4_all")
    queries, keys, queue, labels = _contrast("k4_all")
    loss = create_objective("PaCo", class_counts=counts, alpha=0.5, gamma=1.5, temperature=0.5)
    yt = _ty(y)
    constants = {"keys": _t(keys), "queue": _t(queue), "queue_labels": _ty(labels)}
    inputs = (_t(z).requires_grad_(True), _t(queries).requires_grad_(True))
    assert torch.autograd.gradcheck(lambda a, q: loss(a, yt, queries=q, **constants), inputs, fast_mode=True)


# --------------------------------------------------------------------------------------------
# self-consistency of the numpy references (independent of ltcli)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASE_IDS)
def test_reference_identities(case):
    counts, z, y = _batch(case)
    ce = ref.erm(z, y)
    _check(ref.la(z, y, counts, 1.0), ref.bsce(z, y, counts))
    _check(ref.cce(z, y, 0.0), ce)
    _check(ref.focal(z, y, 0.0), ce)
    _check(ref.cot_primary(z, y), ce)
    _check(ref.la(z, y, counts, 0.0), ce)
    _check(ref.lade(z, y, counts, alpha=0.0), ref.bsce(z, y, counts))
    _check(ref.tpauc(z, y, 2.0, epoch=1, epoch_to_paced=2, re_scheme="Exp"), ref.square_auc(z, y))
    _check(ref.tpauc(z, y, 0.0, epoch=3, epoch_to_paced=2, re_scheme="Poly"), ref.square_auc(z, y))
    f = _features(case)
    _check(ref.feabal(z, y, f, counts, 0, 20), ce)
    # CCE(gamma) - CE == gamma * (COT complement loss): both are sum(q log q) / (K - 1)
    _check(ref.cce(z, y, 2.5) - ce, 2.5 * ref.cot_complement(z, y))
    # LDAM with zero margin is CE of scaled logits
    _check(ref.ldam(z, y, counts, max_margin=0.0, scale=3.0), ref.erm(3.0 * z, y))
    m = ref.ldam_margins(counts, 0.5)
    assert math.isclose(m.max(), 0.5) and np.all(np.diff(m) > 0)
    # LAS without smoothing is CE; with the same smoothing for every class, torch-style label smoothing
    _check(ref.las(z, y, counts, 0.0, 0.0), ce)
    for shape in ("concave", "linear", "convex"):
        _check(ref.las(z, y, counts, 0.2, 0.2, shape), ref.erm(z, y, 0.2))
    # RIDE with one expert, no diversity term, before re-weighting: LDAM of the cosines z (logits s z)
    _check(ref.ride(30.0 * z[None], y, counts, 0, 10, diversity_factor=0.0), ref.ldam(z, y, counts, 0.5, 30.0))
    # PaCo without contrast samples in numerator (alpha 0) or denominator (gamma 0): logit-adjusted CE
    queries, keys, queue, labels = _contrast(case)
    _check(ref.paco(z, y, counts, queries, keys, queue, labels, alpha=0.0, gamma=0.0), ref.la(z, y, counts, 1.0))


def test_reference_feabal_class_term():
    beta = ref.feabal_class_term([100, 40, 10, 3])
    np.testing.assert_allclose(beta, [0.0, LN(100 / 40) / LN(100 / 3), LN(10) / LN(100 / 3), 1.0], rtol=1e-12)


def test_reference_gml_and_lade_by_loops():
    counts, z, y = _batch("k4_absent")
    n, k = z.shape
    pi = np.asarray(counts, float) / sum(counts)
    # GML: explicit loops
    p = np.exp(z + np.log(counts))
    p /= p.sum(axis=1, keepdims=True)
    logs = []
    for c in sorted(set(y.tolist())):
        logs.append(math.log(np.mean([p[i, c] for i in range(n) if y[i] == c])))
    _check(ref.gml(z, y, counts), -sum(logs) / len(logs))
    # LADER: explicit loops, absent class 2 has first term 0
    lam, alpha = 0.3, 0.7
    lader = 0.0
    for c in range(k):
        idx = [i for i in range(n) if y[i] == c]
        first = sum(z[i, c] for i in idx) / len(idx) if idx else 0.0
        second = math.log(sum(math.exp(z[i, c]) / pi[c] / k for i in range(n)) / n)
        lader -= pi[c] * (first - second - lam * second * second)
    _check(ref.lade(z, y, counts, alpha=alpha, lam=lam), ref.la(z, y, counts, 1.0) + alpha * lader)


def test_every_registered_objective_has_a_reference_and_a_gradient_check():
    """A new registry entry fails here until it gets a reference implementation and a gradcheck."""
    # TPAUC and FeaBal have dedicated tests (pacing, features) besides the shared tables.
    dedicated = set(DEDICATED)
    referenced = {spec[0] for spec in SPECS} | dedicated
    gradchecked = {spec[0] for spec in GRAD_SPECS} | dedicated
    assert set(list_objectives()) <= referenced
    assert set(list_objectives()) <= gradchecked
