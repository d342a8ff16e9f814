"""Constants, errors and number helpers of :mod:`hecrypt.compat.phe`.

The key sizes, the two errors that derive from the builtin types python-paillier
raises, and the small checks and exact-rational helpers the keys, the encoding
and the encrypted numbers share. Everything here is re-exported by
:mod:`hecrypt.compat.phe`, which is where users import it from.
"""

from __future__ import annotations

import hashlib
import numbers
from decimal import Decimal
from typing import Any

from hecrypt import _gmp
from hecrypt.exceptions import EncodingOverflowError, HecryptError

#: The module users import these names from (their ``__module__``, so that
#: reprs, error messages and pickles name the public path).
PUBLIC_MODULE = "hecrypt.compat.phe"

#: Key size of :func:`generate_paillier_keypair` when none is given (as in phe).
DEFAULT_KEYSIZE = 3072
#: Keys at least this long draw their randomness from hecrypt's DJN sampler.
FAST_PATH_MIN_BITS = 1024
#: Shortest modulus :func:`generate_paillier_keypair` produces.
MIN_KEYSIZE = 8
#: Below this modulus size, key generation draws primes of a given length
#: without forcing their two top bits (tiny test keys have few such primes).
_TINY_KEY_BITS = 64


class EncodingRangeError(EncodingOverflowError, ValueError):
    """A value is too large to encode under a key.

    Derives from ``ValueError`` (what python-paillier raises) and from
    :class:`~hecrypt.exceptions.EncodingOverflowError`.
    """


class CiphertextProductError(HecryptError, NotImplementedError, TypeError):
    """Two ciphertexts cannot be multiplied under Paillier.

    Derives from ``NotImplementedError`` (what python-paillier raises) and from
    ``TypeError`` (what hecrypt raises for operations Paillier cannot do).
    """


_PRODUCT_HINT = (
    "Paillier cannot multiply two ciphertexts; decrypt one factor, or use the "
    "secret-sharing multiplication of hecrypt.hybrid (Beaver triples)"
)


# ---------------------------------------------------------------- helpers
def _is_int(x: Any) -> bool:
    """Whether ``x`` is a Python int (bools included, as in phe) or an mpz."""
    return isinstance(x, (int, _gmp.MPZ))


def _require_int(x: Any, what: str) -> int:
    if not _is_int(x):
        raise TypeError(f"{what} must be an int, not {type(x).__name__}")
    return int(x)


def _is_operand(x: Any) -> bool:
    """Whether an arithmetic operator should try to encode ``x``."""
    return isinstance(x, (numbers.Number, Decimal)) or _is_int(x)


def _ratio(x: Any) -> tuple[int, int]:
    """``x`` as an exact fraction ``(numerator, denominator > 0)``.

    Raises:
        TypeError: not a number with an exact rational value.
        ValueError: NaN.
        OverflowError: an infinity.
    """
    if isinstance(x, bool) or _is_int(x) or isinstance(x, numbers.Integral):
        return int(x), 1
    if isinstance(x, numbers.Rational):
        return int(x.numerator), int(x.denominator)
    if isinstance(x, (numbers.Real, Decimal)):
        as_ratio = getattr(x, "as_integer_ratio", None)
        if as_ratio is None:
            as_ratio = float(x).as_integer_ratio
        num, den = as_ratio()
        return int(num), int(den)
    raise TypeError(f"cannot encode a {type(x).__name__}: expected an int or a float")


def _round_ratio(num: int, den: int) -> int:
    """``num / den`` rounded to the nearest integer, ties to even (``den > 0``)."""
    q, r = divmod(num, den)
    twice = 2 * r
    if twice > den or (twice == den and q % 2 == 1):
        q += 1
    return q


def _fingerprint(n: int) -> str:
    data = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return hashlib.sha256(data).hexdigest()[:10]


EncodingRangeError.__module__ = PUBLIC_MODULE
CiphertextProductError.__module__ = PUBLIC_MODULE
