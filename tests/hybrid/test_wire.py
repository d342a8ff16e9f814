"""The message codec: round trips, exact sizes, and refusal of malformed bytes."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid.wire import DTYPES, MAX_DEPTH, decode_message, encode_message

_DTYPES = sorted({dt.newbyteorder("=") for dt in DTYPES.values()}, key=str)

arrays = st.sampled_from(_DTYPES).flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(1 << 4200), max_value=1 << 4200)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
)
messages = st.recursive(
    scalars | arrays,
    lambda inner: st.lists(inner, max_size=4)
    | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


def same(a: object, b: object) -> bool:
    """Structural equality that compares arrays by dtype, shape and values."""
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, (list, tuple)):
        return (type(a) is type(b) and len(a) == len(b)  # type: ignore[arg-type]
                and all(same(x, y) for x, y in zip(a, b)))  # type: ignore[call-overload]
    if isinstance(a, dict):
        return (isinstance(b, dict) and list(a) == list(b)
                and all(same(a[k], b[k]) for k in a))
    return type(a) is type(b) and a == b


@settings(max_examples=300, deadline=None)
@given(messages)
def test_round_trip(msg: object) -> None:
    data = encode_message(msg)
    assert same(decode_message(data), msg)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=(1 << 4096) - 1), min_size=1, max_size=20))
def test_int_block_is_fixed_width(values: list[int]) -> None:
    width = max(1, (max(values).bit_length() + 7) // 8)
    data = encode_message(values)
    assert len(data) == 1 + 4 + 4 + width * len(values)
    assert decode_message(data) == values


@settings(max_examples=200, deadline=None)
@given(messages, st.data())
def test_every_truncation_is_refused(msg: object, data: st.DataObject) -> None:
    encoded = encode_message(msg)
    cut = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    with pytest.raises(ProtocolError):
        decode_message(encoded[:cut])
    with pytest.raises(ProtocolError):
        decode_message(encoded + b"\x00")


def test_exact_sizes() -> None:
    # Sizes follow the layout in docs/formats.md ("Message encoding").
    assert len(encode_message(None)) == 1
    assert len(encode_message(True)) == 1
    assert len(encode_message(-5)) == 1 + 8
    assert len(encode_message(1 << 64)) == 1 + 4 + 9
    assert len(encode_message(-(1 << 64))) == 1 + 4 + 9
    assert len(encode_message(0.5)) == 1 + 8
    assert len(encode_message("héllo")) == 1 + 4 + 6
    assert len(encode_message(b"abc")) == 1 + 4 + 3
    assert len(encode_message(np.zeros((3, 4), dtype=np.uint64))) == 3 + 2 * 4 + 12 * 8
    assert len(encode_message(np.zeros(5, dtype=bool))) == 3 + 4 + 5
    assert len(encode_message({"a": 1})) == 1 + 4 + (4 + 1) + 9
    assert len(encode_message((1, None))) == 1 + 4 + 9 + 1
    assert len(encode_message([])) == 1 + 4
    assert len(encode_message([None])) == 1 + 4 + 1
    # a 2048-bit key's ciphertexts (n^2 < 2^4096): 512 bytes each, 9 bytes of header
    assert len(encode_message([(1 << 4095) + i for i in range(10)])) == 9 + 512 * 10


def test_known_bytes() -> None:
    assert encode_message([1, 258]) == bytes([0x0D, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1, 1, 2])
    assert encode_message({"k": (None, -1)}) == (
        b"\x0b\x00\x00\x00\x01" + b"\x00\x00\x00\x01k" + b"\x0a\x00\x00\x00\x02\x00"
        + b"\x03" + b"\xff" * 8
    )
    assert encode_message(np.array([[1, 2]], dtype=np.int64)) == (
        b"\x0c\x03\x02" + b"\x00\x00\x00\x01\x00\x00\x00\x02"
        + (1).to_bytes(8, "little") + (2).to_bytes(8, "little")
    )


def test_other_integer_types_travel_as_int() -> None:
    import gmpy2
    assert decode_message(encode_message([gmpy2.mpz(7) ** 300])) == [7**300]
    assert decode_message(encode_message(np.uint64(2**64 - 1))) == 2**64 - 1
    assert decode_message(encode_message(np.float32(0.5))) == 0.5
    assert decode_message(encode_message(np.bool_(True))) is True
    big_endian = np.arange(4, dtype=">i8")
    out = decode_message(encode_message(big_endian))
    assert out.dtype == np.dtype("int64") and out.tolist() == [0, 1, 2, 3]


def test_decoded_arrays_are_writable_copies() -> None:
    out = decode_message(encode_message(np.arange(3, dtype=np.uint64)))
    out[0] = 9
    assert out.tolist() == [9, 1, 2]


@pytest.mark.parametrize(
    "value",
    [object(), {1: 2}, np.zeros(2, dtype=np.complex128), np.zeros(2, dtype="U3"),
     np.zeros(2, dtype=np.int16), {1.5}],
)
def test_refuses_what_it_cannot_carry(value: object) -> None:
    with pytest.raises(ProtocolError):
        encode_message(value)


def test_depth_limit_both_ways() -> None:
    deep: object = None
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert decode_message(encode_message(deep)) == deep
    with pytest.raises(ProtocolError, match="deeper"):
        encode_message([deep])
    crafted = b"\x09\x00\x00\x00\x01" * (MAX_DEPTH + 1) + b"\x00"
    with pytest.raises(ProtocolError, match="deeper"):
        decode_message(crafted)


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "needs 1 bytes"),
        (b"\xee", "unknown tag"),
        (b"\x0c\x63\x01\x00\x00\x00\x01\x00", "unknown array dtype"),
        # an array claiming 2^32-1 x 2^32-1 float64: refused before allocating
        (b"\x0c\x05\x02" + b"\xff" * 8, "needs"),
        (b"\x0c\x01\x01\x00\x00\x00\x01\x02", "0 or 1"),
        (b"\x07\x00\x00\x00\x02\xff\xfe", "UTF-8"),
        (b"\x04\x00\x00\x00\x01\x05", "fits 64 bits"),
        (b"\x04\x00\x00\x00\x09\x00" + b"\x01" * 8, "leading zero"),
        (b"\x04\x00\x00\x00\x00", "leading zero"),
        (b"\x09\xff\xff\xff\xff\x00", "items announced"),
        (b"\x0d\x00\x00\x00\x00\x00\x00\x00\x01", "empty integer block"),
        (b"\x0d\xff\xff\xff\xff\xff\xff\xff\xff\x00", "integer block of"),
        (b"\x0b\x00\x00\x00\x02" + (b"\x00\x00\x00\x01a\x00") * 2, "repeated"),
        (b"\x00\x00", "after the end"),
        (b"\x08\x7f\xff\xff\xff", "needs 2147483647 bytes"),
    ],
)
def test_malformed(data: bytes, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        decode_message(data)


def test_lengths_are_big_endian_u32() -> None:
    data = encode_message("x" * 300)
    assert struct.unpack(">I", data[1:5]) == (300,)
