"""Running one technique on one workload and collecting what the counters measured.

Techniques (the names used in every output):

==============  =====================================================  ==========
name            what runs                                              parties
==============  =====================================================  ==========
``he``          Paillier only, one ciphertext per value (hecrypt)      2
``he-packed``   Paillier only, slot-packed batches (hecrypt)           2
``phe``         Paillier only, python-paillier doing the same work     2
``dealer``      secret sharing, Beaver triples from a dealer           3
``two-party``   secret sharing, triples made with Paillier             2
``hybrid``      linear layers under Paillier, nonlinear in shares      2
==============  =====================================================  ==========

The HE-only techniques apply to linear models only: Paillier adds and
multiplies by plaintexts, so a network with nonlinear activations is out
of its reach (the result says so as ``"not applicable"``). The three
secret-sharing techniques run through
:func:`hecrypt.hybrid.private_predict`; where this build does not have a
mode yet, the result says ``"not available"`` with the reason, and nothing
is measured or made up for it.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hecrypt.comparison.workloads import Workload
from hecrypt.exceptions import HecryptError, UnsupportedModelError

__all__ = [
    "TECHNIQUES",
    "HE_TECHNIQUES",
    "SS_TECHNIQUES",
    "TECHNIQUE_TITLES",
    "Run",
    "ClientKeys",
    "availability",
    "run_technique",
]

HE_TECHNIQUES = ("he", "he-packed", "phe")
SS_TECHNIQUES = ("dealer", "two-party", "hybrid")
TECHNIQUES = HE_TECHNIQUES + SS_TECHNIQUES

TECHNIQUE_TITLES = {
    "he": "Paillier (hecrypt), unpacked",
    "he-packed": "Paillier (hecrypt), packed",
    "phe": "Paillier (phe baseline)",
    "dealer": "secret sharing, dealer triples (3 parties)",
    "two-party": "secret sharing, Paillier triples (2 parties)",
    "hybrid": "hybrid: linear under Paillier, activations in shares",
}

#: Report keys every party report carries (contract of the counting channels).
PARTY_KEYS = ("online_s", "offline_s", "bytes_sent", "bytes_received", "rounds")
_PHASE_KEYS = tuple(
    f"{phase}_{key}" for phase in ("offline", "online")
    for key in ("bytes_sent", "bytes_received", "rounds")
)


@dataclass
class Run:
    """What one technique did on one workload.

    Attributes:
        technique: its name (see :data:`TECHNIQUES`).
        status: ``"ok"``, ``"not applicable"`` (the technique cannot compute
            this model), ``"not available"`` (not in this build) or
            ``"error"`` (it ran and failed) or ``"skipped"`` (a sweep's time budget).
        reason: why, when the status is not ``"ok"``.
        parties: per party, the channel counters' report.
        scores: the outputs the client obtained, ``(batch, outputs)``.
        wall_s: wall time of the whole run, measured around it.
        details: anything else worth reporting (paths, ciphertext counts).
    """

    technique: str
    status: str
    reason: str = ""
    parties: dict[str, dict[str, Any]] = field(default_factory=dict)
    scores: np.ndarray | None = None
    wall_s: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _runner() -> Any:
    """``hecrypt.hybrid.runner.run_parties`` or an ImportError naming what is missing."""
    module = importlib.import_module("hecrypt.hybrid.runner")
    return module.run_parties


def _private_predict() -> Any:
    module = importlib.import_module("hecrypt.hybrid")
    fn = getattr(module, "private_predict", None)
    if fn is None:
        raise ImportError("hecrypt.hybrid.private_predict is not in this build")
    return fn


def availability(technique: str, workload: Workload) -> tuple[str, str]:
    """``("ok", "")`` or the status and reason a technique cannot run here.

    Raises:
        ValueError: an unknown technique name.
    """
    if technique not in TECHNIQUES:
        raise ValueError(f"unknown technique {technique!r}; choose from {', '.join(TECHNIQUES)}")
    if technique in HE_TECHNIQUES:
        if not workload.is_linear:
            return ("not applicable", "Paillier alone cannot evaluate a network's nonlinear "
                    "activations (it adds ciphertexts and multiplies them by plaintexts only)")
        try:
            _runner()
        except ImportError as exc:
            return ("not available", f"the counting channels are not in this build ({exc})")
        if technique == "phe":
            try:
                importlib.import_module("phe")
            except ImportError:
                return ("not available", 'phe is not installed (pip install "hecrypt[phe]")')
        return ("ok", "")
    try:
        _private_predict()
    except ImportError as exc:
        return ("not available", f"secret-sharing inference is not in this build ({exc})")
    if technique != "dealer":
        try:
            importlib.import_module("hecrypt.hybrid.hybrid")  # registers the Paillier modes
            modes = importlib.import_module("hecrypt.hybrid.parties").MODES
        except (ImportError, AttributeError) as exc:
            return ("not available", f"the Paillier-based modes are not in this build ({exc})")
        if technique not in modes:
            return ("not available", f"private_predict has no mode {technique!r} in this build")
    return ("ok", "")


def _check_report(technique: str, parties: dict[str, Any]) -> dict[str, dict[str, Any]]:
    from hecrypt.exceptions import ProtocolError

    out: dict[str, dict[str, Any]] = {}
    for name, rep in parties.items():
        if not isinstance(rep, dict):
            raise ProtocolError(f"{technique}: party {name!r} returned no report")
        missing = [k for k in PARTY_KEYS + _PHASE_KEYS if k not in rep]
        if missing:
            raise ProtocolError(f"{technique}: party {name!r} report lacks {missing}")
        out[name] = dict(rep)
    return out


class ClientKeys:
    """One hecrypt client key pair per key size, shared by ``he`` and ``he-packed``.

    Within one comparison both HE techniques score with the same client key
    pair, as one client scoring twice would: the pair is generated once,
    outside the parties' clocks, and the time it took is reported in each
    result's ``details["client_key"]`` (and under the table), not in their
    offline figures. Without a cache each run generates its own key in its
    client's offline phase, and the offline figures include it.
    """

    def __init__(self, insecure_small_keys: bool = False) -> None:
        self.insecure_small_keys = insecure_small_keys
        self._keys: dict[int, tuple[Any, float, list[str]]] = {}

    def get(self, key_bits: int, technique: str) -> tuple[Any, dict[str, Any]]:
        """The private key for ``key_bits`` and what to report about it."""
        from hecrypt.paillier.keys import generate_keypair

        if key_bits not in self._keys:
            t0 = time.perf_counter()
            _, sk = generate_keypair(key_bits, insecure_small_keys=self.insecure_small_keys)
            self._keys[key_bits] = (sk, time.perf_counter() - t0, [])
        sk, seconds, users = self._keys[key_bits]
        users.append(technique)
        return sk, {"shared": True, "key_bits": key_bits, "generated_s": seconds,
                    "first_used_by": users[0], "in_offline_figures": False}


def _run_he(technique: str, workload: Workload, *, key_bits: int, transport: str,
            timeout: float, value_bound: float | None, insecure_small_keys: bool,
            client_keys: ClientKeys | None = None) -> Run:
    from hecrypt.comparison import he_parties

    run_parties = _runner()
    bound = value_bound
    if bound is None:
        # the public bound a client would declare: a power of two above its data
        biggest = float(np.max(np.abs(workload.X))) if workload.X.size else 1.0
        bound = float(2.0 ** np.ceil(np.log2(max(biggest, 1.0) * 1.0000001)))
    key_note: dict[str, Any] | None = None
    private_key = None
    if client_keys is not None and technique != "phe":
        private_key, key_note = client_keys.get(key_bits, technique)
    programs = he_parties.programs(
        technique, model_json=workload.model.to_json(), X=workload.X, key_bits=key_bits,
        value_bound=bound, insecure_small_keys=insecure_small_keys, private_key=private_key,
    )
    reports: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    outputs = run_parties(programs, transport=transport, timeout=timeout, reports=reports)
    wall = time.perf_counter() - t0
    client = outputs[he_parties.CLIENT]
    parties = {name: reports[name] for name in programs}
    details = {k: client.get(k) for k in ("path", "requests", "ciphertexts_sent",
                                          "ciphertexts_received")}
    details["value_bound"] = bound
    details["client_key"] = key_note or {"shared": False, "in_offline_figures": True}
    return Run(technique, "ok", parties=_check_report(technique, parties),
               scores=np.asarray(client["scores"], dtype=np.float64), wall_s=wall,
               details=details)


def _ss_scores(result: Any, workload: Workload) -> np.ndarray:
    for attr in ("logits", "values"):
        value = getattr(result, attr, None)
        if value is not None:
            return np.asarray(value, dtype=np.float64).reshape(workload.batch, -1)
    raise HecryptError("the private prediction returned neither logits nor values")


def _run_ss(technique: str, workload: Workload, *, key_bits: int, transport: str,
            timeout: float, opts: dict[str, Any]) -> Run:
    private_predict = _private_predict()
    opts.setdefault("timeout", timeout)
    t0 = time.perf_counter()
    result = private_predict(workload.model, workload.X, mode=technique, transport=transport,
                             key_bits=key_bits, **opts)
    wall = time.perf_counter() - t0
    report = dict(result.report)
    parties = {k: v for k, v in report.items() if k != "total"}
    return Run(technique, "ok", parties=_check_report(technique, parties),
               scores=_ss_scores(result, workload), wall_s=wall)


def run_technique(
    technique: str,
    workload: Workload,
    *,
    key_bits: int = 2048,
    transport: str = "memory",
    timeout: float = 600.0,
    value_bound: float | None = None,
    insecure_small_keys: bool = False,
    ss_options: dict[str, Any] | None = None,
    client_keys: ClientKeys | None = None,
) -> Run:
    """Run ``technique`` on ``workload`` once and return what was measured.

    ``client_keys``: a per-comparison :class:`ClientKeys` (``he`` and
    ``he-packed`` then use its key pair instead of generating one each).

    A technique that cannot run here comes back with its status and reason;
    one that fails while running comes back as ``"error"`` with the error
    (the comparison then fails loudly, see :func:`hecrypt.compare`).

    Raises:
        ValueError: an unknown technique or transport.
    """
    if transport not in ("memory", "tcp"):
        raise ValueError(f"transport must be 'memory' or 'tcp', not {transport!r}")
    status, reason = availability(technique, workload)
    if status != "ok":
        return Run(technique, status, reason)
    try:
        if technique in HE_TECHNIQUES:
            return _run_he(technique, workload, key_bits=key_bits, transport=transport,
                           timeout=timeout, value_bound=value_bound,
                           insecure_small_keys=insecure_small_keys, client_keys=client_keys)
        opts = dict(ss_options or {})
        if insecure_small_keys and technique != "dealer":
            opts["insecure_small_keys"] = True  # the dealer mode has no key
        return _run_ss(technique, workload, key_bits=key_bits, transport=transport,
                       timeout=timeout, opts=opts)
    except UnsupportedModelError as exc:
        # the mode exists but cannot compute this model (e.g. max pooling without a dealer)
        return Run(technique, "not applicable", str(exc))
    except (HecryptError, ValueError, TypeError, RuntimeError, OSError) as exc:
        if type(exc).__name__ == "UnsupportedModeError":
            return Run(technique, "not available", str(exc))
        return Run(technique, "error", f"{type(exc).__name__}: {exc}")
