"""hecrypt.compat.phe against the real python-paillier: encodings, ciphertexts, errors."""

from __future__ import annotations

import math
import pickle
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import phe.encoding as real_encoding
import phe.paillier as real
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hecrypt import EncodingOverflowError, KeyMismatchError, PrivateKey, PublicKey
from hecrypt.compat import phe as hphe
from hecrypt.paillier import randomness

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.fixture(scope="module")
def numbers_1024(keypair_1024: tuple[PublicKey, PrivateKey]) -> tuple[int, int, int]:
    _, sk = keypair_1024
    return sk.public_key.n, sk.p, sk.q


@pytest.fixture(scope="module")
def ours(numbers_1024: tuple[int, int, int]) -> tuple[Any, Any]:
    n, p, q = numbers_1024
    pk = hphe.PaillierPublicKey(n)
    return pk, hphe.PaillierPrivateKey(pk, p, q)


@pytest.fixture(scope="module")
def theirs(numbers_1024: tuple[int, int, int]) -> tuple[Any, Any]:
    n, p, q = numbers_1024
    pk = real.PaillierPublicKey(n)
    return pk, real.PaillierPrivateKey(pk, p, q)


@pytest.fixture(scope="module")
def small() -> tuple[Any, Any]:
    """A 128-bit key: below the DJN threshold, so plain r^n randomness."""
    return hphe.generate_paillier_keypair(n_length=128)


def _outcome(fn: Callable[[], Any]) -> tuple[Any, ...]:
    try:
        e = fn()
    except (TypeError, ValueError, OverflowError) as exc:
        return ("error", exc)
    return ("ok", e.encoding, e.exponent)


def _same_outcome(mine: tuple[Any, ...], reference: tuple[Any, ...]) -> None:
    if reference[0] == "error":
        assert mine[0] == "error", f"phe raised {reference[1]!r}, compat returned {mine}"
        assert isinstance(mine[1], type(reference[1])), (mine[1], reference[1])
    else:
        assert mine == reference


def _alt_classes(base: int) -> tuple[type, type]:
    attrs = {"BASE": base, "LOG2_BASE": math.log(base, 2)}
    return (
        type("OurAlt", (hphe.EncodedNumber,), attrs),
        type("TheirAlt", (real_encoding.EncodedNumber,), attrs),
    )


# ---------------------------------------------------------------- constants


def test_public_names_and_constants() -> None:
    for name in ("DEFAULT_KEYSIZE", "generate_paillier_keypair", "PaillierPublicKey",
                 "PaillierPrivateKey", "PaillierPrivateKeyring", "EncryptedNumber",
                 "EncodedNumber"):
        assert hasattr(hphe, name)
    assert hphe.DEFAULT_KEYSIZE == real.DEFAULT_KEYSIZE
    assert hphe.EncodedNumber.BASE == real_encoding.EncodedNumber.BASE == 16
    assert hphe.EncodedNumber.LOG2_BASE == real_encoding.EncodedNumber.LOG2_BASE
    assert (hphe.EncodedNumber.FLOAT_MANTISSA_BITS
            == real_encoding.EncodedNumber.FLOAT_MANTISSA_BITS)


def test_key_attributes_match_phe(ours: tuple[Any, Any], theirs: tuple[Any, Any]) -> None:
    (pk, sk), (rpk, rsk) = ours, theirs
    for attr in ("n", "g", "nsquare", "max_int"):
        assert getattr(pk, attr) == getattr(rpk, attr), attr
    for attr in ("p", "q", "psquare", "qsquare", "p_inverse", "hp", "hq"):
        assert getattr(sk, attr) == getattr(rsk, attr), attr
    assert hash(pk) == hash(rpk)
    assert hash(sk) == hash(rsk)
    assert repr(pk).startswith("<PaillierPublicKey ")
    assert repr(sk).startswith("<PaillierPrivateKey ")
    assert str(sk.p) not in repr(sk) and str(sk.q) not in repr(sk)


# ---------------------------------------------------------------- encoding


@SETTINGS
@given(st.integers())
def test_encode_int_matches_phe(ours: tuple[Any, Any], theirs: tuple[Any, Any], x: int) -> None:
    _same_outcome(
        _outcome(lambda: hphe.EncodedNumber.encode(ours[0], x)),
        _outcome(lambda: real_encoding.EncodedNumber.encode(theirs[0], x)),
    )


@SETTINGS
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_encode_float_matches_phe(
    ours: tuple[Any, Any], theirs: tuple[Any, Any], x: float
) -> None:
    _same_outcome(
        _outcome(lambda: hphe.EncodedNumber.encode(ours[0], x)),
        _outcome(lambda: real_encoding.EncodedNumber.encode(theirs[0], x)),
    )


@SETTINGS
@given(
    st.one_of(st.floats(-1e100, 1e100), st.integers(-(2**300), 2**300)),
    st.one_of(st.none(), st.floats(1e-30, 1e6)),
    st.one_of(st.none(), st.integers(-300, 40)),
    st.sampled_from([16, 2, 13, 64]),
)
def test_encode_with_options_matches_phe(
    ours: tuple[Any, Any],
    theirs: tuple[Any, Any],
    x: float | int,
    precision: float | None,
    max_exponent: int | None,
    base: int,
) -> None:
    mine_cls, their_cls = _alt_classes(base)
    mine = _outcome(lambda: mine_cls.encode(ours[0], x, precision, max_exponent))
    reference = _outcome(lambda: their_cls.encode(theirs[0], x, precision, max_exponent))
    _same_outcome(mine, reference)


@SETTINGS
@given(st.data())
def test_decode_matches_phe(ours: tuple[Any, Any], theirs: tuple[Any, Any], data: Any) -> None:
    pk, rpk = ours[0], theirs[0]
    encoding = data.draw(st.one_of(
        st.integers(0, 2**64),
        st.integers(pk.n - 2**64, pk.n - 1),
        st.integers(0, pk.n - 1),
    ))
    exponent = data.draw(st.integers(-400, 30))
    mine = hphe.EncodedNumber(pk, encoding, exponent)
    reference = real_encoding.EncodedNumber(rpk, encoding, exponent)
    try:
        expected = reference.decode()
    except OverflowError:
        with pytest.raises(OverflowError):
            mine.decode()
        return
    got = mine.decode()
    assert got == expected and type(got) is type(expected)
    lower_m = mine.decrease_exponent_to(exponent - 3)
    lower_r = reference.decrease_exponent_to(exponent - 3)
    assert (lower_m.encoding, lower_m.exponent) == (lower_r.encoding, lower_r.exponent)


def test_encode_known_values(ours: tuple[Any, Any]) -> None:
    pk = ours[0]
    e = hphe.EncodedNumber.encode(pk, 0.5)
    assert (e.encoding, e.exponent) == (2**55, -14)
    e = hphe.EncodedNumber.encode(pk, -15)
    assert (e.encoding, e.exponent) == (pk.n - 15, 0)
    e = hphe.EncodedNumber.encode(pk, 3.171234e-7, precision=1e-8)
    assert e.exponent == math.floor(math.log(1e-8, 16))


# ---------------------------------------------------------------- ciphertexts


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.integers(-(2**900), 2**900), st.floats(-1e30, 1e30)))
def test_phe_ciphertexts_decrypt_with_compat_and_back(
    ours: tuple[Any, Any], theirs: tuple[Any, Any], x: float | int
) -> None:
    (pk, sk), (rpk, rsk) = ours, theirs
    c_real = rpk.encrypt(x)
    imported = hphe.EncryptedNumber(pk, c_real.ciphertext(), c_real.exponent)
    assert sk.decrypt(imported) == x
    c_ours = pk.encrypt(x)
    exported = real.EncryptedNumber(rpk, c_ours.ciphertext(), c_ours.exponent)
    assert rsk.decrypt(exported) == x


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**1100),
    st.integers(1, 2**1024),
    st.one_of(st.integers(-(2**60), 2**60), st.floats(-1e6, 1e6)),
    st.one_of(st.integers(-(2**60), 2**60), st.floats(-1e6, 1e6)),
)
def test_raw_encrypt_and_arithmetic_give_phe_ciphertexts(
    ours: tuple[Any, Any], theirs: tuple[Any, Any], m: int, r: int, a: float, b: float
) -> None:
    pk, rpk = ours[0], theirs[0]
    n, nsq = pk.n, pk.nsquare
    expected = (1 + n * (m % n)) * pow(r, n, nsq) % nsq
    assert pk.raw_encrypt(m, r) == rpk.raw_encrypt(m, r) == expected
    # the same fixed-randomness ciphertext through the same operations
    x_ours = pk.encrypt(a, r_value=r)
    x_real = rpk.encrypt(a, r_value=r)
    assert x_ours.ciphertext(False) == x_real.ciphertext(False)
    for op in (lambda x: x * b + a, lambda x: b - x, lambda x: x / 3, lambda x: -1 * x + x):
        try:
            y_real = op(x_real)
        except ValueError as exc:  # a tiny float: aligning exponents overflows max_int
            with pytest.raises(type(exc)):
                op(x_ours)
            continue
        y_ours = op(x_ours)
        assert y_ours.exponent == y_real.exponent
        assert y_ours.ciphertext(False) == y_real.ciphertext(False)


def test_raw_encrypt_small_key_vector() -> None:
    pk = hphe.PaillierPublicKey(126869)
    sk = hphe.PaillierPrivateKey(pk, 293, 433)
    assert pk.raw_encrypt(10100, 74384) == 935906717
    assert sk.raw_decrypt(935906717) == 10100
    assert pk.encrypt(1, r_value=1).ciphertext(False) == 126870


@pytest.mark.parametrize("key", ["small", "ours"])
def test_obfuscation_changes_ciphertext_not_value(key: str, request: pytest.FixtureRequest) -> None:
    pk, sk = request.getfixturevalue(key)
    x = pk.encrypt(3.25, r_value=12345)
    c0 = x.ciphertext(be_secure=False)
    assert x._EncryptedNumber__is_obfuscated is False
    c1 = x.ciphertext()  # obfuscates on the way out
    assert c1 != c0 and x._EncryptedNumber__is_obfuscated is True
    assert x.ciphertext() == c1 == x.ciphertext(False)  # only once
    x.obfuscate()
    c2 = x.ciphertext(False)
    assert c2 not in (c0, c1)
    assert sk.decrypt(x) == 3.25
    y = pk.encrypt(2) + pk.encrypt(5)
    assert y._EncryptedNumber__is_obfuscated is False
    before = y.ciphertext(False)
    assert y.ciphertext() != before and sk.decrypt(y) == 7


def test_large_keys_draw_djn_randomness(ours: tuple[Any, Any]) -> None:
    pk, sk = ours
    sampler = randomness.djn_sampler(pk.n)
    used = sampler._uses
    x = pk.encrypt(-7)
    x.obfuscate()
    (x * 2).ciphertext()
    assert sampler._uses == used + 3
    assert sk.decrypt(x) == -7


def test_encryptions_are_random(small: tuple[Any, Any], ours: tuple[Any, Any]) -> None:
    for pk, _ in (small, ours):
        cs = {pk.encrypt(1).ciphertext(False) for _ in range(5)}
        assert len(cs) == 5


def test_numpy_mean_and_dot(ours: tuple[Any, Any]) -> None:
    import numpy as np

    pk, sk = ours
    xs, ws = [0.5, -1.25, 3.0], [2.0, 4.0, -1.0]
    enc = [pk.encrypt(x) for x in xs]
    assert sk.decrypt(np.mean(enc)) == pytest.approx(np.mean(xs))
    assert sk.decrypt(np.dot(enc, ws)) == pytest.approx(np.dot(xs, ws))
    assert sk.decrypt(pk.encrypt(np.int64(5)) * np.int64(3)) == 15


# ---------------------------------------------------------------- keys


@pytest.mark.parametrize("bits", [8, 16, 31, 32, 64, 65, 128, 255, 512])
def test_generate_keypair_sizes(bits: int) -> None:
    pk, sk = hphe.generate_paillier_keypair(n_length=bits)
    assert pk.n.bit_length() == bits
    assert sk.p < sk.q and sk.p * sk.q == pk.n
    for v in (0, 1, -1, pk.max_int, -pk.max_int):
        assert sk.decrypt(pk.encrypt(v)) == v


def test_keyring() -> None:
    ring = hphe.PaillierPrivateKeyring()
    pk1, sk1 = hphe.generate_paillier_keypair(ring, n_length=128)
    pk2, _ = hphe.generate_paillier_keypair(ring, n_length=128)
    assert ring[pk1] == sk1 and len(ring) == 2
    assert ring.decrypt(pk2.encrypt(42)) == 42
    del ring[pk2]
    with pytest.raises(KeyError):
        ring.decrypt(pk2.encrypt(1))
    with pytest.raises(TypeError):
        ring.add(pk1)  # type: ignore[arg-type]


def test_from_totient_and_pickle(small: tuple[Any, Any]) -> None:
    pk, sk = small
    again = hphe.PaillierPrivateKey.from_totient(pk, (sk.p - 1) * (sk.q - 1))
    assert again == sk
    with pytest.raises(ValueError):
        hphe.PaillierPrivateKey.from_totient(pk, (sk.p - 1) * (sk.q - 1) + 2)
    x = pk.encrypt(-2.5) * 3
    pk2, sk2, x2 = pickle.loads(pickle.dumps((pk, sk, x)))
    assert pk2 == pk and sk2 == sk
    assert x2.ciphertext(False) == x.ciphertext(False)
    assert sk2.decrypt(x2) == -7.5


def test_hecrypt_key_conversions(keypair_1024: tuple[PublicKey, PrivateKey]) -> None:
    hpk, hsk = keypair_1024
    pk = hphe.PaillierPublicKey.from_hecrypt(hpk)
    sk = hphe.PaillierPrivateKey.from_hecrypt(hsk)
    assert pk.n == hpk.n and sk.public_key == pk and (sk.p, sk.q) == (hsk.p, hsk.q)
    assert pk.to_hecrypt(insecure_small_keys=True) == hpk
    assert sk.to_hecrypt(insecure_small_keys=True) == hsk
    c = hpk.raw_encrypt(123456789)
    assert sk.raw_decrypt(c) == 123456789
    assert hsk.raw_decrypt(pk.raw_encrypt(987654321)) == 987654321


# ---------------------------------------------------------------- errors


def test_errors_have_phe_types(
    ours: tuple[Any, Any], small: tuple[Any, Any]
) -> None:
    pk, sk = ours
    other_pk, other_sk = small
    x = pk.encrypt(5)
    with pytest.raises(TypeError):
        pk.raw_encrypt("123")
    with pytest.raises(TypeError):
        sk.raw_decrypt("123")
    with pytest.raises(TypeError):
        pk.encrypt("123")
    with pytest.raises(TypeError):
        sk.decrypt(str(x))
    with pytest.raises(TypeError):
        hphe.EncryptedNumber(pk, "5")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        hphe.EncryptedNumber(real.PaillierPublicKey(pk.n), 5)
    with pytest.raises(TypeError):
        x + "1"
    # key mismatches are ValueErrors
    for bad in (
        lambda: other_sk.decrypt(x),
        lambda: x + other_pk.encrypt(1),
        lambda: x + hphe.EncodedNumber.encode(other_pk, 1),
        lambda: x * hphe.EncodedNumber.encode(other_pk, 2),
        lambda: pk.encrypt(hphe.EncodedNumber.encode(other_pk, 1)),
    ):
        with pytest.raises(ValueError) as info:
            bad()
        assert isinstance(info.value, KeyMismatchError)
    # range
    with pytest.raises(ValueError):
        pk.encrypt(pk.max_int + 1)
    with pytest.raises(ValueError):
        hphe.EncodedNumber.encode(pk, -pk.max_int - 1)
    with pytest.raises(OverflowError) as overflow:
        sk.decrypt(pk.encrypt(pk.max_int) + 1)
    assert isinstance(overflow.value, EncodingOverflowError)
    with pytest.raises(ValueError):
        hphe.EncodedNumber(pk, pk.n + 3, 0).decode()
    with pytest.raises(ValueError):
        hphe.EncodedNumber.encode(pk, float("nan"))
    with pytest.raises(OverflowError):
        hphe.EncodedNumber.encode(pk, float("inf"))
    with pytest.raises(ValueError):
        hphe.EncodedNumber.encode(pk, 1.5, precision=0)
    # exponents only go down
    with pytest.raises(ValueError):
        x.decrease_exponent_to(x.exponent + 1)
    with pytest.raises(ValueError):
        hphe.EncodedNumber.encode(pk, 1.5).decrease_exponent_to(0)
    # ciphertext x ciphertext: phe's NotImplementedError, hecrypt's TypeError
    with pytest.raises(NotImplementedError):
        x * x
    with pytest.raises(TypeError):
        x * x
    with pytest.raises(ZeroDivisionError):
        x / 0


def test_key_construction_errors() -> None:
    pk = hphe.PaillierPublicKey(2537)
    assert hphe.PaillierPrivateKey(pk, 43, 59) == hphe.PaillierPrivateKey(pk, 59, 43)
    with pytest.raises(ValueError):
        hphe.PaillierPrivateKey(pk, 43, 61)
    with pytest.raises(ValueError):
        hphe.PaillierPrivateKey(hphe.PaillierPublicKey(49), 7, 7)
    with pytest.raises(TypeError):
        hphe.PaillierPublicKey("2537")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        hphe.PaillierPublicKey(2536)
    with pytest.raises(ValueError):
        hphe.generate_paillier_keypair(n_length=4)
    with pytest.raises(TypeError):
        hphe.generate_paillier_keypair(n_length=1024.0)  # type: ignore[arg-type]


# ---------------------------------------------------------------- independence


def test_module_does_not_import_phe_or_random() -> None:
    parts = sorted(Path(hphe.__file__).parent.glob("*phe*.py"))
    assert len(parts) >= 6  # phe.py and its _phe_* parts
    for path in parts:
        source = path.read_text()
        assert not re.search(r"^\s*(import random\b|from random import)", source, re.MULTILINE)
    code = (
        "import sys, hecrypt.compat.phe as m\n"
        "pk, sk = m.generate_paillier_keypair(n_length=64)\n"
        "assert sk.decrypt(pk.encrypt(2.5) * 2) == 5.0\n"
        "print(sorted(k for k in sys.modules if k == 'phe' or k.startswith('phe.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_public_names_keep_the_module_path(small: tuple[Any, Any]) -> None:
    # The classes live in private parts; reprs, messages and pickles name hecrypt.compat.phe.
    for name in hphe.__all__:
        obj = getattr(hphe, name)
        if callable(obj):
            assert obj.__module__ == "hecrypt.compat.phe", name
    pk, sk = small
    for obj in (pk, sk, hphe.PaillierPrivateKeyring([sk]), pk.encrypt(1.5) * 2):
        data = pickle.dumps(obj)
        assert b"hecrypt.compat.phe" in data and b"_phe_" not in data
    assert sk.decrypt(pickle.loads(pickle.dumps(pk.encrypt(1.5) * 2))) == 3.0
