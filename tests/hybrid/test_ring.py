"""The ring Z_2^64: fixed-point codec, exact products, randomness."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hecrypt.exceptions import EncodingOverflowError
from hecrypt.hybrid import ring

floats = st.floats(min_value=-(2.0**40), max_value=2.0**40, allow_nan=False, allow_infinity=False)


@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=3, max_side=5), elements=floats),
       st.integers(min_value=0, max_value=22))
def test_decode_encode_within_half_ulp(x: np.ndarray, f: int) -> None:
    u = ring.encode(x, f)
    assert u.dtype == np.uint64 and u.shape == x.shape
    assert np.all(np.abs(ring.decode(u, f) - x) <= 2.0 ** -(f + 1) + np.abs(x) * 2.0**-52)


def test_encode_is_centered_twos_complement() -> None:
    u = ring.encode(np.array([-1.0, 1.0, -0.5]), 16)
    assert u.tolist() == [2**64 - 2**16, 2**16, 2**64 - 2**15]
    assert ring.decode(u, 16).tolist() == [-1.0, 1.0, -0.5]


def test_encode_integers_exactly_beyond_float_precision() -> None:
    big = np.array([2**60 + 1, -(2**60) - 3], dtype=np.int64)
    u = ring.encode(big, 0)
    assert ring.to_signed(u).tolist() == big.tolist()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_encode_refuses_non_finite(bad: float) -> None:
    with pytest.raises(EncodingOverflowError, match="NaN or infinity"):
        ring.encode(np.array([1.0, bad]), 16)


def test_encode_refuses_values_outside_the_ring() -> None:
    assert ring.encode_max(16) == 2.0**47
    ring.encode(np.array([2.0**47 - 1]), 16)
    with pytest.raises(EncodingOverflowError, match="outside the range the ring can carry"):
        ring.encode(np.array([2.0**47]), 16)
    with pytest.raises(EncodingOverflowError, match="magnitude 100"):
        ring.encode(np.array([-100.0]), 16, bound=64)
    with pytest.raises(TypeError):
        ring.encode(np.array(["a"]), 16)
    with pytest.raises(ValueError):
        ring.encode(np.array([1.0]), 63)


def test_decode_refuses_non_ring_arrays() -> None:
    with pytest.raises(TypeError, match="uint64"):
        ring.decode(np.array([1], dtype=np.int64), 16)


def test_random_ring_is_fresh_and_full_width() -> None:
    a = ring.random_ring((1000,))
    b = ring.random_ring(1000)
    assert a.dtype == np.uint64 and a.shape == (1000,)
    assert not np.array_equal(a, b)
    assert int(a.max()) > 2**62  # top bits are used
    a[0] = 1  # writable


def test_expand_seed_is_deterministic_and_label_separated() -> None:
    s = ring.new_seed()
    assert len(s) == ring.SEED_BYTES
    x = ring.expand_seed(s, b"a", (4, 5))
    assert np.array_equal(x, ring.expand_seed(s, b"a", (4, 5)))
    assert not np.array_equal(x, ring.expand_seed(s, b"b", (4, 5)))
    assert not np.array_equal(x, ring.expand_seed(ring.new_seed(), b"a", (4, 5)))
    with pytest.raises(ValueError, match="32 bytes"):
        ring.expand_seed(b"short", b"a", 3)


def _as_objects(a: np.ndarray) -> np.ndarray:
    return a.astype(object)


@settings(max_examples=30)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6))
def test_matmul_is_exact_mod_2_64(m: int, k: int, n: int) -> None:
    a = ring.random_ring((m, k))
    b = ring.random_ring((k, n))
    expected = (_as_objects(a).dot(_as_objects(b))) % 2**64
    assert ring.matmul(a, b).astype(object).tolist() == expected.tolist()


def _conv_reference(x: np.ndarray, w: np.ndarray, s: tuple[int, int], pad: str) -> np.ndarray:
    n, h, wd, _ = x.shape
    kh, kw, _, o = w.shape
    ho, pt, _ = ring.conv2d_padding(h, kh, s[0], pad)
    wo, pl, _ = ring.conv2d_padding(wd, kw, s[1], pad)
    xo = x.astype(object)
    wo_ = w.astype(object)
    out = np.zeros((n, ho, wo, o), dtype=object)
    for i in range(ho):
        for j in range(wo):
            for p in range(kh):
                for q in range(kw):
                    r, cc = i * s[0] + p - pt, j * s[1] + q - pl
                    if 0 <= r < h and 0 <= cc < wd:
                        out[:, i, j, :] += xo[:, r, cc, :].dot(wo_[p, q])
    return out % 2**64


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 2), st.integers(3, 6), st.integers(3, 6), st.integers(1, 3),
       st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.sampled_from(["valid", "same"]))
def test_conv2d_is_exact_mod_2_64(n: int, h: int, w: int, c: int, o: int, k: int, s: int,
                                  pad: str) -> None:
    x = ring.random_ring((n, h, w, c))
    kern = ring.random_ring((k, k, c, o))
    got = ring.conv2d(x, kern, s, pad)
    assert got.shape == ring.conv2d_output_shape(x.shape, kern.shape, s, pad)
    assert got.astype(object).tolist() == _conv_reference(x, kern, (s, s), pad).tolist()


def test_conv2d_matches_float_convolution_on_small_integers() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(-5, 5, size=(2, 6, 5, 3))
    w = rng.integers(-5, 5, size=(3, 2, 3, 4))
    got = ring.to_signed(ring.conv2d(ring.from_signed(x), ring.from_signed(w), (2, 1), "same"))
    ref = ring.to_signed(
        _conv_reference(ring.from_signed(x), ring.from_signed(w), (2, 1), "same")
        .astype(np.uint64))
    assert np.array_equal(got, ref)


def test_conv2d_shape_errors() -> None:
    with pytest.raises(ValueError, match="input channels"):
        ring.conv2d_output_shape((1, 4, 4, 2), (3, 3, 1, 1))
    with pytest.raises(ValueError, match="padding"):
        ring.conv2d_padding(4, 3, 1, "full")
    with pytest.raises(ValueError, match="does not fit"):
        ring.conv2d_padding(2, 3, 1, "valid")
