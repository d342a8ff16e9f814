"""Conversions to and from python-paillier (the ``phe`` package).

Both libraries use Paillier with ``g = n + 1`` and the same ciphertexts, so
keys convert by their integers and ciphertexts carry over unchanged; only
the way a number's exponent is recorded differs:

* phe stores ``value = encoding * 16**exponent`` with a per-number integer
  exponent (negative for fractions);
* hecrypt stores ``value = m / 2**scale`` (binary fixed point, ``scale >= 0``).

From phe, an exponent ``e <= 0`` becomes the scale ``-4e`` (no work); an
exponent ``e > 0`` is brought to scale 0 by multiplying the ciphertext by
``16**e`` (one modular exponentiation). To phe, a scale ``s`` becomes the
exponent ``-ceil(s/4)`` after multiplying the ciphertext by
``2**(4*ceil(s/4) - s)`` (at most 8; nothing to do when ``s`` is a multiple
of 4). A ciphertext made by either library decrypts to the same value with
the other, ints as ints and floats as floats.

Both decode the centered band of ``n // 3``; phe 1.5 stops one short
(``max_int = n // 3 - 1``), so a value at the very edge of hecrypt's band
would overflow in phe. The multiplication by up to ``2**3`` when going to
phe can likewise push a value within a factor of 8 of the band over it.

phe is an optional dependency (``pip install hecrypt[phe]``) and is only
imported when a conversion is called.

Freshness: numbers coming from phe are not marked fresh (hecrypt cannot
tell how phe produced them) and are re-randomized if they leave the process.
Going to phe, :func:`encrypted_number_to_phe` re-randomizes by default and
then marks the phe number as obfuscated so that phe does not do it again;
with ``rerandomize=False`` the phe number is left unobfuscated and phe's
``ciphertext()`` obfuscates it on first use, as phe does for its own results.
"""

from __future__ import annotations

import numbers
import operator
from typing import Any

from hecrypt import _gmp
from hecrypt.exceptions import (
    EncodingOverflowError,
    InvalidCiphertext,
    InvalidKey,
    KeyMismatchError,
)
from hecrypt.paillier.keys import PrivateKey, PublicKey
from hecrypt.paillier.number import EncryptedNumber, validate_ciphertext
from hecrypt.paillier.serialization import MAX_SCALE

__all__ = [
    "public_key_from_phe",
    "public_key_to_phe",
    "private_key_from_phe",
    "private_key_to_phe",
    "encrypted_number_from_phe",
    "encrypted_number_to_phe",
    "scale_to_phe_exponent",
]

#: phe's encoding base is 16 = 2**4: one phe exponent step is four bits of scale.
_BITS_PER_EXPONENT = 4


def _phe() -> Any:
    """The ``phe.paillier`` module, or an ImportError naming the extra."""
    try:
        from phe import paillier
    except ImportError as exc:
        raise ImportError(
            "phe interoperability needs the python-paillier package: "
            "install it with `pip install hecrypt[phe]` (or `pip install phe`)"
        ) from exc
    return paillier


def _plain_int(x: Any, what: str, error: type[Exception]) -> int:
    if isinstance(x, bool) or not isinstance(x, (numbers.Integral, _gmp.MPZ)):
        raise error(f"{what} must be an integer, not {type(x).__name__}")
    value: Any = x
    return operator.index(value)


def scale_to_phe_exponent(scale: int) -> tuple[int, int]:
    """phe exponent for a hecrypt scale, and the power of two to multiply by.

    Returns:
        ``(exponent, shift)``: ``exponent = -ceil(scale / 4)`` and
        ``shift = 4 * ceil(scale / 4) - scale`` (0 to 3), so that
        ``m / 2**scale == (m * 2**shift) * 16**exponent``.
    """
    k = -(-scale // _BITS_PER_EXPONENT)
    return -k, _BITS_PER_EXPONENT * k - scale


# =========================================================================== keys
def public_key_from_phe(pk: Any, *, insecure_small_keys: bool = False) -> PublicKey:
    """Convert a ``phe.paillier.PaillierPublicKey`` to a hecrypt :class:`PublicKey`.

    Args:
        pk: the phe public key.
        insecure_small_keys: accept 1024- to 2047-bit moduli (tests only).

    Raises:
        TypeError: ``pk`` is not a phe public key.
        InvalidKey: its generator is not ``n + 1``, its ``nsquare`` is not
            ``n^2``, or the modulus is refused by the key policy.
    """
    paillier = _phe()
    if not isinstance(pk, paillier.PaillierPublicKey):
        raise TypeError(f"expected a phe PaillierPublicKey, not {type(pk).__name__}")
    n = _plain_int(pk.n, "the phe key's n", InvalidKey)
    if _plain_int(pk.g, "the phe key's g", InvalidKey) != n + 1:
        raise InvalidKey("the phe key's generator g must be n + 1 (the only one hecrypt uses)")
    if _plain_int(pk.nsquare, "the phe key's nsquare", InvalidKey) != n * n:
        raise InvalidKey("the phe key's nsquare is not n^2: the key object is inconsistent")
    return PublicKey(n, insecure_small_keys=insecure_small_keys)


def public_key_to_phe(pk: PublicKey) -> Any:
    """Convert a hecrypt :class:`PublicKey` to a ``phe.paillier.PaillierPublicKey``."""
    if not isinstance(pk, PublicKey):
        raise TypeError(f"expected a hecrypt PublicKey, not {type(pk).__name__}")
    return _phe().PaillierPublicKey(pk.n)


def private_key_from_phe(sk: Any, *, insecure_small_keys: bool = False) -> PrivateKey:
    """Convert a ``phe.paillier.PaillierPrivateKey`` to a hecrypt :class:`PrivateKey`.

    The primes are re-validated (``p * q == n``, distinct, prime).

    Raises:
        TypeError: ``sk`` is not a phe private key.
        InvalidKey: the key is inconsistent or refused by the key policy.
    """
    paillier = _phe()
    if not isinstance(sk, paillier.PaillierPrivateKey):
        raise TypeError(f"expected a phe PaillierPrivateKey, not {type(sk).__name__}")
    pk = public_key_from_phe(sk.public_key, insecure_small_keys=insecure_small_keys)
    return PrivateKey(pk, _plain_int(sk.p, "p", InvalidKey), _plain_int(sk.q, "q", InvalidKey))


def private_key_to_phe(sk: PrivateKey) -> Any:
    """Convert a hecrypt :class:`PrivateKey` to a ``phe.paillier.PaillierPrivateKey``."""
    if not isinstance(sk, PrivateKey):
        raise TypeError(f"expected a hecrypt PrivateKey, not {type(sk).__name__}")
    paillier = _phe()
    return paillier.PaillierPrivateKey(paillier.PaillierPublicKey(sk.public_key.n), sk.p, sk.q)


# ======================================================================= numbers
def encrypted_number_from_phe(
    x: Any,
    public_key: PublicKey | None = None,
    *,
    insecure_small_keys: bool = False,
) -> EncryptedNumber:
    """Convert a ``phe.paillier.EncryptedNumber`` to a hecrypt :class:`EncryptedNumber`.

    The ciphertext is read without phe's obfuscation (no cost) and validated
    (``0 < c < n^2``, a unit). An exponent ``e <= 0`` becomes the scale
    ``-4e``; ``e > 0`` is brought to scale 0 by raising the ciphertext to
    ``16**e``. The result is not marked fresh.

    Args:
        x: the phe number.
        public_key: the hecrypt key to attach (recommended when converting
            many numbers: it is built once); must have the same modulus as
            ``x``'s key. Default: converted from ``x.public_key``.
        insecure_small_keys: when ``public_key`` is not given, accept 1024-
            to 2047-bit moduli (tests only).

    Raises:
        TypeError: ``x`` is not a phe number or ``public_key`` is not a
            hecrypt key.
        KeyMismatchError: ``public_key`` has another modulus than ``x``'s key.
        InvalidCiphertext: an invalid ciphertext, a non-integer exponent, or
            a negative exponent beyond the scale limit (``4 * -e > MAX_SCALE``).
        EncodingOverflowError: a positive exponent so large that ``16**e``
            alone exceeds the plaintext band.
    """
    paillier = _phe()
    if not isinstance(x, paillier.EncryptedNumber):
        raise TypeError(f"expected a phe EncryptedNumber, not {type(x).__name__}")
    if public_key is None:
        pk = public_key_from_phe(x.public_key, insecure_small_keys=insecure_small_keys)
    else:
        if not isinstance(public_key, PublicKey):
            raise TypeError(
                f"public_key must be a hecrypt PublicKey, not {type(public_key).__name__}"
            )
        pk = public_key
        phe_n = getattr(x.public_key, "n", None)
        if phe_n != pk.n:
            raise KeyMismatchError(
                f"the phe number is under another key than the given key {pk.fingerprint}"
            )
    exponent = _plain_int(x.exponent, "the phe exponent", InvalidCiphertext)
    c = validate_ciphertext(pk, x.ciphertext(be_secure=False))
    if exponent <= 0:
        scale = -_BITS_PER_EXPONENT * exponent
        if scale > MAX_SCALE:
            raise InvalidCiphertext(
                f"phe exponent {exponent} means scale {scale}, above the limit of {MAX_SCALE} "
                "fractional bits"
            )
        return EncryptedNumber._make(pk, c, scale, False)
    if _BITS_PER_EXPONENT * exponent >= pk.n_bits:
        raise EncodingOverflowError(
            f"phe exponent {exponent} multiplies the value by 2^{_BITS_PER_EXPONENT * exponent}, "
            f"beyond the {pk.max_int.bit_length()}-bit plaintext band of this key"
        )
    c = _gmp.powmod(c, 1 << (_BITS_PER_EXPONENT * exponent), pk._nsq)
    return EncryptedNumber._make(pk, c, 0, False)


def encrypted_number_to_phe(
    x: EncryptedNumber, public_key: Any = None, *, rerandomize: bool = True
) -> Any:
    """Convert a hecrypt :class:`EncryptedNumber` to a ``phe.paillier.EncryptedNumber``.

    The scale ``s`` becomes the phe exponent ``-ceil(s/4)``; when ``s`` is
    not a multiple of 4 the ciphertext is first multiplied by
    ``2**(4*ceil(s/4) - s)`` (one small modular exponentiation).

    Args:
        x: the hecrypt number.
        public_key: the phe ``PaillierPublicKey`` to attach (so that numbers
            converted together share one phe key object, which phe's
            arithmetic compares); must have the same modulus as ``x``'s key.
            Default: a new phe key for ``x``'s modulus.
        rerandomize: give the phe number a fresh ciphertext when it is not
            one already (default); the phe number is then marked obfuscated.
            With False the ciphertext is passed as it is and phe obfuscates
            it when its ``ciphertext()`` is first read for sending.

    Raises:
        TypeError: ``x`` is not a hecrypt number or ``public_key`` not a phe key.
        KeyMismatchError: ``public_key`` has another modulus than ``x``'s key.
    """
    paillier = _phe()
    if not isinstance(x, EncryptedNumber):
        raise TypeError(f"expected a hecrypt EncryptedNumber, not {type(x).__name__}")
    pk = x.public_key
    if public_key is None:
        phe_pk = paillier.PaillierPublicKey(pk.n)
    else:
        if not isinstance(public_key, paillier.PaillierPublicKey):
            raise TypeError(
                f"public_key must be a phe PaillierPublicKey, not {type(public_key).__name__}"
            )
        if public_key.n != pk.n:
            raise KeyMismatchError(
                f"the number is under key {pk.fingerprint}, not under the given phe key"
            )
        phe_pk = public_key
    exponent, shift = scale_to_phe_exponent(x.scale)
    c = x._c
    fresh = x.is_fresh
    if shift:
        c = _gmp.powmod(c, 1 << shift, pk._nsq)
        fresh = False
    if rerandomize and not fresh:
        c = c * pk._take_randomness(1)[0] % pk._nsq
        fresh = True
    out = paillier.EncryptedNumber(phe_pk, int(c), exponent)
    if rerandomize:
        # phe tracks obfuscation in a name-mangled flag; setting it spares
        # phe a second full r^n when the ciphertext is read.
        out._EncryptedNumber__is_obfuscated = True
    return out
