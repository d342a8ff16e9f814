"""Result types of the benchmark and its registry of sections.

A section is a function from a :class:`BenchContext` (options, the shared
key pair, data) to a :class:`SectionResult` (rows, correctness checks,
notes); :func:`register_section` adds one to :data:`SECTIONS`, in run order.

Part of :mod:`hecrypt.bench`, which re-exports its names.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Group names of rows, in the order their tables are printed.
GROUPS = {
    "throughput": "Steady-state throughput (batch, per value)",
    "latency": "Single-value latency (one call, one value)",
    "setup": "One-off setup (paid once per process and key, not per value)",
    "size": "Encrypted size on the wire (bytes per value)",
}


# --------------------------------------------------------------------- results
@dataclass
class Row:
    """One measured line of a table.

    Attributes:
        group: ``"throughput"``, ``"latency"`` or ``"setup"``.
        operation: what was measured.
        seconds: hecrypt's time (per value, or total for setup rows).
        baseline: what it is compared with (``"phe"``, ``"raw gmpy2"``, ``""``).
        baseline_seconds: the baseline's time per value, if any.
        kind: ``"speedup"`` (ratio = baseline / hecrypt, higher is better),
            ``"overhead"`` (ratio = hecrypt / baseline, lower is better) or
            ``"info"`` (no ratio).
        target: the ratio to reach, if the row has a target.
        note: a short remark printed under the table.
        spread: fastest and slowest repeat of hecrypt's time (same unit as
            ``seconds``), to show how noisy the machine was.
        unit: ``"s"`` (the default: ``seconds`` and ``baseline_seconds`` are
            times) or ``"B"`` (they are sizes in bytes).
    """

    group: str
    operation: str
    seconds: float | None
    baseline: str = ""
    baseline_seconds: float | None = None
    kind: str = "info"
    target: float | None = None
    note: str = ""
    spread: tuple[float, float] | None = None
    unit: str = "s"

    @property
    def ratio(self) -> float | None:
        """The ratio the target is about, or None."""
        if self.seconds is None or self.baseline_seconds is None:
            return None
        if self.seconds <= 0 or self.baseline_seconds <= 0:
            return None
        if self.kind == "speedup":
            return self.baseline_seconds / self.seconds
        if self.kind == "overhead":
            return self.seconds / self.baseline_seconds
        return None

    @property
    def passed(self) -> bool | None:
        """True/False when the row has a target, None otherwise."""
        r = self.ratio
        if self.target is None or r is None:
            return None
        return r >= self.target if self.kind == "speedup" else r <= self.target


@dataclass
class Check:
    """One correctness check made on benchmarked results."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class SectionResult:
    """What a section returns: its rows, its checks and free-text notes."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every correctness check passed."""
        return all(c.ok for c in self.checks)


@dataclass
class BenchContext:
    """Everything a section needs: options, the shared key pair, data, helpers."""

    args: argparse.Namespace
    public_key: Any
    private_key: Any
    phe_public_key: Any
    phe_private_key: Any
    values: list[int | float]
    keygen_seconds: float

    @property
    def repeats(self) -> int:
        """Timed repetitions per measurement (the median is reported)."""
        return int(self.args.repeats)

    @property
    def loop_seconds(self) -> float:
        """Minimum duration of each timed loop of a cheap operation (``--loop-seconds``)."""
        return float(getattr(self.args, "loop_seconds", None) or 0.2)

    @property
    def phe_sample(self) -> int:
        """How many values phe is timed on (at most the batch)."""
        k = self.args.phe_sample
        return len(self.values) if k is None else min(int(k), len(self.values))


SectionFunc = Callable[[BenchContext], SectionResult]


@dataclass
class Section:
    """A registered benchmark section."""

    name: str
    title: str
    func: SectionFunc


#: Registered sections, in run order.
SECTIONS: dict[str, Section] = {}


def register_section(name: str, title: str) -> Callable[[SectionFunc], SectionFunc]:
    """Decorator adding a section to :data:`SECTIONS` (name must be new)."""
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise ValueError("section names are lower-case words (letters, digits, - and _)")

    def deco(func: SectionFunc) -> SectionFunc:
        if name in SECTIONS:
            raise ValueError(f"a benchmark section named {name!r} is already registered")
        SECTIONS[name] = Section(name, title, func)
        return func

    return deco
