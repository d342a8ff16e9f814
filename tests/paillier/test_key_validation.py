"""Hostile keys are refused cheaply, and nothing loops without a bound on them."""

from __future__ import annotations

import operator
import re
import time

import numpy as np
import pytest

import hecrypt
from hecrypt import _gmp
from hecrypt.exceptions import InvalidCiphertext, InvalidKey, ParameterError
from hecrypt.paillier import EncryptedNumber, PrivateKey, PublicKey, randomness

KeyPair = tuple[PublicKey, PrivateKey]


def test_small_prime_factor() -> None:
    assert _gmp.small_prime_factor(3 * 5 * 7919) == 3
    assert _gmp.small_prime_factor(65521 * (2**127 - 1)) == 65521
    assert _gmp.small_prime_factor((2**127 - 1) * (2**89 - 1)) is None
    assert _gmp.small_prime_factor(1) is None


def test_modulus_with_a_small_factor_is_refused() -> None:
    """2^16384 - 1 is odd, not prime and not a square; it is divisible by 3."""
    t0 = time.perf_counter()
    with pytest.raises(InvalidKey, match="small prime factor 3"):
        PublicKey(2**16384 - 1)
    with pytest.raises(InvalidKey, match="small prime factor 65521"):
        PublicKey(65521 * _gmp.random_prime(2040), insecure_small_keys=False)
    assert time.perf_counter() - t0 < 5.0


def test_crafted_private_key_is_refused_before_the_expensive_test(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A composite 'prime' fails a single Fermat test; the long test never runs."""
    p = _gmp.random_prime(1020)
    while True:  # an odd composite with no small factor and the right size
        # 1029 bits: with p >= 2^1019, n = p * q >= 2^2047 is never below the 2048-bit policy
        q = _gmp.mpz(hecrypt._gmp.random_below(_gmp.mpz(1) << 1029)) | (1 << 1028) | 1
        if _gmp.small_prime_factor(q) is None and not _gmp.is_probable_prime(q):
            break
    pk = PublicKey(int(p * q))
    calls: list[int] = []
    real = _gmp.is_prime
    monkeypatch.setattr(_gmp, "is_prime", lambda x, *a: calls.append(1) or real(x, *a))
    with pytest.raises(InvalidKey, match="prime"):
        PrivateKey(pk, int(p), int(q))
    assert calls == []


def test_gcd_of_n_and_phi_must_be_one() -> None:
    """With p | q - 1, no generator exists: the key is refused, and the
    generator search (which looped forever) gives up after a bounded number of draws."""
    p = _gmp.random_prime(512)
    k = 1
    while not _gmp.is_prime(2 * k * p + 1):
        k += 1
    q = 2 * k * p + 1
    n = p * q
    pk = PublicKey(int(n), insecure_small_keys=True)
    with pytest.raises(InvalidKey, match=r"gcd\(n, \(p - 1\)\(q - 1\)\)"):
        PrivateKey(pk, int(p), int(q))
    t0 = time.perf_counter()
    assert randomness._find_generator(q, n) is None
    assert time.perf_counter() - t0 < 10.0


def test_close_primes_are_refused() -> None:
    p = _gmp.random_prime(1024)
    q = p + 2
    while not _gmp.is_prime(q):
        q += 2
    pk = PublicKey(int(p * q))
    with pytest.raises(InvalidKey, match=r"\|p - q\|"):
        PrivateKey(pk, int(p), int(q))


def test_generated_and_phe_keys_pass(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    assert PrivateKey(pk, sk.p, sk.q) == sk
    import phe
    _, psk = phe.generate_paillier_keypair(n_length=1024)
    assert PrivateKey.from_phe(psk, insecure_small_keys=True).p == min(psk.p, psk.q)


def test_size_message_names_no_test_option() -> None:
    """A remote client or CLI user cannot act on a Python keyword argument."""
    small, _ = hecrypt.generate_keypair(1024, insecure_small_keys=True)
    with pytest.raises(InvalidKey) as info:
        PublicKey(small.n)
    assert "insecure_small_keys" not in str(info.value)
    assert "at least 2048 bits" in str(info.value)


def test_djn_exponent_floor(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    assert randomness.security_bits(1024) == 80
    assert randomness.min_djn_exponent_bits(2048) == 224
    assert randomness.min_djn_exponent_bits(3072) == 256
    for bits in (1, 64, 159):
        with pytest.raises(ParameterError, match="floor of 160 bits"):
            pk.encrypt_batch([1, 2], djn_exponent_bits=bits)
        with pytest.raises(ParameterError):
            randomness.DJNSampler(pk.n, exp_bits=bits)
    with pytest.raises(ParameterError, match="integer"):
        pk.encrypt_batch([1], djn_exponent_bits=200.0)  # type: ignore[arg-type]
    assert sk.decrypt_batch(pk.encrypt_batch([1, -2], djn_exponent_bits=160)) == [1, -2]


def test_encrypted_number_needs_a_public_key(keypair_1024: KeyPair) -> None:
    with pytest.raises(InvalidKey, match="not NoneType"):
        EncryptedNumber(None, 5)  # type: ignore[arg-type]
    with pytest.raises(InvalidKey, match="PublicKey"):
        EncryptedNumber(keypair_1024[0].n, 5)  # type: ignore[arg-type]
    import phe
    with pytest.raises(InvalidKey, match="from_phe"):
        EncryptedNumber(phe.PaillierPublicKey(keypair_1024[0].n), 5)  # type: ignore[arg-type]
    with pytest.raises(InvalidCiphertext):
        EncryptedNumber(keypair_1024[0], 0)


# ------------------------------------------------------------------ messages users can act on
def test_decrypt_messages_name_the_alternative(keypair_1024: KeyPair) -> None:
    import phe

    pk, sk = keypair_1024
    ppk = phe.PaillierPublicKey(pk.n)
    with pytest.raises(TypeError, match=r"phe EncryptedNumber.*EncryptedNumber\.from_phe"):
        sk.decrypt(ppk.encrypt(1))
    with pytest.raises(TypeError, match="decrypt_batch"):
        sk.decrypt([pk.encrypt(1)])  # type: ignore[call-overload]
    from hecrypt.compat import phe as compat

    cpk = compat.PaillierPublicKey(pk.n)
    with pytest.raises(TypeError, match="phe-compatible"):
        sk.decrypt(cpk.encrypt(1))


def test_mixing_phe_numbers_names_the_conversion(keypair_1024: KeyPair) -> None:
    """The message users met was 'expected an EncryptedNumber, not EncryptedNumber'."""
    import phe

    from hecrypt.compat import phe as compat

    pk, sk = keypair_1024
    ppk, cpk = phe.PaillierPublicKey(pk.n), compat.PaillierPublicKey(pk.n)
    csk = compat.PaillierPrivateKey.from_hecrypt(sk)
    x = pk.encrypt(1)
    for op in (operator.add, operator.sub, operator.mul):
        with pytest.raises(TypeError, match=r"phe\.paillier\.EncryptedNumber.*from_phe"):
            op(x, ppk.encrypt(2))
        with pytest.raises(TypeError, match="phe-compatible API"):
            op(x, cpk.encrypt(2))
    with pytest.raises(TypeError, match=r"from the phe package.*ciphertext\(be_secure=False\)"):
        csk.decrypt(ppk.encrypt(2))
    with pytest.raises(TypeError, match=r"hecrypt's own API.*to_hecrypt\(\)"):
        csk.decrypt(x)
    assert sk.decrypt(EncryptedNumber.from_phe(ppk.encrypt(2), pk).with_bound(4) + x) == 3


def test_encode_messages_name_the_alternative(keypair_1024: KeyPair) -> None:


    pk, _ = keypair_1024

    class Frame:  # what matters is the to_numpy method of a DataFrame
        def to_numpy(self) -> np.ndarray:
            return np.zeros((2, 2))

    with pytest.raises(TypeError, match=r"to_numpy\(\).*encrypt_batch"):
        pk.encrypt(Frame())  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="encrypt_batch"):
        pk.encrypt([1.0, 2.0])  # type: ignore[call-overload]


def test_no_huge_integers_in_messages(keypair_1024: KeyPair) -> None:
    from hecrypt.encoding import bounds
    from hecrypt.exceptions import EncodingOverflowError

    pk, _ = keypair_1024
    for call in (
        lambda: pk.encrypt(pk.n),
        lambda: bounds.encode_array(np.array([1.0]), 2000, pk.max_int),
    ):
        with pytest.raises(EncodingOverflowError) as info:
            call()
        assert max(len(t) for t in re.findall(r"\d+", str(info.value))) < 20
