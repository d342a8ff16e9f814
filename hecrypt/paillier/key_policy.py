"""Paillier key policy: accepted modulus sizes and the checks of moduli and factors.

:class:`~hecrypt.paillier.public_key.PublicKey` and
:class:`~hecrypt.paillier.private_key.PrivateKey` run these checks on every
key from outside (files, JSON, phe keys, constructor arguments), and
:func:`~hecrypt.paillier.keys.generate_keypair` applies the same size and
``|p - q|`` rules to the keys it makes. The checks are structural and cheap
first, so a crafted key is refused quickly. Error messages name the rule
broken, never the secret primes.
"""

from __future__ import annotations

import numbers
from typing import Any

from hecrypt import _gmp
from hecrypt._gmp import mpz
from hecrypt.exceptions import InvalidKey

#: Key size of :func:`generate_keypair` unless told otherwise.
DEFAULT_KEY_BITS = 2048
#: Smallest modulus accepted without the explicit insecure option.
MIN_KEY_BITS = 2048
#: Smallest modulus accepted at all (tests use 1024-bit keys for speed).
MIN_INSECURE_KEY_BITS = 1024
#: Largest modulus accepted when loading keys (bounds work on hostile input).
MAX_KEY_BITS = 16384


def _check_size(bits: int, insecure_small_keys: bool) -> None:
    if bits > MAX_KEY_BITS:
        raise InvalidKey(f"a {bits}-bit modulus is above the {MAX_KEY_BITS}-bit limit")
    if bits < MIN_INSECURE_KEY_BITS:
        raise InvalidKey(
            f"a {bits}-bit modulus is refused: keys below {MIN_INSECURE_KEY_BITS} bits are "
            "never accepted"
        )
    if bits < MIN_KEY_BITS and not insecure_small_keys:
        raise InvalidKey(
            f"a {bits}-bit modulus is below the {MIN_KEY_BITS}-bit policy: use a key of "
            f"at least {MIN_KEY_BITS} bits"
        )


def _check_modulus(n: Any) -> None:
    """Cheap structural checks of a modulus from outside (no factoring)."""
    if n % 2 == 0:
        raise InvalidKey("n must be an odd product of two distinct primes, not even")
    small = _gmp.small_prime_factor(n)
    if small is not None:
        raise InvalidKey(
            f"n has the small prime factor {small}: a Paillier modulus is the product of "
            "two large primes"
        )
    if _gmp.is_probable_prime(n) or _gmp.isqrt(n) ** 2 == n:
        raise InvalidKey("n must be a product of two distinct primes, not a prime or a square")


#: Below this, ``|p - q|`` lets Fermat's method factor ``n`` (FIPS 186-5 asks
#: ``|p - q| > 2^(|n|/2 - 100)``).
_PQ_DISTANCE_SLACK = 100


def _check_factors(n: Any, p: Any, q: Any) -> None:
    """Validate the primes of a private key, cheapest checks first.

    Order: product, distance, ``gcd(n, phi(n)) = 1``, a base-2 Fermat test
    of both primes (rejects a composite in one exponentiation), then BPSW
    with Miller-Rabin rounds. A crafted key is refused in milliseconds up to
    a few exponentiations; a valid 16,384-bit key costs a few seconds.
    """
    if p == q:
        raise InvalidKey("p and q must be distinct primes")
    if p * q != n:
        raise InvalidKey("p * q does not equal the public modulus n")
    if (q - p).bit_length() <= n.bit_length() // 2 - _PQ_DISTANCE_SLACK:
        raise InvalidKey(
            f"|p - q| must exceed 2^({n.bit_length()} / 2 - {_PQ_DISTANCE_SLACK}): closer "
            "primes let Fermat's method factor n"
        )
    if _gmp.gcd(n, (p - 1) * (q - 1)) != 1:
        raise InvalidKey("gcd(n, (p - 1)(q - 1)) must be 1 (p must not divide q - 1, nor q p - 1)")
    for x in (p, q):
        if x < 3 or _gmp.powmod(2, x - 1, x) != 1:
            raise InvalidKey("p and q must be prime")
    if not (_gmp.is_prime(p, _KEY_CHECK_ROUNDS) and _gmp.is_prime(q, _KEY_CHECK_ROUNDS)):
        raise InvalidKey("p and q must be prime")


#: GMP's test for loaded keys: BPSW plus 8 Miller-Rabin rounds (no BPSW
#: pseudoprime is known; the 64 of key generation would cost 4 s per
#: 8,192-bit prime).
_KEY_CHECK_ROUNDS = 32


def _as_int(x: Any, what: str) -> Any:
    if isinstance(x, bool) or not isinstance(x, (numbers.Integral, _gmp.MPZ)):
        raise InvalidKey(f"{what} must be an integer, not {type(x).__name__}")
    return mpz(x)
