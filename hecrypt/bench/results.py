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
from typing import Any, NamedTuple

#: Group names of rows, in the order their tables are printed.
GROUPS = {
    "throughput": "Steady-state throughput (batch, per value)",
    "latency": "Single-value latency (one call, one value)",
    "setup": "One-off setup (paid once per process and key, not per value)",
    "size": "Encrypted size on the wire (bytes per value)",
}


# --------------------------------------------------------------------- results
class RatioRange(NamedTuple):
    """The spread of a ratio over the repeats of a measurement.

    Attributes:
        low: the lowest ratio.
        high: the highest ratio.
        repeats: repeats behind it (of the side timed fewer times).
        paired: True when repeat ``i`` of both sides was paired (interleaved
            and equally many); False when the extremes were combined.
    """

    low: float
    high: float
    repeats: int
    paired: bool


def _ratio(kind: str, seconds: float | None, baseline: float | None) -> float | None:
    """``baseline / seconds`` for a speedup, ``seconds / baseline`` for an overhead."""
    if seconds is None or baseline is None or seconds <= 0 or baseline <= 0:
        return None
    if kind == "speedup":
        return baseline / seconds
    if kind == "overhead":
        return seconds / baseline
    return None


@dataclass
class Row:
    """One measured line of a table.

    hecrypt's batch paths spread over every usable core (a process pool) while
    phe runs on one, so a row can carry two hecrypt figures: ``seconds`` as a
    user runs it (the default executor, on ``cores`` cores) and
    ``one_core_seconds`` on a single core, measured in the same run. The
    first gives the *machine* ratio (throughput of the machine, phe as its
    users run it), the second the *per-core* ratio.

    Attributes:
        group: ``"throughput"``, ``"latency"``, ``"setup"`` or ``"size"``.
        operation: what was measured.
        seconds: hecrypt's time (per value, or total for setup rows), as a
            user runs it: on ``cores`` cores.
        baseline: what it is compared with (``"phe"``, ``"raw gmpy2"``, ``""``).
        baseline_seconds: the baseline's time per value, if any.
        kind: ``"speedup"`` (ratio = baseline / hecrypt, higher is better),
            ``"overhead"`` (ratio = hecrypt / baseline, lower is better) or
            ``"info"`` (no ratio).
        target: the ratio to reach, if the row has a target.
        note: a short remark printed under the table.
        spread: fastest and slowest repeat of hecrypt's time (same unit as
            ``seconds``), to show how noisy the machine was; taken from
            ``samples`` when not given.
        unit: ``"s"`` (the default: ``seconds`` and ``baseline_seconds`` are
            times) or ``"B"`` (they are sizes in bytes).
        cores: cores hecrypt's ``seconds`` ran on (1 for in-process paths).
        one_core_seconds: hecrypt's time on one core, for rows whose
            ``seconds`` may use several; None when not measured.
        baseline_cores: cores the baseline ran on (phe: 1).
        target_on: ``"machine"`` (the target is about :attr:`ratio`, hecrypt
            on ``cores`` cores) or ``"core"`` (about :attr:`core_ratio`).
        samples: hecrypt's time per repeat (same unit as ``seconds``).
        one_core_samples: the same for ``one_core_seconds``.
        baseline_samples: the baseline's time per repeat.
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
    cores: int = 1
    one_core_seconds: float | None = None
    baseline_cores: int = 1
    target_on: str = "machine"
    samples: tuple[float, ...] = ()
    one_core_samples: tuple[float, ...] = ()
    baseline_samples: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.target_on not in ("machine", "core"):
            raise ValueError('target_on is "machine" or "core"')
        if self.cores < 1 or self.baseline_cores < 1:
            raise ValueError("core counts are positive")
        self.samples = tuple(self.samples)
        self.one_core_samples = tuple(self.one_core_samples)
        self.baseline_samples = tuple(self.baseline_samples)
        if self.spread is None and self.samples:
            self.spread = (min(self.samples), max(self.samples))

    @property
    def ratio(self) -> float | None:
        """The machine ratio: hecrypt on :attr:`cores` cores vs the baseline, or None."""
        return _ratio(self.kind, self.seconds, self.baseline_seconds)

    @property
    def has_one_core(self) -> bool:
        """Whether the row carries a separate one-core measurement."""
        return self.one_core_seconds is not None

    @property
    def core_ratio(self) -> float | None:
        """The per-core ratio: hecrypt on one core vs the baseline on one, or None.

        The machine ratio when hecrypt ran on one core anyway; None when it
        used several and no one-core figure was measured.
        """
        if self.one_core_seconds is not None:
            return _ratio(self.kind, self.one_core_seconds, self.baseline_seconds)
        return self.ratio if self.cores == 1 else None

    @property
    def target_ratio(self) -> float | None:
        """The ratio the target is defined on (:attr:`target_on`)."""
        return self.core_ratio if self.target_on == "core" else self.ratio

    def meets(self, ratio: float) -> bool:
        """Whether ``ratio`` meets the target (False without a target)."""
        if self.target is None:
            return False
        return ratio >= self.target if self.kind == "speedup" else ratio <= self.target

    @property
    def passed(self) -> bool | None:
        """True/False when the row has a target, None otherwise."""
        r = self.target_ratio
        if self.target is None or r is None:
            return None
        return self.meets(r)

    def ratio_range(self, on: str | None = None) -> RatioRange | None:
        """Lowest and highest ratio over the repeats (a :class:`RatioRange`).

        ``on`` is ``"machine"`` or ``"core"`` (default: :attr:`target_on`).
        When both sides were timed the same number of times (interleaved
        repeats) repeat ``i`` of hecrypt is paired with repeat ``i`` of the
        baseline, so noise that hit both alike cancels; otherwise the range
        pairs the extremes (fastest against slowest), which is wider. The
        median ratio reported always lies inside the range. None without
        samples on both sides.
        """
        on = on or self.target_on
        mine = self.samples
        if on == "core":
            if self.one_core_samples:
                mine = self.one_core_samples
            elif self.cores != 1:
                return None
        base = self.baseline_samples
        if not mine or not base:
            return None
        if len(mine) == len(base):
            ratios = [_ratio(self.kind, h, b) for h, b in zip(mine, base)]
        else:
            ratios = [_ratio(self.kind, h, b) for h in (min(mine), max(mine))
                      for b in (min(base), max(base))]
        vals = [r for r in ratios if r is not None]
        if not vals:
            return None
        paired = len(mine) == len(base)
        return RatioRange(min(vals), max(vals), min(len(mine), len(base)), paired)

    @property
    def within_noise(self) -> bool | None:
        """Whether the repeats disagree about the target (some meet it, some not).

        None without a target or without repeats on both sides; False when
        every repeat gives the same verdict as the median.
        """
        rng = self.ratio_range()
        if self.target is None or rng is None:
            return None
        return self.meets(rng.low) != self.meets(rng.high)


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
