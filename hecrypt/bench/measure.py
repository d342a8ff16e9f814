"""Timing and correctness-check helpers shared by the benchmark sections.

Medians of repeated or single calls, and the checks every timed result
goes through: decrypted values against the plaintexts, and the randomness
inside ciphertexts (never 1, never reused, an n-th residue).

Part of :mod:`hecrypt.bench`, which re-exports its names.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from hecrypt.bench.results import BenchContext, Check


def _median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of ``fn()`` over ``repeats`` calls, and the last result."""
    times = []
    out: Any = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _per_call_median(fn: Callable[[Any], Any], items: Sequence[Any]) -> tuple[float, list[Any]]:
    """Median wall time of single calls ``fn(item)``, and the results."""
    times = []
    outs = []
    for item in items:
        t0 = time.perf_counter()
        outs.append(fn(item))
        times.append(time.perf_counter() - t0)
    return statistics.median(times), outs


def _loop_time(fn: Callable[[], Any], min_seconds: float = 0.2) -> float:
    """Time of one ``fn()`` call, averaged over enough calls to last ``min_seconds``."""
    fn()  # warm caches
    loops = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_seconds or loops >= 1 << 20:
            return dt / loops
        loops = max(loops * 2, int(loops * min_seconds / max(dt, 1e-9)) + 1)


# --------------------------------------------------------------------- checks
def _close(got: Any, want: Any, tol: float) -> bool:
    if isinstance(want, int) and not isinstance(want, bool):
        return isinstance(got, int) and got == want
    return isinstance(got, (int, float)) and abs(float(got) - float(want)) <= tol


def _compare(name: str, got: Sequence[Any], want: Sequence[Any], tol: float) -> Check:
    """Element-wise comparison of decrypted values with the expected ones."""
    if len(got) != len(want):
        return Check(name, False, f"{len(got)} results for {len(want)} inputs")
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if not _close(g, w, tol)]
    if bad:
        i = bad[0]
        return Check(name, False, f"{len(bad)} of {len(want)} wrong; first at {i}: "
                                  f"got {got[i]!r}, expected {want[i]!r}")
    return Check(name, True, f"{len(want)} values (tolerance {tol:.1e})")


def _randomness_check(name: str, ctx: BenchContext, encs: Sequence[Any],
                      residues: Sequence[int], n_residue_tests: int = 4) -> Check:
    """Check the randomness inside ciphertexts: never 1, never reused, n-th residues.

    For ``c = (1 + m*n) * R mod n^2`` the factor is ``R = c * (1 - m*n) mod n^2``.
    A fast path that skipped or reused randomness would still decrypt
    correctly; this catches it. ``R`` is an n-th residue iff ``R^lambda = 1``
    mod ``n^2`` (tested on a few values, it costs a full exponentiation each).
    """
    from hecrypt import _gmp

    n = _gmp.mpz(ctx.public_key.n)
    nsq = n * n
    seen: set[int] = set()
    for x, m in zip(encs, residues):
        r = int(_gmp.mpz(x.ciphertext) * (1 - m * n) % nsq)
        if r in (0, 1):
            return Check(name, False, "a ciphertext carries no randomness (R = 1)")
        if r in seen:
            return Check(name, False, "randomness reused between two ciphertexts")
        seen.add(r)
    p, q = ctx.private_key.p, ctx.private_key.q
    lam = math.lcm(p - 1, q - 1)
    step = max(1, len(encs) // max(1, n_residue_tests))
    tested = 0
    for i in range(0, len(encs), step)[:n_residue_tests]:
        x, m = encs[i], residues[i]
        r = _gmp.mpz(x.ciphertext) * (1 - m * n) % nsq
        if _gmp.powmod(r, lam, nsq) != 1:
            return Check(name, False, f"randomness of ciphertext {i} is not an n-th residue")
        tested += 1
    return Check(name, True, f"{len(seen)} distinct randomness factors, "
                             f"{tested} verified as n-th residues")


def _residues(ctx: BenchContext, values: Sequence[Any], scales: Sequence[int]) -> list[int]:
    """The plaintext residues the library should have encrypted."""
    n = ctx.public_key.n
    out = []
    for v, s in zip(values, scales):
        m = v << s if isinstance(v, int) else round(math.ldexp(v, s))
        out.append(m % n)
    return out


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of one ``fn()`` call, and its result."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _per(times: Sequence[float], count: int) -> list[float]:
    """Times of whole batches as times per value."""
    return [t / count for t in times]


def executor_cores(executor: Any) -> int:
    """Cores an executor can keep busy on this machine.

    1 for in-process executors (``SerialExecutor``, threads: gmpy2 holds the
    GIL); for a process pool its workers, at most the usable cores; for
    other executors (a cluster's) the usable cores of this machine.
    """
    from hecrypt.bench.report import _usable_cores
    from hecrypt.paillier import parallel

    if parallel.is_in_process(executor):
        return 1
    workers = getattr(executor, "_max_workers", None)
    usable = _usable_cores()
    return min(workers, usable) if isinstance(workers, int) and workers > 0 else usable
