"""Projected wall time of a measured private prediction on a given network.

The measurements are taken on one machine (parties as threads over in-memory
channels, or as processes over loopback TCP), where moving a byte costs next
to nothing. The projection adds what a real network would add, from the
counted bytes and rounds only:

For each phase (offline, then online) and each party ``p``::

    T_p = W_p + R_p * latency + max(S_p, V_p) * 8 / bandwidth

    W_p      the party's measured wall time in the phase (its own compute and
             the time it waited for the others' compute: the critical path as
             this party saw it, with near-free transport)
    R_p      the party's rounds in the phase (dependency depth: the longest
             chain of messages, each waiting for the one before)
    S_p, V_p bytes the party sent and received in the phase
    latency  one-way delay of one message
    bandwidth bits per second, each direction (full duplex)

    phase time = max over parties of T_p
    projected  = offline phase time + online phase time

Why ``max(S_p, V_p)``: a link is full duplex, so a party's uplink and
downlink carry bytes at the same time; in the exchanges of secret sharing
both directions are busy at once. For a strict request/response protocol
(Paillier scoring) the two directions are used one after the other, and
the formula undercounts by ``min(S_p, V_p) / bandwidth``: the response (one
ciphertext per score) is small next to the request (one per feature), so
that term is small; :func:`project_phase` also returns the sequential
(``S_p + V_p``) figure so a reader can see the gap.

What the model leaves out: TCP slow start and congestion, per-message
overheads of the kernel, and compute that would overlap with transfer on a
real network (it only ever adds, so it errs on the slow side). The check
against a real TCP run with an emulated delay is in
:mod:`hecrypt.comparison.netem` and docs/comparison.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Network",
    "PRESETS",
    "PHASES",
    "parse_network",
    "phase_figures",
    "project_phase",
    "project",
]

PHASES = ("offline", "online")


@dataclass(frozen=True)
class Network:
    """A network to project onto.

    Attributes:
        name: a short label (``"lan"``, ``"wan"`` or the user's).
        bandwidth_bps: bits per second in each direction.
        latency_s: one-way delay of a message, in seconds.
    """

    name: str
    bandwidth_bps: float
    latency_s: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.bandwidth_bps) and self.bandwidth_bps > 0):
            raise ValueError(f"network {self.name!r}: bandwidth must be a positive number")
        if not (math.isfinite(self.latency_s) and self.latency_s >= 0):
            raise ValueError(f"network {self.name!r}: latency must be a non-negative number")

    def describe(self) -> str:
        """``"lan: 1 Gbit/s, 0.2 ms"``."""
        return f"{self.name}: {_fmt_rate(self.bandwidth_bps)}, {self.latency_s * 1e3:g} ms"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "bandwidth_bps": self.bandwidth_bps,
                "latency_s": self.latency_s}


#: LAN: 1 Gbit/s, 0.2 ms one way. WAN: 100 Mbit/s, 40 ms one way.
PRESETS: dict[str, Network] = {
    "lan": Network("lan", 1e9, 0.2e-3),
    "wan": Network("wan", 100e6, 40e-3),
}

_RATE_UNITS = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}
_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


def _fmt_rate(bps: float) -> str:
    for unit, scale in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bps >= scale:
            return f"{bps / scale:g} {unit}"
    return f"{bps:g} bit/s"


def _parse_rate(text: str) -> float:
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([kmg]?)(?:bit|b)?(?:/s|ps)?\s*",
                     text, re.IGNORECASE)
    if not m:
        raise ValueError(f"cannot read a bandwidth from {text!r} (e.g. 100Mbit, 1Gbit, 20e6)")
    return float(m.group(1)) * _RATE_UNITS[m.group(2).lower()]


def _parse_time(text: str) -> float:
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*(ms|us|s)?\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"cannot read a latency from {text!r} (e.g. 40ms, 0.2ms, 0.05s)")
    return float(m.group(1)) * _TIME_UNITS[(m.group(2) or "s").lower()]


def parse_network(spec: str) -> Network:
    """A network from a preset name or ``NAME=BANDWIDTH,LATENCY``.

    Examples: ``"lan"``, ``"wan"``, ``"4g=20Mbit,60ms"``, ``"dc=10Gbit,0.05ms"``.
    Bandwidth units: bit/s with an optional k, M or G prefix; latency: s, ms or us
    (one way).

    Raises:
        ValueError: an unknown preset or a malformed specification.
    """
    text = spec.strip()
    if text.lower() in PRESETS:
        return PRESETS[text.lower()]
    name, sep, rest = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(
            f"unknown network {spec!r}: use a preset ({', '.join(PRESETS)}) or "
            "NAME=BANDWIDTH,LATENCY such as 4g=20Mbit,60ms"
        )
    parts = rest.split(",")
    if len(parts) != 2:
        raise ValueError(f"network {spec!r}: expected NAME=BANDWIDTH,LATENCY")
    return Network(name.strip(), _parse_rate(parts[0]), _parse_time(parts[1]))


def phase_figures(party: Mapping[str, Any], phase: str) -> tuple[float, int, int, int]:
    """``(wall_s, rounds, bytes_sent, bytes_received)`` of one party in one phase.

    Reads the keys of a party report (:meth:`Party.report`):
    ``{phase}_s``, ``{phase}_rounds``, ``{phase}_bytes_sent``,
    ``{phase}_bytes_received``.

    Raises:
        KeyError: a report without the per-phase figures.
    """
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, not {phase!r}")
    return (
        float(party[f"{phase}_s"]),
        int(party[f"{phase}_rounds"]),
        int(party[f"{phase}_bytes_sent"]),
        int(party[f"{phase}_bytes_received"]),
    )


def project_phase(parties: Mapping[str, Mapping[str, Any]], phase: str,
                  network: Network) -> dict[str, Any]:
    """The projected time of one phase (see the module's formula).

    Returns:
        ``{"seconds": max_p T_p, "critical_party": p, "sequential_seconds":
        the same with S_p + V_p, "per_party": {p: T_p}}``.
    """
    per: dict[str, float] = {}
    seq: dict[str, float] = {}
    for name, rep in parties.items():
        wall, rounds, sent, received = phase_figures(rep, phase)
        base = wall + rounds * network.latency_s
        per[name] = base + max(sent, received) * 8.0 / network.bandwidth_bps
        seq[name] = base + (sent + received) * 8.0 / network.bandwidth_bps
    if not per:
        raise ValueError("no parties to project")
    critical = max(per, key=lambda p: per[p])
    return {
        "seconds": per[critical],
        "critical_party": critical,
        "sequential_seconds": max(seq.values()),
        "per_party": per,
    }


def project(parties: Mapping[str, Mapping[str, Any]], network: Network) -> dict[str, Any]:
    """Projected wall time of a whole run: offline phase then online phase.

    Returns:
        ``{"seconds": total, "offline_s": ..., "online_s": ...,
        "sequential_seconds": ..., "network": network.to_dict()}``.
    """
    off = project_phase(parties, "offline", network)
    on = project_phase(parties, "online", network)
    return {
        "seconds": off["seconds"] + on["seconds"],
        "offline_s": off["seconds"],
        "online_s": on["seconds"],
        "sequential_seconds": off["sequential_seconds"] + on["sequential_seconds"],
        "network": network.to_dict(),
    }
