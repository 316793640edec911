"""How `ltcli test` scores a run and `ltcli predict` classifies images, declared once: `TestOptions`
is the test command's scoring options (generated into its flags) and a study file's `test:` keys
(TEST_KEYS); `PredictOptions` is predict's."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ltcli.errors import LtcliError
from ltcli.metrics import FEW_SHOT_MAX, LOWER_IS_BETTER, MANY_SHOT_MIN, SUMMARY_KEYS
from ltcli.posthoc import DEFAULT_SWEEP_METRIC, PosthocPlan
from ltcli.settings import option, spelled

MINIMISED = tuple(key for key in SUMMARY_KEYS if key in LOWER_IS_BETTER)
DEVICE_HELP = "auto, cpu or cuda."


@dataclass
class TestOptions:
    """The options of one run's scoring: shot groups, a post-hoc correction, the device."""

    __test__ = False  # not a pytest test class, whatever its name

    many_shot: int = option(MANY_SHOT_MIN, "Many-shot: more than this many training images.")
    few_shot: int = option(FEW_SHOT_MAX, "Few-shot: fewer than this many training images.")
    tau_norm: str | None = option(
        None, "Tau-normalise the classifier: w_c / ||w_c||^TAU, bias dropped (Kang et al. 2020). One TAU, or a grid "
        "for --sweep: 0:2:0.1 (START:STOP:STEP) or 0,0.5,1.")
    logit_adjust: str | None = option(
        None, "Post-hoc logit adjustment: logits - TAU * log(training prior) (Menon et al. 2021). One TAU, or a grid "
        "for --sweep.")
    sweep: bool = option(False, "Choose TAU from the grid on the run's valid/ split, then test with it alone.",
                         flags=("--sweep",))
    sweep_metric: str | None = option(
        None, f"What the sweep optimises on valid/ (default {DEFAULT_SWEEP_METRIC}; {spelled(MINIMISED, 'and')} are "
        "minimised).")
    device: str = option("auto", DEVICE_HELP)

    def metric_options(self) -> dict[str, Any]:
        """The shot-group bounds, as the metrics name them."""
        return {"many_min": int(self.many_shot), "few_max": int(self.few_shot)}

    def plan(self, temperatures: str | None = None, num_runs: int = 1, split: str = "test") -> PosthocPlan:
        """The post-hoc correction these options ask for (a TAU from YAML may be a number)."""
        return PosthocPlan.from_options(
            None if self.tau_norm is None else str(self.tau_norm),
            None if self.logit_adjust is None else str(self.logit_adjust),
            bool(self.sweep), self.sweep_metric, temperatures, num_runs, split)


TEST_KEYS = tuple(f.name for f in fields(TestOptions))


@dataclass
class PredictOptions:
    """How `ltcli predict` classifies images: how many classes to report, the batch, the device."""

    top_k: int = option(5, "How many classes to report per image.")
    batch_size: int = option(64, "Images per forward pass.")
    device: str = option("auto", DEVICE_HELP)

    def __post_init__(self) -> None:
        for name, flag in (("top_k", "--top-k"), ("batch_size", "--batch-size")):
            if getattr(self, name) < 1:
                raise LtcliError(f"{flag} must be at least 1, got {getattr(self, name)}")
