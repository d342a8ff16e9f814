"""Conversions with python-paillier (the real ``phe`` package)."""

from __future__ import annotations

import sys

import pytest
from phe import paillier

from hecrypt import (
    EncodingOverflowError,
    EncryptedNumber,
    InvalidCiphertext,
    InvalidKey,
    KeyMismatchError,
    PrivateKey,
    PublicKey,
)
from hecrypt.paillier import interop


@pytest.fixture(scope="module")
def pk(keypair_1024: tuple[PublicKey, PrivateKey]) -> PublicKey:
    return keypair_1024[0]


@pytest.fixture(scope="module")
def sk(keypair_1024: tuple[PublicKey, PrivateKey]) -> PrivateKey:
    return keypair_1024[1]


@pytest.fixture(scope="module")
def phe_pk(pk: PublicKey) -> paillier.PaillierPublicKey:
    return pk.to_phe()


@pytest.fixture(scope="module")
def phe_sk(sk: PrivateKey) -> paillier.PaillierPrivateKey:
    return sk.to_phe()


# ===================================================================== keys
class TestKeys:
    def test_public_key_both_ways(self, pk: PublicKey) -> None:
        phe_pk = pk.to_phe()
        assert isinstance(phe_pk, paillier.PaillierPublicKey)
        assert phe_pk.n == pk.n and phe_pk.g == pk.g
        assert PublicKey.from_phe(phe_pk, insecure_small_keys=True) == pk
        assert interop.public_key_from_phe(phe_pk, insecure_small_keys=True) == pk

    def test_private_key_both_ways(self, sk: PrivateKey) -> None:
        phe_sk = sk.to_phe()
        assert isinstance(phe_sk, paillier.PaillierPrivateKey)
        assert (phe_sk.p, phe_sk.q) == (sk.p, sk.q)
        assert phe_sk.public_key.n == sk.public_key.n
        back = PrivateKey.from_phe(phe_sk, insecure_small_keys=True)
        assert back == sk
        assert back.public_key == sk.public_key

    def test_keys_made_by_phe(self) -> None:
        phe_pk, phe_sk = paillier.generate_paillier_keypair(n_length=1024)
        sk = PrivateKey.from_phe(phe_sk, insecure_small_keys=True)
        x = sk.public_key.encrypt(-17.5)
        assert sk.decrypt(x) == -17.5
        assert phe_sk.decrypt(x.to_phe(phe_pk)) == -17.5

    def test_size_policy(self, phe_pk: paillier.PaillierPublicKey,
                         phe_sk: paillier.PaillierPrivateKey) -> None:
        with pytest.raises(InvalidKey, match="2048-bit policy"):
            PublicKey.from_phe(phe_pk)
        with pytest.raises(InvalidKey, match="2048-bit policy"):
            PrivateKey.from_phe(phe_sk)

    def test_validation(self, pk: PublicKey, phe_sk: paillier.PaillierPrivateKey,
                        other_keypair_1024: tuple[PublicKey, PrivateKey]) -> None:
        odd = paillier.PaillierPublicKey(pk.n)
        odd.g = pk.n + 2
        with pytest.raises(InvalidKey, match="n \\+ 1"):
            PublicKey.from_phe(odd, insecure_small_keys=True)
        odd = paillier.PaillierPublicKey(pk.n)
        odd.nsquare += 1
        with pytest.raises(InvalidKey, match="nsquare"):
            PublicKey.from_phe(odd, insecure_small_keys=True)
        odd = paillier.PaillierPublicKey(pk.n)
        odd.n = float(pk.n)
        with pytest.raises(InvalidKey, match="integer"):
            PublicKey.from_phe(odd, insecure_small_keys=True)
        # a phe private key whose primes belong to another modulus
        other = other_keypair_1024[1]
        forged = paillier.PaillierPrivateKey(
            paillier.PaillierPublicKey(other.p * other.q), other.p, other.q
        )
        forged.public_key = phe_sk.public_key
        with pytest.raises(InvalidKey, match=r"p \* q"):
            PrivateKey.from_phe(forged, insecure_small_keys=True)
        with pytest.raises(TypeError, match="PaillierPublicKey"):
            PublicKey.from_phe(pk)
        with pytest.raises(TypeError, match="PaillierPrivateKey"):
            PrivateKey.from_phe(phe_sk.public_key)
        with pytest.raises(TypeError, match="hecrypt PublicKey"):
            interop.public_key_to_phe(phe_sk.public_key)
        with pytest.raises(TypeError, match="hecrypt PrivateKey"):
            interop.private_key_to_phe(pk)  # type: ignore[arg-type]


# ================================================================== numbers
PHE_VALUES = [0, 1, -1, 123456789, -(2**200), 3.5, -0.1, 1e-5, -2.5e-30, 1e20,
              3.141592653589793, 12345678901234567890]


class TestFromPhe:
    @pytest.mark.parametrize("value", PHE_VALUES)
    def test_value_preserved(self, pk: PublicKey, sk: PrivateKey,
                             phe_pk: paillier.PaillierPublicKey, value: float) -> None:
        e = phe_pk.encrypt(value)
        x = EncryptedNumber.from_phe(e, pk)
        expected_scale = max(0, -4 * e.exponent)
        assert x.scale == expected_scale
        out = sk.decrypt(x)
        assert out == value
        assert type(out) is type(value) or e.exponent > 0  # phe makes ints of e > 0
        if e.exponent <= 0:
            assert x.ciphertext == e.ciphertext(be_secure=False)  # no work needed
        assert not x.is_fresh

    @pytest.mark.parametrize(("value", "precision"), [(4096, 256), (-(16**5) * 3, 16**5),
                                                      (1e20, 1e10), (2.0**70, 2.0**60)])
    def test_positive_exponents(self, pk: PublicKey, sk: PrivateKey,
                                phe_pk: paillier.PaillierPublicKey,
                                phe_sk: paillier.PaillierPrivateKey,
                                value: float, precision: float) -> None:
        e = phe_pk.encrypt(value, precision=precision)
        assert e.exponent > 0
        x = EncryptedNumber.from_phe(e, pk)
        assert x.scale == 0
        assert sk.decrypt(x) == phe_sk.decrypt(e)  # phe rounded to its precision

    @pytest.mark.parametrize("exponent", [0, -1, -2, -5, -20, -200])
    def test_explicit_exponents(self, pk: PublicKey, sk: PrivateKey,
                                phe_pk: paillier.PaillierPublicKey,
                                phe_sk: paillier.PaillierPrivateKey, exponent: int) -> None:
        e = phe_pk.encrypt(-3).decrease_exponent_to(exponent) if exponent else phe_pk.encrypt(-3)
        assert e.exponent == exponent
        x = EncryptedNumber.from_phe(e, pk)
        assert x.scale == -4 * exponent
        assert sk.decrypt(x) == phe_sk.decrypt(e) == -3

    def test_arithmetic_after_conversion(self, pk: PublicKey, sk: PrivateKey,
                                         phe_pk: paillier.PaillierPublicKey) -> None:
        a = EncryptedNumber.from_phe(phe_pk.encrypt(2.5), pk)
        b = EncryptedNumber.from_phe(phe_pk.encrypt(-4), pk)
        assert a.bound == b.bound == pk.max_int  # phe numbers carry no bound
        with pytest.raises(EncodingOverflowError):
            a * 2
        a, b = a.with_bound(1000.0), b.with_bound(1000.0)  # the caller vouches for |x|
        c = pk.encrypt(0.25)
        assert sk.decrypt(a + b + c) == -1.25
        assert sk.decrypt(a * 4 - b) == 14.0
        assert sk.decrypt(b * -3 + 1) == 13
        assert sk.decrypt_batch([a, b]) == [2.5, -4]

    def test_key_from_the_phe_number(self, pk: PublicKey, sk: PrivateKey,
                                     phe_pk: paillier.PaillierPublicKey) -> None:
        e = phe_pk.encrypt(9)
        with pytest.raises(InvalidKey, match="policy"):
            EncryptedNumber.from_phe(e)
        x = interop.encrypted_number_from_phe(e, insecure_small_keys=True)
        assert x.public_key == pk
        assert sk.decrypt(x) == 9

    def test_mismatched_key(self, pk: PublicKey, other_pk_phe: paillier.PaillierPublicKey) -> None:
        e = other_pk_phe.encrypt(1)
        with pytest.raises(KeyMismatchError, match=pk.fingerprint):
            EncryptedNumber.from_phe(e, pk)

    def test_invalid_inputs(self, pk: PublicKey, sk: PrivateKey,
                            phe_pk: paillier.PaillierPublicKey) -> None:
        for c, rule in [(0, "out of range"), (pk.nsquare, "out of range"),
                        (sk.p, "shares a factor")]:
            with pytest.raises(InvalidCiphertext, match=rule):
                EncryptedNumber.from_phe(paillier.EncryptedNumber(phe_pk, c), pk)
        c = phe_pk.encrypt(1).ciphertext(be_secure=False)
        with pytest.raises(InvalidCiphertext, match="exponent"):
            EncryptedNumber.from_phe(paillier.EncryptedNumber(phe_pk, c, 1.5), pk)
        with pytest.raises(InvalidCiphertext, match="scale"):
            EncryptedNumber.from_phe(paillier.EncryptedNumber(phe_pk, c, -5000), pk)
        with pytest.raises(EncodingOverflowError, match="plaintext band"):
            EncryptedNumber.from_phe(paillier.EncryptedNumber(phe_pk, c, 256), pk)
        with pytest.raises(TypeError, match="phe EncryptedNumber"):
            EncryptedNumber.from_phe(pk.encrypt(1), pk)
        with pytest.raises(TypeError, match="hecrypt PublicKey"):
            EncryptedNumber.from_phe(phe_pk.encrypt(1), phe_pk)


@pytest.fixture(scope="module")
def other_pk_phe(other_keypair_1024: tuple[PublicKey, PrivateKey]) -> paillier.PaillierPublicKey:
    return other_keypair_1024[0].to_phe()


class TestToPhe:
    @pytest.mark.parametrize("frac_bits", [None, 0, 1, 2, 3, 4, 5, 31, 32, 33, 100])
    @pytest.mark.parametrize("value", [0.0, 1.0, -1.0, 3.5, -0.1, 1e-4, -123456.789])
    def test_floats(self, pk: PublicKey, sk: PrivateKey, phe_pk: paillier.PaillierPublicKey,
                    phe_sk: paillier.PaillierPrivateKey, value: float,
                    frac_bits: int | None) -> None:
        x = pk.encrypt(value, frac_bits=frac_bits)
        e = x.to_phe(phe_pk)
        scale = x.scale
        assert e.exponent == -((scale + 3) // 4)
        got, want = phe_sk.decrypt(e), sk.decrypt(x)
        assert got == want
        assert type(got) is type(want)  # a float, or an int at scale 0 in both

    @pytest.mark.parametrize("value", [0, 7, -7, 2**300, -(2**300), 10**50])
    def test_ints(self, pk: PublicKey, sk: PrivateKey, phe_pk: paillier.PaillierPublicKey,
                  phe_sk: paillier.PaillierPrivateKey, value: int) -> None:
        e = pk.encrypt(value).to_phe(phe_pk)
        assert e.exponent == 0
        got = phe_sk.decrypt(e)
        assert got == value and type(got) is int

    def test_round_trip_through_phe(self, pk: PublicKey, sk: PrivateKey) -> None:
        for value, frac_bits in [(5, None), (-2.75, 32), (0.5, 6), (-1.0, 1)]:
            x = pk.encrypt(value, frac_bits=frac_bits)
            y = EncryptedNumber.from_phe(x.to_phe(), pk)
            assert sk.decrypt(y) == sk.decrypt(x)

    def test_arithmetic_in_phe(self, pk: PublicKey, phe_pk: paillier.PaillierPublicKey,
                               phe_sk: paillier.PaillierPrivateKey) -> None:
        a = pk.encrypt(1.5).to_phe(phe_pk)
        b = pk.encrypt(-4).to_phe(phe_pk)
        c = phe_pk.encrypt(0.25)
        assert phe_sk.decrypt(a + b + c) == -2.25
        assert phe_sk.decrypt(a * 3 - b) == 8.5
        assert phe_sk.decrypt(b * 0.5) == -2.0

    def test_rerandomization(self, pk: PublicKey, phe_pk: paillier.PaillierPublicKey,
                             phe_sk: paillier.PaillierPrivateKey) -> None:
        fresh = pk.encrypt(3)  # scale 0: no multiplication needed
        e = fresh.to_phe(phe_pk)
        assert e.ciphertext(be_secure=False) == fresh.ciphertext
        assert e.ciphertext() == fresh.ciphertext  # marked obfuscated: phe leaves it alone
        stale = fresh + 1
        e = stale.to_phe(phe_pk)
        assert e.ciphertext(be_secure=False) != stale.ciphertext
        assert e.ciphertext() == e.ciphertext(be_secure=False)
        assert phe_sk.decrypt(e) == 4
        raw = stale.to_phe(phe_pk, rerandomize=False)
        assert raw.ciphertext(be_secure=False) == stale.ciphertext
        assert raw.ciphertext() != stale.ciphertext  # phe obfuscates on first use
        assert phe_sk.decrypt(raw) == 4
        shifted = pk.encrypt(0.5, frac_bits=3)  # needs a multiplication by 2
        e = shifted.to_phe(phe_pk)
        assert e.ciphertext(be_secure=False) != pow(shifted.ciphertext, 2, pk.nsquare)
        raw = shifted.to_phe(phe_pk, rerandomize=False)
        assert raw.ciphertext(be_secure=False) == pow(shifted.ciphertext, 2, pk.nsquare)
        assert phe_sk.decrypt(e) == phe_sk.decrypt(raw) == 0.5

    def test_mismatched_key(self, pk: PublicKey, other_pk_phe: paillier.PaillierPublicKey) -> None:
        with pytest.raises(KeyMismatchError, match=pk.fingerprint):
            pk.encrypt(1).to_phe(other_pk_phe)
        with pytest.raises(TypeError, match="PaillierPublicKey"):
            pk.encrypt(1).to_phe(pk)
        with pytest.raises(TypeError, match="hecrypt EncryptedNumber"):
            interop.encrypted_number_to_phe(3)  # type: ignore[arg-type]

    def test_default_phe_key(self, pk: PublicKey, phe_sk: paillier.PaillierPrivateKey) -> None:
        e = pk.encrypt(-8).to_phe()
        assert e.public_key == phe_sk.public_key
        assert phe_sk.decrypt(e) == -8


def test_scale_to_phe_exponent() -> None:
    assert interop.scale_to_phe_exponent(0) == (0, 0)
    assert interop.scale_to_phe_exponent(1) == (-1, 3)
    assert interop.scale_to_phe_exponent(4) == (-1, 0)
    assert interop.scale_to_phe_exponent(33) == (-9, 3)


def test_missing_phe_names_the_extra(pk: PublicKey, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "phe", None)
    with pytest.raises(ImportError, match=r"hecrypt\[phe\]"):
        pk.to_phe()
