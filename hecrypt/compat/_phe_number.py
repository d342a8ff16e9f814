"""Encrypted numbers of :mod:`hecrypt.compat.phe`: :class:`EncryptedNumber`.

The python-paillier ciphertext type with its homomorphic operators (exponents
aligned by lowering the larger one), lazy obfuscation, and the message that
explains a foreign encrypted number (phe's own, or hecrypt's native API).
Re-exported by :mod:`hecrypt.compat.phe`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hecrypt import _gmp
from hecrypt._gmp import mpz
from hecrypt.compat._phe_base import (
    _PRODUCT_HINT,
    PUBLIC_MODULE,
    CiphertextProductError,
    _is_operand,
    _require_int,
)
from hecrypt.compat._phe_encoding import EncodedNumber
from hecrypt.exceptions import KeyMismatchError

if TYPE_CHECKING:
    from hecrypt.compat._phe_keys import PaillierPublicKey


def _foreign_number_message(x: Any) -> str:
    """Why ``x`` is not a number of this module, and what to call instead."""
    cls = type(x)
    where = f"{cls.__module__}.{cls.__qualname__}"
    if cls.__module__.split(".")[0] == "phe":
        return (
            f"a {where} from the phe package is not a hecrypt.compat.phe EncryptedNumber: "
            "rebuild it with hecrypt.compat.phe.EncryptedNumber(public_key, "
            "x.ciphertext(be_secure=False), x.exponent), or decrypt it with its phe key"
        )
    if cls.__module__.startswith("hecrypt.paillier"):
        return (
            f"a {where} (hecrypt's own API) is not a hecrypt.compat.phe EncryptedNumber: "
            "decrypt it with a hecrypt PrivateKey (PaillierPrivateKey.to_hecrypt()), or "
            "convert it with x.to_phe()"
        )
    return f"expected a hecrypt.compat.phe EncryptedNumber, not {where}"

class EncryptedNumber:
    """The Paillier encryption of an :class:`EncodedNumber` (python-paillier API).

    Supports ``+`` and ``-`` with another EncryptedNumber under the same key,
    with an int, a float or an :class:`EncodedNumber`; ``*`` and ``/`` by a
    plain number or an :class:`EncodedNumber`; unary ``-``; ``sum()``.
    Exponents are aligned by lowering the larger one.

    Results of arithmetic are not obfuscated (they are deterministic functions
    of their inputs); :meth:`ciphertext` obfuscates on the way out unless told
    otherwise, and :meth:`obfuscate` does it on demand.

    Attributes:
        public_key: the key the number is encrypted under.
        exponent: the public exponent of the encoding (base
            :attr:`EncodedNumber.BASE`).
    """

    __slots__ = ("__ciphertext", "__is_obfuscated", "__weakref__", "exponent", "public_key")

    public_key: PaillierPublicKey
    exponent: int

    def __init__(self, public_key: PaillierPublicKey, ciphertext: int, exponent: int = 0) -> None:
        """Wrap a raw ciphertext (for example one received from elsewhere).

        Raises:
            TypeError: ``public_key`` is not a :class:`PaillierPublicKey`, or
                ``ciphertext`` or ``exponent`` is not an int.
        """
        from hecrypt.compat._phe_keys import PaillierPublicKey  # the keys import this module

        if not isinstance(public_key, PaillierPublicKey):
            raise TypeError(
                f"public_key must be a PaillierPublicKey, not {type(public_key).__name__}"
            )
        self.public_key = public_key
        self.__ciphertext = mpz(_require_int(ciphertext, "ciphertext"))
        self.exponent = _require_int(exponent, "exponent")
        self.__is_obfuscated = False

    @classmethod
    def _make(
        cls, public_key: PaillierPublicKey, c: Any, exponent: int, obfuscated: bool
    ) -> EncryptedNumber:
        obj = object.__new__(cls)
        obj.public_key = public_key
        obj.__ciphertext = c
        obj.exponent = exponent
        obj.__is_obfuscated = obfuscated
        return obj

    def __repr__(self) -> str:
        return f"<EncryptedNumber exponent={self.exponent} key={self.public_key!r}>"

    def __reduce__(self) -> Any:
        return (_rebuild_encrypted, (self.public_key, int(self.__ciphertext), self.exponent,
                                     self.__is_obfuscated))

    # ------------------------------------------------------------ ciphertext
    def ciphertext(self, be_secure: bool = True) -> int:
        """The raw ciphertext.

        Args:
            be_secure: obfuscate first if the number is not obfuscated yet (a
                homomorphic result, or an encryption with a fixed ``r_value``).
                Pass False only for ciphertexts that stay with you: without
                obfuscation, a result may reveal the plaintext scalars that
                produced it to anyone who holds its inputs.
        """
        if be_secure and not self.__is_obfuscated:
            self.obfuscate()
        return int(self.__ciphertext)

    def obfuscate(self) -> None:
        """Re-randomize in place: multiply the ciphertext by a fresh ``r^n``.

        For keys of :data:`FAST_PATH_MIN_BITS` bits and more, ``r^n`` is DJN
        randomness ``hs^alpha mod n^2`` (hecrypt's fixed-base tables); this
        rests on the assumption that it is indistinguishable from a uniform
        n-th residue (see the module docstring). Smaller keys use a uniform
        unit ``r``.
        """
        pk = self.public_key
        self.__ciphertext = self.__ciphertext * pk._fresh_rn() % pk._nsq_mpz
        self.__is_obfuscated = True

    # ------------------------------------------------------------ exponents
    def decrease_exponent_to(self, new_exp: int) -> EncryptedNumber:
        """A new number with the same value and the lower exponent ``new_exp``.

        Multiplies the plaintext by ``EncodedNumber.BASE ** (exponent - new_exp)``.

        Raises:
            ValueError: ``new_exp`` is above the current exponent, or the
                factor does not fit the key.
        """
        if new_exp > self.exponent:
            raise ValueError(
                f"cannot raise the exponent from {self.exponent} to {new_exp}: "
                "exponents can only decrease"
            )
        scaled = self * EncodedNumber.BASE ** (self.exponent - new_exp)
        scaled.exponent = new_exp
        return scaled

    # ------------------------------------------------------------ arithmetic
    def _check_key(self, public_key: Any, what: str) -> None:
        if public_key != self.public_key:
            raise KeyMismatchError(f"cannot combine numbers {what} under different public keys")

    def __add__(self, other: Any) -> EncryptedNumber:
        if isinstance(other, EncryptedNumber):
            return self._add_encrypted(other)
        if isinstance(other, EncodedNumber):
            return self._add_encoded(other)
        if not _is_operand(other):
            return NotImplemented
        return self._add_scalar(other)

    def __radd__(self, other: Any) -> EncryptedNumber:
        return self.__add__(other)

    def __sub__(self, other: Any) -> EncryptedNumber:
        if isinstance(other, EncryptedNumber):
            return self._add_encrypted(other * -1)
        if isinstance(other, EncodedNumber):
            negated = type(other)(
                other.public_key, -other.encoding % other.public_key.n, other.exponent
            )
            return self._add_encoded(negated)
        if not _is_operand(other):
            return NotImplemented
        return self._add_scalar(other * -1)

    def __rsub__(self, other: Any) -> EncryptedNumber:
        if not (_is_operand(other) or isinstance(other, EncodedNumber)):
            return NotImplemented
        return (self * -1).__add__(other)

    def __neg__(self) -> EncryptedNumber:
        return self * -1

    def __mul__(self, other: Any) -> EncryptedNumber:
        if isinstance(other, EncryptedNumber):
            raise CiphertextProductError(_PRODUCT_HINT)
        if isinstance(other, EncodedNumber):
            self._check_key(other.public_key, "encoded")
            encoding = other
        elif _is_operand(other):
            encoding = EncodedNumber.encode(self.public_key, other)
        else:
            return NotImplemented
        product = self._raw_mul(encoding.encoding)
        return EncryptedNumber._make(
            self.public_key, product, self.exponent + encoding.exponent, False
        )

    def __rmul__(self, other: Any) -> EncryptedNumber:
        return self.__mul__(other)

    def __truediv__(self, scalar: Any) -> EncryptedNumber:
        if isinstance(scalar, EncryptedNumber):
            raise CiphertextProductError("Paillier cannot divide by a ciphertext")
        if not _is_operand(scalar):
            return NotImplemented
        return self.__mul__(1 / scalar)

    def _add_scalar(self, scalar: Any) -> EncryptedNumber:
        encoded = EncodedNumber.encode(self.public_key, scalar, max_exponent=self.exponent)
        return self._add_encoded(encoded)

    def _add_encoded(self, encoded: EncodedNumber) -> EncryptedNumber:
        self._check_key(encoded.public_key, "encoded")
        a: EncryptedNumber = self
        b: EncodedNumber = encoded
        if a.exponent > b.exponent:
            a = a.decrease_exponent_to(b.exponent)
        elif a.exponent < b.exponent:
            b = b.decrease_exponent_to(a.exponent)
        pk = a.public_key
        c = a.__ciphertext % pk._nsq_mpz
        m = mpz(_require_int(b.encoding, "encoding")) % pk._n_mpz
        if m:
            c = pk._combine(m, c)  # c * (1 + m*n) mod n^2
        return EncryptedNumber._make(pk, c, a.exponent, False)

    def _add_encrypted(self, other: EncryptedNumber) -> EncryptedNumber:
        self._check_key(other.public_key, "encrypted")
        a, b = self, other
        if a.exponent > b.exponent:
            a = a.decrease_exponent_to(b.exponent)
        elif a.exponent < b.exponent:
            b = b.decrease_exponent_to(a.exponent)
        pk = a.public_key
        c = a.__ciphertext * b.__ciphertext % pk._nsq_mpz
        return EncryptedNumber._make(pk, c, a.exponent, False)

    def _raw_add(self, e_a: int, e_b: int) -> int:
        """Low-level: the ciphertext product ``e_a * e_b mod n^2`` (plaintext sum)."""
        return int(mpz(e_a) * e_b % self.public_key._nsq_mpz)

    def _raw_mul(self, plaintext: int) -> Any:
        """Low-level: ``ciphertext ** plaintext mod n^2`` for a residue plaintext.

        Residues in the negative band (``>= n - max_int``) use the inverse of
        the ciphertext and a short exponent.

        Raises:
            TypeError: ``plaintext`` is not an int.
            ValueError: ``plaintext`` is outside ``[0, n)``.
        """
        k = _require_int(plaintext, "plaintext")
        pk = self.public_key
        if not 0 <= k < pk.n:
            raise ValueError("the scalar must be a residue in [0, n)")
        c = self.__ciphertext
        if k == 1:
            return c % pk._nsq_mpz
        if k >= pk.n - pk.max_int:
            k -= pk.n  # a negative exponent: gmpy2 inverts c modulo n^2
        return _gmp.powmod(c, k, pk._nsq_mpz)


def _rebuild_encrypted(
    public_key: PaillierPublicKey, ciphertext: int, exponent: int, obfuscated: bool
) -> EncryptedNumber:
    return EncryptedNumber._make(public_key, mpz(ciphertext), exponent, obfuscated)


EncryptedNumber.__module__ = PUBLIC_MODULE
_rebuild_encrypted.__module__ = PUBLIC_MODULE  # pickles name the public path
