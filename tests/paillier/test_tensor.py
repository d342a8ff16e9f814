"""EncryptedTensor: every operation matches numpy on the decrypted result,
overflow is refused exactly when the tracked bound says so, numpy dispatch is
an allowlist, and serialization round-trips and rejects tampered data."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import hecrypt
from hecrypt.exceptions import EncodingOverflowError, InvalidCiphertext, KeyMismatchError
from hecrypt.paillier import EncryptedNumber, EncryptedTensor, PrivateKey, PublicKey
from hecrypt.paillier import serialization as ser
from hecrypt.paillier.tensor import HANDLED_FUNCTIONS, concatenate, stack

Keys = tuple[PublicKey, PrivateKey]

PROPS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Encoding error of one float at scale 32 is at most 2**-33; values stay within
# 100 and contractions have at most 3 terms, so 1e-6 is a loose, honest bound.
ATOL = 1e-6

shapes = hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=3)
floats = st.floats(-100, 100, allow_nan=False, allow_infinity=False, width=64)
ints = st.integers(-1000, 1000)


def float_arrays(shape: Any = shapes) -> Any:
    return hnp.arrays(np.float64, shape, elements=floats)


def int_arrays(shape: Any = shapes) -> Any:
    return hnp.arrays(np.int64, shape, elements=ints)


def enc(keys: Keys, x: np.ndarray) -> EncryptedTensor:
    return keys[1].encrypt(x)


def dec(keys: Keys, t: Any) -> np.ndarray:
    """Decrypt a tensor (typed Any: numpy's stubs type dispatched calls as ndarray)."""
    return keys[1].decrypt(cast(EncryptedTensor, t))


# ------------------------------------------------------------------ construction
def test_encrypt_decrypt_shapes_and_dtypes(keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    x = np.arange(6, dtype=np.int64).reshape(2, 3) - 3
    for t in (pk.encrypt(x), sk.encrypt(x)):
        assert isinstance(t, EncryptedTensor)
        assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
        assert t.is_fresh and t.scale == 0 and t.bound == 3
        out = sk.decrypt(t)
        assert out.dtype == np.int64 and np.array_equal(out, x)
    f = sk.decrypt(pk.encrypt(np.array([0.5, -1.25]), executor=hecrypt.paillier.SerialExecutor()))
    assert f.dtype == np.float64 and np.array_equal(f, [0.5, -1.25])
    # scalars keep giving numbers
    assert isinstance(pk.encrypt(3), EncryptedNumber)
    assert isinstance(sk.encrypt(2.5), EncryptedNumber)


def test_value_bound_hides_data_range(keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    t = pk.encrypt(np.array([0.25, 0.5]), value_bound=1.0, frac_bits=8)
    assert t.bound == 256 and t.scale == 8
    assert np.array_equal(sk.decrypt(t), [0.25, 0.5])


def test_progress_and_empty(keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    seen: list[tuple[int, int]] = []
    t = sk.encrypt(np.ones(5), progress=lambda d, n: seen.append((d, n)))
    assert seen[-1] == (5, 5)
    e = pk.encrypt(np.zeros((0, 2)))
    assert e.shape == (0, 2) and sk.decrypt(e).shape == (0, 2)
    assert sk.decrypt(t.sum()) == pytest.approx(5.0)


@PROPS
@given(x=float_arrays())
def test_round_trip_floats(keypair_1024: Keys, x: np.ndarray) -> None:
    out = dec(keypair_1024, enc(keypair_1024, x))
    assert out.shape == x.shape
    assert np.all(np.abs(out - x) <= 2.0**-33)


# ------------------------------------------------------------------ structure
def test_indexing_and_shapes(keypair_1024: Keys) -> None:
    x = np.arange(12, dtype=np.int64).reshape(3, 4) - 5
    t = enc(keypair_1024, x)
    d = lambda y: dec(keypair_1024, y)  # noqa: E731
    assert np.array_equal(d(t[1]), x[1])
    assert np.array_equal(d(t[:, 1:3]), x[:, 1:3])
    assert np.array_equal(d(t[x > 0]), x[x > 0])
    assert np.array_equal(d(t[[2, 0, 2]]), x[[2, 0, 2]])
    assert not t[[2, 0, 2]].is_fresh and t[1:].is_fresh
    assert np.array_equal(d(t[np.array([0, 2]), 1:]), x[np.array([0, 2]), 1:])
    one = t[2, 3]
    assert isinstance(one, EncryptedNumber) and keypair_1024[1].decrypt(one) == x[2, 3]
    assert np.array_equal(d(t.reshape(4, 3)), x.reshape(4, 3))
    assert np.array_equal(d(t.reshape((2, -1))), x.reshape((2, -1)))
    assert np.array_equal(d(t.T), x.T)
    assert np.array_equal(d(t.transpose(1, 0)), x.transpose(1, 0))
    assert np.array_equal(d(t.flatten()), x.flatten())
    assert np.array_equal(d(t.ravel()), x.ravel())
    assert np.array_equal(d(t.copy()), x)
    rows = list(t)
    assert len(rows) == 3 and np.array_equal(d(rows[1]), x[1])
    assert [keypair_1024[1].decrypt(v) for v in t[0]] == list(x[0])
    with pytest.raises(TypeError):
        len(t.sum())
    with pytest.raises(TypeError):
        iter(t.sum()).__next__()


def test_immutable(keypair_1024: Keys) -> None:
    t = enc(keypair_1024, np.array([1, 2]))
    with pytest.raises(AttributeError):
        cast(Any, t)._c = None
    with pytest.raises(ValueError):
        t.ciphertexts[0] = 1
    with pytest.raises(TypeError):
        EncryptedTensor()
    with pytest.raises(TypeError):
        bool(t)


def test_concatenate_and_stack_align_scales(keypair_1024: Keys) -> None:
    a = np.array([[1, -2]], dtype=np.int64)
    b = np.array([[0.5, 0.25]])
    ta, tb = enc(keypair_1024, a), enc(keypair_1024, b)
    c = concatenate([ta, tb])
    assert c.scale == 32
    assert np.array_equal(dec(keypair_1024, c), np.concatenate([a, b]))
    assert np.array_equal(dec(keypair_1024, np.concatenate([ta, tb], axis=1)),
                          np.concatenate([a, b], axis=1))
    assert np.array_equal(dec(keypair_1024, stack([ta, tb], axis=2)), np.stack([a, b], axis=2))
    assert np.array_equal(dec(keypair_1024, np.stack([ta, ta])), np.stack([a, a]))
    with pytest.raises(TypeError, match="encrypt"):
        np.concatenate([ta, a])


# ------------------------------------------------------------------ arithmetic
@PROPS
@given(data=st.data())
def test_add_sub_broadcast(keypair_1024: Keys, data: st.DataObject) -> None:
    shape = data.draw(shapes)
    x = data.draw(float_arrays(shape))
    y = data.draw(float_arrays(hnp.broadcastable_shapes(shape, max_dims=2, max_side=3)))
    k = data.draw(int_arrays(st.just(shape[-1:])))
    tx, ty = enc(keypair_1024, x), enc(keypair_1024, y)
    for got, want in [
        (tx + ty, x + y),
        (tx - ty, x - y),
        (ty - tx, y - x),
        (tx + y, x + y),
        (y + tx, y + x),
        (tx - y, x - y),
        (y - tx, y - x),
        (tx + 2.5, x + 2.5),
        (3 - tx, 3 - x),
        (np.add(y, tx), y + x),
        (np.subtract(tx, y), x - y),
        (-tx, -x),
        (np.negative(tx), -x),
    ]:
        assert not got.is_fresh
        assert np.allclose(dec(keypair_1024, got), want, rtol=0, atol=ATOL)
    ti = enc(keypair_1024, k)
    assert np.array_equal(dec(keypair_1024, ti + k), k + k)
    assert np.array_equal(dec(keypair_1024, ti - k.astype(np.uint64) * 0 - 7), k - 7)
    mixed = ti + tx  # scale 0 + scale 32: aligned by 2^32
    assert mixed.scale == 32
    assert np.allclose(dec(keypair_1024, mixed), k + x, rtol=0, atol=ATOL)


@PROPS
@given(data=st.data())
def test_mul_div_broadcast(keypair_1024: Keys, data: st.DataObject) -> None:
    shape = data.draw(shapes)
    x = data.draw(float_arrays(shape))
    w = data.draw(float_arrays(hnp.broadcastable_shapes(shape, max_dims=2, max_side=3)))
    k = data.draw(int_arrays(st.just(shape)))
    s = data.draw(st.floats(-8, 8).filter(lambda v: abs(v) > 0.01))
    tx, tk = enc(keypair_1024, x), enc(keypair_1024, k)
    for got, want in [
        (tx * w, x * w),
        (w * tx, w * x),
        (np.multiply(tx, w), x * w),
        (tx * s, x * s),
        (np.float64(s) * tx, s * x),
        (tx / s, x / s),
        (np.true_divide(tx, 4), x / 4),
    ]:
        assert np.allclose(dec(keypair_1024, got), want, rtol=1e-9, atol=ATOL)
    exact = dec(keypair_1024, tk * k * -3)
    assert exact.dtype == np.int64 and np.array_equal(exact, k * k * -3)


@PROPS
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=3),
                    elements=floats),
       data=st.data())
def test_sum_mean(keypair_1024: Keys, x: np.ndarray, data: st.DataObject) -> None:
    axis = data.draw(st.none() | st.integers(-x.ndim, x.ndim - 1))
    t = enc(keypair_1024, x)
    assert np.allclose(dec(keypair_1024, t.sum(axis=axis)), x.sum(axis=axis), atol=ATOL)
    assert np.allclose(dec(keypair_1024, np.sum(t, axis=axis, keepdims=True)),
                       np.sum(x, axis=axis, keepdims=True), atol=ATOL)
    # the encoded 1/N adds at most |sum| * 2**-33
    tol = ATOL + np.abs(x).sum() * 2.0**-33
    assert np.allclose(dec(keypair_1024, t.mean(axis=axis)), x.mean(axis=axis), atol=tol)
    assert np.allclose(dec(keypair_1024, np.mean(t, axis=axis)), np.mean(x, axis=axis), atol=tol)


@PROPS
@given(data=st.data())
def test_matmul_and_dot(keypair_1024: Keys, data: st.DataObject) -> None:
    m, k, j = (data.draw(st.integers(1, 3)) for _ in range(3))
    x = data.draw(float_arrays(st.sampled_from([(k,), (m, k)])))
    w = data.draw(float_arrays(st.sampled_from([(k,), (k, j)])))
    wi = data.draw(int_arrays(st.sampled_from([(k,), (j, k)])))
    t = enc(keypair_1024, x)
    assert np.allclose(dec(keypair_1024, t @ w), x @ w, atol=ATOL)
    assert np.allclose(dec(keypair_1024, np.matmul(t, w)), np.matmul(x, w), atol=ATOL)
    assert np.allclose(dec(keypair_1024, np.dot(t, w)), np.dot(x, w), atol=ATOL)
    assert np.allclose(dec(keypair_1024, t.dot(w)), x.dot(w), atol=ATOL)
    # plaintext on the left (tensor contracted on its first axis)
    xr = x.T if x.ndim == 2 else x  # (k, m) or (k,)
    tr = enc(keypair_1024, xr)
    tol = ATOL * 1000
    assert np.allclose(dec(keypair_1024, wi @ tr), wi @ xr, atol=tol)
    assert np.allclose(dec(keypair_1024, np.matmul(wi, tr)), np.matmul(wi, xr), atol=tol)
    assert np.allclose(dec(keypair_1024, np.dot(wi, tr)), np.dot(wi, xr), atol=tol)
    assert np.allclose(dec(keypair_1024, np.dot(t, 2.0)), x * 2.0, atol=ATOL)


def test_matmul_is_one_multi_exponentiation_per_output(
    keypair_1024: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hecrypt import _gmp

    calls: list[int] = []
    real = _gmp.multi_powmod

    def counting(bases: Any, exps: Any, mod: Any) -> Any:
        calls.append(len(bases))
        return real(bases, exps, mod)

    monkeypatch.setattr(_gmp, "multi_powmod", counting)
    t = enc(keypair_1024, np.ones((2, 5), dtype=np.int64))
    out = t @ np.arange(15).reshape(5, 3)
    assert calls == [5] * 6
    assert np.array_equal(dec(keypair_1024, out), np.ones((2, 5)) @ np.arange(15).reshape(5, 3))


def test_shape_errors(keypair_1024: Keys) -> None:
    t = enc(keypair_1024, np.ones((2, 3), dtype=np.int64))
    with pytest.raises(ValueError):
        t @ np.ones((2, 2))
    with pytest.raises(ValueError):
        np.ones((3, 3)) @ t
    with pytest.raises(ValueError):
        t + np.ones((4,))
    with pytest.raises(ZeroDivisionError):
        t / 0
    with pytest.raises(TypeError):
        t + np.array([True, False, True])


def test_ciphertext_products_refused(keypair_1024: Keys) -> None:
    t = enc(keypair_1024, np.ones(2))
    for op in (lambda: t * t, lambda: t @ t, lambda: np.dot(t, t), lambda: np.multiply(t, t),
               lambda: t * keypair_1024[0].encrypt(1)):
        with pytest.raises(TypeError, match=r"hecrypt\.hybrid"):
            op()
    with pytest.raises(TypeError):
        2 / t


def test_key_mismatch(keypair_1024: Keys, other_keypair_1024: Keys) -> None:
    a = enc(keypair_1024, np.ones(2))
    b = enc(other_keypair_1024, np.ones(2))
    for op in (lambda: a + b, lambda: a - b, lambda: concatenate([a, b]),
               lambda: np.stack([a, b]), lambda: other_keypair_1024[1].decrypt(a)):
        with pytest.raises(KeyMismatchError):
            op()


# ------------------------------------------------------------------ overflow
@PROPS
@given(bits=st.integers(300, 340), k=st.integers(-(2**200), 2**200),
       terms=st.integers(2, 4))
def test_overflow_refused_exactly_when_bound_says(
    keypair_1024: Keys, bits: int, k: int, terms: int
) -> None:
    pk, sk = keypair_1024
    v = (1 << bits) - 1
    x = np.array([v] * terms, dtype=object)
    x[0] = -v
    t = sk.encrypt(x)
    assert t.bound == v
    # product by a scalar
    if v * abs(k) > pk.max_int:
        with pytest.raises(EncodingOverflowError):
            t * k
    else:
        assert list(sk.decrypt(t * k)) == [int(e) * k for e in x]
    # sum: bound * terms
    big = sk.encrypt(np.array([pk.max_int // terms + 1] * terms, dtype=object))
    with pytest.raises(EncodingOverflowError):
        big.sum()
    ok = sk.encrypt(np.array([pk.max_int // terms] * terms, dtype=object))
    assert sk.decrypt(ok.sum()) == (pk.max_int // terms) * terms


def test_overflow_add_and_matmul(keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    half = pk.max_int // 2
    t = sk.encrypt(np.array([half + 1, -3], dtype=object))
    with pytest.raises(EncodingOverflowError):
        t + t
    with pytest.raises(EncodingOverflowError):
        t - t
    with pytest.raises(EncodingOverflowError):
        t + np.array([half + 1, 0], dtype=object)
    with pytest.raises(EncodingOverflowError):
        t @ np.array([1, 1])
    with pytest.raises(EncodingOverflowError):
        np.array([[1, 1]]) @ t
    with pytest.raises(EncodingOverflowError):
        t * 2.0  # scale 32 raises the bound by 2^32
    with pytest.raises(EncodingOverflowError):
        concatenate([t, sk.encrypt(np.array([0.5]))])  # rescaling to 2^32
    s = sk.encrypt(np.array([half, -half], dtype=object))
    assert list(sk.decrypt(s + s)) == [2 * half, -2 * half]


# ------------------------------------------------------------------ numpy protocols
def test_numpy_allowlist(keypair_1024: Keys) -> None:
    t = enc(keypair_1024, np.ones((2, 2)))
    assert set(HANDLED_FUNCTIONS) == {np.sum, np.mean, np.dot, np.concatenate, np.stack,
                                      np.reshape, np.transpose}
    with pytest.raises(TypeError, match="median"):
        np.median(t)
    with pytest.raises(TypeError, match="where"):
        np.where(np.ones((2, 2), dtype=bool), t, t)
    with pytest.raises(TypeError, match="exp"):
        np.exp(t)
    with pytest.raises(TypeError):
        np.maximum(t, 0)
    with pytest.raises(TypeError):
        np.add.reduce(t)
    with pytest.raises(TypeError):
        np.add(t, 1, out=np.empty((2, 2)))
    with pytest.raises(TypeError):
        np.sum(t, dtype=np.float32)
    for conv in (np.asarray, np.array, np.asanyarray):
        with pytest.raises(TypeError, match="refusing"):
            conv(t)
    assert np.array_equal(dec(keypair_1024, np.reshape(t, (4,))), np.ones(4))
    assert np.array_equal(dec(keypair_1024, np.reshape(t, shape=(1, 4))), np.ones((1, 4)))
    assert np.array_equal(dec(keypair_1024, np.transpose(t, (1, 0))), np.ones((2, 2)))


# ------------------------------------------------------------------ serialization
def test_serialization_round_trip(keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    x = np.array([[1.5, -2.0, 0.0], [3.25, 4.0, -7.5]])
    t = sk.encrypt(x) * 2 + 1
    assert not t.is_fresh
    data = t.to_bytes()
    width = ser.ciphertext_width(pk)
    bound_len = (t.bound.bit_length() + 7) // 8
    assert len(data) == 6 + 8 + 2 + 2 + bound_len + 1 + 2 * 4 + 6 * width
    u = EncryptedTensor.from_bytes(data, pk)
    assert u.shape == t.shape and u.encoding == t.encoding and not u.is_fresh
    assert np.array_equal(sk.decrypt(u), x * 2 + 1)
    # re-randomized: the ciphertexts differ from the homomorphic result
    assert list(u.ciphertexts.reshape(-1)) != list(t.ciphertexts.reshape(-1))
    raw = EncryptedTensor.from_bytes(t.to_bytes(rerandomize=False), pk)
    assert list(raw.ciphertexts.reshape(-1)) == list(t.ciphertexts.reshape(-1))
    z = pk.encrypt(np.zeros((0, 3), dtype=np.int64))
    assert EncryptedTensor.from_bytes(z.to_bytes(), pk).shape == (0, 3)
    s = sk.encrypt(np.array(5))
    assert sk.decrypt(EncryptedTensor.from_bytes(s.to_bytes(), pk)) == 5


def test_serialization_rejects_tampering(keypair_1024: Keys, other_keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    t = sk.encrypt(np.array([1, -2, 3], dtype=np.int64))
    data = t.to_bytes()
    width = ser.ciphertext_width(pk)
    head = len(data) - 3 * width
    cases = [
        data[:-1],
        data + b"\x00",
        b"XXXX" + data[4:],
        data[:5] + b"\x03" + data[6:],
        data[: head - 4] + (4).to_bytes(4, "big") + data[head:],  # shape says 4
        data[:head] + b"\xff" * width + data[head + width:],  # c >= n^2
        data[:head] + b"\x00" * width + data[head + width:],  # c == 0
        data[:head] + pk.n.to_bytes(width, "big") + data[head + width:],  # not a unit
    ]
    for bad in cases:
        with pytest.raises(InvalidCiphertext):
            EncryptedTensor.from_bytes(bad, pk)
    # a bound above max_int
    blen = (pk.max_int + 1).bit_length() + 7 >> 3
    fake = (data[:16] + blen.to_bytes(2, "big") + (pk.max_int + 1).to_bytes(blen, "big")
            + data[19:])
    with pytest.raises(InvalidCiphertext, match="bound"):
        EncryptedTensor.from_bytes(fake, pk)
    # a bound lower than the data: decryption refuses instead of lying
    low = data[:16] + (1).to_bytes(2, "big") + b"\x01" + data[19:]
    with pytest.raises(EncodingOverflowError):
        sk.decrypt(EncryptedTensor.from_bytes(low, pk))
    with pytest.raises(KeyMismatchError):
        EncryptedTensor.from_bytes(data, other_keypair_1024[0])
    with pytest.raises(TypeError):
        ser.encrypted_tensor_to_bytes(np.ones(2))


def test_executors_unsigned_and_freshness(keypair_1024: Keys) -> None:
    from concurrent.futures import ThreadPoolExecutor

    pk, sk = keypair_1024
    x = np.arange(70, dtype=np.int64) - 35
    with ThreadPoolExecutor(2) as ex:
        t = pk.encrypt(x, executor=ex)
        assert np.array_equal(sk.decrypt(t, executor=ex), x)
        u = sk.encrypt(x.reshape(7, 10), executor=ex)
        assert np.array_equal(sk.decrypt(u, executor=ex), x.reshape(7, 10))
    small = sk.encrypt(np.array([1, 2], dtype=np.int64))
    # unsigned plaintexts are subtracted as the integers they are, not wrapped
    assert list(sk.decrypt(small - np.array([3, 1], dtype=np.uint8))) == [-2, 1]
    assert list(dec(keypair_1024, np.array([3, 1], dtype=np.uint8) - small)) == [2, -1]
    assert concatenate([small, small]).is_fresh
    assert not concatenate([small, small + 0]).is_fresh
    assert not (small + 0).is_fresh and (small + 0).fresh().is_fresh
    assert np.array_equal(sk.decrypt((small * 3).rerandomized()), [3, 6])


# ------------------------------------------------------------------ matmul over an executor
def test_matmul_function_equals_operator(keypair_1024: Keys) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from hecrypt.paillier import SerialExecutor
    from hecrypt.paillier.tensor import matmul

    x = np.arange(-40, 40, dtype=np.int64).reshape(8, 10)
    t = enc(keypair_1024, x)
    w = np.linspace(-2.0, 2.0, 90).reshape(10, 9)
    want = cast(EncryptedTensor, t @ w)
    calls: list[tuple[int, int]] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for ex in (SerialExecutor(), pool, None):  # None: default pool (72 outputs)
            got = matmul(t, w, executor=ex, progress=lambda d, n: calls.append((d, n)))
            assert np.array_equal(got.ciphertexts, want.ciphertexts)
            assert got.encoding == want.encoding and not got.is_fresh
            assert calls[-1] == (72, 72)
    left = np.arange(-8, 8).reshape(2, 8)
    got = matmul(left, t, executor=SerialExecutor())
    assert np.array_equal(got.ciphertexts, cast(EncryptedTensor, left @ t).ciphertexts)
    assert np.allclose(dec(keypair_1024, matmul(t[0], w)), x[0] @ w, atol=1e-6)
    with pytest.raises(TypeError):
        matmul(t, t)
    with pytest.raises(TypeError):
        matmul(x, w)
    with pytest.raises(TypeError):
        matmul(t[0, 0], t)
    with pytest.raises(ValueError):
        matmul(t, np.ones((3, 3)))


def test_public_names_keep_the_module_path() -> None:
    # The tensor is split into private parts; its public path stays hecrypt.paillier.tensor.
    from hecrypt.paillier import tensor

    for name in tensor.__all__:
        obj = getattr(tensor, name)
        if callable(obj):
            assert obj.__module__ == "hecrypt.paillier.tensor", name
    assert tensor.EncryptedTensor is EncryptedTensor
    assert len(HANDLED_FUNCTIONS) == 7  # every numpy function registered on import
