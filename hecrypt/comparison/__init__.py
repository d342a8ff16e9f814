"""Measured comparison of private-prediction techniques on the user's own model.

Homomorphic encryption (Paillier: ``he``, ``he-packed``, and ``phe`` as the
baseline implementation), secret sharing (``dealer``, ``two-party``) and the
``hybrid`` run the same private prediction; each is measured from the
channels' counters (bytes and rounds per party and phase) and real clocks,
checked against the plaintext model, and projected onto a network::

    import hecrypt
    cmp = hecrypt.compare(model=fitted_sklearn_model, X=records)
    print(cmp.table())

See docs/comparison.md for the figures on this machine and how to read them,
:mod:`hecrypt.comparison.projection` for the network model and
``hecrypt compare --help`` for the command.
"""

from __future__ import annotations

from hecrypt.comparison.api import SWEEP_PARAMS, Comparison, compare, sweep
from hecrypt.comparison.projection import PRESETS, Network, parse_network, project
from hecrypt.comparison.results import AccuracyCheckError, ComparisonError, TechniqueResult
from hecrypt.comparison.techniques import TECHNIQUES, availability, run_technique
from hecrypt.comparison.workloads import (
    Workload,
    digits_workload,
    linear_workload,
    model_workload,
)

__all__ = [
    "TECHNIQUES",
    "SWEEP_PARAMS",
    "PRESETS",
    "Network",
    "Workload",
    "Comparison",
    "TechniqueResult",
    "AccuracyCheckError",
    "ComparisonError",
    "compare",
    "sweep",
    "availability",
    "run_technique",
    "parse_network",
    "project",
    "linear_workload",
    "model_workload",
    "digits_workload",
]
