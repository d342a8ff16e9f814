"""python-paillier's encoding for :mod:`hecrypt.compat.phe`: :class:`EncodedNumber`.

A signed int or a float becomes ``encoding * BASE**exponent`` with the
encoding a residue modulo ``n``, exactly as ``phe.encoding`` does it (same
integers for the same inputs). Re-exported by :mod:`hecrypt.compat.phe`.
"""

from __future__ import annotations

import math
import numbers
import sys
from typing import TYPE_CHECKING, Any, ClassVar

from hecrypt.compat._phe_base import (
    PUBLIC_MODULE,
    EncodingRangeError,
    _is_int,
    _ratio,
    _round_ratio,
)
from hecrypt.exceptions import EncodingOverflowError

if TYPE_CHECKING:
    from hecrypt.compat._phe_keys import PaillierPublicKey


class EncodedNumber:
    """A signed int or a float encoded as ``encoding * BASE**exponent`` modulo ``n``.

    ``encoding`` is a residue modulo ``public_key.n``: values up to
    ``max_int`` are positive, values from ``n - max_int`` negative, and the
    band in between means overflow. ``exponent`` is public (it is never
    encrypted): it reveals the precision of a value, not the value.

    Subclass and set :attr:`BASE` and :attr:`LOG2_BASE` to use another base;
    everyone who decodes must use the same one.

    Attributes:
        public_key: the key the value is encoded for (its ``n`` and ``max_int``).
        encoding: the residue.
        exponent: the power of :attr:`BASE` that scales ``encoding``.
    """

    #: The base of :attr:`exponent`.
    BASE: ClassVar[int] = 16
    #: ``log2(BASE)``, used to turn a float's binary exponent into a base-BASE one.
    LOG2_BASE: ClassVar[float] = math.log(BASE, 2)
    #: Bits of a float's mantissa, all of which an automatic encoding keeps.
    FLOAT_MANTISSA_BITS: ClassVar[int] = sys.float_info.mant_dig

    def __init__(self, public_key: PaillierPublicKey, encoding: int, exponent: int) -> None:
        """Wrap an encoding as it is (for example one just decrypted)."""
        self.public_key = public_key
        self.encoding = encoding
        self.exponent = exponent

    def __repr__(self) -> str:
        return f"<{type(self).__name__} exponent={self.exponent} key={self.public_key!r}>"

    @classmethod
    def encode(
        cls,
        public_key: PaillierPublicKey,
        scalar: Any,
        precision: float | None = None,
        max_exponent: int | None = None,
    ) -> EncodedNumber:
        """Encode a number for ``public_key``.

        The exponent is the largest one that keeps the requested precision:

        * without ``precision``: 0 for ints; for floats, the base-:attr:`BASE`
          exponent just below the float's least significant mantissa bit
          (``floor((frexp(x)[1] - FLOAT_MANTISSA_BITS) / LOG2_BASE)``), so the
          float is represented exactly;
        * with ``precision``: ``floor(log_BASE(precision))``, so the encoding
          error is below ``precision``;

        and at most ``max_exponent`` when that is given. The encoding is then
        ``scalar * BASE**-exponent`` rounded to the nearest integer (ties to
        even), reduced modulo ``n``.

        Args:
            public_key: the key to encode for.
            scalar: an int or a float (with ``precision``, any real number with
                an exact value such as a Fraction or a Decimal).
            precision: the largest acceptable absolute error; must be positive.
            max_exponent: an upper bound on the exponent (used to align with a
                ciphertext's exponent before adding).

        Returns:
            An instance of ``cls``.

        Raises:
            TypeError: ``scalar`` is not a number this encoding understands.
            ValueError: ``precision`` is not positive, or ``scalar`` is NaN.
            OverflowError: ``scalar`` is infinite.
            EncodingRangeError: the encoding exceeds ``public_key.max_int`` in
                magnitude (a ValueError, as in phe).
        """
        if precision is None:
            if isinstance(scalar, float):
                lsb_bits = math.frexp(scalar)[1] - cls.FLOAT_MANTISSA_BITS
                prec_exponent = math.floor(lsb_bits / cls.LOG2_BASE)
            elif _is_int(scalar) or isinstance(scalar, numbers.Integral):
                prec_exponent = 0
            else:
                raise TypeError(
                    f"cannot choose a precision for a {type(scalar).__name__}; "
                    "pass an int, a float, or an explicit precision"
                )
        else:
            prec_exponent = math.floor(math.log(precision, cls.BASE))

        exponent = prec_exponent if max_exponent is None else min(max_exponent, prec_exponent)

        num, den = _ratio(scalar)
        if exponent <= 0:
            num *= cls.BASE ** (-exponent)
        else:
            den *= cls.BASE**exponent
        int_rep = _round_ratio(num, den)

        if abs(int_rep) > public_key.max_int:
            raise EncodingRangeError(
                f"{scalar!r} encodes to an integer of {abs(int_rep).bit_length()} bits; "
                f"the key allows magnitudes up to max_int ({public_key.max_int.bit_length()} bits)"
            )
        return cls(public_key, int_rep % public_key.n, exponent)

    def decode(self) -> int | float:
        """The value: an int when ``exponent >= 0``, else a float.

        Raises:
            ValueError: ``encoding`` is not reduced modulo ``n``.
            EncodingOverflowError: the encoding lies in the overflow band, or
                the value is too large for a float (an OverflowError).
        """
        n = self.public_key.n
        max_int = self.public_key.max_int
        encoding = self.encoding
        if encoding >= n:
            raise ValueError("corrupted EncodedNumber: its encoding is not reduced modulo n")
        if encoding <= max_int:
            mantissa = encoding
        elif encoding >= n - max_int:
            mantissa = encoding - n
        else:
            raise EncodingOverflowError(
                "overflow: the decrypted residue lies between max_int and n - max_int"
            )
        if self.exponent >= 0:
            return int(mantissa * self.BASE**self.exponent)
        try:
            return int(mantissa) / self.BASE ** (-self.exponent)
        except OverflowError:
            raise EncodingOverflowError("the decoded value is too large for a float") from None

    def decrease_exponent_to(self, new_exp: int) -> EncodedNumber:
        """The same value with the lower exponent ``new_exp`` (an instance of the same class).

        The encoding is multiplied by ``BASE**(exponent - new_exp)`` modulo
        ``n``; a value that no longer fits wraps silently, as in phe.

        Raises:
            ValueError: ``new_exp`` is above the current exponent.
        """
        if new_exp > self.exponent:
            raise ValueError(
                f"cannot raise the exponent from {self.exponent} to {new_exp}: "
                "exponents can only decrease"
            )
        factor = self.BASE ** (self.exponent - new_exp)
        return type(self)(self.public_key, self.encoding * factor % self.public_key.n, new_exp)


# ---------------------------------------------------------------- ciphertexts


EncodedNumber.__module__ = PUBLIC_MODULE
