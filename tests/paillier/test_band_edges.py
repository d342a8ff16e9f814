"""The plaintext band, packing slots and tracked bounds, tested on their edge through
the key's entry points, after arithmetic, at decryption and when loading.

Each limit is met exactly (accepted, and the value comes back exactly) and
exceeded by one unit (refused with the documented error): ``max_int = n // 3``
for numbers and tensors, ``n_bits - 2`` bits for a packing, ``slot_limit`` for
packed results, and the tracked bound a ciphertext carries.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from hecrypt.exceptions import EncodingOverflowError, InvalidCiphertext
from hecrypt.paillier import (
    EncryptedNumber,
    EncryptedTensor,
    PackedTensor,
    PrivateKey,
    PublicKey,
    SerialExecutor,
)
from hecrypt.paillier import serialization as ser

Keys = tuple[PublicKey, PrivateKey]
SERIAL = SerialExecutor()
OWNERS = pytest.mark.parametrize("owner", [False, True], ids=["public", "private"])


def with_bound_field(blob: bytes, at: int, bound: int) -> bytes:
    """``blob`` with its ``len u16 | bound`` field at offset ``at`` replaced."""
    blen = int.from_bytes(blob[at : at + 2], "big")
    raw = bound.to_bytes((bound.bit_length() + 7) // 8, "big")
    return blob[:at] + len(raw).to_bytes(2, "big") + raw + blob[at + 2 + blen :]


# offsets of the bound field (see hecrypt.paillier.serialization)
TENSOR_BOUND_AT = 6 + 8 + 2
PACKED_BOUND_AT = 6 + 8 + 10
BATCH_BOUND_AT = 6 + 8 + 4 + 1 + 2  # one scale for the batch


def number_bound_at(pk: PublicKey) -> int:
    return 6 + 8 + 2 + ser.ciphertext_width(pk)


def number(pk: PublicKey, m: int, bound: int, scale: int = 0) -> EncryptedNumber:
    """A number holding the signed integer ``m`` under an explicit public bound."""
    return EncryptedNumber(pk, pk.raw_encrypt(m % pk.n), scale, bound=bound)


def float_edge(limit: int) -> tuple[float, float]:
    """The largest float at most ``limit`` (an integer) and the next float up."""
    lo = float(limit)
    if lo > limit:
        lo = math.nextafter(lo, 0.0)
    return lo, math.nextafter(lo, math.inf)


# ------------------------------------------------------------------ encryption at the band
@OWNERS
def test_numbers_and_tensors_at_max_int(keypair_1024: Keys, owner: bool) -> None:
    pk, sk = keypair_1024
    encrypt = sk.encrypt if owner else pk.encrypt
    mi = pk.max_int
    assert mi == pk.n // 3
    for m in (mi, -mi):
        x = encrypt(m)
        assert x.bound == mi and sk.decrypt(x) == m
    for m in (mi + 1, -(mi + 1)):
        with pytest.raises(EncodingOverflowError):
            encrypt(m)
    t = encrypt(np.array([mi, -mi, 0], dtype=object), executor=SERIAL)
    assert t.bound == mi and sk.decrypt(t).tolist() == [mi, -mi, 0]
    for bad in ([mi + 1], [0, -(mi + 1)]):
        with pytest.raises(EncodingOverflowError):
            encrypt(np.array(bad, dtype=object), executor=SERIAL)


@OWNERS
def test_a_declared_bound_at_max_int(keypair_1024: Keys, owner: bool) -> None:
    # A float value_bound cannot name max_int itself (it has ~1020 bits): the
    # largest float not above it is accepted and tracked, the next float refused.
    pk, sk = keypair_1024
    encrypt = sk.encrypt if owner else pk.encrypt
    lo, hi = float_edge(pk.max_int)
    assert int(lo) <= pk.max_int < int(hi)
    x = encrypt(3, value_bound=lo)
    assert x.bound == int(lo) and sk.decrypt(x) == 3
    t = encrypt(np.array([lo, -lo]), frac_bits=0, value_bound=lo, executor=SERIAL)
    assert t.bound == int(lo) and sk.decrypt(t).tolist() == [int(lo), -int(lo)]
    with pytest.raises(EncodingOverflowError, match="declared value_bound"):
        encrypt(3, value_bound=hi)
    with pytest.raises(EncodingOverflowError, match="declared value_bound"):
        encrypt(np.array([0.0]), frac_bits=0, value_bound=hi, executor=SERIAL)
    assert EncryptedNumber(pk, x.ciphertext).with_bound(lo).bound == int(lo)
    with pytest.raises(EncodingOverflowError):
        EncryptedNumber(pk, x.ciphertext).with_bound(hi)
    assert EncryptedNumber(pk, x.ciphertext, bound=pk.max_int).bound == pk.max_int
    with pytest.raises(EncodingOverflowError):
        EncryptedNumber(pk, x.ciphertext, bound=pk.max_int + 1)


@OWNERS
def test_packing_at_the_size_of_the_modulus(keypair_1024: Keys, owner: bool) -> None:
    # With |w| <= 1 and one term a slot takes bits(B) + 2 bits (sign, bias
    # headroom), and a packing at most n_bits - 2: B < 2^(n_bits - 4) fits one slot.
    pk, sk = keypair_1024
    pack = sk.encrypt_packed if owner else pk.encrypt_packed
    top = 1 << (pk.n_bits - 4)
    opts: dict[str, Any] = {"frac_bits": 0, "weight_bound": 1, "weight_frac_bits": 0,
                            "terms": 1, "executor": SERIAL}
    data = np.array([[top - 1], [-(top - 1)], [5]], dtype=object)
    t = pack(data, **opts)
    assert t.slots == 1 and t.layout.slot_bits == pk.n_bits - 2 and t.bound == top - 1
    assert sk.decrypt(t, executor=SERIAL).tolist() == data.tolist()
    assert sk.decrypt(t @ np.array([-1]), executor=SERIAL).tolist() == [
        -(top - 1), top - 1, -5
    ]
    with pytest.raises(EncodingOverflowError, match="does not fit"):
        pack(np.array([[top]], dtype=object), **opts)
    # the same edge through a declared bound: the largest float below 2^(n_bits-4)
    lo = math.nextafter(float(top), 0.0)
    t = pack(np.array([[lo], [-lo]]), value_bound=lo, **opts)
    assert t.slots == 1 and t.bound == int(lo)
    assert sk.decrypt(t, executor=SERIAL).tolist() == [[int(lo)], [-int(lo)]]
    with pytest.raises(EncodingOverflowError, match="does not fit"):
        pack(np.array([[1.0]]), value_bound=float(top), **opts)


# ------------------------------------------------------------------ arithmetic at the band
def test_number_arithmetic_reaching_max_int(keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    mi = pk.max_int
    a = number(pk, mi - 10, mi - 10)
    for b_val, b_bound in ((10, 10), (-3, 10)):
        s = a + number(pk, b_val, b_bound)
        assert s.bound == mi and sk.decrypt(s) == mi - 10 + b_val
    with pytest.raises(EncodingOverflowError, match="could reach"):
        a + number(pk, 0, 11)
    # negative values at the other end of the band
    low = number(pk, -(mi - 10), mi - 10) - number(pk, 10, 10)
    assert low.bound == mi and sk.decrypt(low) == -mi
    # different scales: the lower one is raised by 2^2 before the bounds add
    b = number(pk, 1, 2, 0)  # bound 2 at scale 0 is 8 at scale 2
    hi = number(pk, -(mi - 8), mi - 8, 2)
    assert (hi + b).bound == mi and (b + hi).bound == mi
    assert sk.decrypt(hi + b) == (-(mi - 8) + 4) / 4
    with pytest.raises(EncodingOverflowError):
        number(pk, 0, mi - 7, 2) + b  # mi - 7 + 8 = mi + 1
    # plaintext additions
    assert (a + 10).bound == mi and sk.decrypt(a + 10) == mi
    assert (a - 10).bound == mi
    with pytest.raises(EncodingOverflowError):
        a + 11
    with pytest.raises(EncodingOverflowError):
        a - 11
    # products: the largest bound a scalar 3 accepts, and one more
    third = mi // 3
    p = number(pk, -third, third) * 3
    assert p.bound == 3 * third <= mi and sk.decrypt(p) == -3 * third
    with pytest.raises(EncodingOverflowError):
        number(pk, 0, third + 1) * 3
    with pytest.raises(EncodingOverflowError):
        number(pk, 0, third + 1) * -3


def test_tensor_arithmetic_reaching_max_int(keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    mi = pk.max_int
    t = sk.encrypt(np.array([mi - 10, -(mi - 10)], dtype=object), executor=SERIAL)
    u = sk.encrypt(np.array([10, -10], dtype=object), executor=SERIAL)
    s = t + u
    assert s.bound == mi and sk.decrypt(s).tolist() == [mi, -mi]
    assert (t - u).bound == mi and sk.decrypt(t - u).tolist() == [mi - 20, -(mi - 20)]
    with pytest.raises(EncodingOverflowError):
        t + sk.encrypt(np.array([11, 0], dtype=object), executor=SERIAL)
    plain = np.array([10, -10], dtype=object)
    assert (t + plain).bound == mi and sk.decrypt(t + plain).tolist() == [mi, -mi]
    with pytest.raises(EncodingOverflowError):
        t + np.array([0, 11], dtype=object)
    third = mi // 3
    w = sk.encrypt(np.array([third, -third], dtype=object), executor=SERIAL)
    assert sk.decrypt(w * 3).tolist() == [3 * third, -3 * third]
    assert sk.decrypt(w @ np.array([2, -1])) == 3 * third
    assert (w @ np.array([2, -1])).bound == 3 * third
    with pytest.raises(EncodingOverflowError):
        w @ np.array([2, -2])
    over = sk.encrypt(np.array([third + 1], dtype=object), executor=SERIAL)
    with pytest.raises(EncodingOverflowError):
        over * 3
    # a sum over n elements: bound * n
    q = mi // 4
    four = sk.encrypt(np.array([q, q, q, -q], dtype=object), executor=SERIAL)
    assert four.sum().bound == 4 * q and sk.decrypt(four.sum()) == 2 * q
    with pytest.raises(EncodingOverflowError):
        sk.encrypt(np.array([q + 1] * 4, dtype=object), executor=SERIAL).sum()


def test_packed_arithmetic_reaching_the_slot_limit(keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    t = sk.encrypt_packed(np.array([[1], [-1], [0]]), value_bound=1, weight_bound=1000,
                          weight_frac_bits=0, terms=1, executor=SERIAL)
    lim = t.layout.slot_limit
    assert (t.layout.slot_bits, lim) == (12, 2047)  # bits(1000) + sign + bias headroom

    def dec(x: PackedTensor) -> list[int]:
        return [int(v) for v in sk.decrypt(x, executor=SERIAL).tolist()]

    s = t @ np.array([lim])
    assert s.bound == lim and dec(s) == [lim, -lim, 0]
    assert dec(-s) == [-lim, lim, 0]
    with pytest.raises(EncodingOverflowError, match="slot"):
        t @ np.array([lim + 1])
    base = t @ np.array([1000])
    assert (base + (lim - 1000)).bound == lim
    assert dec(base + (lim - 1000)) == [lim, lim - 2000, lim - 1000]
    assert dec(base - (lim - 1000)) == [-47, -lim, -1047]
    with pytest.raises(EncodingOverflowError):
        base + (lim - 999)
    with pytest.raises(EncodingOverflowError):
        base - (lim - 999)
    assert dec(base + t @ np.array([lim - 1000])) == [lim, -lim, 0]
    with pytest.raises(EncodingOverflowError):
        base + t @ np.array([lim - 999])
    # an encrypted number added to every slot: its public bound is what counts
    x = number(pk, lim - 1000, lim - 1000)
    assert (base + x).bound == lim and dec(base + x) == [lim, lim - 2000, lim - 1000]
    with pytest.raises(EncodingOverflowError):
        base + number(pk, 0, lim - 999)


# ------------------------------------------------------------------ decryption
def test_decryption_at_and_above_the_tracked_bound(keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    for m in (1000, -1000, pk.max_int, -pk.max_int):
        at = number(pk, m, abs(m))
        assert sk.decrypt(at) == m and sk.decrypt_batch([at]) == [m]
        below = number(pk, m, abs(m) - 1)
        with pytest.raises(EncodingOverflowError, match="tracked bound"):
            sk.decrypt(below)
        with pytest.raises(EncodingOverflowError, match="tracked bound"):
            sk.decrypt_batch([at, below])
    # outside the band: refused whatever the bound says
    for r in (pk.max_int + 1, pk.n - pk.max_int - 1):
        with pytest.raises(EncodingOverflowError, match="valid band"):
            sk.decrypt(EncryptedNumber(pk, pk.raw_encrypt(r)))


def test_tensor_decryption_at_and_above_the_tracked_bound(keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    t = sk.encrypt(np.array([5, -7, 2]), executor=SERIAL)
    blob = t.to_bytes()
    for bound in (7, 8):
        loaded = EncryptedTensor.from_bytes(with_bound_field(blob, TENSOR_BOUND_AT, bound), pk)
        assert loaded.bound == bound and sk.decrypt(loaded).tolist() == [5, -7, 2]
    low = EncryptedTensor.from_bytes(with_bound_field(blob, TENSOR_BOUND_AT, 6), pk)
    with pytest.raises(EncodingOverflowError, match="tracked bound"):
        sk.decrypt(low)


def test_packed_decryption_at_and_above_the_tracked_bound(keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    t = sk.encrypt_packed(np.array([[5, 0], [-7, 1], [2, -3]]), value_bound=8,
                          executor=SERIAL)
    blob = t.to_bytes()
    for bound in (7, 8):
        loaded = PackedTensor.from_bytes(with_bound_field(blob, PACKED_BOUND_AT, bound), pk)
        assert loaded.bound == bound
        assert sk.decrypt(loaded, executor=SERIAL).tolist() == [[5, 0], [-7, 1], [2, -3]]
    low = PackedTensor.from_bytes(with_bound_field(blob, PACKED_BOUND_AT, 6), pk)
    with pytest.raises(EncodingOverflowError, match="tracked bound"):
        sk.decrypt(low, executor=SERIAL)


# ------------------------------------------------------------------ loading
def test_loaded_bounds_at_and_above_the_limits(keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    mi = pk.max_int
    x = number(pk, 3, mi)
    blob = x.to_bytes(rerandomize=False)
    at = number_bound_at(pk)
    assert EncryptedNumber.from_bytes(blob, pk).bound == mi
    with pytest.raises(InvalidCiphertext, match="plaintext band"):
        EncryptedNumber.from_bytes(with_bound_field(blob, at, mi + 1), pk)
    obj = json.loads(x.to_json(rerandomize=False))
    assert obj["bound"] == format(mi, "x")
    assert EncryptedNumber.from_json(json.dumps(obj), pk).bound == mi
    obj["bound"] = format(mi + 1, "x")
    with pytest.raises(InvalidCiphertext, match="bound"):
        EncryptedNumber.from_json(json.dumps(obj), pk)
    batch = ser.encrypted_batch_to_bytes([x, number(pk, -3, 5)], rerandomize=False)
    assert [y.bound for y in ser.encrypted_batch_from_bytes(batch, pk)] == [mi, mi]
    with pytest.raises(InvalidCiphertext, match="plaintext band"):
        ser.encrypted_batch_from_bytes(with_bound_field(batch, BATCH_BOUND_AT, mi + 1), pk)
    obj = json.loads(ser.encrypted_batch_to_json([x], rerandomize=False))
    assert [y.bound for y in ser.encrypted_batch_from_json(json.dumps(obj), pk)] == [mi]
    obj["bound"] = format(mi + 1, "x")
    with pytest.raises(InvalidCiphertext, match="bound"):
        ser.encrypted_batch_from_json(json.dumps(obj), pk)
    t = sk.encrypt(np.array([mi, -1], dtype=object), executor=SERIAL)
    tblob = t.to_bytes()
    loaded = EncryptedTensor.from_bytes(tblob, pk)
    assert loaded.bound == mi and sk.decrypt(loaded).tolist() == [mi, -1]
    with pytest.raises(InvalidCiphertext, match="plaintext limit"):
        EncryptedTensor.from_bytes(with_bound_field(tblob, TENSOR_BOUND_AT, mi + 1), pk)


def test_loaded_packed_bound_at_and_above_the_slot_limit(keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    t = sk.encrypt_packed(np.array([[1], [-1]]), value_bound=1, weight_bound=1000,
                          weight_frac_bits=0, terms=1, executor=SERIAL)
    lim = t.layout.slot_limit
    s = t @ np.array([lim])
    blob = s.to_bytes()
    loaded = PackedTensor.from_bytes(blob, pk)
    assert loaded.bound == lim and sk.decrypt(loaded, executor=SERIAL).tolist() == [lim, -lim]
    with pytest.raises(InvalidCiphertext, match="slot limit"):
        PackedTensor.from_bytes(with_bound_field(blob, PACKED_BOUND_AT, lim + 1), pk)
