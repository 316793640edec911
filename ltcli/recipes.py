"""Recipes: named sets of `ltcli train` options for the second stage of two-stage methods.

`--recipe NAME` fills the options the user did not give with the recipe's values; options given on
the command line (or by name to `TrainConfig.create`) win, and every other option keeps its
TrainConfig default. The resolved values are what config.json records. Each recipe starts from an
earlier run (`--init-from RUN` or `--weights FILE`): the first stage is a plain `ltcli train` run.

Shared by all three (`SHORT`): 10 epochs with a cosine schedule and no warmup, the second-stage
schedule of both papers' code (Kang et al.'s configs: `num_epochs: 10`, `coslr: true`; MiSLAS's
stage-two configs: `num_epochs: 10`, cosine decay), on class-balanced sampling (`--train-rule
Resample`: every class equally likely per draw, the papers' class-aware samplers). The learning rate,
batch size and weight decay stay ltcli's defaults (0.1, 128, 5e-4): ltcli's choice (Kang et al. use
0.2 at batch 512; MiSLAS's CIFAR configs 0.1 with a per-group factor, batch 128, 2e-4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ltcli.errors import LtcliError

SHORT = {"epochs": 10, "sched": "cosine", "warmup_epochs": 0, "train_rule": "Resample"}


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    values: dict[str, Any]  # TrainConfig field -> value, for the fields the user does not give

    def fill(self, given: dict[str, Any]) -> dict[str, Any]:
        """The recipe's values the user did not override."""
        return {field: value for field, value in self.values.items() if field not in given}


RECIPES = {recipe.name: recipe for recipe in (
    # Kang et al., "Decoupling Representation and Classifier for Long-Tailed Recognition", ICLR 2020,
    # Sec. 4 (cRT): keep the representation, re-initialise the classifier and re-train it with
    # cross entropy under class-balanced sampling.
    Recipe("crt", "classifier re-training (Kang et al., ICLR 2020): frozen backbone, fresh classifier",
           {"objective": "ERM", "freeze": "backbone", "reinit_head": True, **SHORT}),
    # Kang et al. 2020, Sec. 4 (LWS): keep the representation and the classifier's weights, learn one
    # scale per class's logit under class-balanced sampling.
    Recipe("lws", "learnable weight scaling (Kang et al., ICLR 2020): only per-class logit scales train",
           {"objective": "ERM", "head": "lws", "freeze": "backbone+classifier", **SHORT}),
    # Zhong et al., "Improving Calibration for Long-Tailed Recognition", CVPR 2021 (MiSLAS) stage two:
    # label-aware smoothing, the stage-one classifier trained further, BatchNorm shifted to the
    # class-balanced data (Sec. 3.3). ltcli trains the BatchNorm affine parameters as well as their
    # running statistics; the authors' code (train_stage2.py) updates only the statistics (`shift_bn`,
    # on in its CIFAR-100 and large-dataset configs, off in the CIFAR-10 ones), and scales the logits
    # by an LWS head trained along with the classifier, which `--head lws` adds here.
    Recipe("mislas", "MiSLAS stage two (Zhong et al., CVPR 2021): label-aware smoothing, classifier + BatchNorm",
           {"objective": "LAS", "freeze": "backbone-except-bn", **SHORT}),
)}


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name.lower()]
    except KeyError:
        raise LtcliError(f"unknown --recipe {name!r}: choose one of {', '.join(RECIPES)}") from None
