"""Local operations on shares: exact in the ring, truncation within its bound."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hecrypt.hybrid import ring
from hecrypt.hybrid.shares import SharedTensor, ShareMismatchError, concatenate, stack

F = ring.DEFAULT_FRAC_BITS
values = st.floats(min_value=-1000.0, max_value=1000.0, allow_nan=False, allow_infinity=False)
arrays = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
                    elements=values)


def share(x: np.ndarray, f: int = F) -> tuple[SharedTensor, SharedTensor]:
    """Split ``x`` into two random shares (test helper: one process holds both)."""
    enc = ring.encode(x, f)
    r = ring.random_ring(enc.shape)
    return SharedTensor(r, f, 0), SharedTensor(enc - r, f, 1)


def ring_value(s0: SharedTensor, s1: SharedTensor) -> np.ndarray:
    assert s0.frac_bits == s1.frac_bits and s0.index == 0 and s1.index == 1
    return s0.share + s1.share


def reconstruct(s0: SharedTensor, s1: SharedTensor) -> np.ndarray:
    return ring.decode(ring_value(s0, s1), s0.frac_bits)


@given(arrays)
def test_reconstruct_of_share_is_the_encoding(x: np.ndarray) -> None:
    s0, s1 = share(x)
    assert np.array_equal(ring_value(s0, s1), ring.encode(x, F))
    assert np.all(np.abs(reconstruct(s0, s1) - x) <= 2.0 ** -(F + 1))


@given(arrays, st.data())
def test_add_sub_neg_are_exact(x: np.ndarray, data: st.DataObject) -> None:
    y = data.draw(hnp.arrays(np.float64, x.shape, elements=values))
    x0, x1 = share(x)
    y0, y1 = share(y)
    ex, ey = ring.encode(x, F), ring.encode(y, F)
    assert np.array_equal(ring_value(x0 + y0, x1 + y1), ex + ey)
    assert np.array_equal(ring_value(x0 - y0, x1 - y1), ex - ey)
    assert np.array_equal(ring_value(-x0, -x1), -ex)
    assert np.array_equal(ring_value(x0 + y, x1 + y), ex + ey)  # public: party 0 adds it
    assert np.array_equal(ring_value(y - x0, y - x1), ey - ex)


@given(arrays, st.integers(-1000, 1000))
def test_public_integer_product_is_exact(x: np.ndarray, k: int) -> None:
    x0, x1 = share(x)
    assert np.array_equal(ring_value(x0 * k, x1 * k), ring.encode(x, F) * np.uint64(k % 2**64))


@settings(max_examples=60)
@given(arrays, st.floats(-100.0, 100.0))
def test_public_real_product_within_truncation_bound(x: np.ndarray, c: float) -> None:
    x0, x1 = share(x)
    got = reconstruct(x0 * c, x1 * c)
    # encoding of x and of c (2^-17 each), then one truncation (2^-16)
    bound = 2.0**-17 * (abs(c) + np.abs(x) + 1) + 2.0**-16 + 1e-12
    assert np.all(np.abs(got - x * c) <= bound)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 4))
def test_public_matmul_and_conv(m: int, k: int, n: int) -> None:
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    x = rng.normal(size=(m, k)) * 10
    w = rng.normal(size=(k, n))
    x0, x1 = share(x)
    got = reconstruct(x0 @ w, x1 @ w)
    bound = 2.0**-17 * (np.abs(x).sum() + np.abs(w).sum() * k + 1) + 2.0**-16
    assert np.all(np.abs(got - x @ w) <= bound)
    wi = rng.integers(-3, 3, size=(k, n))
    assert np.array_equal(ring_value(x0 @ wi, x1 @ wi),
                          ring.matmul(ring.encode(x, F), ring.from_signed(wi)))
    imgs = rng.normal(size=(2, 5, 4, k))
    kern = rng.normal(size=(3, 3, k, n))
    i0, i1 = share(imgs)
    conv = reconstruct(i0.conv2d(kern, 1, "same"), i1.conv2d(kern, 1, "same"))
    ref = ring.decode(ring.conv2d(ring.encode(imgs, F), ring.encode(kern, F), 1, "same"), 2 * F)
    assert np.all(np.abs(conv - ref) <= 2.0**-16 + 1e-12)


@settings(max_examples=100)
@given(hnp.arrays(np.int64, hnp.array_shapes(max_dims=2, max_side=6),
                  elements=st.integers(-(2**40), 2**40)), st.integers(1, 30))
def test_truncation_within_one_unit(v: np.ndarray, d: int) -> None:
    # |v| < 2^41: SecureML's failure probability is at most 2^(42 - 64) per element
    enc = ring.from_signed(v)
    r = ring.random_ring(v.shape)
    t0 = SharedTensor(r, 40, 0).truncate(d)
    t1 = SharedTensor(enc - r, 40, 1).truncate(d)
    got = ring.to_signed(t0.share + t1.share)
    exact = np.floor(v.astype(np.float64) / 2.0**d)
    assert t0.frac_bits == 40 - d
    assert np.all(np.abs(got - exact) <= 1)


def test_truncation_failure_is_the_documented_wrap() -> None:
    # Party 0's share just past 2^63 (signed: about -2^63): the signed shares sum to
    # v - 2^64, the event of probability about |v| / 2^64 the bound counts.
    v = np.array([5 << 16], dtype=np.int64)  # 5.0 at 16 bits
    x0 = np.array([2**63 + 1], dtype=np.uint64)
    x1 = ring.from_signed(v) - x0
    t = SharedTensor(x0, 32, 0).truncate(16).share + SharedTensor(x1, 32, 1).truncate(16).share
    assert abs(int(ring.to_signed(t)[0]) - 5) > 2**40  # off by about 2^(64 - 16)


def test_shape_operations() -> None:
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    x0, x1 = share(x)
    assert x0.shape == (2, 3, 4) and x0.ndim == 3 and x0.size == 24 and len(x0) == 2
    assert np.array_equal(reconstruct(x0.sum(axis=1), x1.sum(axis=1)), x.sum(axis=1))
    assert np.array_equal(reconstruct(x0.reshape(6, 4), x1.reshape(6, 4)), x.reshape(6, 4))
    assert np.array_equal(reconstruct(x0[1, :, 2:], x1[1, :, 2:]), x[1, :, 2:])
    assert np.array_equal(reconstruct(x0.transpose(2, 0, 1), x1.transpose(2, 0, 1)),
                          x.transpose(2, 0, 1))
    assert np.array_equal(reconstruct(x0.T, x1.T), x.T)
    assert np.array_equal(reconstruct(concatenate([x0, x0], 1), concatenate([x1, x1], 1)),
                          np.concatenate([x, x], 1))
    assert np.array_equal(reconstruct(stack([x0, x0]), stack([x1, x1])), np.stack([x, x]))
    assert np.array_equal(reconstruct(x0.rescale(20), x1.rescale(20)), x)
    assert x0.rescale(20).frac_bits == 20


def test_shares_refuse_mixing_and_implicit_conversion() -> None:
    x0, x1 = share(np.ones(3))
    y0, _ = share(np.ones(3), 20)
    with pytest.raises(ShareMismatchError, match="fractional bits"):
        x0 + y0
    with pytest.raises(ShareMismatchError, match="different parties"):
        x0 + x1
    with pytest.raises(TypeError, match="protocol"):
        x0 * x0
    with pytest.raises(TypeError, match=r"SecretSharing\.matmul"):
        x0 @ x0
    with pytest.raises(TypeError, match="open or reveal"):
        np.asarray(x0)
    with pytest.raises(TypeError, match="truth value"):
        bool(x0)
    with pytest.raises(TypeError, match="uint64"):
        SharedTensor(np.zeros(3), 16, 0)
    with pytest.raises(ValueError, match="0 or 1"):
        SharedTensor(np.zeros(3, dtype=np.uint64), 16, 2)
    assert "party 0" in repr(x0)
