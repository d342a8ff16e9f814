"""Fixed-point encoding of numbers into the Paillier plaintext space Z_n.

A real ``x`` is carried as the integer ``round(x * 2^s)``; ``s`` is the
*scale* (number of fractional bits). Integers are carried exactly at scale 0.
Negative values are represented centered: ``m mod n`` with ``m`` in
``[-max_int, max_int]`` and ``max_int = n // 3``; residues between
``max_int`` and ``n - max_int`` are outside the valid band and decode to an
:class:`~hecrypt.exceptions.EncodingOverflowError` instead of garbage.

Precision: a float encoded at scale ``s`` is off by at most ``2^-(s+1)``.
The default scale for floats is :data:`DEFAULT_FRAC_BITS` = 32 (absolute
error at most 1.2e-10 per encoded value).
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction
from typing import Any

from hecrypt.exceptions import EncodingOverflowError, ParameterError

__all__ = [
    "DEFAULT_FRAC_BITS",
    "MAX_FRAC_BITS",
    "check_frac_bits",
    "encode",
    "decode",
    "describe",
    "is_real_scalar",
    "max_int_for",
    "not_a_number_message",
]

#: Fractional bits used for floats unless the caller chooses otherwise.
DEFAULT_FRAC_BITS = 32
#: Largest scale accepted anywhere (the serialization limit): it covers every
#: float (the smallest subnormal needs 1074 fractional bits) and products of
#: them, and bounds the work a hostile scale can cause.
MAX_FRAC_BITS = 8192


def check_frac_bits(frac_bits: Any) -> int:
    """``frac_bits`` as an int in ``[0, MAX_FRAC_BITS]``, checked before any encoding.

    Raises:
        TypeError: not an integer.
        ParameterError: negative or above :data:`MAX_FRAC_BITS`.
    """
    if isinstance(frac_bits, bool) or not isinstance(frac_bits, numbers.Integral):
        raise TypeError(f"frac_bits must be an integer, not {type(frac_bits).__name__}")
    f = int(frac_bits)
    if not 0 <= f <= MAX_FRAC_BITS:
        raise ParameterError(
            f"frac_bits must be between 0 and {MAX_FRAC_BITS}, not "
            f"{f if abs(f) < 10**12 else f'an integer of {f.bit_length()} bits'}"
        )
    return f


def max_int_for(n: int) -> int:
    """Largest magnitude that encodes without ambiguity under modulus ``n``."""
    return n // 3


def is_real_scalar(x: Any) -> bool:
    """Whether ``x`` is a plain real number hecrypt can encode (not bool)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def encode(value: Any, max_int: int, frac_bits: int | None = None) -> tuple[int, int]:
    """Encode a real number as ``(signed integer, scale)``.

    Args:
        value: an int, float, or numpy scalar.
        max_int: the largest magnitude allowed (``n // 3`` for a key).
        frac_bits: scale for floats (default :data:`DEFAULT_FRAC_BITS`); an
            int ``value`` is also scaled when ``frac_bits`` is given.

    Returns:
        ``(m, scale)`` with ``value ~= m / 2**scale``.

    Raises:
        TypeError: not a real number.
        ValueError: NaN or infinity.
        EncodingOverflowError: ``|m| > max_int``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(not_a_number_message(value))
    if frac_bits is not None:
        frac_bits = check_frac_bits(frac_bits)
    if isinstance(value, numbers.Integral):
        scale = 0 if frac_bits is None else frac_bits
        if int(value).bit_length() + scale > max_int.bit_length() + 1:
            raise EncodingOverflowError(
                f"{describe(value)} at scale 2^{scale} needs more than "
                f"{max_int.bit_length()} bits, the size of the plaintext space"
            )
        m = int(value) << scale
    else:
        x = float(value)
        if not math.isfinite(x):
            raise ValueError(f"cannot encode {x}: only finite numbers have an encoding")
        scale = DEFAULT_FRAC_BITS if frac_bits is None else frac_bits
        if abs(x) >= 2.0**52:  # already an integer; ldexp could overflow
            m = int(x) << scale
        else:
            try:
                m = round(math.ldexp(x, scale))
            except OverflowError:  # a huge scale: exact rational rounding instead
                m = round(Fraction(x) * (1 << scale))
    if abs(m) > max_int:
        raise EncodingOverflowError(
            f"{describe(value)} at scale 2^{scale} needs {abs(m).bit_length()} bits; "
            f"the plaintext space holds magnitudes up to {max_int.bit_length()} bits"
        )
    return m, scale


def describe(value: Any) -> str:
    """A short text for ``value`` in a message: big integers by their size, not digits."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        v = int(value)
        if v.bit_length() > 64:
            return f"an integer of {v.bit_length()} bits"
        return str(v)
    return repr(value)


def not_a_number_message(value: Any) -> str:
    """Why ``value`` cannot be encoded as one number, and what to call instead."""
    name = type(value).__name__
    if hasattr(value, "to_numpy") or hasattr(value, "__array__") or isinstance(
        value, (list, tuple, range)
    ):
        return (
            f"cannot encode a {name} as one number: encrypt a numpy array "
            f"(for a table: encrypt(data.to_numpy()) gives an EncryptedTensor), or "
            f"encrypt_batch(values) for a 1-D sequence"
        )
    return f"cannot encode {name}: expected an int or a float"


def decode(
    residue: int, n: int, max_int: int, scale: int, bound: int | None = None
) -> int | float:
    """Decode a residue mod ``n`` at ``scale`` into an int (scale 0) or float.

    Args:
        residue: the decrypted residue in ``[0, n)``.
        n: the modulus.
        max_int: the plaintext band.
        scale: fractional bits.
        bound: the number's tracked bound on ``|m|``, checked when given.

    Raises:
        EncodingOverflowError: the residue is outside the valid band, i.e. the
            computation overflowed the plaintext space, or above ``bound``.
    """
    if residue <= max_int:
        m = residue
    elif residue >= n - max_int:
        m = residue - n
    else:
        raise EncodingOverflowError(
            "decrypted value is outside the valid band [-n/3, n/3]: the computation "
            "overflowed the plaintext space"
        )
    if bound is not None and abs(m) > bound:
        raise EncodingOverflowError(
            "decrypted value exceeds the number's tracked bound: it was not produced by "
            "the bounded operations its metadata describes"
        )
    if scale == 0:
        return int(m)
    try:
        return m / (1 << scale)
    except OverflowError as exc:
        raise EncodingOverflowError(f"value too large for a float: {exc}") from None
