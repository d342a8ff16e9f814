"""Switching between Paillier ciphertexts and additive shares in Z_2^64.

The client holds the Paillier key pair; the server holds ciphertexts under
the client's public key (for example the output of a linear layer it
computed homomorphically with its plaintext weights).

**HE -> shares** (:func:`he_to_shares_server` / :func:`he_to_shares_client`),
for ciphertexts of signed integers ``|y| < 2^(bound_bits - 1)``:

1. The server packs the ciphertexts ``S`` per ciphertext by Horner's rule
   (``c_0 * c_1^(2^w) * c_2^(2^(2w)) ...``; slot width
   ``w = bound_bits + sigma + 1``).
2. It adds ``2^(bound_bits - 1) + r`` to every slot, ``r`` uniform in
   ``[0, 2^(bound_bits + sigma))``, so every slot holds a non-negative value
   within statistical distance ``2^-sigma`` of ``r`` alone, and
   re-randomizes each ciphertext with a uniform ``s^n`` (circuit privacy:
   :func:`hecrypt.paillier.rerandomize_for_key_holder`).
3. The client decrypts, checks nothing lies above the last used slot, and
   keeps each slot mod 2^64; the server keeps ``-(2^(bound_bits - 1) + r)``
   mod 2^64. Their sum is ``y mod 2^64``, and the client's share is uniform
   in the ring (``r mod 2^64`` is uniform).

**Shares -> HE** (:func:`shares_to_he_client` / :func:`shares_to_he_server`):

1. The client encrypts its share ``x_0`` (read as an integer in
   ``[0, 2^64)``) and sends it.
2. The server multiplies in its own share as a plaintext:
   ``Enc(x_0) * (1 + x_1 n) = Enc(x_0 + x_1)``. The lifted value
   ``x_0 + x_1 < 2^65`` is congruent to ``x`` mod 2^64, so any integer
   linear map the server applies next is exact mod 2^64 after the next
   HE -> shares step (the carries only add multiples of 2^64).

References: Paillier, EUROCRYPT 1999; the masking conversion of Cramer,
Damgard and Nielsen, EUROCRYPT 2001 (section 4) and of Demmler, Schneider
and Zohner, "ABY", NDSS 2015 (HE-based arithmetic sharing); packing of
masked values as in Pullonen, Bogdanov and Schneider, "The design and
implementation of a two-party protocol suite for SHAREMIND 3", 2012.

Security (semi-honest): the server sees IND-CPA ciphertexts only; the client
sees ``y + 2^(bound_bits-1) + r`` per slot (statistically hiding ``y`` with
parameter ``sigma``) in a ciphertext that is a fresh encryption whatever key
it chose. Both learn the count of values and ``bound_bits``.

The hybrid inference runs the fused form of these steps (shares -> HE ->
linear layer -> shares in one round trip, :class:`~hecrypt.hybrid.paillier_cross.MatmulJob`
with ``lifted=True``); the functions here are the general building blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np

from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid import paillier_cross as pc
from hecrypt.paillier import parallel
from hecrypt.paillier.keys import PrivateKey, PublicKey

__all__ = [
    "he_to_shares_server",
    "he_to_shares_client",
    "shares_to_he_client",
    "shares_to_he_server",
    "conversion_layout",
]


def conversion_layout(
    n_bits: int, count: int, bound_bits: int, sigma: int = pc.DEFAULT_SIGMA
) -> tuple[pc.SlotLayout, tuple[tuple[tuple[int, int], ...], ...]]:
    """Slot layout and slot map of ``count`` values converted HE -> shares."""
    lay = pc.slot_layout(n_bits, bound_bits, sigma)
    s = lay.slots
    smap = tuple(
        tuple((i - g * s, i) for i in range(g * s, min(count, (g + 1) * s)))
        for g in range(-(-count // s))
    )
    return lay, smap


def he_to_shares_server(
    party: Any,
    peer: str,
    pk: PublicKey,
    ciphertexts: Sequence[Any],
    bound_bits: int,
    *,
    sigma: int = pc.DEFAULT_SIGMA,
    executor: Executor | None = None,
) -> np.ndarray:
    """Server side of HE -> shares (steps 1-2); returns its flat uint64 shares.

    Args:
        ciphertexts: raw ciphertexts under ``pk``, one signed value each with
            ``|y| < 2^(bound_bits - 1)``.
        bound_bits: the tracked bound (public, both parties use the same).
    """
    count = len(ciphertexts)
    lay, smap = conversion_layout(pk.n_bits, count, bound_bits, sigma)
    items = [list(ciphertexts[sm[0][1] : sm[-1][1] + 1]) for sm in smap]
    packed = parallel.map_chunks(pc._horner_chunk, (pk._nsq, lay.width), items,
                                 executor=executor)
    masked, share = pc.server_mask(pk, packed, lay, smap, count, 1 << (bound_bits - 1))
    fresh = pc.circuit_private(pk, masked, executor)
    width = pc._ct_width(pk)
    party.send(peer, {"he2ss": len(fresh), "cts": pc.pack_blob(fresh, width)})
    return share


def he_to_shares_client(
    party: Any,
    peer: str,
    sk: PrivateKey,
    count: int,
    bound_bits: int,
    *,
    sigma: int = pc.DEFAULT_SIGMA,
    executor: Executor | None = None,
) -> np.ndarray:
    """Client side of HE -> shares (step 3); returns its flat uint64 shares.

    Raises:
        ProtocolError: a malformed message or a plaintext above its slots.
    """
    lay, smap = conversion_layout(sk.public_key.n_bits, count, bound_bits, sigma)
    msg = party.recv(peer)
    if not isinstance(msg, dict) or msg.get("he2ss") != len(smap):
        raise ProtocolError("the server's HE-to-shares message does not match the count")
    cts = pc.unpack_blob(msg.get("cts"), pc._ct_width(sk.public_key), len(smap),
                         "HE-to-shares ciphertexts")
    return pc.client_decrypt_slots(sk, cts, lay, smap, count, executor)


def shares_to_he_client(
    party: Any,
    peer: str,
    sk: PrivateKey,
    share: np.ndarray,
    *,
    executor: Executor | None = None,
    pooled: bool = False,
) -> None:
    """Client side of shares -> HE (step 1): send ``Enc(x_0)`` element by element.

    Args:
        pooled: use randomness precomputed with ``sk.precompute`` (online phase).
    """
    flat = np.asarray(share, dtype=np.uint64).ravel()
    cts = pc.client_encrypt(sk, [int(v) for v in flat.tolist()], executor, pooled)
    party.send(peer, {"ss2he": len(cts), "cts": pc.pack_blob(cts, pc._ct_width(sk.public_key))})


def shares_to_he_server(party: Any, peer: str, pk: PublicKey, share: np.ndarray) -> list[Any]:
    """Server side of shares -> HE (step 2): ``Enc(x_0 + x_1)`` per element, flat.

    Raises:
        ProtocolError: the client sent another number of ciphertexts.
    """
    flat = np.asarray(share, dtype=np.uint64).ravel()
    msg = party.recv(peer)
    if not isinstance(msg, dict) or msg.get("ss2he") != flat.size:
        raise ProtocolError("the client's shares-to-HE message does not match the shape")
    cts = pc.unpack_blob(msg.get("cts"), pc._ct_width(pk), flat.size, "shares-to-HE ciphertexts")
    pc._validate_cts(pk, cts)
    n, nsq = pk._n, pk._nsq
    return [c * (1 + int(v) * n) % nsq for c, v in zip(cts, flat.tolist())]
