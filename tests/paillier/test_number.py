"""Homomorphic laws and contracts of EncryptedNumber (1024-bit key)."""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any, cast

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hecrypt.exceptions import (
    EncodingOverflowError,
    InvalidCiphertext,
    KeyMismatchError,
)
from hecrypt.paillier import EncryptedNumber, PrivateKey, PublicKey

KeyPair = tuple[PublicKey, PrivateKey]
Encrypt = Callable[..., EncryptedNumber]

#: Error of one float encoded at the default scale (32 fractional bits).
EPS = Fraction(1, 2**33)

ints = st.integers(min_value=-(2**300), max_value=2**300)
small_ints = st.integers(min_value=-(2**40), max_value=2**40)
floats = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
reals = st.one_of(small_ints, floats)
nonzero_floats = floats.filter(lambda x: abs(x) > 1e-3)

SETTINGS = settings(max_examples=40, deadline=None)
OWNERS = pytest.mark.parametrize("owner", [False, True], ids=["public", "private"])


def _encryptor(keys: KeyPair, owner: bool) -> Encrypt:
    pk, sk = keys
    return sk.encrypt if owner else pk.encrypt


def _err(x: int | float) -> Fraction:
    """Encoding error bound of a plaintext operand: 0 for ints."""
    return Fraction(0) if isinstance(x, int) else EPS


def assert_close(got: int | float, want: Fraction | int | float, tol: Fraction) -> None:
    """``got`` is within ``tol`` of the exact ``want`` (plus float rounding of ``got``)."""
    want = Fraction(want)
    slack = tol + abs(want) * Fraction(1, 2**52) + Fraction(1, 2**1000)
    assert abs(Fraction(got) - want) <= slack, (got, float(want), float(tol))


# ------------------------------------------------------------------ round trip
@OWNERS
@given(x=st.one_of(ints, floats))
@SETTINGS
def test_encrypt_decrypt(keypair_1024: KeyPair, owner: bool, x: int | float) -> None:
    _, sk = keypair_1024
    c = _encryptor(keypair_1024, owner)(x)
    out = sk.decrypt(c)
    if isinstance(x, int):
        assert type(out) is int and out == x
        assert c.scale == 0
    else:
        assert isinstance(out, float)
        assert abs(out - x) <= 2.0**-33
        assert c.scale == 32


@OWNERS
def test_encrypt_examples(keypair_1024: KeyPair, owner: bool) -> None:
    pk, sk = keypair_1024
    enc = _encryptor(keypair_1024, owner)
    for x in (0, 1, -1, 2**100, -(2**100), pk.max_int, -pk.max_int):
        assert sk.decrypt(enc(x)) == x
    for f in (0.0, -0.0, 0.5, -0.5, 3.25, -1e-10, 123456.789):
        assert abs(sk.decrypt(enc(f)) - f) <= 2.0**-33
    assert sk.decrypt(enc(1.5, frac_bits=1)) == 1.5
    assert enc(1.5, frac_bits=1).scale == 1
    assert sk.decrypt(enc(0.3, frac_bits=2)) == 0.25
    assert sk.decrypt(enc(3, frac_bits=8)) == 3.0
    assert enc(3, frac_bits=8).scale == 8
    assert sk.decrypt(enc(np.int64(-9))) == -9
    assert sk.decrypt(enc(np.float32(0.75))) == 0.75


@OWNERS
def test_encrypt_rejects(keypair_1024: KeyPair, owner: bool) -> None:
    pk, _ = keypair_1024
    enc = _encryptor(keypair_1024, owner)
    with pytest.raises(EncodingOverflowError):
        enc(pk.max_int + 1)
    with pytest.raises(EncodingOverflowError):
        enc(-pk.max_int - 1)
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError):
            enc(bad)
    for bad_type in (True, "1", None, 1j):
        with pytest.raises(TypeError):
            enc(bad_type)


def test_encryption_is_probabilistic(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    for enc in (pk.encrypt, sk.encrypt):
        cs = {enc(7).ciphertext for _ in range(10)}
        assert len(cs) == 10


# ------------------------------------------------------------------ addition
@OWNERS
@given(a=ints, b=ints)
@SETTINGS
def test_add_encrypted_ints(keypair_1024: KeyPair, owner: bool, a: int, b: int) -> None:
    pk, sk = keypair_1024
    enc = _encryptor(keypair_1024, owner)
    ea, eb = enc(a), enc(b)
    s = ea + eb
    assert sk.decrypt(s) == a + b
    # the homomorphism itself: the product of the ciphertexts
    assert s.ciphertext == ea.ciphertext * eb.ciphertext % pk.nsquare
    assert sk.decrypt(ea - eb) == a - b
    assert sk.decrypt(eb - ea) == b - a


@OWNERS
@given(a=reals, b=reals)
@SETTINGS
def test_add_encrypted_reals(
    keypair_1024: KeyPair, owner: bool, a: int | float, b: int | float
) -> None:
    _, sk = keypair_1024
    enc = _encryptor(keypair_1024, owner)
    ea, eb = enc(a), enc(b)
    tol = _err(a) + _err(b)
    assert_close(sk.decrypt(ea + eb), Fraction(a) + Fraction(b), tol)
    assert_close(sk.decrypt(ea - eb), Fraction(a) - Fraction(b), tol)
    assert (ea + eb).scale == max(ea.scale, eb.scale)


@OWNERS
@given(a=ints, b=ints)
@SETTINGS
def test_add_plain_int(keypair_1024: KeyPair, owner: bool, a: int, b: int) -> None:
    pk, sk = keypair_1024
    ea = _encryptor(keypair_1024, owner)(a)
    assert sk.decrypt(ea + b) == a + b
    assert sk.decrypt(b + ea) == a + b
    assert sk.decrypt(ea - b) == a - b
    assert sk.decrypt(b - ea) == b - a
    # independent formula: adding m multiplies by g^m = 1 + m*n
    n, nsq = pk.n, pk.nsquare
    assert (ea + b).ciphertext == ea.ciphertext * (1 + (b % n) * n) % nsq


@OWNERS
@given(a=reals, b=reals)
@SETTINGS
def test_add_plain_real(keypair_1024: KeyPair, owner: bool, a: int | float, b: int | float) -> None:
    _, sk = keypair_1024
    ea = _encryptor(keypair_1024, owner)(a)
    tol = _err(a) + _err(b)
    exact = Fraction(a) + Fraction(b)
    assert_close(sk.decrypt(ea + b), exact, tol)
    assert_close(sk.decrypt(b + ea), exact, tol)
    assert_close(sk.decrypt(ea - b), Fraction(a) - Fraction(b), tol)
    assert_close(sk.decrypt(b - ea), Fraction(b) - Fraction(a), tol)


@OWNERS
@given(a=st.one_of(ints, floats))
@SETTINGS
def test_negation(keypair_1024: KeyPair, owner: bool, a: int | float) -> None:
    pk, sk = keypair_1024
    ea = _encryptor(keypair_1024, owner)(a)
    neg = -ea
    assert_close(sk.decrypt(neg), -Fraction(a), _err(a))
    assert neg.scale == ea.scale
    assert neg.ciphertext * ea.ciphertext % pk.nsquare == 1
    assert_close(sk.decrypt(-neg), Fraction(a), _err(a))


@OWNERS
@given(values=st.lists(reals, min_size=1, max_size=8))
@SETTINGS
def test_sum(keypair_1024: KeyPair, owner: bool, values: list[int | float]) -> None:
    _, sk = keypair_1024
    enc = _encryptor(keypair_1024, owner)
    total = sum(enc(v) for v in values)
    assert isinstance(total, EncryptedNumber)
    tol = sum((_err(v) for v in values), Fraction(0))
    assert_close(sk.decrypt(total), sum(Fraction(v) for v in values), tol)
    if all(isinstance(v, int) for v in values):
        assert sk.decrypt(total) == sum(values)


@given(
    a=st.integers(-(2**60), 2**60),
    b=st.integers(-(2**60), 2**60),
    sa=st.integers(0, 70),
    sb=st.integers(0, 70),
)
@SETTINGS
def test_mixed_scales_align_exactly(
    keypair_1024: KeyPair, a: int, b: int, sa: int, sb: int
) -> None:
    """Dyadic values at different scales add with no rounding at all."""
    pk, sk = keypair_1024
    x, y = Fraction(a, 2**sa), Fraction(b, 2**sb)
    # encode the exact dyadic rationals at their own scales
    ea = EncryptedNumber(pk, pk.raw_encrypt(a % pk.n), sa, bound=abs(a))
    eb = EncryptedNumber(pk, pk.raw_encrypt(b % pk.n), sb, bound=abs(b))
    total = ea + eb
    assert total.scale == max(sa, sb)
    want = x + y
    got = sk.decrypt(total)
    if total.scale == 0:
        assert got == want
    else:
        assert got == float(want)  # exact rational, correctly rounded once
    diff = ea - eb
    assert sk.decrypt(diff) == (x - y if diff.scale == 0 else float(x - y))


def test_mixed_scales_examples(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    assert sk.decrypt(pk.encrypt(3) + pk.encrypt(0.25)) == 3.25
    assert sk.decrypt(pk.encrypt(0.5, frac_bits=1) + pk.encrypt(0.125, frac_bits=40)) == 0.625
    assert (pk.encrypt(0.5, frac_bits=1) + pk.encrypt(0.125, frac_bits=40)).scale == 40
    assert sk.decrypt(sk.encrypt(-7) - pk.encrypt(0.75)) == -7.75
    assert sk.decrypt(pk.encrypt(2) + 0.5) == 2.5
    assert (pk.encrypt(2) + 0.5).scale == 32
    assert (pk.encrypt(2.0, frac_bits=50) + 0.5).scale == 50
    assert (pk.encrypt(2.0, frac_bits=50) + 3).scale == 50
    assert sk.decrypt(pk.encrypt(2.0, frac_bits=50) + 3) == 5.0


# ------------------------------------------------------------------ multiplication
@OWNERS
@given(a=ints, k=st.integers(-(2**200), 2**200))
@SETTINGS
def test_mul_int(keypair_1024: KeyPair, owner: bool, a: int, k: int) -> None:
    pk, sk = keypair_1024
    ea = _encryptor(keypair_1024, owner)(a)
    assert sk.decrypt(ea * k) == a * k
    assert sk.decrypt(k * ea) == a * k
    assert (ea * k).scale == ea.scale
    if k >= 0:
        assert (ea * k).ciphertext == pow(ea.ciphertext, k, pk.nsquare)


@OWNERS
@given(a=reals, k=floats)
@SETTINGS
def test_mul_float(keypair_1024: KeyPair, owner: bool, a: int | float, k: float) -> None:
    _, sk = keypair_1024
    ea = _encryptor(keypair_1024, owner)(a)
    prod = ea * k
    assert prod.scale == ea.scale + 32
    # each factor is off by its encoding error
    tol = abs(Fraction(a)) * EPS + abs(Fraction(k)) * _err(a) + EPS * _err(a)
    assert_close(sk.decrypt(prod), Fraction(a) * Fraction(k), tol)
    assert_close(sk.decrypt(k * ea), Fraction(a) * Fraction(k), tol)


@OWNERS
@given(a=reals, d=st.one_of(nonzero_floats, st.integers(1, 2**20), st.integers(-(2**20), -1)))
@SETTINGS
def test_div(keypair_1024: KeyPair, owner: bool, a: int | float, d: int | float) -> None:
    _, sk = keypair_1024
    ea = _encryptor(keypair_1024, owner)(a)
    q = ea / d
    inv = Fraction(1.0 / float(d))  # divisor is applied as a float reciprocal
    tol = abs(Fraction(a)) * EPS + abs(inv) * _err(a) + EPS * _err(a)
    tol += abs(Fraction(a)) * abs(inv - 1 / Fraction(d))
    assert_close(sk.decrypt(q), Fraction(a) / Fraction(d), tol)


@OWNERS
def test_mul_examples(keypair_1024: KeyPair, owner: bool) -> None:
    _, sk = keypair_1024
    enc = _encryptor(keypair_1024, owner)
    assert sk.decrypt(enc(-3) * 4) == -12
    assert sk.decrypt(enc(-3) * -4) == 12
    assert sk.decrypt(enc(5) * 0) == 0
    assert sk.decrypt(enc(5) * 1) == 5
    assert sk.decrypt(enc(5) * -1) == -5
    assert sk.decrypt(enc(5) * 0.5) == 2.5
    assert sk.decrypt(enc(1.5) * -2.0) == -3.0
    assert sk.decrypt(enc(-4) / 8) == -0.5
    assert sk.decrypt((enc(3.5) + 2) * 4) == 22.0
    assert sk.decrypt(enc(10) * np.int64(-3)) == -30
    assert sk.decrypt(enc(10) * np.float64(0.25)) == 2.5
    assert sk.decrypt(enc(10) - np.uint64(3)) == 7
    assert sk.decrypt(np.uint64(3) - enc(10)) == -7
    assert sk.decrypt(enc(10) + np.int32(-3)) == 7
    # numpy scalars on the left use the reflected operators
    assert sk.decrypt(np.float64(0.5) * enc(10)) == 5.0
    assert sk.decrypt(np.int64(-3) * enc(10)) == -30
    assert sk.decrypt(np.int64(3) + enc(10)) == 13
    with pytest.raises(TypeError):
        np.float64(1.0) / enc(10)
    with pytest.raises(TypeError):
        np.add(np.float64(1.0), enc(10))
    with pytest.raises(ZeroDivisionError):
        enc(5) / 0
    with pytest.raises(ZeroDivisionError):
        enc(5) / 0.0


# ------------------------------------------------------------------ refused operations
def test_ciphertext_times_ciphertext_refused(keypair_1024: KeyPair) -> None:
    pk, _ = keypair_1024
    a, b = pk.encrypt(2), pk.encrypt(3)
    with pytest.raises(TypeError, match="secret-sharing"):
        a * b
    with pytest.raises(TypeError, match="Beaver"):
        b * a
    with pytest.raises(TypeError):
        a / b
    with pytest.raises(TypeError):
        a @ b
    with pytest.raises(TypeError):
        cast(Any, a) ** 2
    for bad in ("1", None, [1], 1j, True):
        with pytest.raises(TypeError):
            a + bad
        with pytest.raises(TypeError):
            a * bad


def test_truth_value_and_numpy_conversion_refused(keypair_1024: KeyPair) -> None:
    pk, _ = keypair_1024
    x = pk.encrypt(1)
    with pytest.raises(TypeError):
        bool(x)
    with pytest.raises(TypeError):
        if x:
            pass
    with pytest.raises(TypeError):
        np.asarray(x)
    with pytest.raises(TypeError):
        np.array(x, dtype=float)


def test_key_mismatch(keypair_1024: KeyPair, other_keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    other_pk, other_sk = other_keypair_1024
    a, b = pk.encrypt(1), other_pk.encrypt(2)
    for op in (lambda: a + b, lambda: b + a, lambda: a - b, lambda: sum([a, b])):
        with pytest.raises(KeyMismatchError):
            op()
    with pytest.raises(KeyMismatchError):
        sk.decrypt(b)
    with pytest.raises(KeyMismatchError):
        other_sk.decrypt(a)
    with pytest.raises(KeyMismatchError):
        sk.decrypt_batch([a, b])
    with pytest.raises(ValueError):  # KeyMismatchError is a ValueError
        a + b
    with pytest.raises(TypeError):
        sk.decrypt(cast(Any, 7))
    # an equal key loaded separately is not a mismatch
    same = PublicKey(pk.n, insecure_small_keys=True)
    assert sk.decrypt(same.encrypt(5) + a) == 6


# ------------------------------------------------------------------ overflow
def test_overflow_detected_at_decryption(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    big = pk.encrypt(pk.max_int // 4 * 3)
    assert sk.decrypt(big) == pk.max_int // 4 * 3
    for overflowing in (
        lambda: big * 2,
        lambda: big * -2,
        lambda: big + big,
        lambda: pk.encrypt(pk.max_int) + 1,
        lambda: pk.encrypt(pk.max_int) + pk.encrypt(1),
        lambda: pk.encrypt(-pk.max_int) - 1,
        lambda: -pk.encrypt(pk.max_int) - pk.encrypt(1),
        lambda: pk.encrypt(2.0**900) * (pk.n // 2 >> 932),  # 2^932 at scale 32, ~n/2^933
    ):
        with pytest.raises(EncodingOverflowError):  # refused before computing
            overflowing()
    # a ciphertext from outside whose bound was understated: caught at decryption
    lying = EncryptedNumber(pk, pk.raw_encrypt(pk.max_int), bound=2**64)
    with pytest.raises(EncodingOverflowError, match="tracked bound"):
        sk.decrypt(lying)
    wrapped = EncryptedNumber(pk, (big * 1).ciphertext ** 2 % pk.nsquare)  # widest bound
    with pytest.raises(EncodingOverflowError, match="valid band"):
        sk.decrypt(wrapped)
    with pytest.raises(EncodingOverflowError):
        sk.decrypt_batch([lying])
    # the edges of the band still decode (with exact bounds; a fresh number's
    # public bound is rounded up to 2^k - 1, see public_bound)
    m = pk.max_int - 1
    top = EncryptedNumber(pk, pk.raw_encrypt(m), bound=m)
    bottom = EncryptedNumber(pk, pk.raw_encrypt(pk.n - m), bound=m)
    assert sk.decrypt(top + 1) == pk.max_int
    assert sk.decrypt(bottom - 1) == -pk.max_int
    with pytest.raises(OverflowError):  # EncodingOverflowError is an OverflowError
        big * 2


def test_plain_int_checked_at_the_ciphertext_scale(keypair_1024: KeyPair) -> None:
    """An int that fits at scale 0 but not at the number's scale is refused."""
    pk, sk = keypair_1024
    x = pk.encrypt(1.5)  # scale 32
    fits = pk.max_int >> 40
    assert sk.decrypt(x + fits) == float(fits + Fraction(3, 2))
    for bad in (pk.max_int >> 16, pk.max_int, -(pk.max_int >> 8)):
        with pytest.raises(EncodingOverflowError):
            x + bad
        with pytest.raises(EncodingOverflowError):
            bad - x
    with pytest.raises(EncodingOverflowError):
        pk.encrypt(1) + (pk.max_int + 1)
    with pytest.raises(EncodingOverflowError):
        x + 1e300


# ------------------------------------------------------------------ freshness
def test_freshness(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    a, b = pk.encrypt(3), sk.encrypt(4.5)
    assert a.is_fresh and b.is_fresh
    assert all(x.is_fresh for x in pk.encrypt_batch([1, 2.5]))
    assert all(x.is_fresh for x in sk.encrypt_batch([1, 2.5]))
    results = [
        a + b,
        a + 1,
        a + 0,
        1 - a,
        a - b,
        -a,
        a * 3,
        a * 1,
        a * 0.5,
        b / 2,
        cast(EncryptedNumber, sum([a, b])),
    ]
    for r in results:
        assert not r.is_fresh
    wrapped = EncryptedNumber(pk, a.ciphertext)
    assert not wrapped.is_fresh
    assert sk.decrypt(wrapped) == 3


@given(x=reals)
@settings(max_examples=15, deadline=None)
def test_rerandomized(keypair_1024: KeyPair, x: int | float) -> None:
    pk, sk = keypair_1024
    base = pk.encrypt(x) * 3 + 1
    before = sk.decrypt(base)
    fresh = base.rerandomized()
    assert fresh.is_fresh and not base.is_fresh
    assert fresh.ciphertext != base.ciphertext
    assert fresh.scale == base.scale
    assert sk.decrypt(fresh) == before
    # the ratio of the two ciphertexts is an encryption of zero: an n-th residue
    nsq = pk.nsquare
    ratio = fresh.ciphertext * pow(base.ciphertext, -1, nsq) % nsq
    assert pow(ratio, (sk.p - 1) * (sk.q - 1), nsq) == 1
    again = base.fresh()
    assert again.is_fresh and again.ciphertext not in (base.ciphertext, fresh.ciphertext)
    assert sk.decrypt(again) == before
    assert fresh.fresh() is fresh


# ------------------------------------------------------------------ wrapping raw ciphertexts
def test_wrap_ciphertext_validation(keypair_1024: KeyPair, other_keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    n, nsq = pk.n, pk.nsquare
    good = pk.encrypt(-11)
    assert sk.decrypt(EncryptedNumber(pk, good.ciphertext)) == -11
    assert sk.decrypt(EncryptedNumber(pk, good.ciphertext, 0)) == -11
    assert sk.decrypt(EncryptedNumber(pk, good.ciphertext, 2)) == -2.75
    assert EncryptedNumber(pk, 1).ciphertext == 1  # the trivial encryption of 0
    assert sk.decrypt(EncryptedNumber(pk, 1)) == 0
    assert sk.decrypt(EncryptedNumber(pk, nsq - 1)) == 0  # -1 = (-1)^n is an n-th residue
    bad_values = [0, nsq, nsq + 1, -1, -good.ciphertext, sk.p, sk.q, n, 2 * n, sk.p * 12345]
    for c in bad_values:
        with pytest.raises(InvalidCiphertext):
            EncryptedNumber(pk, c)
        if 0 < c < nsq:
            with pytest.raises(InvalidCiphertext):
                sk.raw_decrypt(c)
    for not_int in (1.0, "5", None, True, b"\x01"):
        with pytest.raises(InvalidCiphertext):
            EncryptedNumber(pk, cast(Any, not_int))
    for scale in (-1, 1.5, True):
        with pytest.raises(ValueError):
            EncryptedNumber(pk, good.ciphertext, cast(Any, scale))
    assert issubclass(InvalidCiphertext, ValueError)


def test_wrapping_a_ciphertext_of_another_key(
    keypair_1024: KeyPair, other_keypair_1024: KeyPair
) -> None:
    # A valid ciphertext under another key is out of range or decrypts as garbage;
    # wrapping it under this key is the caller's claim, so only the range and the
    # unit rule are checked. Both cases are built, not left to how two random
    # keys compare.
    (small, small_sk), (big, big_sk) = sorted(
        (keypair_1024, other_keypair_1024), key=lambda kp: kp[0].n
    )
    assert small.n < big.n
    # Under the larger key, r = n - 1 gives r^n = -1: the encryption of 0 is
    # nsq - 1, and that of m is nsq - 1 - m n. Both lie above the smaller key's n^2.
    for m in (0, 5):
        c = big.raw_encrypt(m, r=big.n - 1)
        assert c == big.nsquare - 1 - m * big.n and c >= small.nsquare
        assert big_sk.raw_decrypt(c) == m  # valid under its own key
        with pytest.raises(InvalidCiphertext, match="out of range"):
            EncryptedNumber(small, c)
    # With r = 1 the encryption of m is 1 + m n: below the smaller key's n^2, and
    # a unit mod its n for the first m that is coprime (checked with its factors),
    # so the wrap succeeds and keeps the ciphertext as it is.
    m = next(
        m for m in range(1, 100) if all((1 + m * big.n) % p for p in (small_sk.p, small_sk.q))
    )
    c = big.raw_encrypt(m, r=1)
    assert c == 1 + m * big.n and 0 < c < small.nsquare
    wrapped = EncryptedNumber(small, c)
    assert wrapped.ciphertext == c and wrapped.bound == small.max_int


def test_repr_and_properties(keypair_1024: KeyPair) -> None:
    pk, _ = keypair_1024
    x = pk.encrypt(2.5)
    assert x.public_key is pk
    assert x.scale == 32
    assert 0 < x.ciphertext < pk.nsquare
    assert pk.fingerprint in repr(x)
    assert str(x.ciphertext) not in repr(x)
