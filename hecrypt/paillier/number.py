"""Encrypted numbers: one Paillier ciphertext with a fixed-point scale."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

from hecrypt import _gmp
from hecrypt.encoding import fixedpoint
from hecrypt.exceptions import (
    EncodingOverflowError,
    InvalidCiphertext,
    InvalidKey,
    KeyMismatchError,
)

if TYPE_CHECKING:
    from hecrypt.paillier.keys import PublicKey

__all__ = [
    "EncryptedNumber",
    "NUMBER_BOUND_BITS",
    "check_public_key",
    "public_bound",
    "validate_ciphertext",
]

#: A fresh number's public bound is at least ``2^(scale + NUMBER_BOUND_BITS) - 1``:
#: every value below ``2^64`` in real units gets the same bound, so the bound
#: (public metadata) reveals nothing about it; a larger value reveals its bit
#: length. Pass ``value_bound=`` to ``encrypt`` to choose the bound instead.
NUMBER_BOUND_BITS = 64


def public_bound(m: int, scale: int, max_int: int) -> int:
    """The public bound of a fresh encoding ``m`` at ``scale`` (see :data:`NUMBER_BOUND_BITS`)."""
    bits = max(abs(int(m)).bit_length(), scale + NUMBER_BOUND_BITS)
    return min(max_int, (1 << bits) - 1)


def _need(bound: int, max_int: int, what: str) -> int:
    """``bound`` if it fits the plaintext band, else :class:`EncodingOverflowError`."""
    if bound > max_int:
        raise EncodingOverflowError(
            f"{what} could reach a magnitude of {bound.bit_length()} bits, but the plaintext "
            f"band holds {max_int.bit_length()} bits (max_int < 2^{max_int.bit_length()}); "
            "the result would decrypt to a wrong value: use smaller operands, fewer "
            "fractional bits or a larger key"
        )
    return bound

def _refuse_foreign_number(other: Any) -> None:
    """A phe (or phe-compatible) encrypted number is not silently treated as a scalar.

    Raises:
        TypeError: naming :meth:`EncryptedNumber.from_phe`.
    """
    cls = type(other)
    module = cls.__module__
    if cls.__name__ != "EncryptedNumber":
        return
    if module.split(".")[0] == "phe":
        raise TypeError(
            f"a {module}.EncryptedNumber is not a hecrypt EncryptedNumber: convert it with "
            "hecrypt.EncryptedNumber.from_phe(x, public_key) and give it the public bound "
            "you know with .with_bound(b) before combining them"
        )
    if module.startswith("hecrypt.compat"):
        raise TypeError(
            f"a {module}.EncryptedNumber (the phe-compatible API) does not mix with "
            "hecrypt's own EncryptedNumber: compute with one API, or decrypt it with "
            "its hecrypt.compat.phe private key"
        )


_MUL_HINT = (
    "Paillier cannot multiply two ciphertexts; use the secret-sharing "
    "multiplication of hecrypt.hybrid (Beaver triples) for ciphertext x ciphertext"
)


def check_public_key(public_key: Any) -> None:
    """Raise :class:`InvalidKey` unless ``public_key`` is a hecrypt ``PublicKey``."""
    from hecrypt.paillier.keys import PublicKey

    if isinstance(public_key, PublicKey):
        return
    if type(public_key).__module__.startswith("phe"):
        raise InvalidKey(
            f"a phe {type(public_key).__name__} where a hecrypt PublicKey belongs: convert "
            "it with hecrypt.PublicKey.from_phe(key)"
        )
    raise InvalidKey(f"public_key must be a hecrypt PublicKey, not {type(public_key).__name__}")


def validate_ciphertext(public_key: PublicKey, c: Any) -> Any:
    """Check a ciphertext that comes from outside and return it as an mpz.

    Rules: an integer, ``0 < c < n^2`` and ``gcd(c, n) == 1``.

    Raises:
        InvalidKey: ``public_key`` is not a hecrypt :class:`PublicKey`.
        InvalidCiphertext: a rule is broken.
    """
    check_public_key(public_key)
    if isinstance(c, bool) or not isinstance(c, (numbers.Integral, _gmp.MPZ)):
        raise InvalidCiphertext(f"a ciphertext must be an integer, not {type(c).__name__}")
    c = _gmp.mpz(c)
    if not 0 < c < public_key._nsq:
        raise InvalidCiphertext("ciphertext out of range: it must satisfy 0 < c < n^2")
    if _gmp.gcd(c, public_key._n) != 1:
        raise InvalidCiphertext("ciphertext shares a factor with n: it is not a unit mod n^2")
    return c


class EncryptedNumber:
    """A Paillier ciphertext of one fixed-point number.

    The plaintext is ``m / 2**scale`` where ``m`` is the centered residue.
    Objects are immutable; operations return new objects.

    Supported: ``+``/``-`` with another EncryptedNumber under the same key
    (private addition) or a plain number, unary ``-``, ``*`` and ``/`` by a
    plain number (public multiplication), ``sum()``. With a numpy array or
    an ``EncryptedTensor`` the number broadcasts like a 0-d tensor and the
    result is an ``EncryptedTensor``; with a ``PackedTensor`` it is added to
    every record's slot (``+``/``-`` only, at most the tensor's scale). Scales align exactly:
    the lower-scale operand is multiplied by ``2^k``.

    Overflow is an error: every number carries a public bound on the
    magnitude of its encoded integer (:attr:`bound`), each operation computes
    the bound of its result and raises :class:`EncodingOverflowError` before
    computing anything if it could leave the plaintext band ``[-n/3, n/3]``,
    and decryption refuses a value above its bound. A fresh encryption's
    bound is :func:`public_bound` of its value (or the ``value_bound`` given
    to ``encrypt``); numbers from outside without a bound (``from_phe``, a
    raw ciphertext) get the widest honest bound, ``max_int``.

    Leaks: the scale, the key and the bound are public; a fresh number's
    bound reveals only whether ``|x| >= 2^64`` (and then its bit length).
    Homomorphic results are *not* fresh (they are deterministic functions
    of their inputs); :meth:`rerandomized` makes a fresh ciphertext, and
    serialization does so by default.
    """

    __slots__ = ("_bound", "_c", "_fresh", "_pk", "_scale")

    _pk: PublicKey
    _c: Any
    _scale: int
    _fresh: bool
    _bound: int

    def __init__(
        self, public_key: PublicKey, ciphertext: int, scale: int = 0, *, bound: int | None = None
    ) -> None:
        """Wrap a raw ciphertext from outside (validated) at ``scale``.

        Raises:
            InvalidKey: ``public_key`` is not a hecrypt ``PublicKey``.
            InvalidCiphertext: ``ciphertext`` is not an integer in ``(0, n^2)``
                coprime to ``n``.
            EncodingOverflowError: ``bound`` above the key's ``max_int``.

        ``bound`` is a public bound on the magnitude of the encoded integer
        (default: the widest, ``max_int``).
        """
        check_public_key(public_key)
        if not isinstance(scale, numbers.Integral) or isinstance(scale, bool) or scale < 0:
            raise ValueError("scale must be a non-negative integer")
        if bound is None:
            bound = public_key._max_int
        elif isinstance(bound, bool) or not isinstance(bound, numbers.Integral) or bound < 0:
            raise ValueError("bound must be a non-negative integer")
        self._pk = public_key
        self._c = validate_ciphertext(public_key, ciphertext)
        self._scale = int(scale)
        self._fresh = False
        self._bound = _need(int(bound), public_key._max_int, "the given bound")

    @classmethod
    def _make(
        cls, pk: PublicKey, c: Any, scale: int, fresh: bool, bound: int | None = None
    ) -> EncryptedNumber:
        """Internal constructor; ``bound`` None means the widest (``max_int``)."""
        obj = object.__new__(cls)
        obj._pk = pk
        obj._c = c
        obj._scale = scale
        obj._fresh = fresh
        obj._bound = pk._max_int if bound is None else bound
        return obj

    # ------------------------------------------------------------ properties
    @property
    def public_key(self) -> PublicKey:
        """The key this number is encrypted under."""
        return self._pk

    @property
    def ciphertext(self) -> int:
        """The raw ciphertext as it is (not re-randomized)."""
        return int(self._c)

    @property
    def scale(self) -> int:
        """Number of fractional bits of the encoded plaintext."""
        return self._scale

    @property
    def bound(self) -> int:
        """Public bound on ``|m|``, the encoded integer (``value * 2**scale``)."""
        return self._bound

    @property
    def value_bound(self) -> float:
        """:attr:`bound` in real units (``bound / 2**scale``)."""
        try:
            return self._bound / (1 << self._scale)
        except OverflowError:
            return float("inf")

    def with_bound(self, value_bound: float) -> EncryptedNumber:
        """The same ciphertext with a public bound ``|x| <= value_bound`` (real units).

        For numbers from outside that carry no bound (``from_phe``, a raw
        ciphertext): the widest bound they get refuses any operation that
        could grow the value. The caller vouches for ``value_bound``; a
        decrypted value above it raises :class:`EncodingOverflowError`.

        Raises:
            ValueError: ``value_bound`` is negative, NaN or infinite.
            EncodingOverflowError: the bound does not fit the plaintext band.
        """
        from hecrypt.encoding import bounds

        bound = bounds.declared_bound(value_bound, self._scale)  # ceil(vb * 2^scale)
        bounds._need(bound, self._pk._max_int, "the given value_bound")
        return EncryptedNumber._make(self._pk, self._c, self._scale, self._fresh, bound)

    @property
    def is_fresh(self) -> bool:
        """True for a fresh encryption; False for a homomorphic result."""
        return self._fresh

    def __repr__(self) -> str:
        return f"<EncryptedNumber scale=2^-{self._scale} key={self._pk.fingerprint}>"

    def __bool__(self) -> bool:
        raise TypeError("the truth value of an encrypted number is unknown; decrypt it first")

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("refusing to convert an EncryptedNumber to a numpy array")

    # numpy scalars on the left (``np.float64(0.5) * x``) defer to our reflected
    # operators instead of trying to convert this number to an array.
    __array_ufunc__ = None

    # ------------------------------------------------------------ helpers
    def _rescaled(self, scale: int) -> Any:
        """Ciphertext of the same value at a higher ``scale``."""
        if scale == self._scale:
            return self._c
        return _gmp.powmod(self._c, 1 << (scale - self._scale), self._pk._nsq)

    def _add_plain_int(self, m: int, scale: int) -> EncryptedNumber:
        pk = self._pk
        target = max(scale, self._scale)
        bound = _need(
            (self._bound << (target - self._scale)) + (abs(m) << (target - scale)),
            pk._max_int,
            "the sum with a plaintext",
        )
        c = self._rescaled(target)
        m <<= target - scale
        if m:
            n = pk._n
            c = c + n * (m * c % n)
            if c >= pk._nsq:
                c -= pk._nsq
        return EncryptedNumber._make(pk, c, target, False, bound)

    def rerandomized(self, *, circuit_private: bool = False) -> EncryptedNumber:
        """A fresh ciphertext of the same value.

        Args:
            circuit_private: for a result sent to the holder of the private
                key: multiply by ``r^n`` with ``r`` uniform in ``Z_n^*``
                (statistically hiding how the value was computed, whatever
                the key; see :mod:`hecrypt.paillier.circuit`). Otherwise DJN
                randomness or the key's pool, which is enough for one's own
                or a trusted key.
        """
        pk = self._pk
        if circuit_private:
            from hecrypt.paillier.circuit import rerandomize_for_key_holder

            c = rerandomize_for_key_holder(pk, [self._c])[0]
            return EncryptedNumber._make(pk, c, self._scale, True, self._bound)
        r = pk._take_randomness(1)[0]
        return EncryptedNumber._make(pk, self._c * r % pk._nsq, self._scale, True, self._bound)

    def fresh(self) -> EncryptedNumber:
        """``self`` if fresh, else :meth:`rerandomized` (what leaves the process)."""
        return self if self._fresh else self.rerandomized()

    # ------------------------------------------------------------ arithmetic
    def _broadcast(self) -> Any:
        """This number as a 0-d ``EncryptedTensor`` (for operands that are arrays)."""
        from hecrypt.paillier.tensor import number_as_tensor

        return number_as_tensor(self)

    def __add__(self, other: Any) -> Any:
        if type(other) is EncryptedNumber:
            pk = self._pk
            if other._pk is not pk and other._pk != pk:
                raise KeyMismatchError(
                    "cannot add numbers encrypted under different keys "
                    f"({pk.fingerprint} and {other._pk.fingerprint})"
                )
            s1, s2 = self._scale, other._scale
            if s1 == s2:  # the common case, kept to one bound check and one mulmod
                bound = self._bound + other._bound
                if bound > pk._max_int:
                    _need(bound, pk._max_int, "the sum")
                obj = object.__new__(EncryptedNumber)
                obj._pk = pk
                obj._c = self._c * other._c % pk._nsq
                obj._scale = s1
                obj._fresh = False
                obj._bound = bound
                return obj
            s = max(s1, s2)
            bound = _need(
                (self._bound << (s - s1)) + (other._bound << (s - s2)), pk._max_int, "the sum"
            )
            return EncryptedNumber._make(
                pk, self._rescaled(s) * other._rescaled(s) % pk._nsq, s, False, bound
            )
        if isinstance(other, np.ndarray):
            return self._broadcast() + other
        _refuse_foreign_number(other)
        if isinstance(other, EncryptedNumber):
            return NotImplemented
        if not fixedpoint.is_real_scalar(other):
            return NotImplemented
        # Integers are encoded at this number's scale, so the overflow check
        # applies to the shifted value that is actually added.
        if isinstance(other, numbers.Integral):
            frac = self._scale
        else:
            frac = max(self._scale, fixedpoint.DEFAULT_FRAC_BITS)
        m, s = fixedpoint.encode(other, self._pk.max_int, frac)
        return self._add_plain_int(m, s)

    __radd__ = __add__

    def __neg__(self) -> EncryptedNumber:
        pk = self._pk
        return EncryptedNumber._make(
            pk, _gmp.invert(self._c, pk._nsq), self._scale, False, self._bound
        )

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, np.ndarray):
            return self._broadcast() - other
        _refuse_foreign_number(other)
        if isinstance(other, EncryptedNumber):
            return self + (-other)
        if not fixedpoint.is_real_scalar(other):
            return NotImplemented
        if isinstance(other, numbers.Integral):
            other = int(other)  # negating a numpy unsigned integer would wrap
        return self + (-other)

    def __rsub__(self, other: Any) -> Any:
        if isinstance(other, np.ndarray):
            return other - self._broadcast()
        if not fixedpoint.is_real_scalar(other):
            return NotImplemented
        return (-self) + other

    def __mul__(self, other: Any) -> Any:
        if isinstance(other, EncryptedNumber):
            raise TypeError(_MUL_HINT)
        if isinstance(other, np.ndarray):
            return self._broadcast() * other
        _refuse_foreign_number(other)
        if not fixedpoint.is_real_scalar(other):
            return NotImplemented
        pk = self._pk
        if isinstance(other, numbers.Integral):
            k, s = int(other), 0
        else:
            k, s = fixedpoint.encode(other, pk.max_int)
        bound = _need(self._bound * abs(k), pk._max_int, "the product")
        return EncryptedNumber._make(
            pk, _scalar_pow(self._c, k, pk), self._scale + s, False, bound
        )

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> EncryptedNumber:
        if isinstance(other, EncryptedNumber):
            raise TypeError("division by a ciphertext is not possible under Paillier")
        if not fixedpoint.is_real_scalar(other):
            return NotImplemented
        if other == 0:
            raise ZeroDivisionError("division of an encrypted number by zero")
        return self * (1.0 / float(other))

    def __matmul__(self, other: Any) -> Any:
        return NotImplemented

    # ------------------------------------------------------------ serialization
    def to_bytes(self, *, rerandomize: bool = True) -> bytes:
        """Compact binary form (see :mod:`hecrypt.paillier.serialization`)."""
        from hecrypt.paillier import serialization

        return serialization.encrypted_number_to_bytes(self, rerandomize=rerandomize)

    @classmethod
    def from_bytes(cls, data: bytes, public_key: PublicKey) -> EncryptedNumber:
        """Load and validate a number written by :meth:`to_bytes`."""
        from hecrypt.paillier import serialization

        return serialization.encrypted_number_from_bytes(data, public_key)

    def to_json(self, *, rerandomize: bool = True) -> str:
        """JSON form (see :mod:`hecrypt.paillier.serialization`)."""
        from hecrypt.paillier import serialization

        return serialization.encrypted_number_to_json(self, rerandomize=rerandomize)

    @classmethod
    def from_json(cls, text: str | bytes, public_key: PublicKey) -> EncryptedNumber:
        """Load and validate a number written by :meth:`to_json`."""
        from hecrypt.paillier import serialization

        return serialization.encrypted_number_from_json(text, public_key)

    # ------------------------------------------------------------ phe interop
    @classmethod
    def from_phe(
        cls, x: Any, public_key: PublicKey | None = None, *, insecure_small_keys: bool = False
    ) -> EncryptedNumber:
        """Convert a ``phe.paillier.EncryptedNumber`` (see :mod:`.interop`)."""
        from hecrypt.paillier import interop

        return interop.encrypted_number_from_phe(
            x, public_key, insecure_small_keys=insecure_small_keys
        )

    def to_phe(self, public_key: Any = None, *, rerandomize: bool = True) -> Any:
        """Convert to a ``phe.paillier.EncryptedNumber`` (see :mod:`.interop`)."""
        from hecrypt.paillier import interop

        return interop.encrypted_number_to_phe(self, public_key, rerandomize=rerandomize)


def _scalar_pow(c: Any, k: int, pk: PublicKey) -> Any:
    """``c^k mod n^2`` for a signed plaintext ``k`` (negative: via the inverse)."""
    if k == 0:
        return _gmp.mpz(1)
    if k == 1:
        return c
    if k == -1:
        return _gmp.invert(c, pk._nsq)
    return _gmp.powmod(c, k, pk._nsq)

