"""Paillier key pairs (g = n + 1): key generation, and the import path of the key classes.

The key classes and checks live in modules of their own; every name they
had here is re-exported (the same objects, pools included), so imports from
``hecrypt.paillier.keys`` keep working:

* :mod:`hecrypt.paillier.key_policy`: accepted sizes and the checks of moduli
  and primes (``DEFAULT_KEY_BITS``, ``MIN_KEY_BITS``, ...);
* :mod:`hecrypt.paillier.public_key`: :class:`PublicKey` (DJN encryption) and
  the per-key randomness pools;
* :mod:`hecrypt.paillier.private_key`: :class:`PrivateKey` (owner encryption,
  CRT decryption).
"""

from __future__ import annotations

import numbers

from hecrypt import _gmp
from hecrypt.exceptions import InvalidKey
from hecrypt.paillier import randomness
from hecrypt.paillier.key_policy import _KEY_CHECK_ROUNDS as _KEY_CHECK_ROUNDS
from hecrypt.paillier.key_policy import _PQ_DISTANCE_SLACK as _PQ_DISTANCE_SLACK
from hecrypt.paillier.key_policy import DEFAULT_KEY_BITS as DEFAULT_KEY_BITS
from hecrypt.paillier.key_policy import MAX_KEY_BITS as MAX_KEY_BITS
from hecrypt.paillier.key_policy import MIN_INSECURE_KEY_BITS as MIN_INSECURE_KEY_BITS
from hecrypt.paillier.key_policy import MIN_KEY_BITS as MIN_KEY_BITS
from hecrypt.paillier.key_policy import _as_int as _as_int
from hecrypt.paillier.key_policy import _check_factors as _check_factors
from hecrypt.paillier.key_policy import _check_modulus as _check_modulus
from hecrypt.paillier.key_policy import _check_size as _check_size
from hecrypt.paillier.private_key import PrivateKey as PrivateKey
from hecrypt.paillier.private_key import _load_private as _load_private
from hecrypt.paillier.private_key import _not_encrypted_message as _not_encrypted_message
from hecrypt.paillier.public_key import PublicKey as PublicKey
from hecrypt.paillier.public_key import _flatten as _flatten
from hecrypt.paillier.public_key import _load_public as _load_public
from hecrypt.paillier.public_key import _pool_for as _pool_for
from hecrypt.paillier.public_key import _pools as _pools

__all__ = [
    "PublicKey",
    "PrivateKey",
    "generate_keypair",
    "DEFAULT_KEY_BITS",
    "MIN_KEY_BITS",
    "MIN_INSECURE_KEY_BITS",
]


def generate_keypair(
    n_bits: int = DEFAULT_KEY_BITS,
    *,
    insecure_small_keys: bool = False,
    owner_window: int | None = None,
) -> tuple[PublicKey, PrivateKey]:
    """Generate a Paillier key pair with a modulus of exactly ``n_bits`` bits.

    Primes come from :mod:`secrets`; each is ``2*k*s + 1`` with ``s`` prime
    and ``k < 2^16`` so that the key owner's fast encryption can certify its
    generators (see :mod:`hecrypt.paillier.randomness`).

    Args:
        n_bits: 2048 (default), 3072 or 4096; any size from 2048 up works.
        insecure_small_keys: allow 1024 <= n_bits < 2048 (tests only).
        owner_window: window (bits) of the private key's owner encryption
            tables, see :class:`PrivateKey` (8: the lower-memory setting).

    Raises:
        InvalidKey: ``n_bits`` outside the policy.
        ParameterError: ``owner_window`` is not an integer from 4 to 16.
    """
    if isinstance(n_bits, bool) or not isinstance(n_bits, numbers.Integral):
        raise InvalidKey("n_bits must be an integer")
    _check_size(int(n_bits), insecure_small_keys)
    if owner_window is not None:
        randomness.check_owner_window(owner_window)
    bits_p = int(n_bits) // 2
    bits_q = int(n_bits) - bits_p
    while True:
        p, _ = _gmp.structured_prime(bits_p)
        q, _ = _gmp.structured_prime(bits_q)
        n = p * q
        if (
            p != q
            and n.bit_length() == n_bits
            and _gmp.gcd(n, (p - 1) * (q - 1)) == 1
            and abs(q - p).bit_length() > n_bits // 2 - _PQ_DISTANCE_SLACK
        ):
            break
    pk = _load_public(int(n))
    return pk, PrivateKey(pk, p, q, owner_window=owner_window)
