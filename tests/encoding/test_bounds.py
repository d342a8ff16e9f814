"""Tests for hecrypt.encoding.bounds: array codec and bound propagation rules."""

from __future__ import annotations

import math
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hecrypt.encoding import bounds, fixedpoint
from hecrypt.encoding.bounds import Encoding, decode_array, encode_array, encode_weights
from hecrypt.exceptions import EncodingOverflowError

# Any odd modulus will do for the codec: it never needs the factorisation.
N = (1 << 256) + 297
MAX_INT = N // 3

SETTINGS = settings(deadline=None, max_examples=60)

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)
frac = st.integers(0, 40)


def float_arrays(shape: Any = None) -> st.SearchStrategy[np.ndarray]:
    """Float64 arrays of ``shape`` (a tuple or a strategy; default: any small shape)."""
    if shape is None:
        shape = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
    return hnp.arrays(np.float64, shape, elements=finite)


def to_residues(ints: np.ndarray, n: int = N) -> list[int]:
    return [int(v) % n for v in np.asarray(ints, dtype=object).reshape(-1).tolist()]


def decode(ints: np.ndarray, enc: Encoding) -> np.ndarray:
    ints = np.asarray(ints, dtype=object)
    return decode_array(to_residues(ints), N, enc, ints.shape)


def err(f: int) -> float:
    return 2.0 ** -(f + 1)


def close(got: np.ndarray, want: np.ndarray, tol: np.ndarray | float) -> None:
    want = np.asarray(want, dtype=np.float64)
    slack = np.asarray(tol) + 1e-12 * (1 + np.abs(want))
    assert got.shape == want.shape
    assert np.all(np.abs(got - want) <= slack)


def within_bound(ints: np.ndarray, enc: Encoding) -> None:
    assert bounds.max_abs(ints) <= enc.bound <= enc.max_int


# ------------------------------------------------------------------ codec


@SETTINGS
@given(float_arrays(), frac)
def test_float_round_trip_within_precision(x: np.ndarray, f: int) -> None:
    ints, enc = encode_array(x, f, MAX_INT)
    assert enc.scale == f and ints.shape == x.shape
    assert enc.bound == bounds.max_abs(ints)
    out = decode(ints, enc)
    assert out.dtype == (np.float64 if f else np.int64)  # the dtype follows the scale
    close(out.astype(np.float64), x, err(f))


@SETTINGS
@given(float_arrays(), frac)
def test_float_encoding_matches_scalar_codec(x: np.ndarray, f: int) -> None:
    ints, _ = encode_array(x, f, MAX_INT)
    for v, m in zip(x.reshape(-1).tolist(), ints.reshape(-1).tolist()):
        assert fixedpoint.encode(v, MAX_INT, f) == (m, f)


def test_default_scale_and_ties_to_even() -> None:
    ints, enc = encode_array(np.array([0.5, 1.5, 2.5, -0.5]), 0, MAX_INT)
    assert ints.tolist() == [0, 2, 2, 0] and enc.scale == 0
    _, enc = encode_array(np.array([0.1]), None, MAX_INT)
    assert enc.scale == fixedpoint.DEFAULT_FRAC_BITS


@SETTINGS
@given(hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)))
def test_int_arrays_exact_at_scale_zero(x: np.ndarray) -> None:
    ints, enc = encode_array(x, None, MAX_INT)
    assert enc.scale == 0
    out = decode(ints, enc)
    # int64 whenever the (symmetric) bound fits; only -2^63 needs Python ints
    assert out.dtype == (np.int64 if enc.bound < 1 << 63 else object)
    assert out.tolist() == x.tolist()


def test_int_array_with_frac_bits_and_big_ints() -> None:
    ints, enc = encode_array(np.array([3, -4]), 10, MAX_INT)
    assert ints.tolist() == [3 << 10, -4 << 10] and enc.scale == 10
    big = np.array([1 << 100, -(1 << 90), 7], dtype=object)
    ints, enc = encode_array(big, None, MAX_INT)
    out = decode(ints, enc)
    assert out.dtype == object and out.tolist() == big.tolist()


def test_huge_float_at_high_scale_is_exact() -> None:
    ints, _enc = encode_array(np.array([1e300, -3.0]), 60, 1 << 2000)
    assert ints[0] == int(1e300) << 60 and ints[1] == -3 << 60


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        encode_array(np.array([1.0, bad]), 8, MAX_INT)
    with pytest.raises(ValueError):
        encode_weights(np.array([bad]))


def test_bad_dtypes_rejected() -> None:
    with pytest.raises(TypeError):
        encode_array(np.array([True, False]), None, MAX_INT)
    with pytest.raises(TypeError):
        encode_array(np.array(["a"]), None, MAX_INT)
    with pytest.raises(TypeError):
        encode_array(np.array([1 + 2j]), None, MAX_INT)
    with pytest.raises(ValueError):
        encode_array(np.array([1.0]), -1, MAX_INT)


def test_encoding_overflow_at_encode_time() -> None:
    encode_array(np.array([1000]), None, 1000)
    with pytest.raises(EncodingOverflowError):
        encode_array(np.array([1001]), None, 1000)
    with pytest.raises(OverflowError):  # also the builtin
        encode_array(np.array([1.0]), 10, 1000)


@SETTINGS
@given(float_arrays(), frac, st.floats(0, 1e4))
def test_declared_value_bound(x: np.ndarray, f: int, extra: float) -> None:
    vb = float(np.max(np.abs(x), initial=0.0)) + extra
    ints, enc = encode_array(x, f, MAX_INT, value_bound=vb)
    assert enc.bound >= bounds.max_abs(ints)
    assert enc.bound == math.ceil(vb * 2**f)
    close(decode(ints, enc), x, err(f))


def test_declared_value_bound_smaller_than_data() -> None:
    with pytest.raises(ValueError, match="value_bound"):
        encode_array(np.array([2.0]), 4, MAX_INT, value_bound=1.0)
    with pytest.raises(EncodingOverflowError):
        encode_array(np.array([0.0]), 4, 100, value_bound=10.0)


def test_decode_rejects_out_of_band_and_over_bound() -> None:
    enc = Encoding(0, 10, MAX_INT)
    assert decode_array([N - 10, 10], N, enc, (2,)).tolist() == [-10, 10]
    with pytest.raises(EncodingOverflowError, match="tracked bound"):
        decode_array([11], N, enc, 1)
    assert decode_array([11], N, enc, 1, check_bound=False).tolist() == [11]
    with pytest.raises(EncodingOverflowError, match="valid band"):
        decode_array([MAX_INT + 1], N, enc, 1, check_bound=False)
    with pytest.raises(EncodingOverflowError, match="valid band"):
        decode_array([N - MAX_INT - 1], N, enc, 1, check_bound=False)
    with pytest.raises(ValueError):
        decode_array([1, 2], N, enc, (3,))
    with pytest.raises(ValueError):
        decode_array([N], N, enc, 1)
    with pytest.raises(ValueError):
        decode_array([0], 15, Encoding(0, 0, 8), 1)


def test_decode_dtype_follows_the_bound_not_the_values() -> None:
    small = Encoding(0, (1 << 63) - 1, MAX_INT)
    big = Encoding(0, 1 << 63, MAX_INT)
    assert decode_array([5], N, small, 1).dtype == np.int64
    assert decode_array([5], N, big, 1).dtype == object


def test_encoding_invariants() -> None:
    with pytest.raises(EncodingOverflowError):
        Encoding(0, 11, 10)
    with pytest.raises(ValueError):
        Encoding(-1, 0, 10)
    with pytest.raises(TypeError):
        Encoding(0, 1.5, 10)  # type: ignore[arg-type]
    enc = Encoding(np.int64(3), np.int64(16), 1 << 100)
    assert type(enc.bound) is int and enc.value_bound == 2.0
    with pytest.raises(AttributeError):
        enc.bound = 3  # type: ignore[misc]


# ------------------------------------------------------------------ rules vs numpy


@SETTINGS
@given(
    hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3), frac, frac, st.data()
)
def test_add_two_tensors_with_broadcasting_and_scales(
    shapes: hnp.BroadcastableShapes, fa: int, fb: int, data: st.DataObject
) -> None:
    sa, sb = shapes.input_shapes
    x = data.draw(float_arrays(sa))
    y = data.draw(float_arrays(sb))
    xa, ea = encode_array(x, fa, MAX_INT)
    yb, eb = encode_array(y, fb, MAX_INT)
    enc = bounds.add(ea, eb)
    assert enc.scale == max(fa, fb)
    out_ints = (xa << (enc.scale - fa)) + (yb << (enc.scale - fb))
    within_bound(out_ints, enc)
    close(decode(out_ints, enc), x + y, err(fa) + err(fb))
    diff = (xa << (enc.scale - fa)) - (yb << (enc.scale - fb))
    within_bound(diff, enc)
    close(decode(diff, enc), x - y, err(fa) + err(fb))


@SETTINGS
@given(
    hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3), frac, frac, st.data()
)
def test_add_plain_with_broadcasting(
    shapes: hnp.BroadcastableShapes, fa: int, fp: int, data: st.DataObject
) -> None:
    sa, sp = shapes.input_shapes
    x = data.draw(float_arrays(sa))
    p = data.draw(float_arrays(sp))
    xa, ea = encode_array(x, fa, MAX_INT)
    pw = encode_weights(p, fp)
    enc = bounds.add_plain(ea, pw, fp)
    out_ints = (xa << (enc.scale - fa)) + (pw << (enc.scale - fp))
    within_bound(out_ints, enc)
    close(decode(out_ints, enc), x + p, err(fa) + err(fp))


@SETTINGS
@given(
    hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3), frac, frac, st.data()
)
def test_mul_plain_with_broadcasting_and_negatives(
    shapes: hnp.BroadcastableShapes, fa: int, fw: int, data: st.DataObject
) -> None:
    sa, sw = shapes.input_shapes
    x = data.draw(float_arrays(sa))
    w = data.draw(float_arrays(sw))
    xa, ea = encode_array(x, fa, MAX_INT)
    ww = encode_weights(w, fw)
    enc = bounds.mul_plain(ea, ww, fw)
    assert enc.scale == fa + fw
    out_ints = xa * ww
    within_bound(out_ints, enc)
    tol = np.abs(x) * err(fw) + np.abs(w) * err(fa) + err(fa) * err(fw)
    close(decode(out_ints, enc), x * w, tol)


@SETTINGS
@given(frac, st.integers(-(10**6), 10**6), float_arrays())
def test_mul_plain_scalar(f: int, k: int, x: np.ndarray) -> None:
    xa, ea = encode_array(x, f, MAX_INT)
    kw = encode_weights(k)
    enc = bounds.mul_plain(ea, kw, 0)
    assert enc.scale == f and enc.bound == ea.bound * abs(k)
    out = xa * int(kw)
    within_bound(out, enc)
    close(decode(out, enc), x * k, abs(k) * err(f))


@SETTINGS
@given(
    st.integers(1, 4), st.integers(1, 4), st.integers(0, 3), frac, frac,
    st.sampled_from(["left", "right"]), st.data(),
)  # fmt: skip
def test_matmul_plain(
    rows: int, inner: int, cols: int, fa: int, fw: int, side: str, data: st.DataObject
) -> None:
    if side == "left":
        x = data.draw(float_arrays((rows, inner)))
        w = data.draw(float_arrays((inner, cols) if cols else (inner,)))
    else:
        x = data.draw(float_arrays((inner, rows)))
        w = data.draw(float_arrays((cols, inner) if cols else (inner,)))
    xa, ea = encode_array(x, fa, MAX_INT)
    ww = encode_weights(w, fw)
    enc = bounds.matmul_plain(ea, ww, fw, encrypted=side)  # type: ignore[arg-type]
    assert enc.scale == fa + fw
    out_ints = np.matmul(xa, ww) if side == "left" else np.matmul(ww, xa)
    want = x @ w if side == "left" else w @ x
    within_bound(out_ints, enc)
    # error: sum over the contracted axis of |x| e_w + |w| e_x + e_x e_w
    ax, aw = np.abs(x), np.abs(w)
    e = err(fa) * err(fw)
    if side == "left":
        tol = ax @ np.full(w.shape, err(fw)) + np.full(x.shape, err(fa)) @ aw + inner * e
    else:
        tol = np.full(w.shape, err(fw)) @ ax + aw @ np.full(x.shape, err(fa)) + inner * e
    close(decode(out_ints, enc), want, tol)


def test_matmul_bound_is_the_max_l1_norm_over_the_contracted_axis() -> None:
    w = np.array([[1, -2, 0], [3, 4, -5]], dtype=object)  # (2, 3)
    a = Encoding(0, 10, MAX_INT)
    assert bounds.matmul_plain(a, w, 0, encrypted="left").bound == 10 * 6  # columns
    assert bounds.matmul_plain(a, w, 0, encrypted="right").bound == 10 * 12  # rows
    assert bounds.matmul_plain(a, w[1], 0).bound == 10 * 12
    batched = np.stack([w, 2 * w])  # (2, 2, 3): contracted axis -2
    assert bounds.matmul_plain(a, batched, 0).bound == 10 * 12
    with pytest.raises(ValueError):
        bounds.matmul_plain(a, np.array(3), 0)
    with pytest.raises(ValueError):
        bounds.matmul_plain(a, w, 0, encrypted="up")  # type: ignore[arg-type]


@SETTINGS
@given(float_arrays(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)), frac, st.data())
def test_sum_and_mean_over_axes(x: np.ndarray, f: int, data: st.DataObject) -> None:
    axis = data.draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)))
    xa, ea = encode_array(x, f, MAX_INT)
    enc = bounds.sum_over(ea, x.shape, axis)
    count = x.size if axis is None else x.shape[axis]
    assert enc.bound == ea.bound * count and enc.scale == f
    s_ints = np.sum(xa, axis=axis) if xa.size else np.zeros(np.sum(x, axis=axis).shape, object)
    s_ints = np.asarray(s_ints, dtype=object)
    within_bound(s_ints, enc)
    close(decode(s_ints, enc), np.sum(x, axis=axis), count * err(f))

    g = data.draw(st.integers(8, 40))
    menc, inv = bounds.mean(ea, x.shape, axis, frac_bits=g)
    assert menc.scale == f + g
    m_ints = s_ints * inv
    within_bound(m_ints, menc)
    want = np.mean(x, axis=axis)
    tol = err(f) + np.abs(np.sum(x, axis=axis)) * err(g) + count * err(f) * err(g)
    close(decode(m_ints, menc), want, tol)


def test_sum_over_tuple_axes_and_errors() -> None:
    a = Encoding(0, 3, MAX_INT)
    assert bounds.sum_over(a, (2, 3, 5), (0, 2)).bound == 30
    assert bounds.sum_over(a, (2, 3, 5), (0, -3)).bound == 6  # the same axis once
    assert bounds.sum_over(a, 7).bound == 21
    with pytest.raises(ValueError):
        bounds.sum_over(a, (2, 3), 2)
    with pytest.raises(ValueError):
        bounds.mean(a, (0, 3), 0)


@SETTINGS
@given(float_arrays(), frac)
def test_negate_keeps_the_bound(x: np.ndarray, f: int) -> None:
    xa, ea = encode_array(x, f, MAX_INT)
    enc = bounds.negate(ea)
    assert enc == ea
    close(decode(-xa, enc), -x, err(f))


def test_rescale() -> None:
    a = Encoding(4, 100, 10_000)
    assert bounds.rescale(a, 6) == Encoding(6, 400, 10_000)
    with pytest.raises(ValueError):
        bounds.rescale(a, 3)
    with pytest.raises(EncodingOverflowError):
        bounds.rescale(a, 11)  # 100 * 128 > 10_000


def test_add_takes_the_tighter_limit() -> None:
    a = Encoding(0, 10, 100)
    b = Encoding(0, 10, 1000)
    assert bounds.add(a, b).max_int == 100


# ------------------------------------------------------------------ overflow is exact


@st.composite
def spec_and_limit(draw: st.DrawFn) -> tuple[Encoding, int]:
    limit = draw(st.integers(1, 1 << 40))
    bound = draw(st.integers(0, limit))
    scale = draw(st.integers(0, 8))
    return Encoding(scale, bound, limit), limit


@SETTINGS
@given(spec_and_limit(), spec_and_limit())
def test_add_raises_exactly_when_the_bound_exceeds(
    sa: tuple[Encoding, int], sb: tuple[Encoding, int]
) -> None:
    (a, la), (b, lb) = sa, sb
    s = max(a.scale, b.scale)
    need = (a.bound << (s - a.scale)) + (b.bound << (s - b.scale))
    if need > min(la, lb):
        with pytest.raises(EncodingOverflowError):
            bounds.add(a, b)
    else:
        assert bounds.add(a, b).bound == need


@SETTINGS
@given(spec_and_limit(), st.lists(st.integers(-(1 << 20), 1 << 20), min_size=1, max_size=6))
def test_mul_and_matmul_raise_exactly_when_the_bound_exceeds(
    sa: tuple[Encoding, int], w: list[int]
) -> None:
    a, limit = sa
    warr = np.array(w, dtype=object)
    need_mul = a.bound * max(abs(v) for v in w)
    need_dot = a.bound * sum(abs(v) for v in w)
    for need, rule in (
        (need_mul, lambda: bounds.mul_plain(a, warr, 3)),
        (need_dot, lambda: bounds.matmul_plain(a, warr, 3)),
    ):
        if need > limit:
            with pytest.raises(EncodingOverflowError):
                rule()
        else:
            enc = rule()
            assert enc.bound == need and enc.scale == a.scale + 3


@SETTINGS
@given(spec_and_limit(), st.integers(0, 50))
def test_sum_raises_exactly_when_the_bound_exceeds(sa: tuple[Encoding, int], count: int) -> None:
    a, limit = sa
    if a.bound * count > limit:
        with pytest.raises(EncodingOverflowError):
            bounds.sum_over(a, (count,))
    else:
        assert bounds.sum_over(a, (count,)).bound == a.bound * count


@SETTINGS
@given(
    st.integers(8, 64),
    st.integers(1, 6),
    st.lists(st.integers(-1000, 1000), min_size=1, max_size=6),
    st.booleans(),
)
def test_never_a_wrong_value_at_the_worst_case(
    bits: int, b_exp: int, w: list[int], neg: bool
) -> None:
    # A small modulus makes overflow reachable. The data sits at its bound with
    # signs aligned to the weights, so the true result reaches the rule's bound:
    # either the rule refuses, or the result decodes exactly.
    n = (1 << bits) + 1
    limit = n // 3
    bound = min(limit, 7**b_exp)
    a = Encoding(0, bound, limit)
    sign = -1 if neg else 1
    x = np.array([sign * bound * (1 if v >= 0 else -1) for v in w], dtype=object)
    warr = np.array(w, dtype=object)
    try:
        enc = bounds.matmul_plain(a, warr, 0)
    except EncodingOverflowError:
        assert bound * sum(abs(v) for v in w) > limit
        return
    true = int(np.dot(x, warr))
    assert abs(true) == enc.bound
    got = decode_array([true % n], n, enc, ())
    assert int(got) == true


def test_overflow_is_refused_for_a_real_plaintext_size() -> None:
    # 2048-bit modulus: a value of 2^1000 at scale 32 survives one product with
    # 2^900 weights but not two.
    n = (1 << 2047) + 1
    _, a = encode_array(np.array([2.0**1000]), 32, n // 3)
    w = encode_weights(np.array([2.0**900]), 0)
    once = bounds.mul_plain(a, w, 0)
    with pytest.raises(EncodingOverflowError, match="plaintext limit"):
        bounds.mul_plain(once, w, 0)
