"""The message codec of the party channels: values to bytes and back.

A message is any nesting of ``tuple``, ``list`` and ``dict`` (string keys) of
``None``, ``bool``, ``int`` (any size: Paillier ciphertexts included; gmpy2
``mpz`` and numpy integer scalars are sent as ``int``), ``float``, ``str``,
``bytes`` and numpy arrays of the dtypes in :data:`DTYPES` (any shape). The
encoding is a tagged tree, big-endian lengths, arrays in little-endian C order;
the exact layout is in docs/formats.md ("Party channels"). A ``list`` of
non-negative integers is written as one fixed-width block (a Paillier
ciphertext block costs its width per element, nothing more).

Decoding trusts nothing: every length is checked against the bytes that are
left before anything is allocated, nesting is bounded, strings must be UTF-8,
boolean arrays must hold 0/1, dictionary keys must be distinct and the message
must end exactly where the data does. Anything else is a
:class:`~hecrypt.exceptions.ProtocolError`.

What the encoding reveals: the structure of the message (types, lengths,
shapes, the byte width of an integer block) is visible to anyone who sees the
bytes; the channels add nothing to hide it. Values themselves are whatever the
protocol chose to send (shares, masked values, ciphertexts).
"""

from __future__ import annotations

import math
import numbers
import struct
from typing import Any

import numpy as np

from hecrypt.exceptions import ProtocolError

__all__ = [
    "DTYPES",
    "MAX_DEPTH",
    "decode_message",
    "encode_message",
]

# Tags (one byte each) of the encoded tree.
T_NONE = 0x00
T_FALSE = 0x01
T_TRUE = 0x02
T_INT64 = 0x03  # 8 bytes, two's complement
T_BIGINT_POS = 0x04  # u32 length + magnitude (no leading zero byte)
T_BIGINT_NEG = 0x05  # u32 length + magnitude of -x
T_FLOAT = 0x06  # IEEE 754 binary64
T_STR = 0x07  # u32 length + UTF-8
T_BYTES = 0x08  # u32 length + bytes
T_LIST = 0x09  # u32 count + items
T_TUPLE = 0x0A  # u32 count + items
T_DICT = 0x0B  # u32 count + (u32 key length + UTF-8 key + value) each
T_ARRAY = 0x0C  # dtype code, ndim, u32 dims, little-endian C-order data
T_INTBLOCK = 0x0D  # u32 count + u32 width + count * width bytes (a list of ints >= 0)

#: Array dtypes a message may carry, by wire code.
DTYPES: dict[int, np.dtype] = {
    0x01: np.dtype("bool"),
    0x02: np.dtype("<u1"),
    0x03: np.dtype("<i8"),
    0x04: np.dtype("<u8"),
    0x05: np.dtype("<f8"),
    0x06: np.dtype("<i4"),
    0x07: np.dtype("<u4"),
    0x08: np.dtype("<f4"),
}
_DTYPE_CODES: dict[str, int] = {dt.str[1:]: code for code, dt in DTYPES.items()}

#: Deepest nesting of containers a message may have.
MAX_DEPTH = 64
#: Most dimensions an array may have.
MAX_NDIM = 32

_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_F64 = struct.Struct(">d")
_U32_MAX = 0xFFFFFFFF
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


def encode_message(obj: Any) -> bytes:
    """Serialize a message to bytes (layout in docs/formats.md, "Party channels").

    Args:
        obj: the message (see the module docstring for what it may hold).

    Returns:
        The encoded bytes; :func:`decode_message` gives back an equal value
        (``mpz`` and numpy scalars come back as ``int``/``float``/``bool``).

    Raises:
        ProtocolError: a value of a type the codec does not carry, a dict key
            that is not a string, nesting deeper than :data:`MAX_DEPTH`, or a
            length beyond 2^32 - 1.
    """
    out: list[bytes] = []
    _encode(obj, out, 0)
    return b"".join(out)


def _u32(n: int, what: str) -> bytes:
    if n > _U32_MAX:
        raise ProtocolError(f"cannot send {what} of length {n}: lengths are limited to 2^32 - 1")
    return _U32.pack(n)


def _encode_int(x: int, out: list[bytes]) -> None:
    if _INT64_MIN <= x <= _INT64_MAX:
        out.append(bytes([T_INT64]) + _I64.pack(x))
        return
    mag = -x if x < 0 else x
    data = mag.to_bytes((mag.bit_length() + 7) // 8, "big")
    out.append(bytes([T_BIGINT_NEG if x < 0 else T_BIGINT_POS]) + _u32(len(data), "an integer"))
    out.append(data)


def _int_block(items: list[Any]) -> list[int] | None:
    """The items as Python ints when they form a block (all integers >= 0), else None."""
    values: list[int] = []
    for v in items:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            return None
        iv = int(v)
        if iv < 0:
            return None
        values.append(iv)
    return values


def _encode(obj: Any, out: list[bytes], depth: int) -> None:
    if obj is None:
        out.append(bytes([T_NONE]))
    elif isinstance(obj, (bool, np.bool_)):
        out.append(bytes([T_TRUE if obj else T_FALSE]))
    elif isinstance(obj, numbers.Integral):
        _encode_int(int(obj), out)
    elif isinstance(obj, (float, np.floating)):
        out.append(bytes([T_FLOAT]) + _F64.pack(float(obj)))
    elif isinstance(obj, str):
        data = obj.encode("utf-8")
        out.append(bytes([T_STR]) + _u32(len(data), "a string"))
        out.append(data)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        data = bytes(obj)
        out.append(bytes([T_BYTES]) + _u32(len(data), "a bytes value"))
        out.append(data)
    elif isinstance(obj, np.ndarray):
        _encode_array(obj, out)
    elif isinstance(obj, (list, tuple, dict)):
        if depth >= MAX_DEPTH:
            raise ProtocolError(f"cannot send a message nested deeper than {MAX_DEPTH} levels")
        if isinstance(obj, dict):
            out.append(bytes([T_DICT]) + _u32(len(obj), "a dict"))
            for key, value in obj.items():
                if not isinstance(key, str):
                    raise ProtocolError(
                        f"cannot send a dict key of type {type(key).__name__}: keys must be str"
                    )
                kdata = key.encode("utf-8")
                out.append(_u32(len(kdata), "a dict key"))
                out.append(kdata)
                _encode(value, out, depth + 1)
            return
        block = _int_block(obj) if isinstance(obj, list) and obj else None
        if block is not None:
            width = max(1, (max(block).bit_length() + 7) // 8)
            out.append(bytes([T_INTBLOCK]) + _u32(len(block), "a list") + _u32(width, "an int"))
            out.append(b"".join(v.to_bytes(width, "big") for v in block))
            return
        out.append(bytes([T_LIST if isinstance(obj, list) else T_TUPLE]))
        out.append(_u32(len(obj), "a sequence"))
        for item in obj:
            _encode(item, out, depth + 1)
    else:
        raise ProtocolError(f"cannot send a value of type {type(obj).__name__}: "
                            "messages carry None, bool, int, float, str, bytes, numpy arrays "
                            "and lists, tuples and dicts of them")


def _encode_array(arr: np.ndarray, out: list[bytes]) -> None:
    code = _DTYPE_CODES.get(arr.dtype.str[1:])
    if code is None:
        names = ", ".join(str(dt) for dt in DTYPES.values())
        raise ProtocolError(
            f"cannot send an array of dtype {arr.dtype}: allowed dtypes are {names}"
        )
    if arr.ndim > MAX_NDIM:
        raise ProtocolError(f"cannot send an array of {arr.ndim} dimensions (at most {MAX_NDIM})")
    wire = np.ascontiguousarray(arr, dtype=DTYPES[code])
    header = bytes([T_ARRAY, code, arr.ndim]) + b"".join(
        _u32(d, "an array dimension") for d in arr.shape
    )
    out.append(header)
    out.append(wire.tobytes())


class _Reader:
    """A cursor over the bytes of one message; every read is bounds-checked."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self.data = memoryview(data).cast("B")
        self.pos = 0

    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int, what: str) -> memoryview:
        if n > self.left():
            raise ProtocolError(
                f"malformed message: {what} needs {n} bytes, only {self.left()} left"
            )
        view = self.data[self.pos : self.pos + n]
        self.pos += n
        return view

    def byte(self, what: str) -> int:
        return int(self.take(1, what)[0])

    def u32(self, what: str) -> int:
        return int(_U32.unpack(self.take(4, what))[0])


def decode_message(data: bytes | bytearray | memoryview) -> Any:
    """Parse bytes made by :func:`encode_message`.

    Args:
        data: the encoded message, exactly (no trailing bytes).

    Returns:
        The message. Arrays are fresh, writable, native-order copies.

    Raises:
        ProtocolError: truncated or trailing data, an unknown tag or dtype, a
            length larger than the bytes left, nesting deeper than
            :data:`MAX_DEPTH`, invalid UTF-8, a non-canonical integer, a
            boolean array byte other than 0/1, or a repeated dict key.
    """
    reader = _Reader(data)
    obj = _decode(reader, 0)
    if reader.left():
        raise ProtocolError(f"malformed message: {reader.left()} bytes after the end of the value")
    return obj


def _decode_str(reader: _Reader, n: int, what: str) -> str:
    raw = reader.take(n, what)
    try:
        return str(raw, "utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"malformed message: {what} is not valid UTF-8") from exc


def _decode(reader: _Reader, depth: int) -> Any:
    tag = reader.byte("a tag")
    if tag == T_NONE:
        return None
    if tag == T_FALSE:
        return False
    if tag == T_TRUE:
        return True
    if tag == T_INT64:
        return int(_I64.unpack(reader.take(8, "an integer"))[0])
    if tag in (T_BIGINT_POS, T_BIGINT_NEG):
        n = reader.u32("an integer length")
        raw = reader.take(n, "an integer")
        if n == 0 or raw[0] == 0:
            raise ProtocolError("malformed message: a big integer has a leading zero byte")
        mag = int.from_bytes(raw, "big")
        value = -mag if tag == T_BIGINT_NEG else mag
        if _INT64_MIN <= value <= _INT64_MAX:
            raise ProtocolError("malformed message: a big integer that fits 64 bits")
        return value
    if tag == T_FLOAT:
        return float(_F64.unpack(reader.take(8, "a float"))[0])
    if tag == T_STR:
        return _decode_str(reader, reader.u32("a string length"), "a string")
    if tag == T_BYTES:
        return bytes(reader.take(reader.u32("a bytes length"), "a bytes value"))
    if tag == T_ARRAY:
        return _decode_array(reader)
    if tag == T_INTBLOCK:
        count = reader.u32("an integer block count")
        width = reader.u32("an integer block width")
        if count == 0 or width == 0:
            raise ProtocolError("malformed message: an empty integer block")
        if count * width > reader.left():
            raise ProtocolError(
                f"malformed message: an integer block of {count} x {width} bytes, "
                f"only {reader.left()} left"
            )
        block = bytes(reader.take(count * width, "an integer block"))
        return [int.from_bytes(block[i : i + width], "big") for i in range(0, count * width, width)]
    if tag in (T_LIST, T_TUPLE, T_DICT):
        if depth >= MAX_DEPTH:
            raise ProtocolError(f"malformed message: nested deeper than {MAX_DEPTH} levels")
        count = reader.u32("a container count")
        if count > reader.left():  # every item takes at least one byte
            raise ProtocolError(
                f"malformed message: {count} items announced, only {reader.left()} bytes left"
            )
        if tag == T_DICT:
            out: dict[str, Any] = {}
            for _ in range(count):
                key = _decode_str(reader, reader.u32("a dict key length"), "a dict key")
                if key in out:
                    raise ProtocolError(f"malformed message: dict key {key!r} repeated")
                out[key] = _decode(reader, depth + 1)
            return out
        items = [_decode(reader, depth + 1) for _ in range(count)]
        return items if tag == T_LIST else tuple(items)
    raise ProtocolError(f"malformed message: unknown tag 0x{tag:02x}")


def _decode_array(reader: _Reader) -> np.ndarray:
    code = reader.byte("an array dtype")
    dtype = DTYPES.get(code)
    if dtype is None:
        raise ProtocolError(f"malformed message: unknown array dtype code 0x{code:02x}")
    ndim = reader.byte("an array rank")
    if ndim > MAX_NDIM:
        raise ProtocolError(f"malformed message: an array of {ndim} dimensions (max {MAX_NDIM})")
    shape = tuple(reader.u32("an array dimension") for _ in range(ndim))
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    if nbytes > reader.left():
        raise ProtocolError(
            f"malformed message: an array of shape {shape} needs {nbytes} bytes, "
            f"only {reader.left()} left"
        )
    raw = reader.take(nbytes, "array data")
    arr = np.frombuffer(raw, dtype=dtype, count=count)
    if dtype.kind == "b" and count and int(arr.view(np.uint8).max()) > 1:
        raise ProtocolError("malformed message: a boolean array holds a byte other than 0 or 1")
    return arr.astype(dtype.newbyteorder("="), copy=True).reshape(shape)
