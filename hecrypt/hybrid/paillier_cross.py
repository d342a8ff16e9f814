"""Masked cross products between a Paillier key holder and a server (low level).

The two-party building block of the Paillier triple source and of the
conversions: the *client* holds a Paillier key pair and integer vectors
``x``; the *server* holds integer vectors ``y``. Both end up with additive
shares in ``Z_2^64`` of a bilinear function of ``x`` and ``y``, and neither
learns the other's input.

Two job kinds (both parties derive every layout from public shapes only):

``ElementwiseJob(size, terms)``
    ``z[e] = sum_t x_t[e] * y_t[e]`` for ``e < size``.
``MatmulJob(m, k, n)``
    ``Z = X @ Y`` with ``X`` the client's ``(m, k)`` matrix and ``Y`` the
    server's ``(k, n)`` matrix.

Protocol (one round trip; Paillier, "Public-key cryptosystems based on
composite degree residuosity classes", EUROCRYPT 1999; the masking and
re-randomization follow the two-party multiplication of Cramer, Damgard
and Nielsen, "Multiparty computation from threshold homomorphic
encryption", EUROCRYPT 2001, and the HE-based triple generation of
SecureML, Mohassel and Zhang, IEEE S&P 2017, section IV.A):

1. The client encrypts its values, already shifted to the slot where the
   server's result will sit (``x * 2^(w*slot)``; for a matrix, one
   ciphertext carries a column of ``X`` in consecutive slots). Encryption
   uses the key owner's exact CRT randomness.
2. The server (for a ``lifted`` job after multiplying in its own share of
   ``X`` as a plaintext) raises each ciphertext to its own values and
   multiplies the results (one multi-exponentiation per output
   ciphertext), so every output ciphertext holds several results in
   fixed-width slots; outputs of a matrix with few rows are joined by
   Horner's rule (``c_0 * c_1^(2^(w u)) * ...``).
3. The server adds, slot by slot, a statistical mask ``r`` uniform in
   ``[0, 2^(b + sigma))`` where ``2^b`` bounds the slot's value, and
   multiplies by ``s^n`` with ``s`` uniform in ``Z_n^*`` (circuit privacy,
   :func:`hecrypt.paillier.rerandomize_for_key_holder`). It keeps
   ``-r mod 2^64``.
4. The client decrypts, checks that nothing lies above the last used slot,
   and keeps each slot ``mod 2^64``.

Security (semi-honest): the client sees ``z + r`` per slot, within
statistical distance ``2^-sigma`` of ``r`` alone, in a ciphertext that is
a uniformly random encryption of it even for a key the client chose
maliciously; the server sees only IND-CPA ciphertexts (Paillier's DCR
assumption). Both learn the job shapes. Slot width is ``b + sigma + 1``
bits: ``b`` from the value bound, ``sigma`` the statistical parameter.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from hecrypt import _gmp
from hecrypt._gmp import mpz
from hecrypt.exceptions import EncodingOverflowError, ProtocolError
from hecrypt.paillier import parallel, randomness
from hecrypt.paillier.circuit import rerandomize_for_key_holder
from hecrypt.paillier.keys import PrivateKey, PublicKey

__all__ = [
    "DEFAULT_SIGMA",
    "MIN_SIGMA",
    "RING_MASK",
    "SlotLayout",
    "ElementwiseJob",
    "MatmulJob",
    "Job",
    "slot_layout",
    "job_layout",
    "client_cross",
    "server_cross",
    "client_encrypt",
    "client_decrypt_slots",
    "server_mask",
    "circuit_private",
    "random_uint64",
    "pack_blob",
    "unpack_blob",
]

#: Statistical security parameter: masks are this many bits above the bound.
DEFAULT_SIGMA = 40
#: Smallest statistical parameter accepted.
MIN_SIGMA = 40
RING_BITS = 64
RING_MASK = (1 << RING_BITS) - 1


def random_uint64(shape: int | tuple[int, ...]) -> np.ndarray:
    """Uniform ``uint64`` array from the OS CSPRNG."""
    shape_t = (shape,) if isinstance(shape, int) else tuple(shape)
    count = math.prod(shape_t)
    return np.frombuffer(os.urandom(8 * count), dtype=np.uint64).reshape(shape_t).copy()


@dataclass(frozen=True)
class SlotLayout:
    """Fixed-width slots in one Paillier plaintext.

    Attributes:
        bound_bits: every unmasked slot value lies in ``[0, 2^bound_bits)``
            (signed values are offset into this range first).
        sigma: statistical parameter (mask bits above the bound).
        width: slot width ``bound_bits + sigma + 1``.
        slots: slots per plaintext, ``(|n| - 2) // width`` so the packed
            integer stays below ``n``.
    """

    bound_bits: int
    sigma: int
    width: int
    slots: int


def slot_layout(n_bits: int, bound_bits: int, sigma: int = DEFAULT_SIGMA) -> SlotLayout:
    """The slot layout for values below ``2^bound_bits`` under an ``n_bits`` key.

    Raises:
        EncodingOverflowError: not even one slot fits the key.
        ValueError: ``sigma`` below :data:`MIN_SIGMA`.
    """
    if sigma < MIN_SIGMA:
        raise ValueError(f"the statistical parameter must be at least {MIN_SIGMA} bits")
    width = bound_bits + sigma + 1
    slots = (n_bits - 2) // width
    if slots < 1:
        raise EncodingOverflowError(
            f"a {width}-bit slot (bound {bound_bits} bits + {sigma} mask bits + 1) does not fit "
            f"a {n_bits}-bit key"
        )
    return SlotLayout(bound_bits, sigma, width, slots)


@dataclass(frozen=True)
class ElementwiseJob:
    """``z[e] = sum_t x_t[e] * y_t[e]`` over ``Z`` (results kept mod 2^64)."""

    size: int
    terms: int = 1


@dataclass(frozen=True)
class MatmulJob:
    """``Z = X @ Y``: the client's ``(m, k)`` by the server's ``(k, n)``.

    Attributes:
        m, k, n: the shapes.
        y_bits: the server's values satisfy ``|Y| < 2^y_bits`` (64: any ring element).
        signed: ``Y`` holds signed integers (then ``Z`` may be negative and is
            offset by ``2^(bound - 1)`` before masking).
        lifted: ``X`` is additively shared: the server adds its own share
            ``X_1`` (``0 <= X_1 < 2^64``) to the client's encrypted ``X_0``
            first, so ``Z = (X_0 + X_1) @ Y`` over the integers, which is
            ``X @ Y mod 2^64`` (shares lifted to integers; the carries are
            multiples of 2^64).
    """

    m: int
    k: int
    n: int
    y_bits: int = 64
    signed: bool = False
    lifted: bool = False

    @property
    def bound_bits(self) -> int:
        """``|Z| < 2^bound_bits`` (``Z >= 0`` unless ``signed``; then the offset range)."""
        x_bits = RING_BITS + (1 if self.lifted else 0)
        return x_bits + self.y_bits + _log2_ceil(self.k) + (1 if self.signed else 0)


Job = ElementwiseJob | MatmulJob


@dataclass(frozen=True)
class _Plan:
    layout: SlotLayout
    inputs: int  # client ciphertexts
    outputs: int  # returned ciphertexts
    # for each output ciphertext: list of (slot, flat result index)
    slot_map: tuple[tuple[tuple[int, int], ...], ...]
    # matmul packing: rows per piece u, pieces combined per ciphertext h
    u: int = 0
    h: int = 1


def _log2_ceil(k: int) -> int:
    return max(0, (k - 1).bit_length())


def job_layout(job: Job, n_bits: int, sigma: int = DEFAULT_SIGMA) -> _Plan:
    """Everything both parties must agree on for ``job``, from public shapes."""
    if isinstance(job, ElementwiseJob):
        if job.size < 0 or job.terms < 1:
            raise ValueError("an elementwise job needs size >= 0 and terms >= 1")
        lay = slot_layout(n_bits, 2 * RING_BITS + _log2_ceil(job.terms), sigma)
        s = lay.slots
        groups = -(-job.size // s)
        smap = tuple(
            tuple((e - g * s, e) for e in range(g * s, min(job.size, (g + 1) * s)))
            for g in range(groups)
        )
        return _Plan(lay, job.terms * job.size, groups, smap)
    if isinstance(job, MatmulJob):
        m, k, n = job.m, job.k, job.n
        if min(m, k, n) < 1 or not 1 <= job.y_bits <= RING_BITS:
            raise ValueError("a matmul job needs positive dimensions and 1 <= y_bits <= 64")
        lay = slot_layout(n_bits, job.bound_bits, sigma)
        s = lay.slots
        u = min(m, s)
        # a column of a short X fills u slots: combine h such pieces per ciphertext
        h = s // u if 2 * u <= s else 1
        gr_count, blocks = -(-m // s), -(-n // h)
        smap_list = []
        for gr in range(gr_count):
            rows = min(s, m - gr * s)
            for b in range(blocks):
                smap_list.append(tuple(
                    (p * u + ii, (gr * s + ii) * n + j)
                    for p, j in enumerate(range(b * h, min(n, (b + 1) * h)))
                    for ii in range(rows)
                ))
        return _Plan(lay, gr_count * k, gr_count * blocks, tuple(smap_list), u, h)
    raise TypeError(f"unknown job {job!r}")


def _result_size(job: Job) -> int:
    return job.size if isinstance(job, ElementwiseJob) else job.m * job.n


def heavy_executor(executor: Executor | None, count: int) -> Executor | None:
    """``executor``, or the local process pool for a batch of ``count`` heavy items.

    Every item here costs milliseconds (a decryption, a multi-exponentiation,
    an ``s^n``), so a handful already pays for the pool; the library's
    default threshold is for cheap items. Small batches stay in-process.
    """
    if executor is not None or count < 4 or parallel._workers() < 2:
        return executor
    return parallel.default_executor()


# ------------------------------------------------------------------ client randomness
#: Window of the client's fixed-base tables. A key pair here lives for one
#: inference, so cheaper tables win: at 2048 bits w = 8 builds in ~0.3 s
#: (20 MB) against ~1.8 s (214 MB) for the library's w = 12, at ~20% more per
#: value; for a few thousand encryptions per worker the total is lower.
CLIENT_TABLE_WINDOW = 8


def _client_sampler(p: Any, q: Any) -> randomness.KeyOwnerSampler:
    p, q = (mpz(p), mpz(q)) if p < q else (mpz(q), mpz(p))
    return randomness._cached(
        ("owner", p, q, CLIENT_TABLE_WINDOW),
        lambda: randomness.KeyOwnerSampler(p, q, window=CLIENT_TABLE_WINDOW))


def client_encrypt_chunk(p: Any, q: Any, ms: Sequence[Any]) -> list[Any]:
    """Worker kernel: the key owner's exact encryption, with :data:`CLIENT_TABLE_WINDOW` tables."""
    s = _client_sampler(p, q)
    return parallel._finish(s.n, s.nsq, ms, s.sample_many(len(ms)))


def client_sample_chunk(p: Any, q: Any, counts: Sequence[int]) -> list[Any]:
    """Worker kernel: exact n-th residues for the key's pool (see :func:`client_precompute`)."""
    return _client_sampler(p, q).sample_many(sum(counts))


parallel._WIRE_FORMS[client_encrypt_chunk] = (parallel._owner_modulus, "residue", "ciphertext")
parallel._WIRE_FORMS[client_sample_chunk] = (parallel._owner_modulus, None, "ciphertext")


def client_precompute(sk: PrivateKey, count: int, executor: Executor | None = None) -> None:
    """``sk.precompute(count)`` with this module's tables: exact randomness for the
    online encryptions (:func:`client_encrypt` with ``pooled=True`` draws it)."""
    from hecrypt.paillier import keys

    if count > 0:
        keys._pool_for(sk.public_key._n).add(parallel.map_chunks(
            client_sample_chunk, (sk._p, sk._q), [1] * count, executor=executor))


# ------------------------------------------------------------------ blobs
def pack_blob(values: Sequence[Any], width: int) -> bytes:
    """Non-negative integers as fixed-width big-endian fields."""
    return parallel.pack_ints(values, width)


def unpack_blob(blob: Any, width: int, count: int, what: str) -> list[Any]:
    """The ``count`` integers of a blob, or ProtocolError."""
    if not isinstance(blob, bytes) or len(blob) != width * count:
        got = len(blob) if isinstance(blob, bytes) else type(blob).__name__
        raise ProtocolError(f"{what}: expected {count} values of {width} bytes, got {got}")
    return parallel.unpack_ints(blob, width) if count else []


def _ct_width(pk: PublicKey) -> int:
    return 2 * ((pk.n_bits + 7) // 8)


# ------------------------------------------------------------------ client side
def _client_plaintexts(job: Job, plan: _Plan, x: Any) -> list[int]:
    w, s = plan.layout.width, plan.layout.slots
    if isinstance(job, ElementwiseJob):
        xs = np.asarray(x, dtype=np.uint64).reshape(job.terms, job.size)
        shifts = [w * (e % s) for e in range(job.size)]
        return [int(v) << sh for row in xs.tolist() for v, sh in zip(row, shifts)]
    return _packed_columns(np.asarray(x, dtype=np.uint64).reshape(job.m, job.k), w, s)


def _packed_columns(xm: np.ndarray, w: int, s: int) -> list[int]:
    """Per group of ``s`` rows, per column ``t``: the rows' values in consecutive slots."""
    out: list[int] = []
    for gr in range(-(-xm.shape[0] // s)):
        block = xm[gr * s : (gr + 1) * s].tolist()
        for t in range(xm.shape[1]):
            acc = 0
            for ii in range(len(block) - 1, -1, -1):
                acc = (acc << w) | int(block[ii][t])
            out.append(acc)
    return out


def client_encrypt(
    sk: PrivateKey, plaintexts: Sequence[int], executor: Executor | None, pooled: bool
) -> list[Any]:
    """Raw ciphertexts of non-negative plaintexts below ``n``.

    With ``pooled``, exact randomness precomputed by :func:`client_precompute`
    (or ``sk.precompute``) is used first (the online phase); otherwise the
    key owner's CRT tables over ``executor``.
    """
    ms = [mpz(v) for v in plaintexts]
    pk = sk.public_key
    if pooled:
        return pk._encrypt_residues(ms, executor, None)
    return parallel.map_chunks(client_encrypt_chunk, (sk._p, sk._q), ms, executor=executor)


def client_decrypt_slots(
    sk: PrivateKey,
    cts: Sequence[Any],
    layout: SlotLayout,
    slot_maps: Sequence[Sequence[tuple[int, int]]],
    size: int,
    executor: Executor | None,
) -> np.ndarray:
    """Decrypt, check and read slots into a flat uint64 array of ``size`` results.

    Raises:
        ProtocolError: a plaintext has bits above its last used slot (a
            corrupted or foreign ciphertext).
    """
    ms = parallel.map_chunks(parallel.decrypt_chunk, (sk._p, sk._q), list(cts),
                             executor=heavy_executor(executor, len(cts)))
    return read_slots(ms, layout, slot_maps, size)


def read_slots(
    ms: Sequence[Any],
    layout: SlotLayout,
    slot_maps: Sequence[Sequence[tuple[int, int]]],
    size: int,
) -> np.ndarray:
    """Step 4 on decrypted plaintexts (see :func:`client_decrypt_slots`)."""
    w = layout.width
    wmask = (1 << w) - 1
    out = [0] * size
    for m, smap in zip(ms, slot_maps):
        m = int(m)
        top = max((sl for sl, _ in smap), default=-1) + 1
        if m >> (w * top):
            raise ProtocolError(
                "a returned plaintext has bits above its last slot: the ciphertext was "
                "corrupted or computed under other parameters"
            )
        for sl, idx in smap:
            out[idx] = ((m >> (w * sl)) & wmask) & RING_MASK
    return np.array(out, dtype=np.uint64)


def client_cross(
    party: Any,
    peer: str,
    sk: PrivateKey,
    jobs: Sequence[Job],
    inputs: Sequence[Any],
    *,
    sigma: int = DEFAULT_SIGMA,
    executor: Executor | None = None,
    pooled: bool = False,
) -> list[np.ndarray]:
    """The client's side of one round of masked cross products.

    Args:
        party: this party's channel endpoint (``send``/``recv``).
        peer: the server's name.
        sk: the client's private key.
        jobs: the jobs, as the server sees them too.
        inputs: per job, the client's operand (``(terms, size)`` or
            ``(m, k)`` uint64 values, read as integers in ``[0, 2^64)``).
        sigma: statistical parameter (must equal the server's).
        executor: where encryption and decryption run.
        pooled: encrypt with randomness precomputed by ``sk.precompute``.

    Returns:
        Per job, this party's ``uint64`` shares of the result (flat
        ``(size,)`` or ``(m, n)``).
    """
    pk = sk.public_key
    plans = [job_layout(j, pk.n_bits, sigma) for j in jobs]
    plain: list[int] = []
    for job, plan, x in zip(jobs, plans, inputs):
        plain.extend(_client_plaintexts(job, plan, x))
    cts = client_encrypt(sk, plain, executor, pooled)
    width = _ct_width(pk)
    party.send(peer, {"cross": len(cts), "cts": pack_blob(cts, width)})
    total_out = sum(p.outputs for p in plans)
    msg = party.recv(peer)
    if not isinstance(msg, dict) or msg.get("cross") != total_out:
        raise ProtocolError("the server's cross-product answer does not match the jobs")
    back = unpack_blob(msg.get("cts"), width, total_out, "cross-product answer")
    ms = parallel.map_chunks(parallel.decrypt_chunk, (sk._p, sk._q), back,
                             executor=heavy_executor(executor, len(back)))
    results: list[np.ndarray] = []
    pos = 0
    for job, plan in zip(jobs, plans):
        part = ms[pos : pos + plan.outputs]
        pos += plan.outputs
        flat = read_slots(part, plan.layout, plan.slot_map, _result_size(job))
        results.append(flat if isinstance(job, ElementwiseJob) else flat.reshape(job.m, job.n))
    return results


# ------------------------------------------------------------------ server side
def _multiexp_chunk(nsq: Any, items: Sequence[tuple[list[Any], list[int]]]) -> list[Any]:
    """Worker kernel: one multi-exponentiation per item."""
    mp = _gmp.multi_powmod
    return [mp(bases, exps, nsq) for bases, exps in items]


def circuit_private(
    pk: PublicKey, cts: Sequence[Any], executor: Executor | None = None
) -> list[Any]:
    """Multiply each ciphertext by ``s^n``, ``s`` uniform in ``Z_n^*`` (step 3).

    :func:`hecrypt.paillier.rerandomize_for_key_holder`: values come from the
    pool filled by ``precompute_circuit_private`` first (the online phase),
    the rest are computed over ``executor``.
    """
    return rerandomize_for_key_holder(pk, list(cts), executor=executor)


def server_mask(
    pk: PublicKey,
    cts: Sequence[Any],
    layout: SlotLayout,
    slot_maps: Sequence[Sequence[tuple[int, int]]],
    size: int,
    offset: int = 0,
) -> tuple[list[Any], np.ndarray]:
    """Add a fresh statistical mask to every used slot (step 3, before re-randomizing).

    Each slot gets ``r + offset`` with ``r`` uniform in
    ``[0, 2^(bound_bits + sigma))``; ``offset`` moves signed values
    ``>= -offset`` into the non-negative range.

    Returns:
        The masked (not yet re-randomized) ciphertexts and the server's
        flat ``uint64`` shares ``-(r + offset) mod 2^64``.
    """
    n, nsq = pk._n, pk._nsq
    w = layout.width
    rbits = layout.bound_bits + layout.sigma
    share = [0] * size
    out = []
    for c, smap in zip(cts, slot_maps):
        m = 0
        for sl, idx in smap:
            r = secrets.randbits(rbits) + offset
            m += r << (w * sl)
            share[idx] = (-r) & RING_MASK
        out.append(mpz(c) * (1 + (m % n) * n) % nsq)
    return out, np.array(share, dtype=np.uint64)


def _horner_chunk(nsq: Any, shift: int, items: Sequence[list[Any]]) -> list[Any]:
    """Worker kernel: ``prod_p piece_p^(2^(shift * p))`` per item, by Horner's rule."""
    out = []
    step = mpz(1) << shift
    for pieces in items:
        acc = mpz(pieces[-1])
        for c in reversed(pieces[:-1]):
            acc = _gmp.powmod(acc, step, nsq) * c % nsq
        out.append(acc)
    return out


def _server_operand(job: MatmulJob, y: Any) -> list[list[int]]:
    """The server's ``Y`` as exponent columns, checked against ``y_bits``."""
    ym = np.asarray(y)
    if ym.shape != (job.k, job.n):
        raise ValueError(f"the server's operand has shape {ym.shape}, not {(job.k, job.n)}")
    if job.signed:
        vals = ym.astype(np.int64)
        if vals.size and int(np.abs(vals).max()) >= 1 << job.y_bits:
            raise EncodingOverflowError(
                f"a weight of magnitude {int(np.abs(vals).max())} exceeds the job's bound "
                f"2^{job.y_bits}")
        return vals.T.tolist()
    vals_u = ym.astype(np.uint64)
    if job.y_bits < RING_BITS and vals_u.size and int(vals_u.max()) >= 1 << job.y_bits:
        raise EncodingOverflowError(f"a server value exceeds the job's bound 2^{job.y_bits}")
    return vals_u.T.tolist()


def _server_matmul(
    pk: PublicKey, job: MatmulJob, plan: _Plan, cts: list[Any], y: Any,
    executor: Executor | None,
) -> list[Any]:
    """Step 2 for a matrix job: lift, multi-exponentiate, combine pieces."""
    n, nsq = pk._n, pk._nsq
    s, k = plan.layout.slots, job.k
    gr_count = -(-job.m // s)
    if job.lifted:
        x1, y = y
        plain = _packed_columns(np.asarray(x1, dtype=np.uint64).reshape(job.m, k),
                                plan.layout.width, s)
        cts = [c * (1 + (v % n) * n) % nsq for c, v in zip(cts, plain)]
    cols = _server_operand(job, y)
    rows = [cts[gr * k : (gr + 1) * k] for gr in range(gr_count)]
    grid = parallel.contract(rows, cols, nsq,
                             executor=heavy_executor(executor, len(rows) * len(cols) * k // 8))
    if plan.h == 1:
        return [c for row in grid for c in row]
    items = [row[b : b + plan.h] for row in grid for b in range(0, job.n, plan.h)]
    return parallel.map_chunks(_horner_chunk, (nsq, plan.layout.width * plan.u), items,
                               executor=heavy_executor(executor, len(items)))


def _validate_cts(pk: PublicKey, cts: Sequence[Any]) -> None:
    nsq = pk._nsq
    for c in cts:
        if not 0 < c < nsq:
            raise ProtocolError("a received ciphertext is out of range (0 < c < n^2)")


def server_cross(
    party: Any,
    peer: str,
    pk: PublicKey,
    jobs: Sequence[Job],
    inputs: Sequence[Any],
    *,
    sigma: int = DEFAULT_SIGMA,
    executor: Executor | None = None,
) -> list[np.ndarray]:
    """The server's side of one round of masked cross products.

    Args:
        party: this party's channel endpoint.
        peer: the client's name.
        pk: the client's public key.
        jobs: the jobs (same as the client's).
        inputs: per job, the server's operand (``(terms, size)`` or
            ``(k, n)`` values: uint64, or signed ints for a ``signed`` job;
            for a ``lifted`` job a pair ``(X_1, Y)`` with ``X_1`` its
            ``(m, k)`` uint64 share of ``X``).
        sigma: statistical parameter.
        executor: where the exponentiations run. Re-randomizers come from
            the key's circuit-private pool first (filled offline with
            ``precompute_circuit_private``), the rest are computed here.

    Returns:
        Per job, this party's ``uint64`` shares of the result.
    """
    plans = [job_layout(j, pk.n_bits, sigma) for j in jobs]
    total_in = sum(p.inputs for p in plans)
    msg = party.recv(peer)
    if not isinstance(msg, dict) or msg.get("cross") != total_in:
        raise ProtocolError("the client's cross-product message does not match the jobs")
    width = _ct_width(pk)
    cts = unpack_blob(msg.get("cts"), width, total_in, "cross-product ciphertexts")
    _validate_cts(pk, cts)
    nsq = pk._nsq
    # step 2: every element-wise job's multi-exponentiations in one batch
    raws: list[list[Any]] = [[] for _ in jobs]
    items: list[tuple[list[Any], list[int]]] = []
    owners: list[int] = []
    starts: list[int] = []
    pos = 0
    for i, (job, plan, y) in enumerate(zip(jobs, plans, inputs)):
        starts.append(pos)
        pos += plan.inputs
        if isinstance(job, ElementwiseJob):
            mine = cts[starts[i] : pos]
            ys = np.asarray(y, dtype=np.uint64).reshape(job.terms, job.size).tolist()
            for smap in plan.slot_map:
                idxs = [e for _, e in smap]
                items.append(([mine[t * job.size + e] for t in range(job.terms) for e in idxs],
                              [ys[t][e] for t in range(job.terms) for e in idxs]))
                owners.append(i)
    done = parallel.map_chunks(_multiexp_chunk, (nsq,), items,
                               executor=heavy_executor(executor, len(items)))
    for i, c in zip(owners, done):
        raws[i].append(c)
    masked_all: list[Any] = []
    shares: list[np.ndarray] = []
    for i, (job, plan, y) in enumerate(zip(jobs, plans, inputs)):
        if isinstance(job, MatmulJob):
            mine = cts[starts[i] : starts[i] + plan.inputs]
            raws[i] = _server_matmul(pk, job, plan, mine, y, executor)
        offset = 1 << (plan.layout.bound_bits - 1) if getattr(job, "signed", False) else 0
        masked, share = server_mask(pk, raws[i], plan.layout, plan.slot_map, _result_size(job),
                                    offset)
        masked_all.extend(masked)
        shares.append(share if isinstance(job, ElementwiseJob) else share.reshape(job.m, job.n))
    fresh = circuit_private(pk, masked_all, heavy_executor(executor, len(masked_all)))
    party.send(peer, {"cross": len(fresh), "cts": pack_blob(fresh, width)})
    return shares
