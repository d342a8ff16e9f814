"""Keys of :mod:`hecrypt.compat.phe`: :class:`PaillierPublicKey` and :class:`PaillierPrivateKey`.

Encryption (DJN randomness for keys of at least ``FAST_PATH_MIN_BITS`` bits,
see :mod:`hecrypt.compat.phe`), CRT decryption, phe's helper methods and the
conversions to and from hecrypt's own keys. Re-exported by
:mod:`hecrypt.compat.phe`.
"""

from __future__ import annotations

import numbers
from typing import Any

from hecrypt import _gmp
from hecrypt._gmp import mpz
from hecrypt.compat._phe_base import (
    FAST_PATH_MIN_BITS,
    PUBLIC_MODULE,
    _fingerprint,
    _is_int,
    _require_int,
)
from hecrypt.compat._phe_encoding import EncodedNumber
from hecrypt.compat._phe_number import EncryptedNumber, _foreign_number_message
from hecrypt.exceptions import KeyMismatchError
from hecrypt.paillier import randomness


class PaillierPublicKey:
    """A Paillier public key with generator ``g = n + 1`` (python-paillier API).

    Immutable; equal and hashed by ``n`` (the hash is ``hash(n)``, as in phe).

    Attributes:
        n: the modulus.
        g: the generator, ``n + 1``.
        nsquare: ``n ** 2``, the ciphertext modulus.
        max_int: the largest magnitude that encodes safely, ``n // 3 - 1``;
            residues between ``max_int`` and ``n - max_int`` signal overflow.
    """

    __slots__ = ("__weakref__", "_fast", "_max_int", "_n", "_n_mpz", "_nsq", "_nsq_mpz")

    _n: int
    _nsq: int
    _max_int: int
    _n_mpz: Any
    _nsq_mpz: Any
    _fast: bool

    def __init__(self, n: int) -> None:
        """Wrap the modulus ``n``.

        Args:
            n: an odd modulus ``p * q`` of two distinct primes (not checked
                beyond being an odd integer greater than 1, as phe does not
                check it at all).

        Raises:
            TypeError: ``n`` is not an integer.
            ValueError: ``n`` is even or smaller than 3.
        """
        if isinstance(n, bool) or not (_is_int(n) or isinstance(n, numbers.Integral)):
            raise TypeError(f"n must be an int, not {type(n).__name__}")
        n = int(n)
        if n < 3 or n % 2 == 0:
            raise ValueError("n must be an odd product of two primes")
        self._n = n
        self._nsq = n * n
        self._max_int = n // 3 - 1
        self._n_mpz = mpz(n)
        self._nsq_mpz = mpz(self._nsq)
        self._fast = n.bit_length() >= FAST_PATH_MIN_BITS

    @property
    def n(self) -> int:
        """The modulus."""
        return self._n

    @property
    def g(self) -> int:
        """The generator ``n + 1``."""
        return self._n + 1

    @property
    def nsquare(self) -> int:
        """``n ** 2``, the ciphertext modulus."""
        return self._nsq

    @property
    def max_int(self) -> int:
        """Largest magnitude that encodes safely (``n // 3 - 1``)."""
        return self._max_int

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PaillierPublicKey):
            return NotImplemented
        return self._n == other._n

    def __hash__(self) -> int:
        return hash(self._n)

    def __repr__(self) -> str:
        return f"<PaillierPublicKey {_fingerprint(self._n)}>"

    def __reduce__(self) -> Any:
        return (type(self), (self._n,))

    # ------------------------------------------------------------ randomness
    def _fresh_rn(self) -> Any:
        """A fresh n-th residue ``r^n mod n^2`` (DJN for large keys)."""
        if self._fast:
            return randomness.djn_sampler(self._n_mpz).sample()
        return _gmp.powmod(_gmp.random_unit(self._n_mpz), self._n_mpz, self._nsq_mpz)

    def _combine(self, m: Any, rn: Any) -> Any:
        """``(1 + m*n) * rn mod n^2`` for ``0 <= m < n``, without an n^2 product."""
        n = self._n_mpz
        c = rn + n * (m * rn % n)
        return c - self._nsq_mpz if c >= self._nsq_mpz else c

    def get_random_lt_n(self) -> int:
        """A uniform random unit modulo ``n`` (in ``[1, n)``), from :mod:`secrets`."""
        return int(_gmp.random_unit(self._n_mpz))

    # ------------------------------------------------------------ encryption
    def raw_encrypt(self, plaintext: int, r_value: int | None = None) -> int:
        """Encrypt a residue: ``(1 + n*plaintext) * r^n mod n^2``.

        Low-level: prefer :meth:`encrypt`, which encodes signed ints and floats.

        Args:
            plaintext: an integer; it is taken modulo ``n`` (so ``n`` encrypts
                0 and ``n + 1`` encrypts 1, as in phe).
            r_value: the randomness ``r``. When given (and non-zero) the result
                is exactly ``(1 + n*plaintext) * r_value**n mod n**2`` - for test
                vectors and interoperability only. ``None`` or ``0`` draws fresh
                randomness (DJN for keys of :data:`FAST_PATH_MIN_BITS` bits and
                more; see the module docstring for the assumption).

        Returns:
            The ciphertext, an int in ``[0, n^2)``.

        Raises:
            TypeError: ``plaintext`` or ``r_value`` is not an int.
        """
        m = mpz(_require_int(plaintext, "plaintext")) % self._n_mpz
        if r_value is None or (_is_int(r_value) and not r_value):
            rn = self._fresh_rn()
        else:
            r = _require_int(r_value, "r_value")
            rn = _gmp.powmod(r, self._n_mpz, self._nsq_mpz) if r != 1 else mpz(1)
        return int(self._combine(m, rn))

    def encrypt(
        self, value: Any, precision: float | None = None, r_value: int | None = None
    ) -> EncryptedNumber:
        """Encode and encrypt an int, a float or an :class:`EncodedNumber`.

        Args:
            value: the number; an :class:`EncodedNumber` is encrypted as it is.
            precision: the largest absolute encoding error allowed (see
                :meth:`EncodedNumber.encode`); by default ints are exact and
                floats keep every bit of their mantissa.
            r_value: fixed randomness (test vectors only). When it is None the
                result is a fresh, obfuscated ciphertext.

        Returns:
            The encrypted number.

        Raises:
            TypeError: ``value`` is not a number.
            ValueError: ``value`` does not fit the key (see :attr:`max_int`) or
                ``precision`` is not positive.
        """
        if isinstance(value, EncodedNumber):
            encoding = value
        else:
            encoding = EncodedNumber.encode(self, value, precision)
        return self.encrypt_encoded(encoding, r_value)

    def encrypt_encoded(
        self, encoding: EncodedNumber, r_value: int | None = None
    ) -> EncryptedNumber:
        """Encrypt an already encoded number.

        Args:
            encoding: an :class:`EncodedNumber` made for this key.
            r_value: fixed randomness; ``None`` draws fresh randomness and marks
                the result obfuscated. A given ``r_value`` (``0`` meaning no
                randomness at all, as in phe) leaves it unobfuscated, so
                :meth:`EncryptedNumber.ciphertext` re-randomizes it before it
                is handed out.

        Raises:
            TypeError: ``encoding`` is not an :class:`EncodedNumber`.
            KeyMismatchError: ``encoding`` was made for another key (a ValueError).
        """
        if not isinstance(encoding, EncodedNumber):
            raise TypeError(f"expected an EncodedNumber, not {type(encoding).__name__}")
        if encoding.public_key != self:
            raise KeyMismatchError("the EncodedNumber was encoded for a different public key")
        if r_value is None:
            m = mpz(_require_int(encoding.encoding, "encoding")) % self._n_mpz
            c = self._combine(m, self._fresh_rn())
            return EncryptedNumber._make(self, c, encoding.exponent, True)
        c = self.raw_encrypt(encoding.encoding, r_value or 1)
        return EncryptedNumber._make(self, mpz(c), encoding.exponent, False)

    # ------------------------------------------------------------ conversions
    @classmethod
    def from_hecrypt(cls, public_key: Any) -> PaillierPublicKey:
        """The key of a :class:`hecrypt.PublicKey` (same ``n``, same ``g``)."""
        return cls(int(public_key.n))

    def to_hecrypt(self, *, insecure_small_keys: bool = False) -> Any:
        """This key as a :class:`hecrypt.PublicKey`.

        Args:
            insecure_small_keys: allow a modulus below 2048 bits (tests only).

        Raises:
            hecrypt.exceptions.InvalidKey: the key is outside hecrypt's size
                policy (below 1024 bits it is always refused).
        """
        from hecrypt.paillier.keys import PublicKey

        return PublicKey(self._n, insecure_small_keys=insecure_small_keys)


class PaillierPrivateKey:
    """A Paillier private key: the primes ``p < q`` and the CRT constants.

    Immutable; equal and hashed by ``(p, q)``. ``repr`` never shows secrets.

    Attributes:
        public_key: the matching :class:`PaillierPublicKey`.
        p, q: the prime factors of ``n`` with ``p < q`` (secret).
        psquare, qsquare: ``p**2`` and ``q**2``.
        p_inverse: ``p**-1 mod q``.
        hp, hq: the decryption constants modulo ``p`` and ``q``.
    """

    __slots__ = (
        "__weakref__",
        "_hp",
        "_hq",
        "_mp",
        "_mq",
        "_p",
        "_p_inv",
        "_pk",
        "_psq",
        "_q",
        "_qsq",
    )

    _pk: PaillierPublicKey
    _p: Any
    _q: Any
    _psq: Any
    _qsq: Any
    _p_inv: Any
    _hp: Any
    _hq: Any
    _mp: Any
    _mq: Any

    def __init__(self, public_key: PaillierPublicKey, p: int, q: int) -> None:
        """Build the key from the factors of ``public_key.n``.

        Raises:
            TypeError: ``public_key`` is not a :class:`PaillierPublicKey` or a
                factor is not an int.
            ValueError: ``p * q != n`` or ``p == q``.
        """
        if not isinstance(public_key, PaillierPublicKey):
            raise TypeError(
                f"public_key must be a PaillierPublicKey, not {type(public_key).__name__}"
            )
        p_int = _require_int(p, "p")
        q_int = _require_int(q, "q")
        if p_int * q_int != public_key.n:
            raise ValueError("p * q does not equal the modulus n of the public key")
        if p_int == q_int:
            raise ValueError("p and q must be different primes")
        if p_int > q_int:
            p_int, q_int = q_int, p_int
        self._pk = public_key
        self._p, self._q = mpz(p_int), mpz(q_int)
        self._psq, self._qsq = self._p * self._p, self._q * self._q
        self._mp, self._mq = self._p - 1, self._q - 1
        self._p_inv = _gmp.invert(self._p, self._q)
        self._hp = mpz(self.h_function(p_int, int(self._psq)))
        self._hq = mpz(self.h_function(q_int, int(self._qsq)))

    @classmethod
    def from_totient(cls, public_key: PaillierPublicKey, totient: int) -> PaillierPrivateKey:
        """Recover the key from ``totient = (p - 1) * (q - 1)``.

        Raises:
            ValueError: the totient does not belong to ``public_key.n``.
        """
        n = public_key.n
        s = n - _require_int(totient, "totient") + 1  # p + q
        disc = s * s - 4 * n  # (q - p)^2
        if disc < 0:
            raise ValueError("the totient does not match the public key")
        d = int(_gmp.isqrt(disc))
        p = (s - d) // 2
        q = s - p
        if p * q != n:
            raise ValueError("the totient does not match the public key")
        return cls(public_key, p, q)

    @property
    def public_key(self) -> PaillierPublicKey:
        """The matching public key."""
        return self._pk

    @property
    def p(self) -> int:
        """The smaller prime factor of ``n`` (secret)."""
        return int(self._p)

    @property
    def q(self) -> int:
        """The larger prime factor of ``n`` (secret)."""
        return int(self._q)

    @property
    def psquare(self) -> int:
        """``p ** 2``."""
        return int(self._psq)

    @property
    def qsquare(self) -> int:
        """``q ** 2``."""
        return int(self._qsq)

    @property
    def p_inverse(self) -> int:
        """``p ** -1 mod q``."""
        return int(self._p_inv)

    @property
    def hp(self) -> int:
        """The CRT decryption constant modulo ``p``."""
        return int(self._hp)

    @property
    def hq(self) -> int:
        """The CRT decryption constant modulo ``q``."""
        return int(self._hq)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PaillierPrivateKey):
            return NotImplemented
        return self._p == other._p and self._q == other._q

    def __hash__(self) -> int:
        return hash((int(self._p), int(self._q)))

    def __repr__(self) -> str:
        return f"<PaillierPrivateKey for {self._pk!r}>"

    def __reduce__(self) -> Any:
        return (type(self), (self._pk, int(self._p), int(self._q)))

    # ------------------------------------------------------------ phe's helpers
    def l_function(self, x: int, p: int) -> int:
        """Paillier's ``L(x) = (x - 1) // p``."""
        return (x - 1) // p

    def h_function(self, x: int, xsquare: int) -> int:
        """``L(g^(x-1) mod x^2)^-1 mod x``, the CRT decryption constant for prime ``x``."""
        gx = _gmp.powmod(self._pk.g, x - 1, xsquare)
        return int(_gmp.invert(self.l_function(int(gx), x), x))

    def crt(self, mp: int, mq: int) -> int:
        """The residue modulo ``n`` that is ``mp`` mod ``p`` and ``mq`` mod ``q``."""
        return int(mp + self._p * ((mq - mp) * self._p_inv % self._q))

    # ------------------------------------------------------------ decryption
    def raw_decrypt(self, ciphertext: int) -> int:
        """Decrypt a raw ciphertext to its residue in ``[0, n)`` (CRT).

        Raises:
            TypeError: ``ciphertext`` is not an int.
        """
        c = mpz(_require_int(ciphertext, "ciphertext"))
        p, q = self._p, self._q
        xp = _gmp.powmod(c, self._mp, self._psq)
        xq = _gmp.powmod(c, self._mq, self._qsq)
        mp = (xp - 1) // p * self._hp % p
        mq = (xq - 1) // q * self._hq % q
        return int(mp + p * ((mq - mp) * self._p_inv % q))

    def decrypt_encoded(
        self, encrypted_number: EncryptedNumber, Encoding: type[EncodedNumber] | None = None
    ) -> EncodedNumber:
        """Decrypt without decoding.

        Args:
            encrypted_number: a number encrypted under this key.
            Encoding: the :class:`EncodedNumber` subclass to build (for
                encodings with another ``BASE``); default :class:`EncodedNumber`.

        Raises:
            TypeError: ``encrypted_number`` is not an :class:`EncryptedNumber`.
            KeyMismatchError: it was encrypted under another key (a ValueError).
        """
        if not isinstance(encrypted_number, EncryptedNumber):
            raise TypeError(_foreign_number_message(encrypted_number))
        if encrypted_number.public_key != self._pk:
            raise KeyMismatchError("the number was encrypted under a different public key")
        cls = EncodedNumber if Encoding is None else Encoding
        m = self.raw_decrypt(encrypted_number.ciphertext(be_secure=False))
        return cls(self._pk, m, encrypted_number.exponent)

    def decrypt(self, encrypted_number: EncryptedNumber) -> int | float:
        """Decrypt and decode: an int for integer encodings, else a float.

        Raises:
            TypeError: ``encrypted_number`` is not an :class:`EncryptedNumber`.
            KeyMismatchError: it was encrypted under another key (a ValueError).
            EncodingOverflowError: the value overflowed (an OverflowError).
        """
        return self.decrypt_encoded(encrypted_number).decode()

    # ------------------------------------------------------------ conversions
    @classmethod
    def from_hecrypt(cls, private_key: Any) -> PaillierPrivateKey:
        """The key of a :class:`hecrypt.PrivateKey`."""
        pk = PaillierPublicKey(int(private_key.public_key.n))
        return cls(pk, int(private_key.p), int(private_key.q))

    def to_hecrypt(self, *, insecure_small_keys: bool = False) -> Any:
        """This key as a :class:`hecrypt.PrivateKey`.

        Args:
            insecure_small_keys: allow a modulus below 2048 bits (tests only).

        Raises:
            hecrypt.exceptions.InvalidKey: outside hecrypt's size policy.
        """
        from hecrypt.paillier.keys import PrivateKey

        pk = self._pk.to_hecrypt(insecure_small_keys=insecure_small_keys)
        return PrivateKey(pk, int(self._p), int(self._q))


PaillierPublicKey.__module__ = PUBLIC_MODULE
PaillierPrivateKey.__module__ = PUBLIC_MODULE
