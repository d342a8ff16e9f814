"""The framing every serialized form shares: constants, headers, readers and field checks.

Binary forms start with ``MAGIC | version | type tag`` and are read by a
:class:`_Reader` that names the field a truncation cut; JSON forms are
loaded strictly (no duplicate fields, no NaN or Infinity, no unknown
field, canonical base64). The field checks here (scale, fingerprint,
ciphertext range and unit) raise the error class the caller names, with a
message stating the rule broken. The forms themselves are in
:mod:`hecrypt.paillier.key_forms`, :mod:`hecrypt.paillier.number_forms` and
:mod:`hecrypt.paillier.tensor_forms`; :mod:`hecrypt.paillier.serialization`
describes the layouts.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from hecrypt.exceptions import HecryptError, InvalidCiphertext, KeyMismatchError
from hecrypt.paillier.keys import PublicKey
from hecrypt.paillier.number import validate_ciphertext

#: First four bytes of every binary form.
MAGIC = b"HECR"
#: The layout version every form is written and read in.
FORMAT_VERSION = 1

#: Binary type tags. The high bit marks secret material.
TYPE_PUBLIC_KEY = 0x01
TYPE_ENCRYPTED_NUMBER = 0x02
TYPE_ENCRYPTED_BATCH = 0x03
TYPE_ENCRYPTED_TENSOR = 0x04
TYPE_PACKED_TENSOR = 0x05
TYPE_PRIVATE_KEY = 0x81

#: Largest scale (fractional bits) accepted when writing or loading. It bounds
#: the cost a hostile file can impose (rescaling costs a powmod with a
#: ``scale``-bit exponent) while covering every float phe can encode (whose
#: smallest subnormal needs about 1080 fractional bits) and products of them.
MAX_SCALE = 8192
#: Largest number of ciphertexts in one batch (the count field is 32 bits).
MAX_BATCH_SIZE = 0xFFFFFFFF
#: Largest number of dimensions of a serialized tensor.
MAX_TENSOR_NDIM = 32

_KIND_PUBLIC = "hecrypt.public_key"
_KIND_PRIVATE = "hecrypt.private_key"
_KIND_NUMBER = "hecrypt.encrypted_number"
_KIND_BATCH = "hecrypt.encrypted_batch"

_TYPE_NAMES = {
    TYPE_PUBLIC_KEY: "public key",
    TYPE_PRIVATE_KEY: "private key",
    TYPE_ENCRYPTED_NUMBER: "encrypted number",
    TYPE_ENCRYPTED_BATCH: "encrypted batch",
    TYPE_ENCRYPTED_TENSOR: "encrypted tensor",
    TYPE_PACKED_TENSOR: "packed tensor",
}
_HEADER_LEN = len(MAGIC) + 2
_FINGERPRINT_LEN = 8
_SCALE_UNIFORM = 0
_SCALE_PER_ITEM = 1
#: Flag of the batch's mode byte: one bound, shared by all numbers, follows the scales.
_WITH_BOUND = 0x10

_Error = type[HecryptError]


# =============================================================== field checks
def ciphertext_width(public_key: PublicKey) -> int:
    """Bytes taken by one ciphertext under ``public_key``: ``2 * ceil(bits(n) / 8)``."""
    return 2 * ((public_key.n_bits + 7) // 8)


def _minimal_bytes(x: int) -> bytes:
    return x.to_bytes((x.bit_length() + 7) // 8, "big")


def _header(type_tag: int) -> bytes:
    return MAGIC + bytes((FORMAT_VERSION, type_tag))


def _fingerprint_bytes(public_key: PublicKey) -> bytes:
    return bytes.fromhex(public_key.fingerprint)


def _check_public_key_arg(public_key: Any) -> PublicKey:
    if not isinstance(public_key, PublicKey):
        raise TypeError(f"public_key must be a hecrypt PublicKey, not {type(public_key).__name__}")
    return public_key


def _check_scale(scale: int, error: _Error) -> int:
    if not 0 <= scale <= MAX_SCALE:
        raise error(f"scale {scale} is out of bounds: it must be between 0 and {MAX_SCALE}")
    return scale


def _check_fingerprint(found: str, public_key: PublicKey, what: str) -> None:
    if found != public_key.fingerprint:
        raise KeyMismatchError(
            f"the {what} was made under key {found}, not under the given key "
            f"{public_key.fingerprint}"
        )


def _read_ciphertexts(r: Any, pk: PublicKey, count: int, what: str) -> list[Any]:
    """The rest of ``r``: exactly ``count`` fixed-width ciphertexts, each validated.

    Raises:
        InvalidCiphertext: the length does not match, or a ciphertext is out of
            range or not a unit (its index within ``what`` is named).
    """
    width = ciphertext_width(pk)
    left = len(r.data) - r.pos
    if left != count * width:
        raise InvalidCiphertext(
            f"the {what} declares {count} ciphertexts of {width} bytes "
            f"({count * width} bytes) but {left} bytes follow"
        )
    body = r.take(count * width, "ciphertexts")
    r.finish()
    out = []
    for i in range(count):
        c = int.from_bytes(body[i * width : (i + 1) * width], "big")
        try:
            out.append(validate_ciphertext(pk, c))
        except InvalidCiphertext as exc:
            raise InvalidCiphertext(f"ciphertext {i} of the {what}: {exc}") from None
    return out


def _read_bound(r: Any) -> int:
    """A minimally stored non-negative integer with a 2-byte length prefix."""
    blen = r.uint(2, "length of bound")
    raw = r.take(blen, "bound")
    if raw[:1] == b"\x00":
        raise InvalidCiphertext("bound has a leading zero byte: integers are stored minimally")
    return int.from_bytes(raw, "big")


# ------------------------------------------------------------- binary reading
def _as_bytes(data: Any, error: _Error, what: str) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray):
        return bytes(data)
    if isinstance(data, memoryview):
        return data.tobytes()
    raise error(f"a serialized {what} must be bytes, not {type(data).__name__}")


class _Reader:
    """Sequential reader that reports truncation with the field being read."""

    __slots__ = ("data", "error", "pos", "what")

    def __init__(self, data: bytes, error: _Error, what: str) -> None:
        self.data = data
        self.error = error
        self.what = what
        self.pos = 0

    def take(self, k: int, field: str) -> bytes:
        left = len(self.data) - self.pos
        if k > left:
            raise self.error(
                f"truncated {self.what}: the {field} needs {k} bytes at offset {self.pos}, "
                f"only {left} remain"
            )
        out = self.data[self.pos : self.pos + k]
        self.pos += k
        return out

    def uint(self, size: int, field: str) -> int:
        return int.from_bytes(self.take(size, field), "big")

    def integer(self, field: str) -> int:
        """A length-prefixed (u16) positive integer in minimal big-endian form."""
        length = self.uint(2, f"length of {field}")
        if length == 0:
            raise self.error(f"{field} has length 0: integers take at least one byte")
        raw = self.take(length, field)
        if raw[0] == 0:
            raise self.error(f"{field} has a leading zero byte: integers are stored minimally")
        return int.from_bytes(raw, "big")

    def finish(self) -> None:
        extra = len(self.data) - self.pos
        if extra:
            raise self.error(f"{extra} trailing bytes after the end of the {self.what}")


def _read_header(data: Any, type_tag: int, error: _Error) -> _Reader:
    what = _TYPE_NAMES[type_tag]
    raw = _as_bytes(data, error, what)
    r = _Reader(raw, error, what)
    if len(raw) < _HEADER_LEN:
        raise error(
            f"truncated {what}: the header needs {_HEADER_LEN} bytes, only {len(raw)} given"
        )
    magic = r.take(len(MAGIC), "magic")
    if magic != MAGIC:
        hint = " (this looks like JSON: use the from_json loader)" if raw[:1] == b"{" else ""
        raise error(f"bad magic {magic!r}: hecrypt binary data starts with {MAGIC!r}{hint}")
    version = r.uint(1, "version")
    if version != FORMAT_VERSION:
        raise error(
            f"unsupported format version {version}: this hecrypt reads version {FORMAT_VERSION}"
        )
    found = r.uint(1, "type tag")
    if found != type_tag:
        name = _TYPE_NAMES.get(found, "unknown type")
        raise error(f"type tag 0x{found:02x} ({name}) where a {what} (0x{type_tag:02x}) belongs")
    return r


def _read_fingerprint(r: _Reader, public_key: PublicKey) -> None:
    found = r.take(_FINGERPRINT_LEN, "key fingerprint").hex()
    _check_fingerprint(found, public_key, r.what)


# --------------------------------------------------------------- JSON reading
class _DuplicateField(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateField(f"field {k!r} appears twice")
        out[k] = v
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _load_json(
    text: Any,
    kind: str,
    fields: tuple[str, ...],
    error: _Error,
    what: str,
    optional: tuple[str, ...] = (),
) -> dict[str, Any]:
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"serialized {what} is not UTF-8 text: {exc.reason}") from None
    if not isinstance(text, str):
        raise error(f"a serialized {what} must be JSON text, not {type(text).__name__}")
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise error(f"serialized {what} is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise error(f"a serialized {what} is a JSON object, not {type(obj).__name__}")
    found_kind = obj.get("kind")
    if found_kind != kind:
        raise error(f"JSON kind {found_kind!r} where a {what} ({kind!r}) belongs")
    version = obj.get("version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise error(
            f"unsupported format version {version!r}: this hecrypt reads version {FORMAT_VERSION}"
        )
    missing = [f for f in fields if f not in obj]
    if missing:
        raise error(f"{what} JSON lacks the field(s) {', '.join(missing)}")
    unknown = sorted(set(obj) - set(fields) - set(optional))
    if unknown:
        raise error(f"{what} JSON has unknown field(s) {', '.join(unknown)}")
    return obj


def _json_int(value: Any, field: str, error: _Error) -> int:
    if type(value) is not int:
        raise error(f"field {field!r} must be a JSON integer, not {type(value).__name__}")
    return value


def _json_str(value: Any, field: str, error: _Error) -> str:
    if not isinstance(value, str):
        raise error(f"field {field!r} must be a JSON string, not {type(value).__name__}")
    return value


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _unb64(value: Any, field: str, error: _Error) -> bytes:
    s = _json_str(value, field, error)
    try:
        raw = base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise error(f"field {field!r} is not valid base64") from None
    # The decoder ignores the unused low bits of the last character; one
    # spelling per integer, as in the binary form.
    if _b64(raw) != s:
        raise error(f"field {field!r} is not canonical base64: its unused bits must be zero")
    return raw


def _json_key_int(value: Any, field: str, error: _Error) -> int:
    raw = _unb64(value, field, error)
    if not raw:
        raise error(f"field {field!r} is empty: integers take at least one byte")
    if raw[0] == 0:
        raise error(f"field {field!r} has a leading zero byte: integers are stored minimally")
    return int.from_bytes(raw, "big")


def _json_ciphertext(value: Any, field: str, width: int) -> int:
    raw = _unb64(value, field, InvalidCiphertext)
    if len(raw) != width:
        raise InvalidCiphertext(
            f"field {field!r} holds {len(raw)} bytes: ciphertexts under this key take "
            f"exactly {width} bytes"
        )
    return int.from_bytes(raw, "big")


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))
