"""Structured results of a comparison: per technique and party, accuracy, projections.

Accuracy check (every technique, every run): the client's outputs are
compared with the plaintext model's on the same records.

* ``max_abs_error``: the largest ``|output - reference|`` over all records and outputs.
* ``label_agreement``: the fraction of records whose label (sign of a single
  logit, else arg max) equals the plaintext model's.
* The check passes when ``max_abs_error <= tolerance`` and every record whose
  plaintext label is clear (top-1 minus top-2 margin, or ``|z|`` for a single
  logit, above ``2 * tolerance``) gets the same label. A label may differ only
  where the plaintext model itself is within the tolerance of a tie.

Tolerances (documented bounds, loose by a small factor so they never fail on
a correct run, tight enough to catch a wrong one):

* Paillier techniques: records and weights are encoded with at least 20
  fractional bits (packed; 32 unpacked), so each score is off by at most
  ``(max_i sum_j |x_ij| + max_k sum_j |w_kj| + 1) * 2^-20``; the tolerance is
  that bound times 2. phe encodes floats at 53 bits and stays far inside it.
* Secret sharing on a linear model: fixed point with ``f = 16`` fractional
  bits and one truncation per product: ``(sum |x| + sum |w| + 4) * 2^-14``
  (``2^-16`` per encoding and truncation, times 4 of slack).
* Secret sharing on a network (polynomial activations, several truncations
  per layer): ``0.05 * (1 + max |reference|)``; the private outputs are
  compared with the plaintext forward pass that uses the same polynomial
  activations, so the only difference is fixed-point error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hecrypt.comparison.projection import Network, project
from hecrypt.comparison.techniques import HE_TECHNIQUES, Run
from hecrypt.comparison.workloads import Workload
from hecrypt.exceptions import HecryptError

__all__ = [
    "AccuracyCheckError",
    "ComparisonError",
    "TechniqueResult",
    "tolerance",
    "accuracy",
    "totals",
    "make_result",
]


class ComparisonError(HecryptError, RuntimeError):
    """A technique failed while it ran; the comparison is not trustworthy.

    Attributes:
        comparison: the :class:`~hecrypt.comparison.Comparison` with every
            result that was measured (the failed ones marked).
    """

    def __init__(self, message: str, comparison: Any = None) -> None:
        super().__init__(message)
        self.comparison = comparison


class AccuracyCheckError(ComparisonError):
    """A technique's outputs differ from the plaintext model beyond its tolerance."""


def tolerance(technique: str, workload: Workload) -> float:
    """The accuracy tolerance of ``technique`` on ``workload`` (see the module doc)."""
    ref = workload.reference_scores()
    if workload.is_linear:
        x_l1 = float(np.max(np.sum(np.abs(workload.X), axis=1)))
        w_l1 = float(np.max(np.sum(np.abs(workload.model.coef), axis=1)))
        if technique in HE_TECHNIQUES:
            return 2.0 * (x_l1 + w_l1 + 1.0) * 2.0**-20
        return (x_l1 + w_l1 + 4.0) * 2.0**-14
    return 0.05 * (1.0 + float(np.max(np.abs(ref))))


def accuracy(workload: Workload, scores: np.ndarray, tol: float) -> dict[str, Any]:
    """``max_abs_error``, ``label_agreement``, ``tolerance`` and ``ok`` for one run's outputs."""
    ref = workload.reference_scores()
    got = np.asarray(scores, dtype=np.float64)
    if got.shape != ref.shape:
        return {"max_abs_error": math.inf, "label_agreement": 0.0, "tolerance": tol,
                "ok": False, "problem": f"outputs of shape {got.shape}, expected {ref.shape}"}
    if not np.all(np.isfinite(got)):
        return {"max_abs_error": math.inf, "label_agreement": 0.0, "tolerance": tol,
                "ok": False, "problem": "non-finite outputs"}
    err = float(np.max(np.abs(got - ref))) if ref.size else 0.0
    out: dict[str, Any] = {"max_abs_error": err, "label_agreement": None, "tolerance": tol}
    problems = []
    if err > tol:
        problems.append(f"max abs error {err:.3g} exceeds the tolerance {tol:.3g}")
    want, have, margins = workload.labels(ref), workload.labels(got), workload.margins()
    if want is not None and have is not None and margins is not None:
        same = want == have
        out["label_agreement"] = float(np.mean(same))
        clear_wrong = int(np.sum(~same & (margins > 2 * tol)))
        if clear_wrong:
            problems.append(f"{clear_wrong} record(s) with a clear plaintext label got another")
    out["ok"] = not problems
    if problems:
        out["problem"] = "; ".join(problems)
    return out


def totals(parties: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Totals over parties.

    Bytes: sums (every byte sent is counted once as sent and once as received,
    so ``bytes_sent == bytes_received`` in the totals). Times and rounds: the
    maximum over parties (they run at the same time; a phase ends when its
    slowest party ends).
    """
    if not parties:
        return {}
    out: dict[str, Any] = {}
    for key in ("online_s", "offline_s", "rounds", "offline_rounds", "online_rounds"):
        out[key] = max(float(p[key]) if key.endswith("_s") else int(p[key])
                       for p in parties.values())
    for key in ("bytes_sent", "bytes_received", "offline_bytes_sent", "online_bytes_sent"):
        out[key] = sum(int(p[key]) for p in parties.values())
    return out


@dataclass
class TechniqueResult:
    """One technique on one workload, measured and checked.

    Attributes:
        workload: the workload's public description.
        technique: the technique's name.
        status: ``"ok"``, ``"not applicable"``, ``"not available"`` or ``"error"``.
        reason: why a technique did not run (or how it failed).
        parties: per party: ``online_s``, ``offline_s``, ``bytes_sent``,
            ``bytes_received``, ``rounds`` and the per-phase figures, read
            from the channels' counters.
        totals: see :func:`totals`.
        projected_s: per network name, the projected wall time
            (:mod:`hecrypt.comparison.projection`).
        projection: per network name, the projection's detail.
        accuracy: see :func:`accuracy`.
        key_bits, transport, wall_s, details: how it ran.
    """

    workload: dict[str, Any]
    technique: str
    status: str
    reason: str = ""
    parties: dict[str, dict[str, Any]] = field(default_factory=dict)
    totals: dict[str, Any] = field(default_factory=dict)
    projected_s: dict[str, float] = field(default_factory=dict)
    projection: dict[str, dict[str, Any]] = field(default_factory=dict)
    accuracy: dict[str, Any] = field(default_factory=dict)
    key_bits: int = 2048
    transport: str = "memory"
    wall_s: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """It ran and passed its accuracy check."""
        return self.status == "ok" and bool(self.accuracy.get("ok"))

    @property
    def failed(self) -> bool:
        """It ran and failed, or its outputs are wrong (the comparison must not be trusted)."""
        return self.status == "error" or (self.status == "ok" and not self.accuracy.get("ok"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the shape documented in docs/comparison.md)."""
        return {
            "workload": self.workload.get("name"),
            "workload_params": self.workload,
            "technique": self.technique,
            "status": self.status,
            "reason": self.reason,
            "key_bits": self.key_bits,
            "transport": self.transport,
            "parties": self.parties,
            "totals": self.totals,
            "projected_s": self.projected_s,
            "projection": self.projection,
            "max_abs_error": self.accuracy.get("max_abs_error"),
            "label_agreement": self.accuracy.get("label_agreement"),
            "accuracy": self.accuracy,
            "wall_s": self.wall_s,
            "details": self.details,
        }


def make_result(run: Run, workload: Workload, networks: list[Network], *, key_bits: int,
                transport: str) -> TechniqueResult:
    """Check a run's accuracy and project it onto ``networks``."""
    res = TechniqueResult(workload.describe(), run.technique, run.status, run.reason,
                          key_bits=key_bits, transport=transport, wall_s=run.wall_s,
                          details=dict(run.details))
    if run.status != "ok":
        return res
    res.parties = run.parties
    res.totals = totals(run.parties)
    for net in networks:
        proj = project(run.parties, net)
        res.projection[net.name] = proj
        res.projected_s[net.name] = proj["seconds"]
    if run.scores is None:
        res.accuracy = {"ok": False, "problem": "the technique returned no outputs"}
    else:
        res.accuracy = accuracy(workload, run.scores, tolerance(run.technique, workload))
    return res
