"""Binary and JSON forms of keys, encrypted numbers and encrypted batches.

Every form is versioned and self-describing; loaders validate every field
and raise a :class:`~hecrypt.exceptions.HecryptError` subclass whose message
states the rule that was broken:

* :class:`~hecrypt.exceptions.InvalidKey` for key data (bad header, size
  policy, ``p * q != n``, ...),
* :class:`~hecrypt.exceptions.InvalidCiphertext` for encrypted numbers and
  batches (bad header, truncation, ``c`` outside ``(0, n^2)`` or not a unit,
  scale out of bounds, ...),
* :class:`~hecrypt.exceptions.KeyMismatchError` when the data names another
  key than the one given to the loader.

Binary layout (all integers big-endian; the full description, with sizes,
is in ``docs/formats.md``)::

    header      magic b"HECR" | version u8 (= 1) | type u8
    public key  header(0x01) | len u16 | n
    private key header(0x81) | len u16 | n | len u16 | p | len u16 | q
    number      header(0x02) | fingerprint 8 | scale u16 | c (2*|n| bytes)
                [| len u16 | bound]   (absent: bound = max_int)
    batch       header(0x03) | fingerprint 8 | count u32 | mode u8
                | scale u16 (mode 0) or count x scale u16 (mode 1)
                [| len u16 | bound]   (when mode has the flag 0x10)
                | count x c (2*|n| bytes each)
    tensor      header(0x04) | fingerprint 8 | scale u16 | len u16 | bound
                | ndim u8 | ndim x dim u32 | prod(dims) x c (2*|n| bytes each,
                C order)
    packed      header(0x05) | fingerprint 8 | slot_bits u16 | slots u16
                | headroom u16 | mask_bits u16 | count u16 | len u16 | bound
                | scale u16 | weight scale u16 | records u32 | rank u8
                | columns u32 | chunks x columns x c (2*|n| bytes each)

``|n|`` is the byte length of the modulus, so a ciphertext always takes
exactly ``2*|n|`` bytes (528 bytes at 2048 bits) and a number takes 16 bytes
more. Key integers are stored in minimal form (no leading zero byte).

JSON objects carry a ``"kind"`` (``"hecrypt.public_key"``,
``"hecrypt.private_key"``, ``"hecrypt.encrypted_number"``,
``"hecrypt.encrypted_batch"``) and a ``"version"``; integers are standard
base64 of the same big-endian bytes.

Private keys are secret. Their binary type tag has the high bit set
(``0x81``) and their JSON carries ``"kind": "hecrypt.private_key"`` and
``"secret": true``. Store them as you would any private key: readable only
by their owner, never sent to the other party, never logged.

Leaks: a serialized number or batch reveals the key fingerprint, the scale
of each value, the number of values, and nothing about the values
themselves provided the ciphertexts are fresh. Encrypted numbers that are
homomorphic results (not fresh) are therefore re-randomized before they are
written, unless the caller passes ``rerandomize=False`` explicitly (only for
data that stays with the key owner or is re-randomized later).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any

from hecrypt.exceptions import HecryptError, InvalidCiphertext, InvalidKey, KeyMismatchError
from hecrypt.paillier.keys import PrivateKey, PublicKey
from hecrypt.paillier.number import EncryptedNumber, validate_ciphertext

__all__ = [
    "MAGIC",
    "FORMAT_VERSION",
    "MAX_SCALE",
    "MAX_BATCH_SIZE",
    "TYPE_PUBLIC_KEY",
    "TYPE_PRIVATE_KEY",
    "TYPE_ENCRYPTED_NUMBER",
    "TYPE_ENCRYPTED_BATCH",
    "public_key_to_bytes",
    "public_key_from_bytes",
    "public_key_to_json",
    "public_key_from_json",
    "private_key_to_bytes",
    "private_key_from_bytes",
    "private_key_to_json",
    "private_key_from_json",
    "encrypted_number_to_bytes",
    "encrypted_number_from_bytes",
    "encrypted_number_to_json",
    "encrypted_number_from_json",
    "encrypted_batch_to_bytes",
    "encrypted_batch_from_bytes",
    "encrypted_batch_to_json",
    "encrypted_batch_from_json",
    "encrypted_tensor_to_bytes",
    "encrypted_tensor_from_bytes",
    "TYPE_ENCRYPTED_TENSOR",
    "MAX_TENSOR_NDIM",
    "ciphertext_width",
    "TYPE_PACKED_TENSOR",
    "packed_tensor_to_bytes",
    "packed_tensor_from_bytes",
]

#: First four bytes of every binary form.
MAGIC = b"HECR"
#: The layout version written and read by this module.
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


# ====================================================================== helpers
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


def _check_number_arg(x: Any) -> EncryptedNumber:
    if not isinstance(x, EncryptedNumber):
        raise TypeError(f"expected a hecrypt EncryptedNumber, not {type(x).__name__}")
    if x.scale > MAX_SCALE:
        raise ValueError(
            f"scale {x.scale} is above the serializable limit of {MAX_SCALE} fractional bits"
        )
    return x


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


def _load_number(
    public_key: PublicKey, c: int, scale: int, bound: int | None = None
) -> EncryptedNumber:
    c = validate_ciphertext(public_key, c)
    return EncryptedNumber._make(public_key, c, scale, False, bound)


def _bound_bytes(bound: int) -> bytes:
    """``len u16 | bound`` in minimal big-endian form (length 0 for 0)."""
    raw = bound.to_bytes((bound.bit_length() + 7) // 8, "big")
    return len(raw).to_bytes(2, "big") + raw


def _check_number_bound(bound: int, public_key: PublicKey) -> int:
    if bound > public_key.max_int:
        raise InvalidCiphertext(
            f"a bound of {bound.bit_length()} bits exceeds the {public_key.max_int.bit_length()}"
            "-bit plaintext band of the key"
        )
    return bound


def _bound_json(bound: int) -> str:
    return format(bound, "x")


def _json_bound(value: Any, public_key: PublicKey) -> int:
    """A bound written by :func:`_bound_json`: lowercase hex digits, no leading zero."""
    if not isinstance(value, str):
        raise InvalidCiphertext(f"field 'bound' must be a JSON string, not {type(value).__name__}")
    limit = (public_key.max_int.bit_length() + 3) // 4
    if (
        not value
        or len(value) > limit
        or (len(value) > 1 and value[0] == "0")
        or any(ch not in "0123456789abcdef" for ch in value)
    ):
        raise InvalidCiphertext(
            f"field 'bound' must be at most {limit} lowercase hex digits without a leading zero"
        )
    return _check_number_bound(int(value, 16), public_key)


def _fresh_batch(xs: list[EncryptedNumber], public_key: PublicKey) -> list[EncryptedNumber]:
    """Re-randomize the non-fresh numbers, drawing their randomness in one go."""
    stale = [i for i, x in enumerate(xs) if not x.is_fresh]
    if not stale:
        return xs
    rs = public_key._take_randomness(len(stale))
    nsq = public_key._nsq
    out = list(xs)
    for i, r in zip(stale, rs):
        x = xs[i]
        out[i] = EncryptedNumber._make(public_key, x._c * r % nsq, x._scale, True, x._bound)
    return out


def _batch_arg(
    xs: Iterable[EncryptedNumber], public_key: PublicKey | None
) -> tuple[list[EncryptedNumber], PublicKey]:
    items = [_check_number_arg(x) for x in xs]
    if public_key is not None:
        pk = _check_public_key_arg(public_key)
    elif items:
        pk = items[0].public_key
    else:
        raise ValueError("an empty batch needs public_key= to name the key it belongs to")
    for x in items:
        if x.public_key is not pk and x.public_key != pk:
            raise KeyMismatchError(
                f"a batch holds numbers under one key: found {x.public_key.fingerprint} "
                f"among numbers under {pk.fingerprint}"
            )
    if len(items) > MAX_BATCH_SIZE:
        raise ValueError(f"a batch holds at most {MAX_BATCH_SIZE} numbers")
    return items, pk


# ---------------------------------------------------------------- binary reading
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


# ---------------------------------------------------------------- JSON reading
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


# ==================================================================== public keys
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


# =================================================================== private keys
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


# =============================================================== encrypted numbers
def encrypted_number_to_bytes(x: EncryptedNumber, *, rerandomize: bool = True) -> bytes:
    """Binary form of one encrypted number.

    Layout: header (type 0x02) ``| fingerprint (8) | scale u16 | c | len u16
    | bound`` with ``c`` in exactly ``2*|n|`` bytes and the public bound on
    ``|m|`` in minimal form (data written without the bound still loads, with
    the widest bound ``max_int``).

    Args:
        x: the number to write.
        rerandomize: re-randomize ``x`` first if it is not fresh (default).
            Pass False only for data that stays with the key owner.

    Leaks: the key fingerprint, the scale and the bound.
    """
    x = _check_number_arg(x)
    if rerandomize:
        x = x.fresh()
    pk = x.public_key
    return b"".join(
        (
            _header(TYPE_ENCRYPTED_NUMBER),
            _fingerprint_bytes(pk),
            x.scale.to_bytes(2, "big"),
            x.ciphertext.to_bytes(ciphertext_width(pk), "big"),
            _bound_bytes(x.bound),
        )
    )


def encrypted_number_from_bytes(data: bytes, public_key: PublicKey) -> EncryptedNumber:
    """Load and validate a number written by :func:`encrypted_number_to_bytes`.

    The result is not marked fresh: it is re-randomized if it is sent on.

    Raises:
        InvalidCiphertext: bad header or type tag, truncated or trailing
            data, scale above :data:`MAX_SCALE`, ``c`` outside ``(0, n^2)``
            or sharing a factor with ``n``.
        KeyMismatchError: the data was made under another key.
    """
    pk = _check_public_key_arg(public_key)
    r = _read_header(data, TYPE_ENCRYPTED_NUMBER, InvalidCiphertext)
    _read_fingerprint(r, pk)
    scale = _check_scale(r.uint(2, "scale"), InvalidCiphertext)
    c = r.uint(ciphertext_width(pk), "ciphertext")
    bound = None
    if r.pos < len(r.data):
        bound = _check_number_bound(_read_bound(r), pk)
    r.finish()
    return _load_number(pk, c, scale, bound)


def encrypted_number_to_json(x: EncryptedNumber, *, rerandomize: bool = True) -> str:
    """JSON form of one encrypted number.

    ``{"kind": "hecrypt.encrypted_number", "version": 1, "key": fingerprint,
    "scale": int, "ciphertext": base64 of 2*|n| bytes, "bound": hex}``.
    Re-randomizes first as :func:`encrypted_number_to_bytes` does. The
    ``"bound"`` (lowercase hex) is optional when loading (default ``max_int``).
    """
    x = _check_number_arg(x)
    if rerandomize:
        x = x.fresh()
    pk = x.public_key
    return _dumps(
        {
            "kind": _KIND_NUMBER,
            "version": FORMAT_VERSION,
            "key": pk.fingerprint,
            "scale": x.scale,
            "ciphertext": _b64(x.ciphertext.to_bytes(ciphertext_width(pk), "big")),
            "bound": _bound_json(x.bound),
        }
    )


def encrypted_number_from_json(text: str | bytes, public_key: PublicKey) -> EncryptedNumber:
    """Load and validate a number written by :func:`encrypted_number_to_json`.

    Raises:
        InvalidCiphertext: not JSON, wrong kind or version, missing, unknown
            or ill-typed fields, scale out of bounds, ciphertext of the wrong
            width, out of range or not a unit.
        KeyMismatchError: the data was made under another key.
    """
    pk = _check_public_key_arg(public_key)
    fields = ("kind", "version", "key", "scale", "ciphertext")
    what = "encrypted number"
    obj = _load_json(text, _KIND_NUMBER, fields, InvalidCiphertext, what, ("bound",))
    _check_fingerprint(_json_str(obj["key"], "key", InvalidCiphertext), pk, what)
    scale = _check_scale(_json_int(obj["scale"], "scale", InvalidCiphertext), InvalidCiphertext)
    c = _json_ciphertext(obj["ciphertext"], "ciphertext", ciphertext_width(pk))
    bound = _json_bound(obj["bound"], pk) if "bound" in obj else None
    return _load_number(pk, c, scale, bound)


# =============================================================== encrypted batches
def encrypted_batch_to_bytes(
    xs: Iterable[EncryptedNumber],
    *,
    rerandomize: bool = True,
    public_key: PublicKey | None = None,
) -> bytes:
    """Binary form of a list of encrypted numbers under one key.

    Layout: header (type 0x03) ``| fingerprint (8) | count u32 | mode u8``,
    then the scales (mode 0: one ``u16`` shared by all; mode 1: ``count``
    ``u16``, written when scales differ), then ``count`` ciphertexts of
    exactly ``2*|n|`` bytes. With one scale that is
    ``21 + count * 2*ceil(bits(n)/8)`` bytes.

    Args:
        xs: the numbers, all under the same key.
        rerandomize: re-randomize the non-fresh numbers first (default);
            their randomness is drawn in one batch (from the key's pool when
            it has one, see :meth:`PublicKey.precompute`).
        public_key: the key, required only for an empty batch; when given,
            every number must be under it.

    Raises:
        KeyMismatchError: the numbers are not all under one key.
        ValueError: an empty batch without ``public_key``.

    Leaks: the key fingerprint, the count and the scales.
    """
    items, pk = _batch_arg(xs, public_key)
    if rerandomize:
        items = _fresh_batch(items, pk)
    scales = {x.scale for x in items}
    width = ciphertext_width(pk)
    out = [_header(TYPE_ENCRYPTED_BATCH), _fingerprint_bytes(pk), len(items).to_bytes(4, "big")]
    if len(scales) <= 1:
        out += [
            bytes((_SCALE_UNIFORM | _WITH_BOUND,)),
            (scales.pop() if scales else 0).to_bytes(2, "big"),
        ]
    else:
        out += [bytes((_SCALE_PER_ITEM | _WITH_BOUND,))]
        out += [x.scale.to_bytes(2, "big") for x in items]
    out.append(_bound_bytes(max((x.bound for x in items), default=0)))
    out += [x.ciphertext.to_bytes(width, "big") for x in items]
    return b"".join(out)


def encrypted_batch_from_bytes(data: bytes, public_key: PublicKey) -> list[EncryptedNumber]:
    """Load and validate a batch written by :func:`encrypted_batch_to_bytes`.

    Every ciphertext is validated (range and unit); none is marked fresh.

    Raises:
        InvalidCiphertext: bad header or type tag, an unknown scale mode, a
            scale out of bounds, a length that does not match the count, or
            an invalid ciphertext (its index is named).
        KeyMismatchError: the data was made under another key.
    """
    pk = _check_public_key_arg(public_key)
    r = _read_header(data, TYPE_ENCRYPTED_BATCH, InvalidCiphertext)
    _read_fingerprint(r, pk)
    count = r.uint(4, "count")
    flags = r.uint(1, "scale mode")
    mode = flags & ~_WITH_BOUND
    # Nothing is allocated per item before the length is known to match the
    # count: a hostile count cannot make the loader reserve memory.
    scales: list[int] | None = None
    scale = 0
    if mode == _SCALE_UNIFORM:
        scale = _check_scale(r.uint(2, "scale"), InvalidCiphertext)
    elif mode == _SCALE_PER_ITEM:
        raw = r.take(2 * count, "scales")
        scales = [
            _check_scale(int.from_bytes(raw[i : i + 2], "big"), InvalidCiphertext)
            for i in range(0, 2 * count, 2)
        ]
    else:
        raise InvalidCiphertext(
            f"unknown scale mode {mode}: 0 (one scale) and 1 (one per number) are defined"
        )
    bound = _check_number_bound(_read_bound(r), pk) if flags & _WITH_BOUND else None
    cs = _read_ciphertexts(r, pk, count, "batch")
    return [
        EncryptedNumber._make(pk, c, scale if scales is None else scales[i], False, bound)
        for i, c in enumerate(cs)
    ]


def _load_batch_item(
    pk: PublicKey, c: int, scale: int, index: int, bound: int | None = None
) -> EncryptedNumber:
    try:
        return _load_number(pk, c, scale, bound)
    except InvalidCiphertext as exc:
        raise InvalidCiphertext(f"ciphertext {index} of the batch: {exc}") from None


def encrypted_batch_to_json(
    xs: Iterable[EncryptedNumber],
    *,
    rerandomize: bool = True,
    public_key: PublicKey | None = None,
) -> str:
    """JSON form of a list of encrypted numbers under one key.

    ``{"kind": "hecrypt.encrypted_batch", "version": 1, "key": fingerprint,
    "scale": int or [int, ...], "ciphertexts": [base64, ...]}``; ``"scale"``
    is a list (one per number) only when the scales differ. Arguments and
    re-randomization as :func:`encrypted_batch_to_bytes`.
    """
    items, pk = _batch_arg(xs, public_key)
    if rerandomize:
        items = _fresh_batch(items, pk)
    scales = [x.scale for x in items]
    width = ciphertext_width(pk)
    scale: int | list[int] = scales if len(set(scales)) > 1 else (scales[0] if scales else 0)
    return _dumps(
        {
            "kind": _KIND_BATCH,
            "version": FORMAT_VERSION,
            "key": pk.fingerprint,
            "scale": scale,
            "ciphertexts": [_b64(x.ciphertext.to_bytes(width, "big")) for x in items],
            "bound": _bound_json(max((x.bound for x in items), default=0)),
        }
    )


def encrypted_batch_from_json(text: str | bytes, public_key: PublicKey) -> list[EncryptedNumber]:
    """Load and validate a batch written by :func:`encrypted_batch_to_json`.

    Raises:
        InvalidCiphertext: as :func:`encrypted_number_from_json`, plus a
            ``"scale"`` list whose length differs from the ciphertexts'.
        KeyMismatchError: the data was made under another key.
    """
    pk = _check_public_key_arg(public_key)
    fields = ("kind", "version", "key", "scale", "ciphertexts")
    what = "encrypted batch"
    obj = _load_json(text, _KIND_BATCH, fields, InvalidCiphertext, what, ("bound",))
    bound = _json_bound(obj["bound"], public_key) if "bound" in obj else None
    _check_fingerprint(_json_str(obj["key"], "key", InvalidCiphertext), pk, what)
    cts = obj["ciphertexts"]
    if not isinstance(cts, list):
        raise InvalidCiphertext(
            f"field 'ciphertexts' must be a JSON array, not {type(cts).__name__}"
        )
    raw_scale = obj["scale"]
    if isinstance(raw_scale, list):
        if len(raw_scale) != len(cts):
            raise InvalidCiphertext(
                f"field 'scale' lists {len(raw_scale)} scales for {len(cts)} ciphertexts"
            )
        scales = [
            _check_scale(_json_int(s, f"scale[{i}]", InvalidCiphertext), InvalidCiphertext)
            for i, s in enumerate(raw_scale)
        ]
    else:
        one = _check_scale(_json_int(raw_scale, "scale", InvalidCiphertext), InvalidCiphertext)
        scales = [one] * len(cts)
    width = ciphertext_width(pk)
    out = []
    for i, (value, scale) in enumerate(zip(cts, scales)):
        c = _json_ciphertext(value, f"ciphertexts[{i}]", width)
        out.append(_load_batch_item(pk, c, scale, i, bound))
    return out


# =============================================================== encrypted tensors
def encrypted_tensor_to_bytes(t: Any, *, rerandomize: bool = True) -> bytes:
    """Binary form of an :class:`~hecrypt.paillier.tensor.EncryptedTensor`.

    Layout: header (type 0x04) ``| fingerprint (8) | scale u16 | len u16 |
    bound (minimal big-endian, empty for 0) | ndim u8 | ndim x dim u32``, then
    the ciphertexts in C order, exactly ``2*|n|`` bytes each.

    Args:
        t: the tensor.
        rerandomize: re-randomize a non-fresh tensor first (default).

    Raises:
        TypeError: not an EncryptedTensor.
        ValueError: a scale, rank or dimension beyond the format's limits, or
            an encoding limit other than the key's ``max_int``.

    Leaks: the key fingerprint, the shape, the scale and the tracked bound.
    """
    from hecrypt.paillier.tensor import EncryptedTensor

    if not isinstance(t, EncryptedTensor):
        raise TypeError(f"expected a hecrypt EncryptedTensor, not {type(t).__name__}")
    pk = t.public_key
    enc = t.encoding
    if enc.scale > MAX_SCALE:
        raise ValueError(
            f"scale {enc.scale} is above the serializable limit of {MAX_SCALE} fractional bits"
        )
    if enc.max_int != pk.max_int:
        raise ValueError("only tensors limited by the key's max_int can be serialized")
    if t.ndim > MAX_TENSOR_NDIM or any(d > 0xFFFFFFFF for d in t.shape):
        raise ValueError(f"a tensor has at most {MAX_TENSOR_NDIM} dimensions of < 2^32")
    if rerandomize:
        t = t.fresh()
    width = ciphertext_width(pk)
    bound = _minimal_bytes(enc.bound) if enc.bound else b""
    out = [
        _header(TYPE_ENCRYPTED_TENSOR),
        _fingerprint_bytes(pk),
        enc.scale.to_bytes(2, "big"),
        len(bound).to_bytes(2, "big"),
        bound,
        bytes((t.ndim,)),
    ]
    out += [d.to_bytes(4, "big") for d in t.shape]
    out += [int(c).to_bytes(width, "big") for c in t.ciphertexts.reshape(-1).tolist()]
    return b"".join(out)


def encrypted_tensor_from_bytes(data: bytes, public_key: PublicKey) -> Any:
    """Load and validate a tensor written by :func:`encrypted_tensor_to_bytes`.

    Every ciphertext is validated (range and unit); the bound must not exceed
    the key's ``max_int``; the result is not marked fresh. A bound that is
    lower than the data makes decryption raise, never return a wrong value.

    Raises:
        InvalidCiphertext: bad header or type tag, scale, bound or rank out of
            bounds, a length that does not match the shape, or an invalid
            ciphertext (its index is named).
        KeyMismatchError: the data was made under another key.
    """
    import numpy as np

    from hecrypt.encoding.bounds import Encoding
    from hecrypt.paillier.tensor import EncryptedTensor

    pk = _check_public_key_arg(public_key)
    r = _read_header(data, TYPE_ENCRYPTED_TENSOR, InvalidCiphertext)
    _read_fingerprint(r, pk)
    scale = _check_scale(r.uint(2, "scale"), InvalidCiphertext)
    bound = _read_bound(r)
    if bound > pk.max_int:
        raise InvalidCiphertext(
            "the tensor's bound exceeds the key's plaintext limit (max_int = n // 3)"
        )
    ndim = r.uint(1, "rank")
    if ndim > MAX_TENSOR_NDIM:
        raise InvalidCiphertext(f"rank {ndim} is above the limit of {MAX_TENSOR_NDIM}")
    shape = tuple(r.uint(4, f"dimension {i}") for i in range(ndim))
    count = 1
    for d in shape:
        count *= d
    extent = 1
    for d in shape:
        extent *= max(d, 1)
    if count == 0 and extent > MAX_BATCH_SIZE:  # numpy cannot describe an empty array that wide
        raise InvalidCiphertext(
            f"shape {shape} spans more than {MAX_BATCH_SIZE} elements (zero dimensions aside)"
        )
    loaded = _read_ciphertexts(r, pk, count, f"tensor of shape {shape}")
    cs = np.empty(count, dtype=object)
    cs[:] = loaded
    enc = Encoding(scale, bound, pk.max_int)
    return EncryptedTensor._make(pk, cs.reshape(shape), enc, False)


# =============================================================== packed tensors
def packed_tensor_to_bytes(t: Any, *, rerandomize: bool = True) -> bytes:
    """Binary form of a :class:`~hecrypt.paillier.packed.PackedTensor`.

    Layout: header (type 0x05) ``| fingerprint (8) | slot_bits u16 | slots u16
    | headroom u16 | mask_bits u16 | count u16 | len u16 | bound | scale u16
    | weight scale u16 | records u32 | rank u8 | columns u32``, then
    ``ceil(records / slots) * columns`` ciphertexts (chunk-major), exactly
    ``2*|n|`` bytes each. The overhead is ``39 + len(bound)`` bytes; a value
    costs ``2*|n| / slots`` bytes (14.6 at 2048 bits with 35 slots).

    Args:
        t: the packed tensor.
        rerandomize: re-randomize a non-fresh tensor first (default).

    Raises:
        TypeError: not a PackedTensor.
        ValueError: a field beyond the format's limits.

    Leaks: the key fingerprint, records, columns, layout, scales and bound.
    """
    from hecrypt.paillier.packed import PackedTensor

    if not isinstance(t, PackedTensor):
        raise TypeError(f"expected a hecrypt PackedTensor, not {type(t).__name__}")
    layout = t.layout
    if max(t.scale, t.weight_frac_bits) > MAX_SCALE:
        raise ValueError(f"a scale is above the serializable limit of {MAX_SCALE} bits")
    if max(layout.slot_bits, layout.slots, layout.headroom, layout.mask_bits) > 0xFFFF:
        raise ValueError("a layout field does not fit 16 bits")
    cs = t.ciphertexts
    if t.records > 0xFFFFFFFF or cs.shape[1] > 0xFFFFFFFF:
        raise ValueError("a packed tensor holds fewer than 2^32 records and columns")
    if rerandomize:
        t = t.fresh()
        cs = t.ciphertexts
    pk = t.public_key
    width = ciphertext_width(pk)
    bound = _minimal_bytes(t.bound) if t.bound else b""
    out = [
        _header(TYPE_PACKED_TENSOR),
        _fingerprint_bytes(pk),
        b"".join(v.to_bytes(2, "big") for v in (
            layout.slot_bits, layout.slots, layout.headroom, layout.mask_bits, t.spec.count
        )),
        len(bound).to_bytes(2, "big"),
        bound,
        t.scale.to_bytes(2, "big"),
        t.weight_frac_bits.to_bytes(2, "big"),
        t.records.to_bytes(4, "big"),
        bytes((t.ndim,)),
        int(cs.shape[1]).to_bytes(4, "big"),
    ]
    out += [int(c).to_bytes(width, "big") for c in cs.reshape(-1).tolist()]
    return b"".join(out)


def packed_tensor_from_bytes(data: bytes, public_key: PublicKey) -> Any:
    """Load and validate a packed tensor written by :func:`packed_tensor_to_bytes`.

    Checks: the layout is well formed and carried by the key's modulus
    (``slot_bits * slots <= bits(n) - 2``), ``count == min(records, slots)``,
    the bound fits a slot, scales are within :data:`MAX_SCALE`, at least one
    record and one column, rank 1 only with one column, the length matches
    before anything is allocated, and every ciphertext is in range and a unit.
    The result is not marked fresh. A bound below the data makes decryption
    raise, never return a wrong value.

    Raises:
        InvalidCiphertext: a rule above is broken (the message names it).
        KeyMismatchError: the data was made under another key.
    """
    import numpy as np

    from hecrypt.encoding.packing import PackedSpec, PackingLayout
    from hecrypt.paillier.packed import PackedTensor

    pk = _check_public_key_arg(public_key)
    r = _read_header(data, TYPE_PACKED_TENSOR, InvalidCiphertext)
    _read_fingerprint(r, pk)
    slot_bits = r.uint(2, "slot width")
    slots = r.uint(2, "slot count")
    headroom = r.uint(2, "headroom")
    mask_bits = r.uint(2, "mask bits")
    count = r.uint(2, "slots in use")
    try:
        layout = PackingLayout(slot_bits, slots, headroom, mask_bits)
    except ValueError as exc:
        raise InvalidCiphertext(f"invalid packing layout: {exc}") from None
    if not layout.fits(pk.n):
        raise InvalidCiphertext(
            f"{slots} slots of {slot_bits} bits do not fit a {pk.n_bits}-bit key "
            "(slot_bits * slots must be at most bits(n) - 2)"
        )
    bound = _read_bound(r)
    if bound > layout.slot_limit:
        raise InvalidCiphertext(
            f"the bound exceeds the slot limit 2^{slot_bits - 1} - 1 of the layout"
        )
    scale = _check_scale(r.uint(2, "scale"), InvalidCiphertext)
    weight_scale = _check_scale(r.uint(2, "weight scale"), InvalidCiphertext)
    records = r.uint(4, "records")
    rank = r.uint(1, "rank")
    cols = r.uint(4, "columns")
    if records < 1 or cols < 1:
        raise InvalidCiphertext("a packed tensor holds at least one record and one column")
    if rank not in (1, 2) or (rank == 1 and cols != 1):
        raise InvalidCiphertext(
            f"rank {rank} with {cols} columns: rank is 1 (one column) or 2"
        )
    if count != min(records, slots):
        raise InvalidCiphertext(
            f"{count} slots in use for {records} records in {slots} slots: it must be "
            f"min(records, slots) = {min(records, slots)}"
        )
    chunks = -(-records // slots)
    total = chunks * cols
    loaded = _read_ciphertexts(
        r, pk, total, f"packed tensor ({records} records in {slots} slots, {cols} columns)"
    )
    cs = np.empty(total, dtype=object)
    cs[:] = loaded
    spec = PackedSpec(layout, count, bound)
    return PackedTensor._make(
        pk, cs.reshape(chunks, cols), spec, records, scale, weight_scale, rank == 1, False
    )
