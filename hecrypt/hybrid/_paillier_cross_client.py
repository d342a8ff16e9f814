"""The client's side of the masked cross products: encryption and reading slots.

Part of :mod:`hecrypt.hybrid.paillier_cross` (its public path): steps 1 and 4
of the protocol documented there. The client, who holds the Paillier key
pair, encrypts its values already shifted to their slots with the key
owner's exact CRT randomness (fixed-base tables of window
:data:`CLIENT_TABLE_WINDOW`, or randomness precomputed offline by
:func:`client_precompute`), then decrypts the server's answer, checks that no
bits lie above the last used slot and keeps each slot ``mod 2^64``.

Leaks: nothing to the server beyond the IND-CPA ciphertexts and the job
shapes (Paillier's DCR assumption).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np

from hecrypt._gmp import mpz
from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid._paillier_cross_jobs import (
    RING_MASK,
    ElementwiseJob,
    Job,
    SlotLayout,
    _packed_columns,
    _Plan,
    heavy_executor,
)
from hecrypt.paillier import parallel, randomness
from hecrypt.paillier.keys import PrivateKey

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



# ------------------------------------------------------------------ client side
def _client_plaintexts(job: Job, plan: _Plan, x: Any) -> list[int]:
    w, s = plan.layout.width, plan.layout.slots
    if isinstance(job, ElementwiseJob):
        xs = np.asarray(x, dtype=np.uint64).reshape(job.terms, job.size)
        shifts = [w * (e % s) for e in range(job.size)]
        return [int(v) << sh for row in xs.tolist() for v, sh in zip(row, shifts)]
    return _packed_columns(np.asarray(x, dtype=np.uint64).reshape(job.m, job.k), w, s)


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


# Their public path: the kernels are pickled to worker processes by it.
for _fn in (client_encrypt_chunk, client_sample_chunk, client_precompute, client_encrypt,
            client_decrypt_slots, read_slots):
    _fn.__module__ = "hecrypt.hybrid.paillier_cross"
del _fn
