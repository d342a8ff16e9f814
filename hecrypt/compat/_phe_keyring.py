"""Key generation and the keyring of :mod:`hecrypt.compat.phe`.

:func:`generate_paillier_keypair` (random primes from :mod:`secrets`, see
:mod:`hecrypt.compat.phe` for their form) and :class:`PaillierPrivateKeyring`.
Re-exported by :mod:`hecrypt.compat.phe`.
"""

from __future__ import annotations

import numbers
import secrets
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from hecrypt import _gmp
from hecrypt._gmp import mpz
from hecrypt.compat._phe_base import _TINY_KEY_BITS, DEFAULT_KEYSIZE, MIN_KEYSIZE, PUBLIC_MODULE
from hecrypt.compat._phe_keys import PaillierPrivateKey, PaillierPublicKey
from hecrypt.compat._phe_number import EncryptedNumber


def _tiny_prime(bits: int) -> Any:
    """A random prime of exactly ``bits`` bits (only the top bit forced)."""
    top = 1 << (bits - 1)
    while True:
        candidate = mpz(secrets.randbits(bits - 1) | top | 1)
        if _gmp.is_prime(candidate):
            return candidate


def _prime_pair(n_length: int) -> tuple[Any, Any]:
    """Two distinct primes whose product has exactly ``n_length`` bits."""
    bits_p = n_length // 2
    bits_q = n_length - bits_p
    while True:
        if n_length >= _TINY_KEY_BITS:
            p, q = _gmp.random_prime(bits_p), _gmp.random_prime(bits_q)
        else:
            p, q = _tiny_prime(bits_p), _tiny_prime(bits_q)
        n = p * q
        if p != q and n.bit_length() == n_length and _gmp.gcd(n, (p - 1) * (q - 1)) == 1:
            return p, q

class PaillierPrivateKeyring(Mapping[PaillierPublicKey, PaillierPrivateKey]):
    """Private keys indexed by their public keys; decrypts with the right one.

    A read-only mapping plus :meth:`add` and ``del keyring[public_key]``.
    """

    def __init__(self, private_keys: Iterable[PaillierPrivateKey] | None = None) -> None:
        """Start with ``private_keys`` (optional)."""
        self.__keys: dict[PaillierPublicKey, PaillierPrivateKey] = {}
        for key in private_keys or ():
            self.add(key)

    def __getitem__(self, public_key: PaillierPublicKey) -> PaillierPrivateKey:
        return self.__keys[public_key]

    def __len__(self) -> int:
        return len(self.__keys)

    def __iter__(self) -> Iterator[PaillierPublicKey]:
        return iter(self.__keys)

    def __delitem__(self, public_key: PaillierPublicKey) -> None:
        del self.__keys[public_key]

    def add(self, private_key: PaillierPrivateKey) -> None:
        """Add (or replace) the key for ``private_key.public_key``.

        Raises:
            TypeError: not a :class:`PaillierPrivateKey`.
        """
        if not isinstance(private_key, PaillierPrivateKey):
            raise TypeError(
                f"expected a PaillierPrivateKey, not {type(private_key).__name__}"
            )
        self.__keys[private_key.public_key] = private_key

    def decrypt(self, encrypted_number: EncryptedNumber) -> int | float:
        """Decrypt with the key of ``encrypted_number.public_key``.

        Raises:
            KeyError: no key for that public key on the ring.
        """
        return self.__keys[encrypted_number.public_key].decrypt(encrypted_number)


def generate_paillier_keypair(
    private_keyring: PaillierPrivateKeyring | None = None, n_length: int = DEFAULT_KEYSIZE
) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    """Generate a key pair whose modulus has exactly ``n_length`` bits.

    Primes come from :mod:`secrets` (see the module docstring for their form).

    Args:
        private_keyring: a :class:`PaillierPrivateKeyring` to add the private key to.
        n_length: the modulus size in bits, at least :data:`MIN_KEYSIZE`
            (default :data:`DEFAULT_KEYSIZE` = 3072). Sizes below 2048 bits
            are not secure; use them for tests only.

    Returns:
        ``(public_key, private_key)``.

    Raises:
        TypeError: ``n_length`` is not an int.
        ValueError: ``n_length`` is below :data:`MIN_KEYSIZE`.
    """
    if isinstance(n_length, bool) or not isinstance(n_length, numbers.Integral):
        raise TypeError(f"n_length must be an int, not {type(n_length).__name__}")
    n_length = int(n_length)
    if n_length < MIN_KEYSIZE:
        raise ValueError(f"n_length must be at least {MIN_KEYSIZE} bits, not {n_length}")
    p, q = _prime_pair(n_length)
    public_key = PaillierPublicKey(int(p * q))
    private_key = PaillierPrivateKey(public_key, int(p), int(q))
    if private_keyring is not None:
        private_keyring.add(private_key)
    return public_key, private_key


# ---------------------------------------------------------------- encoding


PaillierPrivateKeyring.__module__ = PUBLIC_MODULE
generate_paillier_keypair.__module__ = PUBLIC_MODULE
