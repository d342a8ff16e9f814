"""hecrypt against fixed Paillier test vectors (see tests/vectors/make_vectors.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hecrypt.exceptions import EncodingOverflowError, InvalidCiphertext
from hecrypt.paillier import EncryptedNumber, PrivateKey, PublicKey

VECTORS = Path(__file__).parent.parent / "vectors" / "paillier_vectors.json"
DATA = json.loads(VECTORS.read_text())
KEYS = DATA["keys"]
IDS = [f"{k['bits']}bit" for k in KEYS]


def _keys(entry: dict[str, Any]) -> tuple[PublicKey, PrivateKey]:
    pk = PublicKey(int(entry["n"]), insecure_small_keys=True)
    return pk, PrivateKey(pk, int(entry["p"]), int(entry["q"]))


def _expected(v: dict[str, Any]) -> int | float | None:
    if v["value"] is None:
        return None
    value = int(v["value"])
    return value if v["scale"] == 0 else value / 2 ** v["scale"]


def test_vector_file_covers_the_cases() -> None:
    assert [k["bits"] for k in KEYS] == [1024, 2048]
    for entry in KEYS:
        n = int(entry["n"])
        assert n.bit_length() == entry["bits"]
        assert int(entry["p"]) * int(entry["q"]) == n
        ms = {int(v["m"]) for v in entry["vectors"]}
        assert {0, 1, n - 1, n // 3, n - n // 3} <= ms
        assert any(v["value"] is None for v in entry["vectors"])  # out-of-band cases
        assert any(v["scale"] > 0 for v in entry["vectors"])
        assert any(int(v["value"] or 0) < 0 for v in entry["vectors"])


@pytest.mark.parametrize("entry", KEYS, ids=IDS)
def test_vectors_are_self_consistent(entry: dict[str, Any]) -> None:
    """The stored vectors satisfy the textbook formulas (guards the file itself)."""
    n = int(entry["n"])
    nsq = n * n
    lam, mu = int(entry["lambda"]), int(entry["mu"])
    for v in entry["vectors"][:6]:
        m, r, c = int(v["m"]), int(v["r"]), int(v["c"])
        assert c == pow(n + 1, m, nsq) * pow(r, n, nsq) % nsq
        assert (pow(c, lam, nsq) - 1) // n * mu % n == m


@pytest.mark.parametrize("entry", KEYS, ids=IDS)
def test_raw_encrypt_matches(entry: dict[str, Any]) -> None:
    pk, _ = _keys(entry)
    assert pk.n == int(entry["n"])
    for v in entry["vectors"]:
        assert pk.raw_encrypt(int(v["m"]), int(v["r"])) == int(v["c"]), v["m"]


@pytest.mark.parametrize("entry", KEYS, ids=IDS)
def test_raw_decrypt_matches(entry: dict[str, Any]) -> None:
    _, sk = _keys(entry)
    for v in entry["vectors"]:
        assert sk.raw_decrypt(int(v["c"])) == int(v["m"])


@pytest.mark.parametrize("entry", KEYS, ids=IDS)
def test_decrypt_matches(entry: dict[str, Any]) -> None:
    pk, sk = _keys(entry)
    in_band = []
    for v in entry["vectors"]:
        x = EncryptedNumber(pk, int(v["c"]), v["scale"])
        want = _expected(v)
        if want is None:
            with pytest.raises(EncodingOverflowError):
                sk.decrypt(x)
            with pytest.raises(EncodingOverflowError):
                sk.decrypt_batch([x])
            continue
        got = sk.decrypt(x)
        assert got == want
        assert type(got) is (int if v["scale"] == 0 else float)
        in_band.append((x, want))
    assert sk.decrypt_batch([x for x, _ in in_band]) == [w for _, w in in_band]


@pytest.mark.parametrize("entry", KEYS, ids=IDS)
def test_specific_values(entry: dict[str, Any]) -> None:
    pk, sk = _keys(entry)
    by_m = {int(v["m"]): v for v in entry["vectors"] if v["scale"] == 0}
    n = pk.n

    def dec(m: int) -> int | float:
        return sk.decrypt(EncryptedNumber(pk, int(by_m[m]["c"])))

    assert dec(0) == 0
    assert dec(1) == 1
    assert dec(n - 1) == -1
    assert dec(n - 2) == -2
    assert dec(n // 3) == pk.max_int
    assert dec(n - n // 3) == -pk.max_int
    with pytest.raises(EncodingOverflowError):
        dec(n // 3 + 1)
    # r = 1: the ciphertext is g^m = 1 + m*n exactly
    assert int(by_m[0]["r"]) == 1 and int(by_m[0]["c"]) == 1


@pytest.mark.parametrize("entry", KEYS, ids=IDS)
def test_homomorphic_ops_on_vectors(entry: dict[str, Any]) -> None:
    """Arithmetic on stored ciphertexts gives the textbook results."""
    pk, sk = _keys(entry)
    ints = [v for v in entry["vectors"] if v["scale"] == 0 and v["value"] is not None]
    a, b = ints[5], ints[6]  # 12345678901234567890 and its negative
    xa = EncryptedNumber(pk, int(a["c"]), bound=2**64)
    xb = EncryptedNumber(pk, int(b["c"]), bound=2**64)
    assert sk.decrypt(xa + xb) == 0
    assert sk.decrypt(xa * 3 - 1) == 3 * int(a["value"]) - 1
    assert (xa + xb).ciphertext == int(a["c"]) * int(b["c"]) % pk.nsquare


@pytest.mark.parametrize("entry", KEYS, ids=IDS)
def test_keys_from_vectors_work(entry: dict[str, Any]) -> None:
    """Keys made elsewhere (unstructured primes) encrypt and decrypt normally."""
    pk, sk = _keys(entry)
    for value in (0, -1, 7, 2.5, -(2**200)):
        assert sk.decrypt(pk.encrypt(value)) == value
        assert sk.decrypt(sk.encrypt(value)) == value


@pytest.mark.parametrize("entry", KEYS, ids=IDS)
def test_raw_inputs_validated(entry: dict[str, Any]) -> None:
    pk, sk = _keys(entry)
    n, p = pk.n, sk.p
    for m in (-1, n, n + 1):
        with pytest.raises(ValueError):
            pk.raw_encrypt(m, 3)
    for r in (0, n, -3, p, 2 * p):
        with pytest.raises(ValueError):
            pk.raw_encrypt(5, r)
    for c in (0, pk.nsquare, p):
        with pytest.raises(InvalidCiphertext):
            sk.raw_decrypt(c)
