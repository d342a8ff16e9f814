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

What travels: with an executor that runs outside this process (anything but
:class:`SerialExecutor` and a ``ThreadPoolExecutor``), the ciphertext and
residue chunks of the kernels below cross as one compact binary blob per
chunk: each value big-endian in a fixed width (``2 * ceil(|n| / 8)`` bytes
for a ciphertext, ``ceil(|n| / 8)`` for a residue), see :func:`pack_ints`.
Every remote call also carries a fresh random nonce, so an executor that
caches calls by their arguments (Dask's ``pure`` tasks) can never hand two
chunks of equal plaintexts the same randomness.

Progress: ``progress(done, total)`` is called once per chunk, in order, in
the caller's thread; :func:`progress_bar` turns it into a text bar.

Note on secrets: the key owner's kernels receive the primes ``p`` and ``q``;
send them only to executors you trust as much as this process (local worker
processes are; a shared cluster may not be).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import IO, Any

from hecrypt import _gmp
from hecrypt._gmp import mpz
from hecrypt.paillier import randomness

__all__ = [
    "SerialExecutor",
    "default_executor",
    "shutdown_default_executor",
    "map_chunks",
    "contract",
    "pack_ints",
    "unpack_ints",
    "progress_bar",
    "is_in_process",
    "resolve_executor",
    "MIN_PARALLEL_ITEMS",
    "MAX_CHUNK_ITEMS",
]

#: Batches smaller than this run in-process by default (IPC would dominate).
MIN_PARALLEL_ITEMS = 64
#: Upper bound on the values in one chunk sent to an executor: large batches
#: are cut into more chunks than local cores, so a cluster's workers all get
#: work and no single message grows without bound.
MAX_CHUNK_ITEMS = 1024

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


def is_in_process(executor: Executor) -> bool:
    """Whether ``executor`` runs calls in this process (arguments are not copied).

    True for :class:`SerialExecutor` and ``ThreadPoolExecutor`` (and their
    subclasses); every other executor gets the compact binary chunks.
    """
    return isinstance(executor, (SerialExecutor, ThreadPoolExecutor))


def _chunk_count(total: int, executor: Executor, progress: bool, per_worker: int | None) -> int:
    if isinstance(executor, SerialExecutor):
        return max(1, min(total, 16)) if progress else 1
    if per_worker is None:
        per_worker = 4 if progress else 1
    wanted = max(_workers() * per_worker, -(-total // MAX_CHUNK_ITEMS))
    return max(1, min(total, wanted))


def resolve_executor(executor: Executor | None, total: int) -> Executor:
    """``executor``, or for None the default pool (``total >= MIN_PARALLEL_ITEMS``
    on two or more cores) or a :class:`SerialExecutor`."""
    if executor is not None:
        return executor
    if total < MIN_PARALLEL_ITEMS or _workers() < 2:
        return SerialExecutor()
    return default_executor()


def _collect(
    futures: Sequence[Future[Any]],
    ends: Sequence[int],
    total: int,
    progress: ProgressCallback | None,
    decode: Callable[[Any], list[Any]],
) -> list[Any]:
    """Results in submission order, ``progress`` once per chunk."""
    out: list[Any] = []
    try:
        for end, fut in zip(ends, futures):
            out.extend(decode(fut.result()))
            if progress is not None:
                progress(end, total)
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise
    return out


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

    With an executor that is not in-process, the kernels of this module
    exchange :func:`pack_ints` blobs (other functions get and return plain
    lists), and every call carries a fresh nonce (see the module docstring).

    Args:
        fn: a module-level function returning one result per item.
        common: leading arguments shared by every chunk.
        items: the batch.
        executor: where to run; None means the default process pool for
            batches of at least :data:`MIN_PARALLEL_ITEMS`, else in-process.
        progress: called as ``progress(done, total)`` after each chunk.
        chunks_per_worker: chunks per local core (default 1, or 4 with
            progress); batches above :data:`MAX_CHUNK_ITEMS` per chunk are
            cut further.
    """
    total = len(items)
    if total == 0:
        return []
    executor = resolve_executor(executor, total)
    futures: list[Future[Any]]
    n_chunks = _chunk_count(total, executor, progress is not None, chunks_per_worker)
    size = -(-total // n_chunks)
    bounds = [(i, min(i + size, total)) for i in range(0, total, size)]
    ends = [b for _, b in bounds]
    if is_in_process(executor):
        futures = [executor.submit(fn, *common, list(items[a:b])) for a, b in bounds]
        return _collect(futures, ends, total, progress, list)
    in_w = out_w = 0
    form = _WIRE_FORMS.get(fn)
    if form is not None:
        modulus_of, in_kind, out_kind = form
        nbytes = _byte_length(modulus_of(common))
        in_w, out_w = _width(in_kind, nbytes), _width(out_kind, nbytes)
    futures = []
    for a, b in bounds:
        chunk = items[a:b]
        payload = pack_ints(chunk, in_w) if in_w else list(chunk)
        nonce = secrets.token_bytes(16)
        futures.append(executor.submit(_wire_call, fn, in_w, out_w, nonce, common, payload))
    decode = (lambda blob: unpack_ints(blob, out_w)) if out_w else list
    return _collect(futures, ends, total, progress, decode)


def contract(
    rows: Sequence[Sequence[Any]],
    cols: Sequence[Sequence[int]],
    modulus: Any,
    *,
    executor: Executor | None = None,
    progress: ProgressCallback | None = None,
) -> list[list[Any]]:
    """``out[i][j] = prod_t rows[i][t] ** cols[j][t] mod modulus``, spread over an executor.

    The encrypted matrix product: ``rows`` are ciphertexts (``modulus`` is
    ``n^2``), ``cols`` plaintext integer weights (signed). Each output is one
    multi-exponentiation (:func:`hecrypt._gmp.multi_powmod`). The longer of
    the two sides is cut into chunks; the other travels whole with every
    chunk. Ciphertexts cross to out-of-process executors as
    :func:`pack_ints` blobs; weights as plain integers.

    Args:
        rows: ``R`` sequences of ``k`` ciphertexts.
        cols: ``M`` sequences of ``k`` integer exponents.
        modulus: the ciphertext modulus ``n^2``.
        executor: where to run; None means the default process pool when
            there are at least :data:`MIN_PARALLEL_ITEMS` outputs, else
            in-process.
        progress: ``progress(done, total)`` in outputs, once per chunk.
    """
    n_rows, n_cols = len(rows), len(cols)
    total = n_rows * n_cols
    if total == 0:
        return [[] for _ in range(n_rows)]
    executor = resolve_executor(executor, total)
    by_rows = n_rows >= n_cols
    split = n_rows if by_rows else n_cols
    n_chunks = min(split, _chunk_count(total, executor, progress is not None, None))
    size = -(-split // n_chunks)
    bounds = [(i, min(i + size, split)) for i in range(0, split, size)]
    other = n_cols if by_rows else n_rows
    ends = [b * other for _, b in bounds]
    col_lists = [[int(e) for e in col] for col in cols]
    remote = not is_in_process(executor)
    width = _byte_length(modulus) if remote else 0  # 2 * ceil(|n| / 8) for n^2
    k = len(col_lists[0])
    if k == 0:  # empty products
        return [[_gmp.mpz(1)] * n_cols for _ in range(n_rows)]

    def rows_payload(part: Sequence[Sequence[Any]]) -> Any:
        if not remote:
            return [list(r) for r in part]
        return pack_ints([c for r in part for c in r], width)

    futures: list[Future[Any]] = []
    for a, b in bounds:
        if by_rows:
            args = (rows_payload(rows[a:b]), col_lists)
        else:
            args = (rows_payload(rows), col_lists[a:b])
        futures.append(executor.submit(contract_chunk, modulus, width, k, by_rows, *args))
    flat = _collect(
        futures, ends, total, progress, (lambda blob: unpack_ints(blob, width)) if remote else list
    )
    if by_rows:
        return [flat[i * n_cols : (i + 1) * n_cols] for i in range(n_rows)]
    # chunks came column-major: flat[j * n_rows + i]
    return [flat[i::n_rows] for i in range(n_rows)]


# ---------------------------------------------------------------- wire form
def _byte_length(n: Any) -> int:
    return (int(n.bit_length()) + 7) // 8


def _width(kind: str | None, nbytes: int) -> int:
    if kind is None:
        return 0
    return 2 * nbytes if kind == "ciphertext" else nbytes


def pack_ints(values: Sequence[Any], width: int) -> bytes:
    """Non-negative integers (int or mpz) as one blob of ``width``-byte big-endian fields.

    Raises:
        OverflowError: a value needs more than ``width`` bytes (or is negative).
    """
    return b"".join(v.to_bytes(width, "big") for v in values)


def unpack_ints(blob: bytes, width: int) -> list[Any]:
    """The mpz values of a :func:`pack_ints` blob.

    Raises:
        ValueError: the blob is not a whole number of ``width``-byte fields.
    """
    if width <= 0 or len(blob) % width:
        raise ValueError(
            f"a packed chunk must be a whole number of {width}-byte values, "
            f"got {len(blob)} bytes"
        )
    from_bytes = _gmp.mpz.from_bytes
    return [from_bytes(blob[i : i + width], "big") for i in range(0, len(blob), width)]


def _wire_call(
    fn: Callable[..., list[Any]],
    in_width: int,
    out_width: int,
    nonce: bytes,
    common: tuple[Any, ...],
    payload: Any,
) -> Any:
    """Run ``fn`` on a worker: unpack the chunk, compute, pack the results.

    A width of 0 means a plain list on that side. ``nonce`` is unused here:
    it makes every call distinct, so an executor that reuses the result of
    an earlier call with equal arguments (Dask's ``pure`` tasks) cannot
    hand out the same randomness twice.
    """
    items = unpack_ints(payload, in_width) if in_width else payload
    out = fn(*common, items)
    return pack_ints(out, out_width) if out_width else out


# ---------------------------------------------------------------- progress
def progress_bar(
    desc: str = "", *, stream: IO[str] | None = None, width: int = 30
) -> ProgressCallback:
    """A ``progress(done, total)`` callback that draws a text bar on stderr.

    ``desc [#########.........]  300/1000  30%  1.2s`` is redrawn in place
    on each call (once per chunk) and ends with a newline when done. No
    third-party dependency.

    Args:
        desc: label in front of the bar.
        stream: where to write (default: ``sys.stderr`` at call time).
        width: characters of the bar.
    """
    start = time.monotonic()
    prefix = f"{desc} " if desc else ""

    def update(done: int, total: int) -> None:
        out = stream if stream is not None else sys.stderr
        frac = done / total if total else 1.0
        filled = int(width * frac)
        bar = "#" * filled + "." * (width - filled)
        elapsed = time.monotonic() - start
        digits = len(str(total))
        out.write(
            f"\r{prefix}[{bar}] {done:>{digits}}/{total} {frac:4.0%} {elapsed:6.1f}s"
        )
        if done >= total:
            out.write("\n")
        out.flush()

    return update


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
    return owner_window_encrypt_chunk(p, q, None, ms)


def owner_window_encrypt_chunk(
    p: Any, q: Any, window: int | None, ms: Sequence[Any]
) -> list[Any]:
    """:func:`owner_encrypt_chunk` with tables of ``window`` bits (None: the default)."""
    s = randomness.owner_sampler(p, q, window)
    return _finish(s.n, s.nsq, ms, s.sample_many(len(ms)))


def djn_encrypt_chunk(n: Any, exp_bits: int | None, ms: Sequence[Any]) -> list[Any]:
    """Encrypt residues ``ms`` with DJN randomness (public key only)."""
    s = randomness.djn_sampler(n, exp_bits)
    return _finish(s.n, s.nsq, ms, s.sample_many(len(ms)))


def owner_sample_chunk(p: Any, q: Any, counts: Sequence[int]) -> list[Any]:
    """Exact n-th residues, ``sum(counts)`` of them (for pools)."""
    return owner_window_sample_chunk(p, q, None, counts)


def owner_window_sample_chunk(
    p: Any, q: Any, window: int | None, counts: Sequence[int]
) -> list[Any]:
    """:func:`owner_sample_chunk` with tables of ``window`` bits (None: the default)."""
    return randomness.owner_sampler(p, q, window).sample_many(sum(counts))


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


def contract_chunk(
    modulus: Any,
    width: int,
    k: int,
    by_rows: bool,
    rows: Any,
    cols: Sequence[Sequence[int]],
) -> Any:
    """One chunk of :func:`contract`: every ``row x col`` multi-exponentiation.

    ``rows`` is a list of ``k``-ciphertext lists, or with ``width`` a
    :func:`pack_ints` blob of them (then the result is a blob too). Results
    are row-major when ``by_rows``, column-major otherwise.
    """
    if width:
        flat = unpack_ints(rows, width)
        rows = [flat[i : i + k] for i in range(0, len(flat), k)]
    mp = _gmp.multi_powmod
    if by_rows:
        out = [mp(row, col, modulus) for row in rows for col in cols]
    else:
        out = [mp(row, col, modulus) for col in cols for row in rows]
    return pack_ints(out, width) if width else out


def _owner_modulus(common: tuple[Any, ...]) -> Any:
    return mpz(common[0]) * mpz(common[1])


def _public_modulus(common: tuple[Any, ...]) -> Any:
    return mpz(common[0])


#: How each kernel's chunk crosses to an out-of-process executor: the key's
#: ``n`` from the common arguments, then what the items and the results are
#: ("residue": ``ceil(|n|/8)`` bytes each, "ciphertext": twice that, None:
#: a plain list).
_WIRE_FORMS: dict[Any, tuple[Callable[[tuple[Any, ...]], Any], str | None, str]] = {
    owner_encrypt_chunk: (_owner_modulus, "residue", "ciphertext"),
    owner_window_encrypt_chunk: (_owner_modulus, "residue", "ciphertext"),
    owner_window_sample_chunk: (_owner_modulus, None, "ciphertext"),
    djn_encrypt_chunk: (_public_modulus, "residue", "ciphertext"),
    owner_sample_chunk: (_owner_modulus, None, "ciphertext"),
    djn_sample_chunk: (_public_modulus, None, "ciphertext"),
    decrypt_chunk: (_owner_modulus, "ciphertext", "residue"),
}


@functools.lru_cache(maxsize=8)
def _crt_constants(p: Any, q: Any) -> tuple[Any, Any, Any, Any, Any]:
    """``(p^2, q^2, hp, hq, p^-1 mod q)`` for a key, computed once per process."""
    n = p * q
    return p * p, q * q, _h(p, n), _h(q, n), _gmp.invert(p, q)


def _h(p: Any, n: Any) -> Any:
    """``L_p((n+1)^(p-1) mod p^2)^-1 mod p``, the CRT decryption constant."""
    psq = p * p
    return _gmp.invert((_gmp.powmod(n + 1, p - 1, psq) - 1) // p, p)
