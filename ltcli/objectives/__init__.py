"""Objectives: `create_objective(name, class_counts=[...], **options)` -> nn.Module loss.

Each family lives in its own module and registers itself on import; adding an objective is one
file plus one import line below.
"""

from ltcli.objectives.base import Objective
from ltcli.objectives.registry import (
    create_objective,
    get_objective_entry,
    list_objectives,
    register_objective,
)

# Families (import order = listing order).
from ltcli.objectives import cross_entropy  # noqa: E402,F401  isort: skip
from ltcli.objectives import complement  # noqa: E402,F401  isort: skip
from ltcli.objectives import focal  # noqa: E402,F401  isort: skip
from ltcli.objectives import auc  # noqa: E402,F401  isort: skip
from ltcli.objectives import logit_adjusted  # noqa: E402,F401  isort: skip
from ltcli.objectives import ldam  # noqa: E402,F401  isort: skip
from ltcli.objectives import lade  # noqa: E402,F401  isort: skip
from ltcli.objectives import gml  # noqa: E402,F401  isort: skip
from ltcli.objectives import feabal  # noqa: E402,F401  isort: skip
from ltcli.objectives import las  # noqa: E402,F401  isort: skip
from ltcli.objectives import ride  # noqa: E402,F401  isort: skip
from ltcli.objectives import paco  # noqa: E402,F401  isort: skip

__all__ = ["Objective", "create_objective", "get_objective_entry", "list_objectives", "register_objective"]
