"""A drop-in replacement for python-paillier (``phe``) on hecrypt's fast paths.

Code written for ``phe`` keeps working when it imports this module instead of
``phe.paillier`` and ``phe.encoding``::

    from hecrypt.compat import phe as paillier

    public_key, private_key = paillier.generate_paillier_keypair(n_length=2048)
    x = public_key.encrypt(3.5)
    private_key.decrypt(x * 2 + 1)                            # 8.0

The public names of both ``phe`` modules are here: :data:`DEFAULT_KEYSIZE`,
:func:`generate_paillier_keypair`, :class:`PaillierPublicKey`,
:class:`PaillierPrivateKey`, :class:`PaillierPrivateKeyring`,
:class:`EncryptedNumber` and :class:`EncodedNumber`. The ``phe`` package is
never imported.

Compatibility
    * The encoding is python-paillier's: a value is ``encoding * BASE**exponent``
      with ``BASE = 16`` (subclasses of :class:`EncodedNumber` may choose another
      base), signed values wrap modulo ``n`` and ``max_int = n // 3 - 1``. For the
      same inputs, :meth:`EncodedNumber.encode` returns the same ``encoding`` and
      ``exponent`` integers as ``phe``, so ciphertexts and encodings move
      between the two libraries unchanged (same ``n``, same ``g = n + 1``).
    * Ciphertexts of ``raw_encrypt(m, r_value)`` are exactly
      ``(1 + n*m) * r_value**n mod n**2``, as in ``phe``.
    * Homomorphic results are obfuscated lazily: :meth:`EncryptedNumber.ciphertext`
      re-randomizes a number before handing it out unless told
      ``be_secure=False``.
    * Errors have the builtin types ``phe`` raises (``TypeError``, ``ValueError``,
      ``OverflowError``, ``KeyError``); where hecrypt has a more precise error it
      is used, and it derives from that builtin.

Deliberate differences from ``phe`` (all stricter checks or extra conveniences):
    * numpy and other :class:`numbers.Integral` integers encode like ``int``
      (``phe`` refuses them without an explicit precision);
    * encrypting an :class:`EncodedNumber` made for another key, or multiplying
      by one, raises :class:`~hecrypt.exceptions.KeyMismatchError` (a
      ``ValueError``) instead of computing garbage;
    * a ciphertext ``*`` ciphertext raises :class:`CiphertextProductError`,
      which is both the ``NotImplementedError`` of ``phe`` and a ``TypeError``;
    * operands that are not numbers make the operators return
      ``NotImplemented`` (Python then raises ``TypeError``, or lets numpy
      broadcast), ``-x`` works, and ``x - encoded`` works;
    * keys are immutable, compare unequal to anything that is not a key of
      this module (phe raises ``AttributeError`` there), and
      :meth:`PaillierPublicKey.__repr__` shows a SHA-256 based fingerprint of ``n``;
    * :func:`generate_paillier_keypair` accepts any ``n_length >= 8`` (odd
      lengths too) and always returns a modulus of exactly that length;
    * constructors check their inputs: :class:`PaillierPublicKey` wants an odd
      integer ``n >= 3``, :class:`EncryptedNumber` an int ciphertext and
      exponent, ``raw_encrypt`` an int ``r_value`` (``TypeError`` /
      ``ValueError``);
    * with an explicit precision, :meth:`EncodedNumber.encode` takes any real
      number with an exact value (numpy floats, Fractions, Decimals) but not
      numeric strings;
    * :meth:`PaillierPublicKey.get_random_lt_n` returns a unit modulo ``n``.

Speed and randomness
    For keys of at least :data:`FAST_PATH_MIN_BITS` bits, fresh encryptions and
    obfuscation draw their ``r^n`` from hecrypt's DJN sampler
    (:func:`hecrypt.paillier.randomness.djn_sampler`): ``hs^alpha mod n^2``
    with ``hs = (-x^2)^n`` for a random unit ``x`` and a uniform
    ``ceil(|n|/2)``-bit ``alpha``, evaluated through fixed-base tables once a
    key has been used enough. **Assumption:** besides Paillier's decisional
    composite residuosity, that such ``hs^alpha`` are indistinguishable from
    uniform n-th residues (Damgard, Jurik, Nielsen, "A generalization of
    Paillier's public-key system with applications to electronic voting",
    IJIS 2010, section 4). Smaller keys use a uniform unit ``r`` and one
    ``powmod``. Decryption always uses CRT with precomputed constants.
    Randomness comes from :mod:`secrets` only.

Key generation
    Primes are uniform random primes with their two top bits set, drawn by
    rejection sampling from :mod:`secrets` and confirmed by hecrypt's
    primality test (:func:`hecrypt._gmp.is_prime`); a 3072-bit key takes a
    few tenths of a second. Below 64 bits, random primes of the right length are drawn until
    the product has exactly ``n_length`` bits. Small keys are for tests only:
    anything below 2048 bits is not secure. These primes are not of the
    structured form of :func:`hecrypt.generate_keypair`, so after
    :meth:`PaillierPrivateKey.to_hecrypt` the key owner's encryption uses
    its exact CRT path rather than fixed-base tables.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import secrets
import sys
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any, ClassVar

from hecrypt import _gmp
from hecrypt._gmp import mpz
from hecrypt.exceptions import EncodingOverflowError, HecryptError, KeyMismatchError
from hecrypt.paillier import randomness

__all__ = [
    "DEFAULT_KEYSIZE",
    "FAST_PATH_MIN_BITS",
    "MIN_KEYSIZE",
    "generate_paillier_keypair",
    "PaillierPublicKey",
    "PaillierPrivateKey",
    "PaillierPrivateKeyring",
    "EncryptedNumber",
    "EncodedNumber",
    "EncodingRangeError",
    "CiphertextProductError",
]

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


def _fingerprint(n: int) -> str:
    data = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return hashlib.sha256(data).hexdigest()[:10]


# ---------------------------------------------------------------- keys


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
