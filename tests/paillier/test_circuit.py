"""Circuit-private re-randomization: uniform n-th residues, pool, no tables."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import hecrypt
from hecrypt.exceptions import InvalidCiphertext, InvalidKey
from hecrypt.paillier import (
    PrivateKey,
    PublicKey,
    SerialExecutor,
    circuit,
    precompute_circuit_private,
    randomness,
    rerandomize_for_key_holder,
)

KeyPair = tuple[PublicKey, PrivateKey]


def _legendre(x: int, p: int) -> int:
    s = pow(x % p, (p - 1) // 2, p)
    return -1 if s == p - 1 else s


def _randomizers(pk: PublicKey, before: list[int], after: list[int]) -> list[int]:
    """``after / before mod n^2``: the n-th residue each ciphertext was multiplied by."""
    nsq = pk.nsquare
    return [int(a) * pow(int(b), -1, nsq) % nsq for a, b in zip(after, before)]


def _characters(rs: list[int], sk: PrivateKey) -> set[tuple[int, int]]:
    return {(_legendre(r, sk.p), _legendre(r, sk.q)) for r in rs}


def _table_keys(n: int) -> list[tuple[object, ...]]:
    return [k for k in randomness._cache if n in k or (k[0] == "owner" and k[1] * k[2] == n)]


@pytest.fixture()
def fresh_keypair() -> KeyPair:
    """A key no other test has used (so no table or pool exists for it yet)."""
    return hecrypt.generate_keypair(1024, insecure_small_keys=True)


def test_same_plaintexts_and_uniform_nth_residues(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    values = list(range(-32, 32))
    cs = [pk.encrypt(v).ciphertext for v in values]
    out = rerandomize_for_key_holder(pk, cs)
    assert len(out) == len(cs)
    assert [sk.raw_decrypt(int(c)) for c in out] == [v % pk.n for v in values]
    rs = _randomizers(pk, cs, out)
    phi = (sk.p - 1) * (sk.q - 1)
    assert all(pow(r, phi, pk.nsquare) == 1 for r in rs)  # n-th residues
    assert len(set(rs)) == len(rs)


def test_quadratic_character_is_uniform(keypair_1024: KeyPair) -> None:
    """The key holder reads the Legendre symbols mod p and q of what comes back.

    r^n for r uniform in Z_n^* takes all four (mod p, mod q) characters; DJN's
    hs^alpha only ever takes two of them, which is what leaked weight bits.
    """
    pk, sk = keypair_1024
    base = pk.encrypt(np.zeros(64, dtype=np.int64))
    result = (base * 3) + 1  # a deterministic homomorphic result
    before = result.ciphertexts.reshape(-1).tolist()
    private = result.rerandomized(circuit_private=True)
    after = private.ciphertexts.reshape(-1).tolist()
    assert _characters(_randomizers(pk, before, after), sk) == {
        (1, 1), (1, -1), (-1, 1), (-1, -1)
    }
    np.testing.assert_array_equal(sk.decrypt(private), np.ones(64))
    assert private.is_fresh
    djn = result.rerandomized().ciphertexts.reshape(-1).tolist()
    assert len(_characters(_randomizers(pk, before, djn), sk)) <= 2


def test_number_and_packed_tensor_use_it(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    x = pk.encrypt(2.5) * 2
    y = x.rerandomized(circuit_private=True)
    assert y.is_fresh and y.ciphertext != x.ciphertext
    assert sk.decrypt(y) == 5.0
    rs = []
    for _ in range(48):
        y = x.rerandomized(circuit_private=True)
        rs.extend(_randomizers(pk, [x.ciphertext], [y.ciphertext]))
    assert len(_characters(rs, sk)) == 4
    packed = pk.encrypt_packed(np.arange(12.0).reshape(6, 2), value_bound=16.0)
    scores = packed @ np.array([1.0, -1.0])
    fresh = scores.rerandomized(circuit_private=True)
    assert fresh.is_fresh
    np.testing.assert_allclose(sk.decrypt(fresh), sk.decrypt(scores))


def test_pool_is_drawn_first_and_used_once(fresh_keypair: KeyPair) -> None:
    pk, sk = fresh_keypair
    precompute_circuit_private(pk, 5)
    assert circuit.circuit_private_pool_size(pk) == 5
    pooled = list(circuit._pools[pk._n]._values)
    c = pk.encrypt(7).ciphertext
    out = rerandomize_for_key_holder(pk, [c] * 8)
    assert circuit.circuit_private_pool_size(pk) == 0
    nsq = pk.nsquare
    assert [int(o) for o in out[:5]] == [c * int(r) % nsq for r in pooled]
    assert len({int(o) for o in out}) == 8
    assert {sk.raw_decrypt(int(o)) for o in out} == {7}
    phi = (sk.p - 1) * (sk.q - 1)
    assert all(pow(int(r), phi, nsq) == 1 for r in pooled)
    circuit.clear_circuit_private_pool(pk)
    precompute_circuit_private(pk, 0)
    assert circuit.circuit_private_pool_size(pk) == 0


def test_never_builds_tables_for_the_key(fresh_keypair: KeyPair) -> None:
    """A client's key may be hostile: re-randomizing, adding a plaintext and
    multiplying by a scalar (all a scoring server does) build nothing for it."""
    pk_owner, _ = fresh_keypair
    client = PublicKey(pk_owner.n, insecure_small_keys=True)  # the public key only
    x = hecrypt.EncryptedNumber(client, pk_owner.raw_encrypt(3, r=12345), bound=3)
    ys = [(x * k + 2.5).rerandomized(circuit_private=True) for k in range(40)]
    rerandomize_for_key_holder(client, [y.ciphertext for y in ys] * 2)
    precompute_circuit_private(client, 8, executor=SerialExecutor())
    assert _table_keys(client.n) == []
    assert client.pool_size == 0  # the DJN pool was not touched either
    circuit.clear_circuit_private_pool(client)


def test_executors(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    cs = [pk.encrypt(v).ciphertext for v in range(10)]
    with ThreadPoolExecutor(2) as ex:
        out = rerandomize_for_key_holder(pk, cs, executor=ex)
    assert [sk.raw_decrypt(int(c)) for c in out] == list(range(10))
    assert rerandomize_for_key_holder(pk, []) == []


def test_rejects_bad_input(keypair_1024: KeyPair) -> None:
    pk, _ = keypair_1024
    with pytest.raises(InvalidCiphertext, match="0 < c < n"):
        rerandomize_for_key_holder(pk, [0])
    with pytest.raises(InvalidCiphertext, match="factor"):
        rerandomize_for_key_holder(pk, [pk.n])
    with pytest.raises(InvalidCiphertext, match="integer"):
        rerandomize_for_key_holder(pk, ["12"])
    with pytest.raises(InvalidKey, match="PublicKey"):
        rerandomize_for_key_holder(pk.n, [1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-negative"):
        precompute_circuit_private(pk, -1)
