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

Layout: this module is the public path and holds the two rounds,
:func:`client_cross` and :func:`server_cross`; their steps live in private
modules, one idea each: ``_paillier_cross_jobs`` (the jobs, the slot layouts
both parties derive, the wire form of ciphertext batches),
``_paillier_cross_client`` (steps 1 and 4: the key owner's encryption and
reading the slots) and ``_paillier_cross_server`` (steps 2 and 3: products,
masks and circuit-private re-randomizers). The classes and public functions
report ``hecrypt.hybrid.paillier_cross`` as their ``__module__``, and the
rounds call the steps through this module's names.
"""
# ruff: noqa: F401  (this module re-exports the names of its parts)

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np

# Every name of the parts below, and the hecrypt names this module imported
# when it was one file, stay importable from here as the same objects.
from hecrypt import _gmp
from hecrypt._gmp import mpz
from hecrypt.exceptions import EncodingOverflowError, ProtocolError
from hecrypt.hybrid._paillier_cross_client import (
    CLIENT_TABLE_WINDOW,
    _client_plaintexts,
    _client_sampler,
    client_decrypt_slots,
    client_encrypt,
    client_encrypt_chunk,
    client_precompute,
    client_sample_chunk,
    read_slots,
)
from hecrypt.hybrid._paillier_cross_jobs import (
    DEFAULT_SIGMA,
    MIN_SIGMA,
    RING_BITS,
    RING_MASK,
    ElementwiseJob,
    Job,
    MatmulJob,
    SlotLayout,
    _ct_width,
    _log2_ceil,
    _packed_columns,
    _Plan,
    _result_size,
    heavy_executor,
    job_layout,
    pack_blob,
    random_uint64,
    slot_layout,
    unpack_blob,
)
from hecrypt.hybrid._paillier_cross_server import (
    _horner_chunk,
    _multiexp_chunk,
    _server_matmul,
    _server_operand,
    _validate_cts,
    circuit_private,
    server_mask,
)
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
