"""Jobs and slot layouts of the masked cross products, and what both sides share.

Part of :mod:`hecrypt.hybrid.paillier_cross` (its public path; the protocol
and its security are documented there): the two job kinds, the fixed-width
slot layout both parties derive from public shapes only (:func:`job_layout`),
how a client's matrix column fills consecutive slots, the fixed-width wire
form of ciphertext batches, where heavy batches run, and the ring's uniform
``uint64`` randomness.

Leaks: nothing; every layout is a function of public shapes and the key size.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from hecrypt.exceptions import EncodingOverflowError, ProtocolError
from hecrypt.paillier import parallel
from hecrypt.paillier.keys import PublicKey

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


# Their public path: reprs and pickles name it.
for _obj in (random_uint64, SlotLayout, slot_layout, ElementwiseJob, MatmulJob, _Plan,
             job_layout, heavy_executor, pack_blob, unpack_blob):
    _obj.__module__ = "hecrypt.hybrid.paillier_cross"
del _obj
