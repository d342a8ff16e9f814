"""Circuit privacy: re-randomizing results for the holder of the private key.

A ciphertext computed by one party (a score, a masked value) and sent to the
party that holds the private key must reveal nothing beyond its plaintext.
The homomorphic result itself is a deterministic function of the sender's
secret inputs (weights), so it is multiplied by a fresh n-th residue first.
*Which* n-th residue matters, because the receiver can factor ``n``:

- DJN randomness ``hs^alpha`` with ``hs = (-x^2)^n`` has a fixed quadratic
  character modulo ``p`` and ``q``: its Legendre symbols are ``(-1)^alpha``
  on both sides (or constant), so the key holder reads the same pattern in
  every returned ciphertext and, from chosen inputs, parities of subset sums
  of the sender's weights. A short exponent is also not statistically hiding
  against someone who chose the key (a smooth ``p - 1``, for example).
- ``r^n mod n^2`` with ``r`` uniform in ``Z_n^*`` is a *uniform* n-th
  residue, whatever ``n`` is: for ``c`` a valid ciphertext of ``m``,
  ``c * r^n`` is distributed exactly as a fresh encryption of ``m``
  (Paillier, "Public-key cryptosystems based on composite degree residuosity
  classes", EUROCRYPT 1999, section 4; the n-th residues form a subgroup and
  multiplying by a uniform element of a group is a uniform element of the
  coset). The hiding is statistical: no assumption, even for a key chosen
  by the receiver.

This module is the only source of that randomness. It never builds or
caches fixed-base tables for the key (the key may be a client's untrusted
key): each value costs one full exponentiation ``r^n mod n^2``; a
:func:`precompute_circuit_private` pool moves that cost ahead of time.

Leaks: nothing beyond the plaintext (and the public key, count and order
of the ciphertexts).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from hecrypt import _gmp
from hecrypt._gmp import mpz
from hecrypt.exceptions import InvalidKey
from hecrypt.paillier import parallel, randomness
from hecrypt.paillier.number import validate_ciphertext

if TYPE_CHECKING:
    from hecrypt.paillier.keys import PublicKey

__all__ = [
    "rerandomize_for_key_holder",
    "precompute_circuit_private",
    "circuit_private_pool_size",
    "clear_circuit_private_pool",
    "MAX_POOLED_KEYS",
]

#: Keys whose circuit-private pools are kept at most (least recently filled
#: is dropped first): the pools are the only per-key state of this module.
MAX_POOLED_KEYS = 16

_pools = randomness.PoolRegistry()


def _modulus(public_key: PublicKey) -> Any:
    from hecrypt.paillier.keys import PublicKey

    if not isinstance(public_key, PublicKey):
        raise InvalidKey(
            f"circuit-private re-randomization needs a hecrypt PublicKey, "
            f"not {type(public_key).__name__}"
        )
    return public_key._n


def sample_chunk(n: Any, counts: Sequence[int]) -> list[Any]:
    """``sum(counts)`` uniform n-th residues ``r^n mod n^2`` (no tables).

    Low-level kernel (module-level, so any executor can run it).
    ``powmod_base_list`` releases the GIL while it works.
    """
    n = mpz(n)
    total = sum(int(k) for k in counts)
    rs = [_gmp.random_unit(n) for _ in range(total)]
    return list(_gmp.powmod_base_list(rs, n, n * n)) if rs else []


def rerandomize_chunk(n: Any, cs: Sequence[Any]) -> list[Any]:
    """``c * r^n mod n^2`` with a fresh uniform ``r`` per ciphertext (no tables).

    Low-level kernel (module-level, so any executor can run it).
    """
    n = mpz(n)
    nsq = n * n
    rns = sample_chunk(n, [len(cs)])
    return [mpz(c) * rn % nsq for c, rn in zip(cs, rns)]


# Compact binary chunks for out-of-process executors (see parallel.map_chunks).
parallel._WIRE_FORMS[sample_chunk] = (parallel._public_modulus, None, "ciphertext")
parallel._WIRE_FORMS[rerandomize_chunk] = (parallel._public_modulus, "ciphertext", "ciphertext")


def _pool_for(n: Any) -> randomness.RandomnessPool:
    return _pools.pool_for(n, lambda k: sample_chunk(n, [k]), MAX_POOLED_KEYS)


def precompute_circuit_private(
    public_key: PublicKey, count: int, *, executor: Executor | None = None
) -> None:
    """Fill ``public_key``'s circuit-private pool with ``count`` values (offline phase).

    Each value is ``r^n mod n^2`` for a fresh uniform ``r`` in ``Z_n^*`` and is
    used once by :func:`rerandomize_for_key_holder`. Pools live in this
    process (a forked child starts empty) for at most
    :data:`MAX_POOLED_KEYS` keys; a pool holds ``count`` residues of
    ``2 * ceil(|n| / 8)`` bytes (about 0.5 kB each at 2048 bits).

    Args:
        public_key: the key the results will be encrypted under (may be
            untrusted: no table is built for it).
        count: how many values to add.
        executor: where to compute (default: a local process pool for large
            counts, see :mod:`hecrypt.paillier.parallel`).

    Raises:
        ValueError: ``count`` is negative or not an integer.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative integer, not {count!r}")
    n = _modulus(public_key)
    if count == 0:
        return
    values = parallel.map_chunks(sample_chunk, (n,), [1] * count, executor=executor)
    _pool_for(n).add(values)


def circuit_private_pool_size(public_key: PublicKey) -> int:
    """Values waiting in ``public_key``'s circuit-private pool."""
    pool = _pools.get(_modulus(public_key))
    return len(pool) if pool is not None else 0


def clear_circuit_private_pool(public_key: PublicKey) -> None:
    """Drop ``public_key``'s circuit-private pool (unused values are discarded)."""
    with _pools.lock:
        _pools.pop(_modulus(public_key), None)


def rerandomize_for_key_holder(
    public_key: PublicKey,
    ciphertexts: Sequence[Any],
    *,
    executor: Executor | None = None,
) -> list[Any]:
    """Circuit-private re-randomization of raw ciphertexts sent to the key holder.

    Steps (Paillier 1999, section 4; see the module docstring for why DJN
    randomness is not enough here):

    1. Check every ciphertext: an integer with ``0 < c < n^2`` and
       ``gcd(c, n) = 1``.
    2. Take one value ``r^n mod n^2`` per ciphertext from the key's pool
       (:func:`precompute_circuit_private`), in order, while it lasts.
    3. For the rest, draw ``r`` uniform in ``Z_n^*`` from :mod:`secrets` and
       compute ``r^n mod n^2`` (one full exponentiation each; no tables).
    4. Return ``c * r^n mod n^2`` for each ``c``.

    The result is distributed exactly as a fresh encryption of the same
    plaintext, whatever key the receiver chose (statistical hiding).

    Args:
        public_key: the key the ciphertexts are under.
        ciphertexts: raw ciphertexts (int or mpz).
        executor: where to compute the values not in the pool (default:
            in-process for small batches, a local process pool for large ones).

    Returns:
        The re-randomized ciphertexts as mpz, in order.

    Raises:
        InvalidCiphertext: a ciphertext breaks a rule of step 1.

    Leaks: nothing beyond the plaintexts to the key holder.
    """
    n = _modulus(public_key)
    cs = [validate_ciphertext(public_key, c) for c in ciphertexts]
    nsq = public_key._nsq
    pooled = _pools.take(n, len(cs))
    out = [c * rn % nsq for c, rn in zip(cs, pooled)]
    rest = cs[len(pooled) :]
    if rest:
        out.extend(parallel.map_chunks(rerandomize_chunk, (n,), rest, executor=executor))
    return out
