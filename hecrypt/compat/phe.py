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

Layout
    This module is the public path; its parts live in private modules, one
    idea each: ``_phe_base`` (key sizes, errors, number helpers),
    ``_phe_encoding`` (:class:`EncodedNumber`), ``_phe_number``
    (:class:`EncryptedNumber`), ``_phe_keys`` (the two key classes) and
    ``_phe_keyring`` (key generation and :class:`PaillierPrivateKeyring`).
    Their classes and functions report ``hecrypt.compat.phe`` as their
    ``__module__``, so reprs, error messages and pickles name this path.
"""

# ruff: noqa: F401  (this module re-exports the names of its parts)

from __future__ import annotations

# Every name of the parts below, and the hecrypt names this module imported
# when it was one file, stay importable from here as the same objects.
from hecrypt import _gmp
from hecrypt._gmp import mpz
from hecrypt.compat._phe_base import (
    _PRODUCT_HINT,
    _TINY_KEY_BITS,
    DEFAULT_KEYSIZE,
    FAST_PATH_MIN_BITS,
    MIN_KEYSIZE,
    CiphertextProductError,
    EncodingRangeError,
    _fingerprint,
    _is_int,
    _is_operand,
    _ratio,
    _require_int,
    _round_ratio,
)
from hecrypt.compat._phe_encoding import EncodedNumber
from hecrypt.compat._phe_keyring import (
    PaillierPrivateKeyring,
    _prime_pair,
    _tiny_prime,
    generate_paillier_keypair,
)
from hecrypt.compat._phe_keys import PaillierPrivateKey, PaillierPublicKey
from hecrypt.compat._phe_number import (
    EncryptedNumber,
    _foreign_number_message,
    _rebuild_encrypted,
)
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
