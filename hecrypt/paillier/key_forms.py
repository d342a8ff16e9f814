"""Binary and JSON forms of Paillier public and private keys.

Loaders validate the key fully (size policy, structure of ``n``, primes)
and raise :class:`~hecrypt.exceptions.InvalidKey` naming the rule broken.
Private key forms are secret: binary type tag ``0x81`` (high bit set), JSON
``"secret": true``. Layouts are described in
:mod:`hecrypt.paillier.serialization` and ``docs/formats.md``.

Leaks: a public key form is public; a private key form reveals the key.
"""

from __future__ import annotations

from hecrypt.exceptions import InvalidKey
from hecrypt.paillier.framing import (
    _KIND_PRIVATE,
    _KIND_PUBLIC,
    FORMAT_VERSION,
    TYPE_PRIVATE_KEY,
    TYPE_PUBLIC_KEY,
    _b64,
    _check_public_key_arg,
    _dumps,
    _header,
    _json_key_int,
    _json_str,
    _load_json,
    _minimal_bytes,
    _read_header,
)
from hecrypt.paillier.keys import PrivateKey, PublicKey


# ================================================================ public keys
def public_key_to_bytes(public_key: PublicKey) -> bytes:
    """Binary form of a public key: header (type 0x01), then ``len u16 | n``.

    Args:
        public_key: the key to write.

    Returns:
        ``8 + ceil(bits(n) / 8)`` bytes (264 at 2048 bits).
    """
    pk = _check_public_key_arg(public_key)
    n = _minimal_bytes(pk.n)
    return _header(TYPE_PUBLIC_KEY) + len(n).to_bytes(2, "big") + n


def public_key_from_bytes(data: bytes, *, insecure_small_keys: bool = False) -> PublicKey:
    """Load and validate a public key written by :func:`public_key_to_bytes`.

    Args:
        data: the serialized key.
        insecure_small_keys: accept 1024- to 2047-bit moduli (tests only).

    Raises:
        InvalidKey: bad header or type tag, truncated or trailing data, a
            non-minimal integer, or a modulus the key policy refuses.
    """
    r = _read_header(data, TYPE_PUBLIC_KEY, InvalidKey)
    n = r.integer("modulus n")
    r.finish()
    return PublicKey(n, insecure_small_keys=insecure_small_keys)


def public_key_to_json(public_key: PublicKey) -> str:
    """JSON form of a public key.

    ``{"kind": "hecrypt.public_key", "version": 1, "fingerprint": ..., "n": base64}``
    """
    pk = _check_public_key_arg(public_key)
    return _dumps(
        {
            "kind": _KIND_PUBLIC,
            "version": FORMAT_VERSION,
            "fingerprint": pk.fingerprint,
            "n": _b64(_minimal_bytes(pk.n)),
        }
    )


def public_key_from_json(text: str | bytes, *, insecure_small_keys: bool = False) -> PublicKey:
    """Load and validate a public key written by :func:`public_key_to_json`.

    Args:
        text: the JSON text (str or UTF-8 bytes).
        insecure_small_keys: accept 1024- to 2047-bit moduli (tests only).

    Raises:
        InvalidKey: not JSON, wrong kind or version, missing, unknown or
            ill-typed fields, a fingerprint that does not match ``n``, or a
            modulus the key policy refuses.
    """
    what = "public key"
    obj = _load_json(text, _KIND_PUBLIC, ("kind", "version", "fingerprint", "n"), InvalidKey, what)
    fingerprint = _json_str(obj["fingerprint"], "fingerprint", InvalidKey)
    n = _json_key_int(obj["n"], "n", InvalidKey)
    pk = PublicKey(n, insecure_small_keys=insecure_small_keys)
    if pk.fingerprint != fingerprint:
        raise InvalidKey("the fingerprint field does not match n: the key was altered")
    return pk


# =============================================================== private keys
def private_key_to_bytes(private_key: PrivateKey) -> bytes:
    """Binary form of a private key. **Secret**: keep it private.

    Layout: header (type 0x81, high bit = secret), then
    ``len u16 | n | len u16 | p | len u16 | q``.
    """
    if not isinstance(private_key, PrivateKey):
        raise TypeError(
            f"private_key must be a hecrypt PrivateKey, not {type(private_key).__name__}"
        )
    out = [_header(TYPE_PRIVATE_KEY)]
    for x in (private_key.public_key.n, private_key.p, private_key.q):
        raw = _minimal_bytes(x)
        out += [len(raw).to_bytes(2, "big"), raw]
    return b"".join(out)


def private_key_from_bytes(data: bytes, *, insecure_small_keys: bool = False) -> PrivateKey:
    """Load and validate a private key written by :func:`private_key_to_bytes`.

    Args:
        data: the serialized key (secret).
        insecure_small_keys: accept 1024- to 2047-bit moduli (tests only).

    Raises:
        InvalidKey: bad header or type tag, truncated or trailing data, a
            modulus the key policy refuses, ``p * q != n``, or factors that
            are not distinct primes.
    """
    r = _read_header(data, TYPE_PRIVATE_KEY, InvalidKey)
    n = r.integer("modulus n")
    p = r.integer("prime p")
    q = r.integer("prime q")
    r.finish()
    return PrivateKey(PublicKey(n, insecure_small_keys=insecure_small_keys), p, q)


def private_key_to_json(private_key: PrivateKey) -> str:
    """JSON form of a private key. **Secret**: keep it private.

    ``{"kind": "hecrypt.private_key", "secret": true, "version": 1,
    "fingerprint": ..., "n": ..., "p": ..., "q": ...}`` (integers in base64).
    """
    if not isinstance(private_key, PrivateKey):
        raise TypeError(
            f"private_key must be a hecrypt PrivateKey, not {type(private_key).__name__}"
        )
    pk = private_key.public_key
    return _dumps(
        {
            "kind": _KIND_PRIVATE,
            "secret": True,
            "version": FORMAT_VERSION,
            "fingerprint": pk.fingerprint,
            "n": _b64(_minimal_bytes(pk.n)),
            "p": _b64(_minimal_bytes(private_key.p)),
            "q": _b64(_minimal_bytes(private_key.q)),
        }
    )


def private_key_from_json(text: str | bytes, *, insecure_small_keys: bool = False) -> PrivateKey:
    """Load and validate a private key written by :func:`private_key_to_json`.

    Raises:
        InvalidKey: as :func:`public_key_from_json`, plus a missing
            ``"secret": true`` marker, ``p * q != n`` or non-prime factors.
    """
    fields = ("kind", "secret", "version", "fingerprint", "n", "p", "q")
    obj = _load_json(text, _KIND_PRIVATE, fields, InvalidKey, "private key")
    if obj["secret"] is not True:
        raise InvalidKey('a private key must carry the marker "secret": true')
    fingerprint = _json_str(obj["fingerprint"], "fingerprint", InvalidKey)
    n = _json_key_int(obj["n"], "n", InvalidKey)
    p = _json_key_int(obj["p"], "p", InvalidKey)
    q = _json_key_int(obj["q"], "q", InvalidKey)
    pk = PublicKey(n, insecure_small_keys=insecure_small_keys)
    if pk.fingerprint != fingerprint:
        raise InvalidKey("the fingerprint field does not match n: the key was altered")
    return PrivateKey(pk, p, q)
