"""Spreading batch kernels over cores (or a cluster) with an Executor.

What scales on a 2-core machine was measured, not assumed: gmpy2 keeps the
GIL during ordinary mpz arithmetic, so threads do not help the fixed-base
table walks that dominate encryption; two worker processes give ~1.95x. The
default executor is therefore a process pool with one worker per core,
created on first use and reused. Any :class:`concurrent.futures.Executor`
can be passed instead (a ``ThreadPoolExecutor``, a Dask ``distributed``
client's ``get_executor()``, or :class:`SerialExecutor` to stay in-process).

Work is cut into chunks; the functions submitted are module-level and take
plain integers, so they pickle to any executor. Workers keep their own
per-key tables (see :mod:`hecrypt.paillier.randomness`).

Note on secrets: the key owner's kernels receive the primes ``p`` and ``q``;
send them only to executors you trust as much as this process (local worker
processes are; a shared cluster may not be).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

from hecrypt import _gmp
from hecrypt._gmp import mpz
from hecrypt.paillier import randomness

__all__ = [
    "SerialExecutor",
    "default_executor",
    "shutdown_default_executor",
    "map_chunks",
    "MIN_PARALLEL_ITEMS",
]

#: Batches smaller than this run in-process by default (IPC would dominate).
MIN_PARALLEL_ITEMS = 64

ProgressCallback = Callable[[int, int], None]


class SerialExecutor(Executor):
    """An Executor that runs each call at submit time, in the caller's thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future
            fut.set_exception(exc)
        return fut


_default: Executor | None = None
_default_lock = threading.Lock()


def _workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _start_method() -> str:
    """fork while this process has one thread (safe, and scripts need no main
    guard); forkserver otherwise; spawn where neither exists."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def default_executor() -> Executor:
    """The shared local process pool (one worker per available core)."""
    global _default
    with _default_lock:
        if _default is None:
            ctx = multiprocessing.get_context(_start_method())
            _default = ProcessPoolExecutor(max_workers=_workers(), mp_context=ctx)
        return _default


def shutdown_default_executor() -> None:
    """Stop the shared process pool (a new one starts on next use)."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.shutdown(wait=True, cancel_futures=True)
            _default = None


def map_chunks(
    fn: Callable[..., list[Any]],
    common: tuple[Any, ...],
    items: Sequence[Any],
    *,
    executor: Executor | None = None,
    progress: ProgressCallback | None = None,
    chunks_per_worker: int | None = None,
) -> list[Any]:
    """Apply ``fn(*common, chunk)`` to chunks of ``items`` and concatenate.

    Args:
        fn: a module-level function returning one result per item.
        common: leading arguments shared by every chunk.
        items: the batch.
        executor: where to run; None means the default process pool for
            batches of at least :data:`MIN_PARALLEL_ITEMS`, else in-process.
        progress: called as ``progress(done, total)`` after each chunk.
        chunks_per_worker: chunks per worker (default 1, or 4 with progress).
    """
    total = len(items)
    if total == 0:
        return []
    if executor is None:
        if total < MIN_PARALLEL_ITEMS or _workers() < 2:
            executor = SerialExecutor()
        else:
            executor = default_executor()
    if isinstance(executor, SerialExecutor):
        n_chunks = max(1, min(total, 16)) if progress else 1
    else:
        if chunks_per_worker is None:
            chunks_per_worker = 4 if progress else 1
        n_chunks = max(1, min(total, _workers() * chunks_per_worker))
    size = -(-total // n_chunks)
    bounds = [(i, min(i + size, total)) for i in range(0, total, size)]
    futures = [executor.submit(fn, *common, list(items[a:b])) for a, b in bounds]
    out: list[Any] = []
    for (_, b), fut in zip(bounds, futures):
        out.extend(fut.result())
        if progress is not None:
            progress(b, total)
    return out


# ---------------------------------------------------------------- kernels
# Module-level so that every executor can pickle them. Arguments are plain
# integers (mpz pickles too).


def _finish(n: Any, nsq: Any, ms: Sequence[Any], rs: Sequence[Any]) -> list[Any]:
    """``(1 + m*n) * r mod n^2`` as ``r + n*(m*r mod n)``: no n^2 product."""
    out = []
    for m, r in zip(ms, rs):
        c = r + n * (m * r % n)
        out.append(c - nsq if c >= nsq else c)
    return out


def owner_encrypt_chunk(p: Any, q: Any, ms: Sequence[Any]) -> list[Any]:
    """Encrypt residues ``ms`` (in ``[0, n)``) with the key owner's sampler."""
    s = randomness.owner_sampler(p, q)
    return _finish(s.n, s.nsq, ms, s.sample_many(len(ms)))


def djn_encrypt_chunk(n: Any, exp_bits: int | None, ms: Sequence[Any]) -> list[Any]:
    """Encrypt residues ``ms`` with DJN randomness (public key only)."""
    s = randomness.djn_sampler(n, exp_bits)
    return _finish(s.n, s.nsq, ms, s.sample_many(len(ms)))


def owner_sample_chunk(p: Any, q: Any, counts: Sequence[int]) -> list[Any]:
    """Exact n-th residues, ``sum(counts)`` of them (for pools)."""
    return randomness.owner_sampler(p, q).sample_many(sum(counts))


def djn_sample_chunk(n: Any, exp_bits: int | None, counts: Sequence[int]) -> list[Any]:
    """DJN randomness values, ``sum(counts)`` of them (for pools)."""
    return randomness.djn_sampler(n, exp_bits).sample_many(sum(counts))


def decrypt_chunk(p: Any, q: Any, cs: Sequence[Any]) -> list[Any]:
    """CRT decryption of raw ciphertexts to residues in ``[0, n)``."""
    return crt_decrypt_many(mpz(p), mpz(q), cs)


def crt_decrypt_many(p: Any, q: Any, cs: Sequence[Any]) -> list[Any]:
    """Raw CRT decryption; ``powmod_base_list`` releases the GIL while it works."""
    if p > q:
        p, q = q, p
    psq, qsq, hp, hq, p_inv = _crt_constants(mpz(p), mpz(q))
    xp = _gmp.powmod_base_list([c % psq for c in cs], p - 1, psq)
    xq = _gmp.powmod_base_list([c % qsq for c in cs], q - 1, qsq)
    out = []
    for a, b in zip(xp, xq):
        mp = (a - 1) // p * hp % p
        mq = (b - 1) // q * hq % q
        out.append(mp + p * ((mq - mp) * p_inv % q))
    return out


@functools.lru_cache(maxsize=8)
def _crt_constants(p: Any, q: Any) -> tuple[Any, Any, Any, Any, Any]:
    """``(p^2, q^2, hp, hq, p^-1 mod q)`` for a key, computed once per process."""
    n = p * q
    return p * p, q * q, _h(p, n), _h(q, n), _gmp.invert(p, q)


def _h(p: Any, n: Any) -> Any:
    """``L_p((n+1)^(p-1) mod p^2)^-1 mod p``, the CRT decryption constant."""
    psq = p * p
    return _gmp.invert((_gmp.powmod(n + 1, p - 1, psq) - 1) // p, p)
