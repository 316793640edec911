"""Post-hoc corrections at test time (ltcli.posthoc): each formula against numbers worked out by hand
or a naive reference, the sweep against scripted outputs whose best tau is known, and `ltcli test`
with --tau-norm / --logit-adjust / --sweep / --temperatures on run folders made like test_cli_evaluate's."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from test_cli_evaluate import COUNTS, make_run, read_csv
from torch import nn

import ltcli.engine.scoring as scoring
from ltcli.data.loaders import image_folder
from ltcli.data.source import DataSource
from ltcli.engine.classifier import load_run
from ltcli.metrics import average_probabilities, log_probabilities
from ltcli.models import create_model
from ltcli.models.heads import forward_with_features
from ltcli.posthoc import (
    LOGIT_ADJUST,
    TAU_NORM,
    MemberCache,
    PosthocPlan,
    adjust_logits,
    choose_tau,
    linear_classifier,
    sweep_taus,
    tau_normalise,
    tempered_log_probs,
)
from ltcli.posthoc_options import parse_taus
from ltcli.run_folder import ResultsFolder, RunFolder

# Rows of norm 5, 1 and 2: w / ||w||^tau worked out by hand for each tau.
WEIGHT = [[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]]
TAU_NORMALISED_BY_HAND = {
    0.0: WEIGHT,
    0.5: [[3 / math.sqrt(5), 4 / math.sqrt(5)], [1.0, 0.0], [0.0, math.sqrt(2)]],  # 2 / 2^0.5 = sqrt 2
    1.0: [[0.6, 0.8], [1.0, 0.0], [0.0, 1.0]],
    2.0: [[0.12, 0.16], [1.0, 0.0], [0.0, 0.5]],
}


@pytest.mark.parametrize("tau", sorted(TAU_NORMALISED_BY_HAND))
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_tau_normalise_by_hand(tau, kind):
    weight = np.array(WEIGHT) if kind == "numpy" else torch.tensor(WEIGHT, dtype=torch.float64)
    result = np.asarray(tau_normalise(weight, tau))
    assert result == pytest.approx(np.array(TAU_NORMALISED_BY_HAND[tau]), abs=1e-12)
    # the logits tau-norm recomputes from features: x = (1, 1) scores each class by the sum of its row
    features = np.array([[1.0, 1.0], [2.0, -1.0]])
    cache = MemberCache(logits=features @ np.array(WEIGHT).T, class_counts=COUNTS, features=features,
                        classifier_weight=np.array(WEIGHT))
    expected = features @ np.array(TAU_NORMALISED_BY_HAND[tau]).T
    assert TAU_NORM.logits(cache, tau) == pytest.approx(expected, abs=1e-12)
    if tau == 1.0:
        assert TAU_NORM.logits(cache, tau)[0] == pytest.approx([1.4, 1.0, 1.0])


def test_a_zero_weight_row_stays_zero():
    assert tau_normalise(np.array([[0.0, 0.0], [3.0, 4.0]]), 1.0) == pytest.approx(np.array([[0, 0], [0.6, 0.8]]))


@pytest.mark.parametrize("correction", [TAU_NORM, LOGIT_ADJUST], ids=lambda c: c.key)
def test_tau_zero_leaves_the_logits_unchanged(correction):
    rng = np.random.default_rng(0)
    features, weight = rng.normal(size=(6, 4)), rng.normal(size=(3, 4))
    logits = features @ weight.T  # a bias-free classifier: tau-norm's logits at tau = 0 are these
    cache = MemberCache(logits=logits, class_counts=COUNTS, features=features, classifier_weight=weight)
    assert correction.logits(cache, 0.0) == pytest.approx(logits, abs=1e-12)


def naive_logit_adjustment(logits: np.ndarray, counts: list[int], tau: float) -> np.ndarray:
    """z_ic - tau * log(n_c / sum n), one entry at a time."""
    total = sum(counts)
    return np.array([[logits[i][c] - tau * math.log(counts[c] / total) for c in range(len(counts))]
                     for i in range(len(logits))])


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0, 2.0])
def test_logit_adjustment_matches_a_naive_reference(tau):
    logits = np.random.default_rng(1).normal(size=(5, 3))
    assert adjust_logits(logits, COUNTS, tau) == pytest.approx(naive_logit_adjustment(logits, COUNTS, tau))
    cache = MemberCache(logits=logits, class_counts=COUNTS)
    assert LOGIT_ADJUST.logits(cache, tau) == pytest.approx(naive_logit_adjustment(logits, COUNTS, tau))


def test_logit_adjustment_of_a_one_logit_binary_run():
    """p(positive) = sigmoid(z - tau * (log pi_pos - log pi_neg)): the two-class rule on one logit."""
    z, counts, tau = np.array([[-1.0], [0.5], [2.0]]), [30, 10], 0.7
    adjusted = log_probabilities(LOGIT_ADJUST.logits(MemberCache(logits=z, class_counts=counts), tau))
    shifted = z[:, 0] - tau * (math.log(10 / 40) - math.log(30 / 40))
    assert np.exp(adjusted[:, 1]) == pytest.approx(1 / (1 + np.exp(-shifted)))


def test_tau_norm_of_a_real_resnet20_equals_features_times_normalised_weights():
    torch.manual_seed(0)
    model = create_model("resnet20", num_classes=3).eval()
    images = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        _, features = forward_with_features(model, images)
        weight = model.fc.weight.detach().clone()
        normalised = weight / weight.norm(dim=1, keepdim=True) ** 0.7  # built here, row by row
        expected = features @ normalised.T
    cache = MemberCache(logits=np.zeros((4, 3)), class_counts=COUNTS, features=features.numpy(),
                        classifier_weight=weight.numpy())
    assert TAU_NORM.logits(cache, 0.7) == pytest.approx(expected.numpy().astype(np.float64), abs=1e-5)


class NoHead(nn.Module):
    def forward(self, x):
        return x


def resnet_with_identity_head() -> nn.Module:
    model = create_model("resnet20", num_classes=3)
    model.reset_classifier(0)  # timm's way to drop the head: an nn.Identity
    return model


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: create_model("resnet20", num_classes=3, cosine_head=True), "has a cosine classifier (LDAM's)"),
        (resnet_with_identity_head, "has a Identity classifier"),
        (NoHead, "has no classifier timm's get_classifier() names"),
    ],
    ids=["cosine", "identity", "no-get-classifier"],
)
def test_tau_norm_needs_a_linear_classifier(make, message):
    from ltcli.errors import LtcliError

    with pytest.raises(LtcliError, match="--tau-norm needs a linear classifier") as error:
        linear_classifier(make(), "the run")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_temperature_ensemble_by_hand():
    """Member 1 at t = 1: softmax(0, ln 3) = (1/4, 3/4), softmax(0, 0) = (1/2, 1/2). Member 2 at t = 2:
    softmax((ln 4, 0) / 2) = softmax(ln 2, 0) = (2/3, 1/3), softmax((0, 2 ln 3) / 2) = (1/4, 3/4).
    Means: (11/24, 13/24) and (3/8, 5/8)."""
    first = np.array([[0.0, math.log(3)], [0.0, 0.0]])
    second = np.array([[math.log(4), 0.0], [0.0, 2 * math.log(3)]])
    combined, members = tempered_log_probs([first, second], [1.0, 2.0])
    assert np.exp(combined) == pytest.approx(np.array([[11 / 24, 13 / 24], [3 / 8, 5 / 8]]))
    assert np.exp(members[1]) == pytest.approx(np.array([[2 / 3, 1 / 3], [1 / 4, 3 / 4]]))


def test_temperatures_of_one_are_the_plain_ensemble():
    rng = np.random.default_rng(2)
    logits = [rng.normal(size=(5, 4)) for _ in range(3)]
    plain = average_probabilities([log_probabilities(z) for z in logits])
    assert tempered_log_probs(logits)[0] == pytest.approx(plain)
    assert tempered_log_probs(logits, [1.0, 1.0, 1.0])[0] == pytest.approx(plain)


def scripted_logit_adjust_case() -> tuple[list[MemberCache], np.ndarray]:
    """Prior (0.9, 0.1): tau shifts class 1 up by tau * ln 9 = 2.197 tau against class 0 (a tie goes to
    class 0). Label-1 samples with margins z0 - z1 = 1 and 2 need tau > 0.455 and > 0.910; the label-0
    sample with margin 3 needs tau <= 1.365, the one with margin 10 any tau below 4.5. Balanced accuracy:
    tau 0: (1 + 0)/2, 0.5: (1 + 1/2)/2, 1: (1 + 1)/2, 1.5: (1/2 + 1)/2, 2: (1/2 + 1)/2."""
    logits = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [10.0, 0.0]])
    return [MemberCache(logits=logits, class_counts=[90, 10])], np.array([1, 1, 0, 0])


def scripted_tau_norm_case() -> tuple[list[MemberCache], np.ndarray]:
    """Rows of norm 3 and 1: the class-0 logit of a feature (1, f) is 3^(1 - tau), the class-1 logit f.
    Label 1 at f = 2 and 1.2 needs 3^(1-tau) < f: tau > 0.369 and > 0.834; label 0 at f = 0.8 and 0.1
    needs 3^(1-tau) >= f: tau <= 1.203, and always. Balanced accuracy: tau 0: 0.5, 0.5: 0.75, 1: 1,
    1.5: 0.75."""
    features = np.array([[1.0, 2.0], [1.0, 1.2], [1.0, 0.8], [1.0, 0.1]])
    weight = np.array([[3.0, 0.0], [0.0, 1.0]])
    cache = MemberCache(logits=features @ weight.T, class_counts=[90, 10], features=features, classifier_weight=weight)
    return [cache], np.array([1, 1, 0, 0])


@pytest.mark.parametrize(
    ("correction", "case", "taus", "expected"),
    [
        (LOGIT_ADJUST, scripted_logit_adjust_case, (0.0, 0.5, 1.0, 1.5, 2.0), [0.5, 0.75, 1.0, 0.75, 0.75]),
        (TAU_NORM, scripted_tau_norm_case, (0.0, 0.5, 1.0, 1.5), [0.5, 0.75, 1.0, 0.75]),
    ],
    ids=["logit_adjust", "tau_norm"],
)
def test_the_sweep_picks_the_tau_that_scores_best_on_validation(correction, case, taus, expected):
    caches, labels = case()
    plan = PosthocPlan(correction, taus, sweep=True)
    table = sweep_taus(plan, caches, labels, [90, 10])
    assert [t for t, _ in table] == list(taus)
    assert [v for _, v in table] == pytest.approx(expected)
    assert choose_tau(table, plan.sweep_metric) == 1.0


@pytest.mark.parametrize(
    ("table", "metric", "chosen"),
    [
        ([(0.0, 0.5), (1.0, 0.9), (2.0, 0.9)], "balanced_acc", 1.0),  # a tie keeps the earlier tau
        ([(0.0, 0.5), (1.0, 0.3), (2.0, 0.4)], "nll", 1.0),  # lower wins
        ([(0.0, None), (1.0, 0.2)], "few_shot_acc", 1.0),  # undefined never wins
    ],
)
def test_choose_tau(table, metric, chosen):
    assert choose_tau(table, metric) == chosen


@pytest.mark.parametrize(
    ("text", "taus"),
    [("1", (1.0,)), ("0,0.5,1", (0.0, 0.5, 1.0)), ("0:2:0.5", (0.0, 0.5, 1.0, 1.5, 2.0)),
     ("0:0.3:0.1", (0.0, 0.1, 0.2, 0.3)), ("1:1:0.1", (1.0,))],
)
def test_parse_taus(text, taus):
    assert parse_taus(text, "--tau-norm") == taus


@pytest.mark.parametrize(
    ("tag", "split", "name"),
    [("", "test", "metrics.json"), ("taunorm", "test", "metrics_taunorm.json"),
     ("logitadjust", "valid", "metrics_logitadjust_valid.json"),
     ("taunorm_temperature", "test", "metrics_taunorm_temperature.json")],
)
def test_corrected_results_carry_their_tag(tmp_path, tag, split, name):
    folder = ResultsFolder(tmp_path).corrected(tag)
    assert folder.metrics_path(split).name == name
    assert folder.results_files(split, binary=True)["roc"].name == name.replace("metrics", "roc_curve").replace(
        ".json", ".svg")


# --- through the CLI ------------------------------------------------------------------------------


@pytest.fixture
def run(tmp_path, split_dataset) -> Path:
    return make_run(tmp_path / "logs", split_dataset, "ERM", "2026-01-01-00-00-00", seed=1)


TAGGED = ("metrics_{}.json", "per_class_{}.csv", "predictions_{}.csv", "confusion_matrix_{}.svg",
          "per_class_recall_{}.svg")


@pytest.mark.parametrize(("flag", "key", "tag"), [("--tau-norm", "tau_norm", "taunorm"),
                                                 ("--logit-adjust", "logit_adjust", "logitadjust")])
def test_a_correction_writes_tagged_results_beside_the_plain_ones(cli, run, flag, key, tag):
    cli("test", "--run", str(run))
    plain = (run / "metrics.json").read_bytes()
    result = cli("test", "--run", str(run), flag, "0.5")
    assert (run / "metrics.json").read_bytes() == plain  # the plain results stay
    for pattern in TAGGED:
        assert (run / pattern.format(tag)).is_file()
    metrics = json.loads((run / f"metrics_{tag}.json").read_text())
    assert metrics["posthoc"][key] == 0.5 and metrics["posthoc"]["chosen_on"] == "given"
    assert "sweep" not in metrics["posthoc"] and "temperatures" not in metrics
    assert metrics["label"] == f"ERM {run.name} ({flag.lstrip('-')} 0.5)"
    predictions = read_csv(run / f"predictions_{tag}.csv")
    assert metrics["acc"] == pytest.approx(sum(p["true"] == p["predicted"] for p in predictions) / 12)
    assert f"metrics_{tag}.json" in result.output


@pytest.fixture
def biased_run(tmp_path, split_dataset) -> Path:
    """A run whose classifier favours the head as a long tail does, by construction: row c is the unit
    mean feature of class c's training images (the untrained backbone's, through the run's own
    transform) times n_c, no bias. tau = 1 removes exactly that factor n_c and leaves the
    nearest-mean-by-angle classifier, which tells these colours apart; every other tau keeps a norm
    ratio of at least 2^0.5 between classes and predicts the head class for every image."""
    run = make_run(tmp_path / "logs", split_dataset, "ERM", "2026-01-05-00-00-00", seed=1)
    loaded = load_run(RunFolder(run), torch.device("cpu"))
    train = image_folder(split_dataset / "train", loaded.eval_transform())
    images = torch.stack([train[i][0] for i in range(len(train))])
    labels = torch.tensor([train[i][1] for i in range(len(train))])
    with torch.no_grad():
        _, features = forward_with_features(loaded.network, images)
    means = torch.stack([features[labels == c].mean(0) for c in range(3)])
    checkpoint = torch.load(run / "checkpoint_best.pt", weights_only=True)
    checkpoint["model"]["fc.weight"] = means / means.norm(dim=1, keepdim=True) * torch.tensor(COUNTS)[:, None]
    checkpoint["model"]["fc.bias"] = torch.zeros(3)
    torch.save(checkpoint, run / "checkpoint_best.pt")
    return run


def test_the_sweep_chooses_on_valid_and_reads_test_only_afterwards(cli, biased_run, monkeypatch):
    run = biased_run
    events: list[str] = []
    real_open, real_sweep = DataSource.open_split, scoring.sweep_taus

    def recording_open(self, split, *args, **kwargs):
        events.append(split)
        return real_open(self, split, *args, **kwargs)

    def recording_sweep(*args, **kwargs):
        events.append("sweep")
        return real_sweep(*args, **kwargs)

    monkeypatch.setattr(DataSource, "open_split", recording_open)
    monkeypatch.setattr(scoring, "sweep_taus", recording_sweep)
    result = cli("test", "--run", str(run), "--tau-norm", "0:2:0.5", "--sweep")
    assert events.index("sweep") > max(i for i, e in enumerate(events) if e == "valid")
    assert "test" not in events[:events.index("sweep")] and "test" in events
    assert "tau_norm sweep" in result.output and "chosen" in result.output

    posthoc = json.loads((run / "metrics_taunorm.json").read_text())["posthoc"]
    assert posthoc["tau_norm"] == 1.0 and posthoc["chosen_on"] == "valid" and posthoc["sweep_metric"] == "balanced_acc"
    assert posthoc["sweep"] == [[0.0, pytest.approx(1 / 3)], [0.5, pytest.approx(1 / 3)], [1.0, 1.0],
                                [1.5, pytest.approx(1 / 3)], [2.0, pytest.approx(1 / 3)]]
    assert json.loads((run / "metrics_taunorm.json").read_text())["balanced_acc"] == 1.0
    cli("test", "--run", str(run))
    assert json.loads((run / "metrics.json").read_text())["balanced_acc"] == pytest.approx(1 / 3)  # head bias


@pytest.mark.slow
def test_each_sweep_value_is_that_tau_tested_alone(cli, biased_run):
    run = biased_run
    cli("test", "--run", str(run), "--logit-adjust", "0:3:1", "--sweep", "--sweep-metric", "nll")
    chosen = json.loads((run / "metrics_logitadjust.json").read_text())
    posthoc = chosen["posthoc"]
    values = [value for _, value in posthoc["sweep"]]
    assert posthoc["logit_adjust"] == posthoc["sweep"][values.index(min(values))][0]  # nll: the lowest wins
    for tau, value in posthoc["sweep"]:
        cli("test", "--run", str(run), "--logit-adjust", str(tau), "--split", "valid")
        alone = json.loads((run / "metrics_logitadjust_valid.json").read_text())
        assert alone["nll"] == pytest.approx(value)
    cli("test", "--run", str(run), "--logit-adjust", str(posthoc["logit_adjust"]), "--out", str(run.parent / "alone"))
    alone = json.loads((run.parent / "alone" / "metrics_logitadjust.json").read_text())
    for key in ("acc", "balanced_acc", "nll", "ece"):
        assert alone[key] == pytest.approx(chosen[key])


def test_a_temperature_ensemble(cli, run, tmp_path, split_dataset):
    other = make_run(tmp_path / "logs", split_dataset, "CCE", "2026-01-02-00-00-00", seed=2)
    cli("test", "--run", str(run), "--run", str(other), "--out", str(tmp_path / "plain"))
    cli("test", "--run", str(run), "--run", str(other), "--temperatures", "1,3", "--out", str(tmp_path / "warm"))
    plain = json.loads((tmp_path / "plain" / "metrics.json").read_text())
    warm = json.loads((tmp_path / "warm" / "metrics_temperature.json").read_text())
    assert warm["temperatures"] == [1.0, 3.0] and "temperatures" not in plain and "posthoc" not in warm
    assert warm["label"].endswith("(temperatures 1,3)")
    assert not (tmp_path / "warm" / "metrics.json").exists()
    # one temperature per member, in --run order: the first (t = 1) scores as in the plain ensemble,
    # the second keeps its accuracy (dividing logits by t keeps their order) and changes its NLL
    first, second = warm["members"]
    assert first["nll"] == pytest.approx(plain["members"][0]["nll"]) and first["stamp"] == run.name
    assert second["acc"] == pytest.approx(plain["members"][1]["acc"])
    assert second["nll"] != pytest.approx(plain["members"][1]["nll"])


def make_cosine_run(logs: Path, data_root: Path) -> Path:
    """A run as LDAM leaves it: the resnet20 with a cosine classifier."""
    run = make_run(logs, data_root, "LDAM", "2026-01-03-00-00-00", seed=3)
    checkpoint = torch.load(run / "checkpoint_best.pt", weights_only=True)
    checkpoint["model"] = create_model("resnet20", num_classes=3, cosine_head=True).state_dict()
    checkpoint["config"]["cosine_head"] = True
    torch.save(checkpoint, run / "checkpoint_best.pt")
    return run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tau-norm", "-1"), "--tau-norm must be a finite number >= 0, got -1"),
        (("--tau-norm", "nan"), "--tau-norm must be a finite number >= 0, got nan"),
        (("--logit-adjust", "inf"), "--logit-adjust must be a finite number >= 0, got inf"),
        (("--logit-adjust", "0:2"), "--logit-adjust takes a number, a list (0,0.5,1) or a grid START:STOP:STEP"),
        (("--tau-norm", "half"), "--tau-norm takes a number, a list"),
        (("--tau-norm", "2:0:0.5", "--sweep"), "--tau-norm grid 2:0:0.5 is empty"),
        (("--tau-norm", "0:1:0", "--sweep"), "--tau-norm grid 0:1:0 is empty"),
        (("--tau-norm", "0:1000:0.1", "--sweep"), "has 10001 values: at most 1000"),
        (("--tau-norm", "0,1"), "--tau-norm got 2 values: add --sweep"),
        (("--sweep",), "--sweep needs a grid to choose from"),
        (("--sweep", "--logit-adjust", "1"), "--sweep needs at least two values to choose from"),
        (("--tau-norm", "1", "--logit-adjust", "1"), "give --tau-norm or --logit-adjust, not both"),
        (("--tau-norm", "1", "--sweep-metric", "acc"), "--sweep-metric applies with --sweep only"),
        (("--tau-norm", "0,1", "--sweep", "--sweep-metric", "loss"), "unknown --sweep-metric 'loss'"),
        (("--tau-norm", "0,1", "--sweep", "--split", "valid"), "cannot also report on valid/"),
        (("--temperatures", "1,2"), "--temperatures gives 2 temperature(s) for 1 run(s)"),
        (("--temperatures", "0"), "--temperatures must be finite and > 0, got 0"),
        (("--temperatures", "-2"), "--temperatures must be finite and > 0, got -2"),
        (("--temperatures", "1;2"), "--temperatures takes one number per --run"),
    ],
)
def test_bad_posthoc_input_is_one_line(cli, run, args, message):
    result = cli("test", "--run", str(run), *args, ok=False)
    assert result.exit_code == 1 and message in " ".join(result.output.split())
    assert "Traceback" not in result.output and result.output.count("error:") == 1
    assert not list(run.glob("metrics*.json"))  # nothing written


def test_runs_and_datasets_a_correction_cannot_apply_to(cli, tmp_path, split_dataset, run):
    cosine = make_cosine_run(tmp_path / "logs", split_dataset)
    result = cli("test", "--run", str(cosine), "--tau-norm", "1", ok=False)
    assert "--tau-norm needs a linear classifier: LDAM 2026-01-03-00-00-00 has a cosine classifier" in " ".join(
        result.output.split())
    cli("test", "--run", str(cosine), "--logit-adjust", "0.1")  # the prior still applies to cosine logits
    empty = make_run(tmp_path / "logs", split_dataset, "CCE", "2026-01-04-00-00-00", seed=4, counts=[24, 0, 6])
    result = cli("test", "--run", str(empty), "--logit-adjust", "1", ok=False)
    assert "'leaf' has 0: the training prior is undefined" in " ".join(result.output.split())
    import shutil

    shutil.rmtree(split_dataset / "valid")
    result = cli("test", "--run", str(run), "--logit-adjust", "0,1", "--sweep", ok=False)
    assert "--sweep chooses on the run's valid/ split" in " ".join(result.output.split())
    assert not list(run.glob("metrics*.json"))


@pytest.mark.parametrize(("flag", "tag"), [("--tau-norm", "taunorm"), ("--logit-adjust", "logitadjust")])
def test_a_one_logit_binary_run_takes_both_corrections(cli, tmp_path, make_class_folder, flag, tag):
    root = tmp_path / "a_datasets" / "pair"
    for split, count in (("train", 8), ("valid", 4), ("test", 6)):
        make_class_folder({"apple": count, "sky": count}, root / split)
    run = make_run(tmp_path / "logs", root, "ERM", "2026-02-01-00-00-00", seed=4, class_names=["apple", "sky"],
                   counts=[12, 4], outputs=1)
    cli("test", "--run", str(run), flag, "0:1:0.5", "--sweep")
    metrics = json.loads((run / f"metrics_{tag}.json").read_text())
    assert metrics["num_classes"] == 2 and len(metrics["posthoc"]["sweep"]) == 3
    assert (run / f"roc_curve_{tag}.svg").is_file() and not (run / "metrics.json").exists()
