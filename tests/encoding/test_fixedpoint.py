"""Tests of the fixed-point codec (hecrypt.encoding.fixedpoint)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hecrypt.encoding import fixedpoint
from hecrypt.exceptions import EncodingOverflowError, HecryptError

# An odd 1024-bit-ish modulus; the codec only needs n and n // 3.
N = (2**1023 + 1155) * 3 + 1
MAX_INT = fixedpoint.max_int_for(N)


def roundtrip(value: object, frac_bits: int | None = None) -> tuple[int | float, int]:
    m, scale = fixedpoint.encode(value, MAX_INT, frac_bits)
    return fixedpoint.decode(m % N, N, MAX_INT, scale), scale


def test_max_int_for() -> None:
    assert fixedpoint.max_int_for(N) == N // 3
    assert fixedpoint.max_int_for(10) == 3
    assert fixedpoint.DEFAULT_FRAC_BITS == 32


@given(st.integers(min_value=-MAX_INT, max_value=MAX_INT))
@settings(max_examples=300, deadline=None)
def test_int_roundtrip_exact(x: int) -> None:
    m, scale = fixedpoint.encode(x, MAX_INT)
    assert (m, scale) == (x, 0)
    out = fixedpoint.decode(m % N, N, MAX_INT, scale)
    assert type(out) is int
    assert out == x


@given(st.integers(min_value=-(2**200), max_value=2**200), st.integers(0, 64))
@settings(max_examples=200, deadline=None)
def test_int_with_frac_bits_is_scaled(x: int, frac: int) -> None:
    m, scale = fixedpoint.encode(x, MAX_INT, frac)
    assert (m, scale) == (x << frac, frac)
    out = fixedpoint.decode(m % N, N, MAX_INT, scale)
    if frac == 0:
        assert type(out) is int
        assert out == x
    else:
        assert out == float(x)  # x * 2^frac / 2^frac, correctly rounded to a float


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e30, max_value=1e30))
@settings(max_examples=400, deadline=None)
def test_float_roundtrip_default_scale(x: float) -> None:
    out, scale = roundtrip(x)
    assert scale == 32
    assert isinstance(out, float)
    assert abs(out - x) <= 2.0**-33


@given(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15),
    st.integers(0, 200),
)
@settings(max_examples=400, deadline=None)
def test_float_roundtrip_any_scale(x: float, frac: int) -> None:
    m, scale = fixedpoint.encode(x, MAX_INT, frac)
    assert scale == frac
    # the encoding itself is within half a unit of the last fractional bit
    assert abs(Fraction(m, 2**frac) - Fraction(x)) <= Fraction(1, 2 ** (frac + 1))
    out = fixedpoint.decode(m % N, N, MAX_INT, scale)
    assert abs(out - x) <= 2.0 ** -(frac + 1)


def test_float_examples() -> None:
    assert roundtrip(1.5) == (1.5, 32)
    assert roundtrip(-0.25) == (-0.25, 32)
    assert roundtrip(0.0) == (0.0, 32)
    assert roundtrip(-0.0)[0] == 0.0
    assert fixedpoint.encode(1.5, MAX_INT) == (3 << 31, 32)
    assert fixedpoint.encode(-1.5, MAX_INT) == (-(3 << 31), 32)
    assert fixedpoint.encode(0.1, MAX_INT, 4) == (2, 4)  # 1.6 rounds to 2
    assert fixedpoint.encode(2.0**60 + 2.0**9, MAX_INT, 3) == ((2**60 + 2**9) << 3, 3)
    assert fixedpoint.encode(1e300, 2**1100, 2)[0] == int(1e300) << 2


def test_negative_values_use_top_of_range() -> None:
    m, _ = fixedpoint.encode(-5, MAX_INT)
    assert m % N == N - 5
    assert fixedpoint.decode(N - 5, N, MAX_INT, 0) == -5
    assert fixedpoint.decode(N - 1, N, MAX_INT, 0) == -1
    assert fixedpoint.decode(N - 1, N, MAX_INT, 2) == -0.25


def test_numpy_and_fraction_scalars() -> None:
    assert roundtrip(np.int64(-7)) == (-7, 0)
    assert roundtrip(np.uint8(200)) == (200, 0)
    assert roundtrip(np.float32(0.5)) == (0.5, 32)
    assert roundtrip(np.float64(-2.75)) == (-2.75, 32)
    assert roundtrip(Fraction(3, 4)) == (0.75, 32)


# ------------------------------------------------------------------ band edges
def test_band_edges_encode() -> None:
    assert fixedpoint.encode(MAX_INT, MAX_INT) == (MAX_INT, 0)
    assert fixedpoint.encode(-MAX_INT, MAX_INT) == (-MAX_INT, 0)
    for bad in (MAX_INT + 1, -MAX_INT - 1, 10 * MAX_INT):
        with pytest.raises(EncodingOverflowError):
            fixedpoint.encode(bad, MAX_INT)
    # an int that fits at scale 0 but not once scaled
    with pytest.raises(EncodingOverflowError):
        fixedpoint.encode(MAX_INT >> 3, MAX_INT, 4)
    assert fixedpoint.encode(MAX_INT >> 4, MAX_INT, 4)[0] <= MAX_INT


def test_band_edges_float_encode() -> None:
    small = 2**40
    assert fixedpoint.encode(float(small >> 32), small, 32) == (small, 32)
    with pytest.raises(EncodingOverflowError):
        fixedpoint.encode(float(small >> 32) + 2.0**-32, small, 32)
    with pytest.raises(EncodingOverflowError):
        fixedpoint.encode(-1e300, MAX_INT)


def test_band_edges_decode() -> None:
    assert fixedpoint.decode(MAX_INT, N, MAX_INT, 0) == MAX_INT
    assert fixedpoint.decode(N - MAX_INT, N, MAX_INT, 0) == -MAX_INT
    for residue in (MAX_INT + 1, N - MAX_INT - 1, N // 2):
        with pytest.raises(EncodingOverflowError):
            fixedpoint.decode(residue, N, MAX_INT, 0)
        with pytest.raises(EncodingOverflowError):
            fixedpoint.decode(residue, N, MAX_INT, 32)


def test_decode_too_large_for_float() -> None:
    big_n = 3 * 2**1100 + 1
    big_max = fixedpoint.max_int_for(big_n)
    assert big_max == 2**1100
    with pytest.raises(EncodingOverflowError):
        fixedpoint.decode(big_max, big_n, big_max, 1)  # 2^1099 is beyond the float range
    assert fixedpoint.decode(big_max, big_n, big_max, 80) == 2.0**1020
    assert fixedpoint.decode(big_max, big_n, big_max, 0) == 2**1100  # ints stay exact


def test_errors_are_builtin_subclasses() -> None:
    with pytest.raises(OverflowError):
        fixedpoint.encode(MAX_INT + 1, MAX_INT)
    with pytest.raises(HecryptError):
        fixedpoint.decode(MAX_INT + 1, N, MAX_INT, 0)


# ------------------------------------------------------------------ rejected inputs
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float64("nan"), np.inf])
def test_non_finite_rejected(value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        fixedpoint.encode(value, MAX_INT)
    with pytest.raises(ValueError):
        fixedpoint.encode(value, MAX_INT, 8)


@pytest.mark.parametrize(
    "value", [True, False, np.bool_(True), "1", b"1", 1 + 2j, None, [1], np.array([1.0])]
)
def test_non_real_rejected(value: object) -> None:
    with pytest.raises(TypeError):
        fixedpoint.encode(value, MAX_INT)


def test_negative_frac_bits_rejected() -> None:
    with pytest.raises(ValueError):
        fixedpoint.encode(1.5, MAX_INT, -1)


def test_is_real_scalar() -> None:
    assert fixedpoint.is_real_scalar(1)
    assert fixedpoint.is_real_scalar(1.5)
    assert fixedpoint.is_real_scalar(np.int32(3))
    assert fixedpoint.is_real_scalar(np.float32(3))
    assert not fixedpoint.is_real_scalar(True)
    assert not fixedpoint.is_real_scalar("3")
    assert not fixedpoint.is_real_scalar(1j)
    assert not fixedpoint.is_real_scalar(np.array([1.0]))
