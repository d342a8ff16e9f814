"""The server's side of the masked cross products: products, masks, re-randomizers.

Part of :mod:`hecrypt.hybrid.paillier_cross` (its public path): steps 2 and 3
of the protocol documented there. The server checks the received
ciphertexts, raises them to its own values (one multi-exponentiation per
output ciphertext; pieces of a short matrix joined by Horner's rule; a
``lifted`` job first adds its share of ``X`` as a plaintext), adds a
statistical mask to every used slot and multiplies by ``s^n`` with ``s``
uniform in ``Z_n^*`` (circuit privacy).

Leaks: the client sees ``z + r`` per slot, within statistical distance
``2^-sigma`` of ``r`` alone, in a uniformly random encryption of it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np

from hecrypt import _gmp
from hecrypt._gmp import mpz
from hecrypt.exceptions import EncodingOverflowError, ProtocolError
from hecrypt.hybrid._paillier_cross_jobs import (
    RING_BITS,
    RING_MASK,
    MatmulJob,
    SlotLayout,
    _packed_columns,
    _Plan,
    heavy_executor,
)
from hecrypt.paillier import parallel
from hecrypt.paillier.circuit import rerandomize_for_key_holder
from hecrypt.paillier.keys import PublicKey


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



# Their public path: the kernels are pickled to worker processes by it.
for _fn in (_multiexp_chunk, circuit_private, server_mask, _horner_chunk):
    _fn.__module__ = "hecrypt.hybrid.paillier_cross"
del _fn
