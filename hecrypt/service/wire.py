"""Wire format of the scoring service (shared by the server and the client).

A score request in binary form (``Content-Type: application/octet-stream``)::

    magic "HSRQ" | version u8 (1) | key length u32 BE | public key bytes | batch bytes

``public key bytes`` is :meth:`PublicKey.to_bytes`; ``batch bytes`` is
:meth:`EncryptedTensor.to_bytes` (one record, ``(n_features,)``, or
``(records, n_features)``) or :meth:`PackedTensor.to_bytes` (records packed
slot-wise). The response body is the scores in the same form as the batch
(``application/octet-stream``).

The JSON form (``Content-Type: application/json``) carries the same bytes in
standard base64: request ``{"public_key": "...", "batch": "..."}``, response
``{"scores": "...", "kind": "tensor" | "packed"}``.

Decoding validates everything through the loaders of
:mod:`hecrypt.paillier.serialization` (size policy, ciphertext ranges, units,
key fingerprints) and raises a :class:`~hecrypt.exceptions.HecryptError`
subclass stating the broken rule. A key's size is read from its header and
checked against the caller's limit before the key is validated, and a JSON
body's structure (one object of strings, no numbers) is checked before and
while it is parsed, so a hostile body costs time and memory linear in its
size with a small constant.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import struct
from typing import Any

from hecrypt.exceptions import InvalidCiphertext, InvalidKey, ProtocolError
from hecrypt.paillier.keys import PublicKey
from hecrypt.paillier.packed import PackedTensor
from hecrypt.paillier.serialization import (
    MAGIC,
    TYPE_ENCRYPTED_TENSOR,
    TYPE_PACKED_TENSOR,
)
from hecrypt.paillier.tensor import EncryptedTensor

__all__ = [
    "REQUEST_MAGIC",
    "SERVICE_FIELDS",
    "encode_request",
    "decode_request",
    "encode_request_json",
    "decode_request_json",
    "decode_batch",
    "load_public_key",
    "key_bits",
    "DEFAULT_MAX_KEY_BITS",
    "encode_scores_json",
    "decode_scores_json",
]

#: Fields the service adds to a model's public description (``ModelInfo.to_dict()``).
SERVICE_FIELDS = frozenset(
    {"name", "kind", "score_url", "formats", "max_body_bytes", "max_json_body_bytes",
     "max_key_bits"}
)

#: Validated public keys kept by :func:`load_public_key` (a key is checked once, not per
#: request: the check includes a primality test of n, ~2 ms at 2048 bits).
KEY_CACHE_SIZE = 256

#: Largest client key (bits of n) a service accepts unless configured otherwise. Work
#: per ciphertext grows with the cube of the key size, so the limit bounds what one
#: request body can cost.
DEFAULT_MAX_KEY_BITS = 4096

REQUEST_MAGIC = b"HSRQ"
REQUEST_VERSION = 1
_HEADER = struct.Struct(">4sBI")


def encode_request(public_key: PublicKey, batch: EncryptedTensor | PackedTensor) -> bytes:
    """Binary score request (the batch is re-randomized if it is not fresh)."""
    key = public_key.to_bytes()
    return _HEADER.pack(REQUEST_MAGIC, REQUEST_VERSION, len(key)) + key + batch.to_bytes()


def key_bits(data: bytes) -> int | None:
    """Bits of the modulus in a public key's binary form, read from its header only.

    Returns ``None`` when ``data`` does not look like a public key (the loader
    then says why).
    """
    start = len(MAGIC) + 2
    if len(data) < start + 3 or data[: len(MAGIC)] != MAGIC:
        return None
    length = int.from_bytes(data[start : start + 2], "big")
    if length == 0 or len(data) < start + 2 + length:
        return None
    return (length - 1) * 8 + data[start + 2].bit_length()


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def _load_public_key(data: bytes, insecure_small_keys: bool) -> PublicKey:
    return PublicKey.from_bytes(data, insecure_small_keys=insecure_small_keys)


def load_public_key(
    data: bytes, insecure_small_keys: bool = False, max_key_bits: int | None = None
) -> PublicKey:
    """:meth:`PublicKey.from_bytes`, remembered for the last ``KEY_CACHE_SIZE`` keys.

    Keys are immutable and the result depends only on the exact bytes and the
    policy flag, so a repeated key skips its validation. Refused keys are not
    remembered (each attempt raises again).

    Args:
        data: the key's binary form.
        insecure_small_keys: accept keys below 2048 bits (tests only).
        max_key_bits: refuse a larger modulus before validating it (``None``:
            the loader's own limit).

    Raises:
        InvalidKey: a key above ``max_key_bits`` or refused by the loader.
    """
    if max_key_bits is not None:
        bits = key_bits(data)
        if bits is not None and bits > max_key_bits:
            raise InvalidKey(
                f"a {bits}-bit client key is above this service's limit of {max_key_bits} bits"
            )
    return _load_public_key(bytes(data), bool(insecure_small_keys))


def decode_batch(data: bytes, public_key: PublicKey) -> EncryptedTensor | PackedTensor:
    """Load a tensor or packed tensor, whichever the type tag says."""
    if len(data) < len(MAGIC) + 2 or data[: len(MAGIC)] != MAGIC:
        raise InvalidCiphertext("the batch does not start with hecrypt's magic bytes")
    tag = data[len(MAGIC) + 1]
    if tag == TYPE_ENCRYPTED_TENSOR:
        return EncryptedTensor.from_bytes(data, public_key)
    if tag == TYPE_PACKED_TENSOR:
        return PackedTensor.from_bytes(data, public_key)
    raise InvalidCiphertext(
        f"type tag 0x{tag:02x} where an encrypted tensor (0x{TYPE_ENCRYPTED_TENSOR:02x}) "
        f"or packed tensor (0x{TYPE_PACKED_TENSOR:02x}) belongs"
    )


def decode_request(
    body: bytes, *, insecure_small_keys: bool = False, max_key_bits: int | None = None
) -> tuple[PublicKey, EncryptedTensor | PackedTensor]:
    """Validate and load a binary score request.

    Raises:
        ProtocolError: bad framing.
        InvalidKey, InvalidCiphertext, KeyMismatchError: bad contents.
    """
    if len(body) < _HEADER.size:
        raise ProtocolError("score request shorter than its header")
    magic, version, key_len = _HEADER.unpack_from(body)
    if magic != REQUEST_MAGIC:
        raise ProtocolError("not a hecrypt score request (bad magic)")
    if version != REQUEST_VERSION:
        raise ProtocolError(f"unsupported score request version {version}")
    if key_len > len(body) - _HEADER.size:
        raise ProtocolError("score request truncated inside the public key")
    key_bytes = body[_HEADER.size : _HEADER.size + key_len]
    public_key = load_public_key(bytes(key_bytes), insecure_small_keys, max_key_bits)
    return public_key, decode_batch(body[_HEADER.size + key_len :], public_key)


def _no_number(text: str) -> Any:
    raise ProtocolError(
        f"a JSON number ({len(text)} characters) where only base64 strings belong"
    )


def _json(body: bytes, what: str) -> Any:
    """Parse a JSON body that must be one object whose values are strings.

    The structure is checked before parsing (one ``{``, no ``[``: brackets
    cannot occur in base64 strings either) and numbers are refused as they are
    met, so parsing allocates one string per field and never converts a long
    digit string to an integer.
    """
    if body.count(b"[") or body.count(b"{") > 1:
        raise ProtocolError(
            f"{what} must be one JSON object whose values are base64 strings "
            "(no arrays, nested objects or numbers)"
        )
    try:
        return json.loads(
            body, parse_int=_no_number, parse_float=_no_number, parse_constant=_no_number
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:  # pragma: no cover - refused above
        raise ProtocolError(f"{what} is JSON nested too deeply") from None


def _b64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise ProtocolError(f'"{what}" must be a base64 string')
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(f'"{what}" is not valid base64') from None


def encode_request_json(public_key: PublicKey, batch: EncryptedTensor | PackedTensor) -> str:
    """JSON score request."""
    return json.dumps(
        {
            "public_key": base64.b64encode(public_key.to_bytes()).decode(),
            "batch": base64.b64encode(batch.to_bytes()).decode(),
        }
    )


def decode_request_json(
    body: bytes, *, insecure_small_keys: bool = False, max_key_bits: int | None = None
) -> tuple[PublicKey, EncryptedTensor | PackedTensor]:
    """Validate and load a JSON score request."""
    data = _json(body, "score request")
    if not isinstance(data, dict) or set(data) != {"public_key", "batch"}:
        raise ProtocolError('a JSON score request has exactly "public_key" and "batch"')
    public_key = load_public_key(
        _b64(data["public_key"], "public_key"), insecure_small_keys, max_key_bits
    )
    return public_key, decode_batch(_b64(data["batch"], "batch"), public_key)


def encode_scores_json(scores: EncryptedTensor | PackedTensor) -> dict[str, str]:
    """JSON response body for encrypted scores (already fresh)."""
    kind = "packed" if isinstance(scores, PackedTensor) else "tensor"
    return {"scores": base64.b64encode(scores.to_bytes()).decode(), "kind": kind}


def decode_scores_json(body: bytes, public_key: PublicKey) -> EncryptedTensor | PackedTensor:
    """Load the scores of a JSON response."""
    data = _json(body, "response")
    if not isinstance(data, dict) or "scores" not in data:
        raise ProtocolError('a JSON score response has a "scores" field')
    return decode_batch(_b64(data["scores"], "scores"), public_key)
