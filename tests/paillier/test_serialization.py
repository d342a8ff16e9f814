"""Binary and JSON forms of keys, encrypted numbers and batches."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hecrypt import (
    EncryptedNumber,
    EncryptedTensor,
    HecryptError,
    InvalidCiphertext,
    InvalidKey,
    KeyMismatchError,
    PackedTensor,
    PrivateKey,
    PublicKey,
)
from hecrypt.paillier import serialization as ser

KEY_BYTES = 128  # the 1024-bit fixtures
CT_BYTES = 2 * KEY_BYTES


@pytest.fixture(scope="module")
def pk(keypair_1024: tuple[PublicKey, PrivateKey]) -> PublicKey:
    return keypair_1024[0]


@pytest.fixture(scope="module")
def sk(keypair_1024: tuple[PublicKey, PrivateKey]) -> PrivateKey:
    return keypair_1024[1]


@pytest.fixture(scope="module")
def other_pk(other_keypair_1024: tuple[PublicKey, PrivateKey]) -> PublicKey:
    return other_keypair_1024[0]


def number_blob(pk: PublicKey, c: int, scale: int = 0, *, version: int = 1) -> bytes:
    """A hand-made encrypted-number blob (to test the loader on hostile data)."""
    return (
        ser.MAGIC
        + bytes((version, ser.TYPE_ENCRYPTED_NUMBER))
        + bytes.fromhex(pk.fingerprint)
        + scale.to_bytes(2, "big")
        + c.to_bytes(CT_BYTES, "big")
    )


def number_json(pk: PublicKey, c: int, scale: object = 0, **extra: object) -> str:
    obj: dict[str, object] = {
        "kind": "hecrypt.encrypted_number",
        "version": 1,
        "key": pk.fingerprint,
        "scale": scale,
        "ciphertext": base64.b64encode(c.to_bytes(CT_BYTES, "big")).decode(),
    }
    obj.update(extra)
    return json.dumps(obj)


def private_blob(n: int, p: int, q: int) -> bytes:
    out = ser.MAGIC + bytes((1, ser.TYPE_PRIVATE_KEY))
    for x in (n, p, q):
        raw = x.to_bytes((x.bit_length() + 7) // 8, "big")
        out += len(raw).to_bytes(2, "big") + raw
    return out


# ================================================================== keys
class TestKeys:
    def test_public_round_trip(self, pk: PublicKey) -> None:
        data = pk.to_bytes()
        assert len(data) == 6 + 2 + KEY_BYTES
        assert data[:4] == b"HECR"
        assert PublicKey.from_bytes(data, insecure_small_keys=True) == pk
        assert PublicKey.from_json(pk.to_json(), insecure_small_keys=True) == pk
        assert PublicKey.from_json(pk.to_json().encode(), insecure_small_keys=True) == pk

    def test_private_round_trip(self, sk: PrivateKey) -> None:
        loaded = PrivateKey.from_bytes(sk.to_bytes(), insecure_small_keys=True)
        assert loaded == sk
        assert loaded.public_key == sk.public_key
        assert PrivateKey.from_json(sk.to_json(), insecure_small_keys=True) == sk
        x = sk.public_key.encrypt(-7.5)
        assert loaded.decrypt(x) == -7.5

    def test_private_is_marked_secret(self, sk: PrivateKey) -> None:
        obj = json.loads(sk.to_json())
        assert obj["kind"] == "hecrypt.private_key"
        assert obj["secret"] is True
        data = sk.to_bytes()
        assert data[5] == ser.TYPE_PRIVATE_KEY
        assert data[5] & 0x80  # the high bit marks secret material
        assert not json.loads(sk.public_key.to_json()).get("secret", False)

    def test_private_and_public_forms_not_interchangeable(self, sk: PrivateKey) -> None:
        with pytest.raises(InvalidKey, match="type tag 0x81"):
            PublicKey.from_bytes(sk.to_bytes(), insecure_small_keys=True)
        with pytest.raises(InvalidKey, match="type tag 0x01"):
            PrivateKey.from_bytes(sk.public_key.to_bytes(), insecure_small_keys=True)
        with pytest.raises(InvalidKey, match="kind"):
            PublicKey.from_json(sk.to_json(), insecure_small_keys=True)

    def test_size_policy(self, pk: PublicKey, sk: PrivateKey) -> None:
        with pytest.raises(InvalidKey, match="2048-bit policy"):
            PublicKey.from_bytes(pk.to_bytes())
        with pytest.raises(InvalidKey, match="2048-bit policy"):
            PrivateKey.from_json(sk.to_json())
        small = (1 << 511) | 12345  # 512 bits: refused even with the flag
        raw = small.to_bytes(64, "big")
        blob = ser.MAGIC + bytes((1, ser.TYPE_PUBLIC_KEY)) + (64).to_bytes(2, "big") + raw
        with pytest.raises(InvalidKey, match="never accepted"):
            PublicKey.from_bytes(blob, insecure_small_keys=True)

    def test_p_times_q_must_be_n(
        self, sk: PrivateKey, other_keypair_1024: tuple[PublicKey, PrivateKey]
    ) -> None:
        other = other_keypair_1024[1]
        blob = private_blob(sk.public_key.n, other.p, other.q)
        with pytest.raises(InvalidKey, match=r"p \* q"):
            PrivateKey.from_bytes(blob, insecure_small_keys=True)
        obj = json.loads(sk.to_json())
        obj["p"] = json.loads(other.to_json())["p"]
        with pytest.raises(InvalidKey, match=r"p \* q"):
            PrivateKey.from_json(json.dumps(obj), insecure_small_keys=True)

    def test_json_key_rules(self, pk: PublicKey, sk: PrivateKey) -> None:
        obj = json.loads(pk.to_json())
        for field, value, rule in [
            ("n", 12345, "string"),
            ("n", "not base64!", "base64"),
            ("n", "", "empty"),
            ("n", "AAE=", "leading zero"),
            ("fingerprint", "0" * 16, "fingerprint"),
            ("version", 2, "version"),
            ("version", True, "version"),
        ]:
            bad = dict(obj, **{field: value})
            with pytest.raises(InvalidKey, match=rule):
                PublicKey.from_json(json.dumps(bad), insecure_small_keys=True)
        with pytest.raises(InvalidKey, match="unknown field"):
            PublicKey.from_json(json.dumps(dict(obj, extra=1)), insecure_small_keys=True)
        with pytest.raises(InvalidKey, match="lacks"):
            PublicKey.from_json(json.dumps({"kind": obj["kind"], "version": 1}))
        secret = json.loads(sk.to_json())
        for value in (False, 1, "true"):
            with pytest.raises(InvalidKey, match="secret"):
                PrivateKey.from_json(json.dumps(dict(secret, secret=value)),
                                     insecure_small_keys=True)

    def test_binary_key_rules(self, pk: PublicKey) -> None:
        good = pk.to_bytes()
        cases = [
            (good[:-1], "truncated"),
            (good + b"\x00", "trailing"),
            (b"HECX" + good[4:], "bad magic"),
            (good[:4] + b"\x02" + good[5:], "version 2"),
            (good[:5] + b"\x07" + good[6:], "type tag 0x07"),
            (good[:6] + b"\x00\x00", "length 0"),
            (good[:6] + (KEY_BYTES + 1).to_bytes(2, "big") + b"\x00" + good[8:], "leading zero"),
            (b"", "truncated"),
            (pk.to_json().encode(), "JSON"),
        ]
        for data, rule in cases:
            with pytest.raises(InvalidKey, match=rule):
                PublicKey.from_bytes(data, insecure_small_keys=True)
        with pytest.raises(InvalidKey, match="must be bytes"):
            PublicKey.from_bytes("HECR", insecure_small_keys=True)  # type: ignore[arg-type]
        assert PublicKey.from_bytes(bytearray(good), insecure_small_keys=True) == pk
        assert PublicKey.from_bytes(memoryview(good), insecure_small_keys=True) == pk


# ================================================================== numbers
VALUES = [0, 1, -1, 42, -(2**200), 2**300, 3.5, -0.1, 1e-6, -12345.678]


class TestNumbers:
    @pytest.mark.parametrize("value", VALUES)
    def test_round_trip(self, pk: PublicKey, sk: PrivateKey, value: float) -> None:
        x = pk.encrypt(value)
        data = x.to_bytes()
        blen = (x.bound.bit_length() + 7) // 8
        assert len(data) == 18 + CT_BYTES + blen  # header, fingerprint, scale, c, bound
        for y in (EncryptedNumber.from_bytes(data, pk),
                  EncryptedNumber.from_json(x.to_json(), pk)):
            assert y.ciphertext == x.ciphertext  # fresh: written as it is
            assert y.scale == x.scale
            assert y.public_key == pk
            assert not y.is_fresh
            assert sk.decrypt(y) == sk.decrypt(x)
            assert type(sk.decrypt(y)) is type(value)

    @pytest.mark.parametrize("frac_bits", [0, 1, 7, 32, 53, 200, 1000])
    def test_scales(self, pk: PublicKey, sk: PrivateKey, frac_bits: int) -> None:
        x = pk.encrypt(-0.75, frac_bits=frac_bits)
        y = EncryptedNumber.from_bytes(x.to_bytes(), pk)
        assert y.scale == frac_bits
        assert sk.decrypt(y) == sk.decrypt(x)
        assert EncryptedNumber.from_json(x.to_json(), pk).scale == frac_bits

    def test_scale_limit(self, pk: PublicKey, sk: PrivateKey) -> None:
        c = pk.encrypt(3).ciphertext
        x = EncryptedNumber(pk, c, ser.MAX_SCALE)
        assert EncryptedNumber.from_bytes(x.to_bytes(), pk).scale == ser.MAX_SCALE
        assert EncryptedNumber.from_json(x.to_json(), pk).scale == ser.MAX_SCALE
        assert sk.decrypt(EncryptedNumber.from_bytes(x.to_bytes(), pk)) == 3 / 2**ser.MAX_SCALE
        with pytest.raises(ValueError, match="serializable limit"):
            EncryptedNumber(pk, c, ser.MAX_SCALE + 1).to_bytes()

    def test_rerandomized_by_default(self, pk: PublicKey, sk: PrivateKey) -> None:
        z = pk.encrypt(5) * 3 + 1  # a homomorphic result: not fresh
        assert not z.is_fresh
        for y in (EncryptedNumber.from_bytes(z.to_bytes(), pk),
                  EncryptedNumber.from_json(z.to_json(), pk)):
            assert y.ciphertext != z.ciphertext
            assert sk.decrypt(y) == 16

    def test_rerandomize_false_keeps_ciphertext(self, pk: PublicKey) -> None:
        z = pk.encrypt(5) + pk.encrypt(6)
        y = EncryptedNumber.from_bytes(z.to_bytes(rerandomize=False), pk)
        assert y.ciphertext == z.ciphertext
        y = EncryptedNumber.from_json(z.to_json(rerandomize=False), pk)
        assert y.ciphertext == z.ciphertext

    def test_wrong_key(self, pk: PublicKey, other_pk: PublicKey) -> None:
        x = pk.encrypt(1)
        with pytest.raises(KeyMismatchError, match=pk.fingerprint):
            EncryptedNumber.from_bytes(x.to_bytes(), other_pk)
        with pytest.raises(KeyMismatchError, match=other_pk.fingerprint):
            EncryptedNumber.from_json(x.to_json(), other_pk)

    def test_ciphertext_rules(self, pk: PublicKey, sk: PrivateKey) -> None:
        n, nsq = pk.n, pk.nsquare
        for c, rule in [
            (0, "out of range"),
            (nsq, "out of range"),
            ((1 << (8 * CT_BYTES)) - 1, "out of range"),
            (sk.p, "shares a factor"),
            (sk.q * 12345, "shares a factor"),
            (n, "shares a factor"),
        ]:
            with pytest.raises(InvalidCiphertext, match=rule):
                EncryptedNumber.from_bytes(number_blob(pk, c), pk)
            with pytest.raises(InvalidCiphertext, match=rule):
                EncryptedNumber.from_json(number_json(pk, c), pk)
        assert EncryptedNumber.from_bytes(number_blob(pk, nsq - 1), pk).ciphertext == nsq - 1

    def test_binary_rules(self, pk: PublicKey) -> None:
        good = pk.encrypt(3).to_bytes()
        cases = [
            (good[:-1], "truncated"),
            (good[:10], "truncated"),
            (good[:3], "truncated"),
            (good + b"\x00", "trailing"),
            (b"XXXX" + good[4:], "bad magic"),
            (good[:4] + b"\x00" + good[5:], "version 0"),
            (good[:5] + bytes((ser.TYPE_ENCRYPTED_BATCH,)) + good[6:], "type tag 0x03"),
            (pk.to_bytes(), "type tag 0x01"),
            (number_blob(pk, 1, ser.MAX_SCALE + 1), "scale"),
        ]
        for data, rule in cases:
            with pytest.raises(InvalidCiphertext, match=rule):
                EncryptedNumber.from_bytes(data, pk)

    def test_json_rules(self, pk: PublicKey) -> None:
        c = pk.encrypt(3).ciphertext
        good = json.loads(number_json(pk, c))
        cases: list[tuple[object, str]] = [
            ("not json", "not valid JSON"),
            ("[1, 2]", "JSON object"),
            ('{"kind": "x"', "not valid JSON"),
            (b"\xff\xfe", "UTF-8"),
            ("[" * 100_000, "not valid JSON"),
            (number_json(pk, c, scale="3"), "integer"),
            (number_json(pk, c, scale=2.0), "integer"),
            (number_json(pk, c, scale=True), "integer"),
            (number_json(pk, c, scale=-1), "scale"),
            (number_json(pk, c, scale=ser.MAX_SCALE + 1), "scale"),
            (number_json(pk, c, scale=float("nan")), "not valid JSON"),
            (number_json(pk, c, extra=1), "unknown field"),
            (number_json(pk, c, ciphertext=7), "string"),
            (number_json(pk, c, ciphertext="@@@@"), "base64"),
            (number_json(pk, c, ciphertext="é"), "base64"),
            (number_json(pk, c, ciphertext="AAAA"), f"exactly {CT_BYTES} bytes"),
            (number_json(pk, c, key=5), "string"),
            (number_json(pk, c, kind="hecrypt.public_key"), "kind"),
            (number_json(pk, c, version="1"), "version"),
            ('{"kind": "a", "kind": "a"}', "twice"),
            (json.dumps({k: v for k, v in good.items() if k != "scale"}), "lacks"),
        ]
        for text, rule in cases:
            with pytest.raises(InvalidCiphertext, match=rule):
                EncryptedNumber.from_json(text, pk)  # type: ignore[arg-type]
        with pytest.raises(InvalidCiphertext, match="JSON text"):
            EncryptedNumber.from_json(123, pk)  # type: ignore[arg-type]

    def test_loader_needs_a_public_key(self, pk: PublicKey, sk: PrivateKey) -> None:
        data = pk.encrypt(1).to_bytes()
        with pytest.raises(TypeError, match="PublicKey"):
            EncryptedNumber.from_bytes(data, sk)  # type: ignore[arg-type]


# ================================================================== batches
class TestBatches:
    def test_round_trip_uniform_scale(self, pk: PublicKey, sk: PrivateKey) -> None:
        values = [1.5, -2.25, 0.0, 1e-3, -1e6]
        xs = pk.encrypt_batch(values)
        data = ser.encrypted_batch_to_bytes(xs)
        blen = (max(x.bound for x in xs).bit_length() + 7) // 8
        assert len(data) == 23 + blen + len(values) * CT_BYTES  # exact size
        ys = ser.encrypted_batch_from_bytes(data, pk)
        assert [y.ciphertext for y in ys] == [x.ciphertext for x in xs]
        assert sk.decrypt_batch(ys) == sk.decrypt_batch(xs)
        zs = ser.encrypted_batch_from_json(ser.encrypted_batch_to_json(xs), pk)
        assert [z.ciphertext for z in zs] == [x.ciphertext for x in xs]
        assert json.loads(ser.encrypted_batch_to_json(xs))["scale"] == 32

    def test_round_trip_mixed_scales(self, pk: PublicKey, sk: PrivateKey) -> None:
        xs = [pk.encrypt(7), pk.encrypt(-0.5), pk.encrypt(0.25, frac_bits=3)]
        data = ser.encrypted_batch_to_bytes(xs)
        blen = (max(x.bound for x in xs).bit_length() + 7) // 8
        assert len(data) == 21 + blen + 3 * 2 + 3 * CT_BYTES
        for ys in (ser.encrypted_batch_from_bytes(data, pk),
                   ser.encrypted_batch_from_json(ser.encrypted_batch_to_json(xs), pk)):
            assert [y.scale for y in ys] == [0, 32, 3]
            assert sk.decrypt_batch(ys) == [7, -0.5, 0.25]

    def test_empty_batch(self, pk: PublicKey) -> None:
        with pytest.raises(ValueError, match="public_key"):
            ser.encrypted_batch_to_bytes([])
        data = ser.encrypted_batch_to_bytes([], public_key=pk)
        assert len(data) == 23  # a bound of 0 takes no bytes
        assert ser.encrypted_batch_from_bytes(data, pk) == []
        text = ser.encrypted_batch_to_json((), public_key=pk)
        assert ser.encrypted_batch_from_json(text, pk) == []

    def test_rerandomizes_only_stale_numbers(self, pk: PublicKey, sk: PrivateKey) -> None:
        fresh = pk.encrypt(1)
        stale = [fresh + 1, fresh * 5, -fresh]
        xs = [fresh, *stale]
        ys = ser.encrypted_batch_from_bytes(ser.encrypted_batch_to_bytes(xs), pk)
        assert ys[0].ciphertext == fresh.ciphertext
        assert all(y.ciphertext != x.ciphertext for x, y in zip(stale, ys[1:]))
        assert sk.decrypt_batch(ys) == [1, 2, 5, -1]
        ys = ser.encrypted_batch_from_json(ser.encrypted_batch_to_json(xs), pk)
        assert all(y.ciphertext != x.ciphertext for x, y in zip(stale, ys[1:]))
        kept = ser.encrypted_batch_from_bytes(
            ser.encrypted_batch_to_bytes(xs, rerandomize=False), pk
        )
        assert [y.ciphertext for y in kept] == [x.ciphertext for x in xs]

    def test_batch_under_one_key(self, pk: PublicKey, other_pk: PublicKey) -> None:
        xs = [pk.encrypt(1), other_pk.encrypt(2)]
        with pytest.raises(KeyMismatchError, match="one key"):
            ser.encrypted_batch_to_bytes(xs)
        with pytest.raises(KeyMismatchError):
            ser.encrypted_batch_to_json([pk.encrypt(1)], public_key=other_pk)
        with pytest.raises(TypeError, match="EncryptedNumber"):
            ser.encrypted_batch_to_bytes([pk.encrypt(1), 3])  # type: ignore[list-item]

    def test_wrong_key(self, pk: PublicKey, other_pk: PublicKey) -> None:
        xs = pk.encrypt_batch([1, 2])
        with pytest.raises(KeyMismatchError):
            ser.encrypted_batch_from_bytes(ser.encrypted_batch_to_bytes(xs), other_pk)
        with pytest.raises(KeyMismatchError):
            ser.encrypted_batch_from_json(ser.encrypted_batch_to_json(xs), other_pk)

    def test_binary_rules(self, pk: PublicKey, sk: PrivateKey) -> None:
        xs = pk.encrypt_batch([1, 2, 3])
        new = ser.encrypted_batch_to_bytes(xs)
        assert new[18] == 0x10 and new[21:23] == b"\x00\x08"  # flag, 8-byte bound
        good = new[:18] + b"\x00" + new[19:21] + new[31:]  # the same batch without a bound
        assert [y.bound for y in ser.encrypted_batch_from_bytes(good, pk)] == [pk.max_int] * 3
        too_big = pk.max_int + 1
        raw = too_big.to_bytes((too_big.bit_length() + 7) // 8, "big")
        with pytest.raises(InvalidCiphertext, match="plaintext band"):
            ser.encrypted_batch_from_bytes(new[:21] + len(raw).to_bytes(2, "big") + raw
                                           + new[31:], pk)
        head = good[:14]
        body = good[21:]
        cases = [
            (good[:-1], "declares 3 ciphertexts"),
            (good + b"\x00", "declares 3 ciphertexts"),
            (head + (4).to_bytes(4, "big") + good[18:], "declares 4"),
            (head + (2**32 - 1).to_bytes(4, "big") + good[18:], "declares 4294967295"),
            (good[:18] + b"\x02" + good[19:], "scale mode 2"),
            (good[:19] + (ser.MAX_SCALE + 1).to_bytes(2, "big") + body, "scale"),
            (good[:18] + b"\x01" + b"\x00\x01" * 2, "truncated"),
            (good[:16], "truncated"),
            (good[:21] + body[:CT_BYTES] + sk.p.to_bytes(CT_BYTES, "big") + body[2 * CT_BYTES:],
             "ciphertext 1 of the batch: .*shares a factor"),
            (good[:21] + body[:2 * CT_BYTES] + bytes(CT_BYTES), "ciphertext 2 .*out of range"),
            (xs[0].to_bytes(), "type tag 0x02"),
        ]
        for data, rule in cases:
            with pytest.raises(InvalidCiphertext, match=rule):
                ser.encrypted_batch_from_bytes(data, pk)

    def test_json_rules(self, pk: PublicKey) -> None:
        good = json.loads(ser.encrypted_batch_to_json(pk.encrypt_batch([1, 2])))
        cases: list[tuple[dict[str, object], str]] = [
            ({"ciphertexts": "abc"}, "array"),
            ({"ciphertexts": [good["ciphertexts"][0], 5]}, r"ciphertexts\[1\].*string"),
            ({"scale": [0]}, "1 scales for 2"),
            ({"scale": [0, "1"]}, r"scale\[1\]"),
            ({"scale": [0, -1]}, "scale -1"),
            ({"scale": None}, "integer"),
            ({"ciphertexts": [good["ciphertexts"][0], base64.b64encode(bytes(CT_BYTES)).decode()]},
             "ciphertext 1 of the batch: .*out of range"),
        ]
        for change, rule in cases:
            with pytest.raises(InvalidCiphertext, match=rule):
                ser.encrypted_batch_from_json(json.dumps(dict(good, **change)), pk)


# ================================================================== fuzzing
# Whatever a loader accepts must round-trip. The binary forms are canonical --
# integers minimal, ciphertexts fixed-width, no optional spelling -- except for
# three forms kept on purpose, which load and are rewritten in the current form:
# a number or batch written without its bound (older data: the bound is
# max_int), a batch with one scale per number where the numbers share one
# scale (or an empty batch that names a scale), and a private key whose primes
# come in the other order. So a binary input that loads must come back as the
# same bytes, or be one of those three. The JSON forms are not canonical (white
# space, field order, string escapes, ``-0``, an absent bound, a list of equal
# scales), so for them: load(dump(x)) equals x, dump is stable, and what loaded
# is what the text says (fields read here with json and base64, each base64
# field in its one canonical spelling).

LOADERS = [
    ("public_key_from_bytes", False),
    ("private_key_from_bytes", False),
    ("encrypted_number_from_bytes", True),
    ("encrypted_batch_from_bytes", True),
    ("encrypted_tensor_from_bytes", True),
    ("packed_tensor_from_bytes", True),
]
JSON_LOADERS = [
    ("public_key_from_json", False),
    ("private_key_from_json", False),
    ("encrypted_number_from_json", True),
    ("encrypted_batch_from_json", True),
]
TYPE_TAGS = {
    "public_key_from_bytes": ser.TYPE_PUBLIC_KEY,
    "private_key_from_bytes": ser.TYPE_PRIVATE_KEY,
    "encrypted_number_from_bytes": ser.TYPE_ENCRYPTED_NUMBER,
    "encrypted_batch_from_bytes": ser.TYPE_ENCRYPTED_BATCH,
    "encrypted_tensor_from_bytes": ser.TYPE_ENCRYPTED_TENSOR,
    "packed_tensor_from_bytes": ser.TYPE_PACKED_TENSOR,
}
DUMPERS: dict[str, Callable[[Any, PublicKey], bytes | str]] = {
    "public_key_from_bytes": lambda x, pk: ser.public_key_to_bytes(x),
    "private_key_from_bytes": lambda x, pk: ser.private_key_to_bytes(x),
    "encrypted_number_from_bytes": lambda x, pk: ser.encrypted_number_to_bytes(
        x, rerandomize=False
    ),
    "encrypted_batch_from_bytes": lambda x, pk: ser.encrypted_batch_to_bytes(
        x, rerandomize=False, public_key=pk
    ),
    "encrypted_tensor_from_bytes": lambda x, pk: ser.encrypted_tensor_to_bytes(
        x, rerandomize=False
    ),
    "packed_tensor_from_bytes": lambda x, pk: ser.packed_tensor_to_bytes(x, rerandomize=False),
    "public_key_from_json": lambda x, pk: ser.public_key_to_json(x),
    "private_key_from_json": lambda x, pk: ser.private_key_to_json(x),
    "encrypted_number_from_json": lambda x, pk: ser.encrypted_number_to_json(
        x, rerandomize=False
    ),
    "encrypted_batch_from_json": lambda x, pk: ser.encrypted_batch_to_json(
        x, rerandomize=False, public_key=pk
    ),
}


def _load(name: str, needs_key: bool, data: object, pk: PublicKey) -> Any:
    """The loaded object, or None if the loader refused ``data`` with a HecryptError."""
    fn = getattr(ser, name)
    try:
        if needs_key:
            return fn(data, pk)
        return fn(data, insecure_small_keys=True)
    except HecryptError:
        return None


def _state(obj: Any) -> Any:
    """Everything a loaded object carries, to compare two loads."""
    if isinstance(obj, list):
        return [_state(x) for x in obj]
    if isinstance(obj, PrivateKey):
        return ("private", obj.public_key.n, obj.p, obj.q)
    if isinstance(obj, PublicKey):
        return ("public", obj.n)
    if isinstance(obj, EncryptedNumber):
        return ("number", obj.public_key.n, obj.ciphertext, obj.scale, obj.bound, obj.is_fresh)
    cs = tuple(int(c) for c in obj.ciphertexts.reshape(-1).tolist())
    if isinstance(obj, EncryptedTensor):
        return ("tensor", obj.public_key.n, obj.shape, obj.encoding, cs, obj.is_fresh)
    assert isinstance(obj, PackedTensor)
    return ("packed", obj.public_key.n, obj.spec, obj.records, obj.shape, obj.scale,
            obj.weight_frac_bits, obj.ciphertexts.shape, cs, obj.is_fresh)


def _kept_binary_form(name: str, data: bytes, obj: Any, out: bytes, pk: PublicKey) -> bool:
    """Whether ``data`` is one of the non-canonical binary forms accepted on purpose."""
    width = ser.ciphertext_width(pk)
    if name == "encrypted_number_from_bytes":  # written without its bound
        return len(data) == 16 + width and out.startswith(data) and obj.bound == pk.max_int
    if name == "encrypted_batch_from_bytes":
        flags, count = data[18], int.from_bytes(data[14:18], "big")
        no_bound = not flags & 0x10 and all(x.bound == pk.max_int for x in obj)
        equal_scales = flags & 0x0F == 1 and len({x.scale for x in obj}) <= 1
        empty = count == 0 and flags & 0x0F == 0 and data[19:21] != b"\x00\x00"
        return no_bound or equal_scales or empty
    if name == "private_key_from_bytes":  # the primes in the other order
        swapped = bytearray(ser.MAGIC + bytes((1, ser.TYPE_PRIVATE_KEY)))
        for x in (obj.public_key.n, obj.q, obj.p):
            raw = x.to_bytes((x.bit_length() + 7) // 8, "big")
            swapped += len(raw).to_bytes(2, "big") + raw
        return data == bytes(swapped)
    return False


def _b64_int(value: object) -> int:
    """A base64 field read independently, after checking it is the canonical spelling."""
    assert isinstance(value, str)
    raw = base64.b64decode(value, validate=True)
    assert base64.b64encode(raw).decode() == value, "a non-canonical base64 field loaded"
    return int.from_bytes(raw, "big")


def _check_json_fields(name: str, data: object, obj: Any, pk: PublicKey) -> None:
    """What loaded is what the JSON text says, field by field."""
    text = data.decode() if isinstance(data, bytes) else data
    assert isinstance(text, str)
    fields = json.loads(text)
    if name in ("public_key_from_json", "private_key_from_json"):
        key = obj.public_key if isinstance(obj, PrivateKey) else obj
        assert _b64_int(fields["n"]) == key.n and fields["fingerprint"] == key.fingerprint
        if isinstance(obj, PrivateKey):
            assert (_b64_int(fields["p"]), _b64_int(fields["q"])) == (obj.p, obj.q)
        return
    items = [obj] if isinstance(obj, EncryptedNumber) else obj
    cts = [fields["ciphertext"]] if name == "encrypted_number_from_json" else fields["ciphertexts"]
    scales = fields["scale"] if isinstance(fields["scale"], list) else [fields["scale"]] * len(cts)
    bound = int(fields["bound"], 16) if "bound" in fields else pk.max_int
    assert fields["key"] == pk.fingerprint
    assert [(x.ciphertext, x.scale, x.bound) for x in items] == [
        (_b64_int(c), s, bound) for c, s in zip(cts, scales)
    ]


def _check_loaded(name: str, needs_key: bool, data: object, pk: PublicKey) -> bool:
    """Load ``data``; if it loads, check that it round-trips. Returns whether it loaded."""
    obj = _load(name, needs_key, data, pk)
    if obj is None:
        return False
    dump = DUMPERS[name]
    out = dump(obj, pk)
    again = _load(name, needs_key, out, pk)
    assert again is not None, f"{name}: the dump of a loaded object does not load"
    assert _state(again) == _state(obj)
    assert dump(again, pk) == out  # the dump is stable
    if name.endswith("_bytes"):
        assert isinstance(data, (bytes, bytearray)) and isinstance(out, bytes)
        raw = bytes(data)
        assert out == raw or _kept_binary_form(name, raw, obj, out, pk), (
            f"{name} accepted a non-canonical form it does not document"
        )
    else:
        _check_json_fields(name, data, obj, pk)
    return True


@st.composite
def mutated(draw: st.DrawFn, blob: bytes) -> bytes:
    data = bytearray(blob)
    for _ in range(draw(st.integers(1, 4))):
        # flips keep the length, so most of them leave a blob that still loads
        op = draw(st.sampled_from(["flip", "flip", "flip", "cut", "insert", "delete"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "cut":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            del data[pos : pos + draw(st.integers(1, 8))]
    return bytes(data)


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def bump_unused_bit(b64: str) -> str:
    """The same bytes spelled otherwise: the lowest (unused) bit of the last character
    before the padding flipped."""
    i = len(b64.rstrip("=")) - 1
    return b64[:i] + B64[B64.index(b64[i]) ^ 1] + b64[i + 1 :]


@st.composite
def json_objects(draw: st.DrawFn, pk: PublicKey) -> str:
    """JSON texts shaped like the encrypted forms, fields mostly valid, some off the rules."""
    width = ser.ciphertext_width(pk)
    valid = st.integers(1, pk.nsquare - 1).map(
        lambda c: base64.b64encode(c.to_bytes(width, "big")).decode()
    )
    ciphertext = st.one_of(valid, valid, valid, valid.map(bump_unused_bit), st.text(max_size=8))
    scale = st.integers(0, 64)
    obj: dict[str, object] = {
        "kind": draw(st.sampled_from(["hecrypt.encrypted_number", "hecrypt.encrypted_batch"])),
        "version": draw(st.sampled_from([1] * 6 + [2, True, 1.0, "1"])),
        "key": draw(st.sampled_from([pk.fingerprint] * 4 + [pk.fingerprint.upper(), "0" * 16])),
    }
    if obj["kind"] == "hecrypt.encrypted_number":
        obj["ciphertext"] = draw(ciphertext)
        obj["scale"] = draw(st.one_of(scale, scale, st.sampled_from([-1, 8193, None, "3", 2.0])))
    else:
        cts = draw(st.lists(ciphertext, max_size=3))
        obj["ciphertexts"] = cts
        per_item = st.lists(scale, min_size=len(cts), max_size=len(cts))
        obj["scale"] = draw(st.one_of(scale, per_item, st.lists(scale, max_size=4)))
    if draw(st.booleans()):
        obj["bound"] = draw(st.one_of(
            st.integers(0, pk.max_int).map(lambda b: format(b, "x")),
            st.sampled_from([format(pk.max_int + 1, "x"), "0f", "A", "", 5]),
        ))
    keys = draw(st.permutations(sorted(obj)))
    return json.dumps({k: obj[k] for k in keys}, indent=draw(st.sampled_from([None, 1])))


_FUZZ = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


class TestFuzz:
    """Loaders never fail with anything but a HecryptError on hostile input, and
    whatever they accept round-trips (see :func:`_check_loaded`): to the same
    bytes for the binary forms (or one of the three kept forms), to an equal
    object with a stable dump for JSON, which is not canonical."""

    @_FUZZ
    @given(data=st.binary(max_size=600), at=st.floats(0, 1))
    def test_random_bytes(
        self, pk: PublicKey, blobs: dict[str, bytes], data: bytes, at: float
    ) -> None:
        """Random bytes, alone, after a valid header (and fingerprint), and written
        over a window of a valid blob."""
        header = ser.MAGIC + bytes((1,))
        for name, needs_key in LOADERS:
            prefixes = [b"", header, header + bytes((TYPE_TAGS[name],))]
            if needs_key:  # the rest after a valid header and fingerprint
                prefixes.append(prefixes[-1] + bytes.fromhex(pk.fingerprint))
            for prefix in prefixes:
                _check_loaded(name, needs_key, prefix + data, pk)
            # the random bytes written over a window of a valid blob (same length)
            blob = blobs[name]
            pos = int(at * len(blob))
            window = data[: len(blob) - pos]
            _check_loaded(name, needs_key, blob[:pos] + window + blob[pos + len(window) :], pk)
        for name, needs_key in JSON_LOADERS:
            _check_loaded(name, needs_key, data, pk)

    @_FUZZ
    @given(text=st.text(max_size=200), data=st.data())
    def test_random_text(self, pk: PublicKey, text: str, data: st.DataObject) -> None:
        """Random text, and JSON shaped like a number or batch with fields near the rules
        (white space, field order and base64 spelling vary)."""
        shaped = data.draw(json_objects(pk))
        for name, needs_key in JSON_LOADERS:
            _check_loaded(name, needs_key, text, pk)
            _check_loaded(name, needs_key, shaped, pk)

    @_FUZZ
    @given(st.data())
    def test_mutated_blobs(
        self, pk: PublicKey, blobs: dict[str, bytes], data: st.DataObject
    ) -> None:
        """Valid blobs with bytes flipped, cut, inserted or deleted."""
        needs_key = dict(LOADERS + JSON_LOADERS)
        name = data.draw(st.sampled_from(sorted(blobs)))
        _check_loaded(name, needs_key[name], data.draw(mutated(blobs[name])), pk)


@pytest.fixture(scope="module")
def blobs(pk: PublicKey, sk: PrivateKey) -> dict[str, bytes]:
    """One valid blob per loader."""
    x = pk.encrypt(-1.25)
    tensor = pk.encrypt(np.array([[1.5, -2.0]]))
    packed = sk.encrypt_packed(np.array([[1.0], [-2.0], [3.0]]), value_bound=4.0, slots=2)
    return {
        "public_key_from_bytes": pk.to_bytes(),
        "private_key_from_bytes": sk.to_bytes(),
        "encrypted_number_from_bytes": x.to_bytes(),
        "encrypted_batch_from_bytes": ser.encrypted_batch_to_bytes([x, pk.encrypt(3)]),
        "encrypted_tensor_from_bytes": tensor.to_bytes(),
        "packed_tensor_from_bytes": packed.to_bytes(),
        "public_key_from_json": pk.to_json().encode(),
        "private_key_from_json": sk.to_json().encode(),
        "encrypted_number_from_json": x.to_json().encode(),
        "encrypted_batch_from_json": ser.encrypted_batch_to_json([x, x * 2]).encode(),
    }


class TestRoundTripCheck:
    """The round-trip check above can fail: each kept form is recognized, and
    nothing else that is not canonical passes."""

    def test_kept_forms_load_and_are_recognized(
        self, pk: PublicKey, sk: PrivateKey, blobs: dict[str, bytes]
    ) -> None:
        needs_key = dict(LOADERS + JSON_LOADERS)
        for name, good in blobs.items():
            assert _check_loaded(name, needs_key[name], good, pk)
        x = pk.encrypt(2.5)
        legacy = x.to_bytes()[: 16 + ser.ciphertext_width(pk)]  # without the bound
        assert _check_loaded("encrypted_number_from_bytes", True, legacy, pk)
        uniform = ser.encrypted_batch_to_bytes([pk.encrypt(1.0), pk.encrypt(2.0)])
        per_item = uniform[:18] + b"\x11" + uniform[19:21] * 2 + uniform[21:]
        assert _check_loaded("encrypted_batch_from_bytes", True, per_item, pk)
        swapped = private_blob(pk.n, sk.q, sk.p)
        assert _check_loaded("private_key_from_bytes", False, swapped, pk)
        spaced = json.dumps(json.loads(x.to_json()), indent=1)
        assert _check_loaded("encrypted_number_from_json", True, spaced, pk)
        # a kept form is recognized only where it is one
        assert not _kept_binary_form(
            "encrypted_number_from_bytes", x.to_bytes() + b"\x00", x, x.to_bytes(), pk
        )

    def test_an_undocumented_spelling_is_caught(
        self, pk: PublicKey, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Were the reader to accept a leading zero byte, the check would fail.
        def lenient(self: Any, field: str) -> int:
            length = self.uint(2, f"length of {field}")
            return int.from_bytes(self.take(length, field), "big")

        padded = pk.to_bytes()
        padded = padded[:6] + (len(padded) - 7).to_bytes(2, "big") + b"\x00" + padded[8:]
        assert _load("public_key_from_bytes", False, padded, pk) is None
        monkeypatch.setattr(ser._Reader, "integer", lenient)
        with pytest.raises(AssertionError, match="non-canonical"):
            _check_loaded("public_key_from_bytes", False, padded, pk)

    def test_non_canonical_base64_is_refused(self, pk: PublicKey) -> None:
        obj = json.loads(pk.encrypt(1).to_json())
        c = obj["ciphertext"]
        assert c.endswith("==")  # 256 bytes: 4 unused bits at the end
        assert bump_unused_bit(c) != c and base64.b64decode(bump_unused_bit(c)) == (
            base64.b64decode(c)
        )
        with pytest.raises(InvalidCiphertext, match="canonical base64"):
            EncryptedNumber.from_json(json.dumps(dict(obj, ciphertext=bump_unused_bit(c))), pk)
        key = json.loads(pk.to_json())
        assert key["n"].endswith("=") and not key["n"].endswith("==")  # 128 bytes: 2 bits
        with pytest.raises(InvalidKey, match="canonical base64"):
            PublicKey.from_json(
                json.dumps(dict(key, n=bump_unused_bit(key["n"]))), insecure_small_keys=True
            )
