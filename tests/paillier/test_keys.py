"""Tests of Paillier keys: generation, validation, immutability, identity."""

from __future__ import annotations

import copy
import hashlib
import pickle
from typing import Any, cast

import pytest

import hecrypt
from hecrypt import _gmp
from hecrypt.exceptions import InvalidKey
from hecrypt.paillier import DEFAULT_KEY_BITS, MIN_KEY_BITS, PrivateKey, PublicKey, keys

KeyPair = tuple[PublicKey, PrivateKey]


def _check_pair(pk: PublicKey, sk: PrivateKey, bits: int) -> None:
    n = pk.n
    assert n.bit_length() == bits == pk.n_bits
    assert sk.p * sk.q == n
    assert sk.p < sk.q
    assert sk.p != sk.q
    assert _gmp.is_prime(sk.p) and _gmp.is_prime(sk.q)
    assert sk.p.bit_length() == bits // 2
    assert sk.q.bit_length() == bits - bits // 2
    assert _gmp.gcd(n, (sk.p - 1) * (sk.q - 1)) == 1
    assert sk.public_key is pk
    assert pk.g == n + 1
    assert pk.nsquare == n * n
    assert pk.max_int == n // 3


# ------------------------------------------------------------------ generation
def test_policy_constants() -> None:
    assert DEFAULT_KEY_BITS == 2048
    assert MIN_KEY_BITS == 2048
    assert keys.MIN_INSECURE_KEY_BITS == 1024


@pytest.mark.parametrize("bits", [1024, 1025, 1100, 1536])
def test_generate_insecure_sizes(bits: int) -> None:
    pk, sk = hecrypt.generate_keypair(bits, insecure_small_keys=True)
    _check_pair(pk, sk, bits)


def test_generate_default_is_2048(keypair_2048: KeyPair) -> None:
    pk, sk = keypair_2048
    _check_pair(pk, sk, 2048)
    default_pk, default_sk = hecrypt.generate_keypair()
    _check_pair(default_pk, default_sk, 2048)
    assert default_pk != pk


@pytest.mark.parametrize("bits", [3072, 4096])
def test_generate_large_sizes(bits: int) -> None:
    # about 0.6 s and 1.5 s on one core
    pk, sk = hecrypt.generate_keypair(bits)
    _check_pair(pk, sk, bits)
    assert sk.decrypt(pk.encrypt(-12345)) == -12345


def test_generated_primes_are_structured() -> None:
    """p - 1 = 2*k*s with s a large prime, which the owner's sampler relies on."""
    _, sk = hecrypt.generate_keypair(1024, insecure_small_keys=True)
    for prime in (sk.p, sk.q):
        primes, rest = _gmp.small_factors(prime - 1)
        assert _gmp.is_prime(rest)
        assert rest.bit_length() >= 512 - 18
        assert 2 in primes


def test_generate_gives_distinct_keys() -> None:
    pairs = [hecrypt.generate_keypair(1024, insecure_small_keys=True) for _ in range(3)]
    assert len({pk.n for pk, _ in pairs}) == 3
    assert len({sk.p for _, sk in pairs} | {sk.q for _, sk in pairs}) == 6


def test_generate_1024_needs_the_insecure_option() -> None:
    with pytest.raises(InvalidKey, match="2048-bit policy"):
        hecrypt.generate_keypair(1024)
    with pytest.raises(InvalidKey):
        hecrypt.generate_keypair(2047)


@pytest.mark.parametrize("bits", [1023, 768, 512, 0, -2048])
def test_generate_refuses_tiny(bits: int) -> None:
    with pytest.raises(InvalidKey):
        hecrypt.generate_keypair(bits, insecure_small_keys=True)


@pytest.mark.parametrize("bits", [2048.0, "2048", True, None])
def test_generate_refuses_non_int_size(bits: object) -> None:
    with pytest.raises(InvalidKey):
        hecrypt.generate_keypair(cast(Any, bits), insecure_small_keys=True)


def test_generate_refuses_huge() -> None:
    with pytest.raises(InvalidKey):
        hecrypt.generate_keypair(keys.MAX_KEY_BITS + 2)


def test_invalid_key_is_value_error() -> None:
    assert issubclass(InvalidKey, ValueError)
    assert issubclass(InvalidKey, hecrypt.HecryptError)


# ------------------------------------------------------------------ identity
def test_fingerprint(keypair_1024: KeyPair) -> None:
    pk, _ = keypair_1024
    n = pk.n
    want = hashlib.sha256(n.to_bytes((n.bit_length() + 7) // 8, "big")).hexdigest()[:16]
    assert pk.fingerprint == want
    assert len(pk.fingerprint) == 16
    assert want in repr(pk)
    assert "1024" in repr(pk)


def test_equality_and_hash(keypair_1024: KeyPair, other_keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    other_pk, other_sk = other_keypair_1024
    same_pk = PublicKey(pk.n, insecure_small_keys=True)
    assert same_pk == pk and same_pk is not pk
    assert hash(same_pk) == hash(pk)
    assert pk != other_pk
    assert pk != pk.n  # not equal to its modulus
    same_sk = PrivateKey(same_pk, sk.q, sk.p)  # factor order does not matter
    assert same_sk == sk
    assert hash(same_sk) == hash(sk)
    assert sk != other_sk
    assert sk != pk
    assert len({pk, same_pk, other_pk}) == 2
    assert len({sk, same_sk, other_sk}) == 2
    assert same_sk.p == sk.p < sk.q == same_sk.q


def test_immutability(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    for obj, names in (
        (pk, ["n", "_n", "_nsq", "_max_int", "fingerprint", "extra"]),
        (sk, ["p", "q", "_p", "_q", "_hp", "public_key", "extra"]),
    ):
        for name in names:
            before = getattr(obj, name, None)
            with pytest.raises(AttributeError):
                setattr(obj, name, 7)
            with pytest.raises(AttributeError):
                delattr(obj, name)
            assert getattr(obj, name, None) == before
    n = pk.n
    assert pk.n == n and pk.nsquare == n * n
    assert sk.p * sk.q == n
    assert sk.decrypt(pk.encrypt(5)) == 5


def _secret_forms(x: int) -> list[str]:
    return [str(x), hex(x), hex(x)[2:], f"{x:X}", oct(x)[2:]]


def test_private_key_repr_hides_secrets(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    for text in (repr(sk), str(sk), f"{sk!r}", format(sk, "")):
        for secret in (sk.p, sk.q):
            for form in _secret_forms(secret):
                assert form not in text
            # not even a long run of its digits
            assert str(secret)[:12] not in text
            assert hex(secret)[2:14] not in text
        assert pk.fingerprint in text
    assert "PrivateKey" in repr(sk)


def test_pickle_round_trip(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        pk2 = pickle.loads(pickle.dumps(pk, protocol))
        sk2 = pickle.loads(pickle.dumps(sk, protocol))
        assert pk2 == pk and pk2.n == pk.n and pk2.fingerprint == pk.fingerprint
        assert sk2 == sk and (sk2.p, sk2.q) == (sk.p, sk.q)
        assert sk2.public_key == pk
        assert sk2.decrypt(pk.encrypt(-42)) == -42
        assert sk.decrypt(pk2.encrypt(2.5)) == 2.5
        assert sk2.decrypt(sk2.encrypt(17)) == 17
    assert copy.deepcopy(sk) == sk
    assert copy.copy(pk) == pk


def test_pickle_reaches_validation(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    func, args = sk.__reduce__()
    with pytest.raises(InvalidKey):
        func(args[0], args[1] + 2, args[2])  # a tampered factor is rejected on load
    func, args = pk.__reduce__()
    with pytest.raises(InvalidKey):
        func(args[0] + 1)  # even modulus


# ------------------------------------------------------------------ validation
def test_public_key_from_modulus(keypair_2048: KeyPair, keypair_1024: KeyPair) -> None:
    pk, _ = keypair_2048
    assert PublicKey(pk.n) == pk
    assert PublicKey(_gmp.mpz(pk.n)) == pk
    small, _ = keypair_1024
    with pytest.raises(InvalidKey, match="2048-bit policy"):
        PublicKey(small.n)
    assert PublicKey(small.n, insecure_small_keys=True) == small


def test_public_key_rejects_bad_moduli(keypair_1024: KeyPair) -> None:
    _, sk = keypair_1024
    p, q = sk.p, sk.q
    prime = _gmp.random_prime(1024)
    bad = {
        "even": p * q + 1,
        "even product": 2 * _gmp.random_prime(1023),
        "prime": prime,
        "square": p * p,
        "square of large prime": _gmp.random_prime(1024) ** 2,
        "too small": _gmp.random_prime(500) * _gmp.random_prime(500),
    }
    for label, n in bad.items():
        with pytest.raises(InvalidKey):
            PublicKey(int(n), insecure_small_keys=True)
        assert label


@pytest.mark.parametrize("value", [2.0**1020, "12345", None, True, b"\x01" * 128, [3]])
def test_public_key_rejects_non_int(value: object) -> None:
    with pytest.raises(InvalidKey):
        PublicKey(cast(Any, value), insecure_small_keys=True)


def test_private_key_validation(keypair_1024: KeyPair, other_keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    _, other_sk = other_keypair_1024
    p, q = sk.p, sk.q
    cases = [
        (pk, p, p),  # equal factors
        (pk, q, q),
        (pk, p + 2, q),  # product differs from n
        (pk, p, q - 2),
        (pk, other_sk.p, other_sk.q),  # another key's primes
        (pk, 1, pk.n),  # product right, 1 and n not prime
        (pk, -p, -q),
        (pk, p, 1.0 * q),  # not an integer
        (pk, str(p), q),
        (pk, True, pk.n),
        (pk.n, p, q),  # not a PublicKey
        (None, p, q),
    ]
    for args in cases:
        with pytest.raises(InvalidKey):
            PrivateKey(*cast(Any, args))
    assert PrivateKey(pk, p, q) == sk


def test_private_key_rejects_composite_factors() -> None:
    """n = a*b with a, b composite: the product matches, primality does not."""
    r = [_gmp.random_prime(260) for _ in range(4)]  # n of 1039 or 1040 bits
    a, b = r[0] * r[1], r[2] * r[3]
    pk = PublicKey(int(a * b), insecure_small_keys=True)
    with pytest.raises(InvalidKey, match="prime"):
        PrivateKey(pk, int(a), int(b))


def test_key_classes_keep_their_public_module_path() -> None:
    """The classes live in modules of their own; reprs and pickles name hecrypt.paillier.keys."""
    import pickle

    from hecrypt.paillier import keys

    pk, sk = hecrypt.generate_keypair(1024, insecure_small_keys=True)
    for cls in (keys.PublicKey, keys.PrivateKey):
        assert cls.__module__ == "hecrypt.paillier.keys"
    blob = pickle.dumps((pk, sk))
    assert b"hecrypt.paillier.keys" in blob and b"public_key" not in blob
    pk2, sk2 = pickle.loads(blob)
    assert pk2 == pk and sk2.decrypt(pk2.encrypt(5)) == 5
