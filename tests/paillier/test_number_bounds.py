"""Single encrypted numbers track a public bound: overflow is an error, never a wrong value."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hecrypt.encoding import fixedpoint
from hecrypt.exceptions import EncodingOverflowError, ParameterError
from hecrypt.paillier import EncryptedNumber, PrivateKey, PublicKey, serialization
from hecrypt.paillier.number import NUMBER_BOUND_BITS, public_bound

KeyPair = tuple[PublicKey, PrivateKey]


@pytest.mark.parametrize(
    "case",
    [
        "max_int * 3",
        "three additions of max_int",
        "1 * (n + 5)",
        "2^600 * 2^500",
        "(n >> k) * (3 << (k - 2))",
        "max_int // 2 + 0.5",
    ],
)
def test_operations_that_leave_the_band_raise_before_computing(
    keypair_1024: KeyPair, case: str
) -> None:
    pk, _ = keypair_1024
    n, k = pk.n, 40
    ops = {
        "max_int * 3": lambda: pk.encrypt(pk.max_int) * 3,
        "three additions of max_int": lambda: (
            pk.encrypt(pk.max_int) + pk.encrypt(pk.max_int) + pk.encrypt(pk.max_int)
        ),
        "1 * (n + 5)": lambda: pk.encrypt(1) * (n + 5),
        "2^600 * 2^500": lambda: pk.encrypt(2**600) * 2**500,
        "(n >> k) * (3 << (k - 2))": lambda: pk.encrypt(n >> k) * (3 << (k - 2)),
        "max_int // 2 + 0.5": lambda: pk.encrypt(pk.max_int // 2) + 0.5,
    }
    with pytest.raises(EncodingOverflowError, match="could reach"):
        ops[case]()


def test_bounds_follow_the_operations(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    x = pk.encrypt(2.5)
    assert x.bound == public_bound(int(2.5 * 2**32), 32, pk.max_int)
    assert x.bound == 2 ** (32 + NUMBER_BOUND_BITS) - 1
    assert (x * 3).bound == 3 * x.bound
    assert (-x).bound == x.bound
    assert (x + x).bound == 2 * x.bound
    y = pk.encrypt(7)  # scale 0
    assert (x + y).bound == x.bound + (y.bound << 32)
    assert (x * 0.5).scale == 64 and (x * 0.5).bound == x.bound * 2**31
    assert (x / 4).bound == x.bound * 2**30
    assert sk.decrypt(x * 3 - x / 2 + 1) == 7.25
    assert sk.decrypt(sum([pk.encrypt(1.5)] * 10)) == 15.0
    # the bound of a fresh number does not depend on small values
    assert pk.encrypt(1.0).bound == pk.encrypt(-12345.678).bound
    assert pk.encrypt(2**100).bound == 2**101 - 1  # beyond 2^64: its bit length
    assert pk.encrypt(3.0, value_bound=4.0).bound == 4 << 32
    with pytest.raises(ValueError, match="value_bound"):
        pk.encrypt(5.0, value_bound=4.0)
    assert sk.encrypt(1.0).bound == x.bound
    assert [b.bound for b in pk.encrypt_batch([1, 2**80])] == [2**64 - 1, 2**81 - 1]


def test_tensor_elements_keep_the_tensor_bound(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    t = pk.encrypt(np.array([1.0, -3.0]), value_bound=4.0)
    assert t[1].bound == t.encoding.bound
    assert sk.decrypt(t[1] * 2) == -6.0


def test_numbers_from_outside_get_the_widest_bound(keypair_1024: KeyPair) -> None:
    import phe

    pk, sk = keypair_1024
    raw = EncryptedNumber(pk, pk.raw_encrypt(5))
    assert raw.bound == pk.max_int
    with pytest.raises(EncodingOverflowError):
        raw * 2
    assert sk.decrypt(raw + 0) == 5  # adding zero cannot grow it
    converted = EncryptedNumber.from_phe(phe.PaillierPublicKey(pk.n).encrypt(5), pk)
    assert converted.bound == pk.max_int
    assert sk.decrypt(converted.with_bound(10) * 2) == 10
    with pytest.raises(ValueError):
        converted.with_bound(-1)


def test_serialization_carries_the_bound(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    x = pk.encrypt(1.25) * 3
    for y in (
        EncryptedNumber.from_bytes(x.to_bytes(), pk),
        EncryptedNumber.from_json(x.to_json(), pk),
    ):
        assert y.bound == x.bound and y.scale == x.scale
        assert sk.decrypt(y) == 3.75
    xs = [pk.encrypt(1), pk.encrypt(2.0) * 3]
    for ys in (
        serialization.encrypted_batch_from_bytes(serialization.encrypted_batch_to_bytes(xs), pk),
        serialization.encrypted_batch_from_json(serialization.encrypted_batch_to_json(xs), pk),
    ):
        assert [y.bound for y in ys] == [max(x.bound for x in xs)] * 2
        assert sk.decrypt_batch(ys) == [1, 6.0]
    # JSON without a bound (older data): the widest bound
    obj = json.loads(x.to_json())
    del obj["bound"]
    assert EncryptedNumber.from_json(json.dumps(obj), pk).bound == pk.max_int
    for bad in ("0x1", "01", "FF", "", "g", "f" * 1000):
        obj["bound"] = bad
        with pytest.raises(Exception, match="bound"):
            EncryptedNumber.from_json(json.dumps(obj), pk)
    data = x.to_bytes()
    assert EncryptedNumber.from_bytes(data[: 16 + 2 * 128], pk).bound == pk.max_int
    too_big = pk.max_int + 1
    raw = too_big.to_bytes((too_big.bit_length() + 7) // 8, "big")
    with pytest.raises(EncodingOverflowError.__mro__[1], match="plaintext band"):
        EncryptedNumber.from_bytes(data[: 16 + 2 * 128] + len(raw).to_bytes(2, "big") + raw, pk)


def test_decryption_refuses_a_value_above_its_bound(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    lying = EncryptedNumber(pk, pk.raw_encrypt(2**70), bound=2**64)
    with pytest.raises(EncodingOverflowError, match="tracked bound"):
        sk.decrypt(lying)
    with pytest.raises(EncodingOverflowError, match="tracked bound"):
        sk.decrypt_batch([lying])


def test_huge_frac_bits_are_refused_first(keypair_1024: KeyPair) -> None:
    pk, _ = keypair_1024
    for fb in (2**31, 2**36, fixedpoint.MAX_FRAC_BITS + 1):
        for value in (1.5, 3, np.ones(3)):
            with pytest.raises(ParameterError, match="frac_bits"):
                pk.encrypt(value, frac_bits=fb)
        with pytest.raises(ParameterError, match="frac_bits"):
            pk.encrypt_packed(np.ones((4, 2)), frac_bits=fb)
    with pytest.raises(EncodingOverflowError, match="1001 bits"):
        pk.encrypt(2**1000, frac_bits=100)


def test_packed_decryption_of_a_huge_value_is_an_encoding_error(keypair_2048: KeyPair) -> None:
    pk, sk = keypair_2048
    packed = pk.encrypt_packed(
        np.array([[2.0**1000], [2.0]]), frac_bits=1, value_bound=2.0**1001,
        weight_bound=2.0**40, weight_frac_bits=0, slots=1,
    )
    big = packed @ np.array([2.0**39])  # within the slot and key bounds, beyond a float64
    with pytest.raises(EncodingOverflowError, match="float64"):
        sk.decrypt(big)


def test_numbers_broadcast_against_arrays_and_tensors(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    x = pk.encrypt(1.5)
    t = pk.encrypt(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(sk.decrypt(x * np.array([1.0, 2.0])), [1.5, 3.0])
    np.testing.assert_array_equal(sk.decrypt(np.array([1.0, 2.0]) * x), [1.5, 3.0])
    np.testing.assert_array_equal(sk.decrypt(x + np.array([1, 2])), [2.5, 3.5])
    np.testing.assert_array_equal(sk.decrypt(np.array([1.0, 2.0]) - x), [-0.5, 0.5])
    np.testing.assert_array_equal(sk.decrypt(t + x), [2.5, 3.5, 4.5])
    np.testing.assert_array_equal(sk.decrypt(x + t), [2.5, 3.5, 4.5])
    np.testing.assert_array_equal(sk.decrypt(t - x), [-0.5, 0.5, 1.5])
    np.testing.assert_array_equal(sk.decrypt(x - t), [0.5, -0.5, -1.5])
    assert (t + x).encoding.bound == t.encoding.bound + x.bound  # the number's bound is kept
    with pytest.raises(EncodingOverflowError):
        pk.encrypt(pk.max_int) * np.array([2, 3])


def test_numbers_broadcast_against_packed_tensors(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    records = np.arange(10.0).reshape(5, 2) - 4.0
    packed = pk.encrypt_packed(records, value_bound=8.0, slots=3)  # two chunks, one padded
    x = pk.encrypt(1.5, frac_bits=packed.scale)
    np.testing.assert_allclose(sk.decrypt(packed + x), records + 1.5)
    np.testing.assert_allclose(sk.decrypt(x + packed), records + 1.5)
    np.testing.assert_allclose(sk.decrypt(packed - x), records - 1.5)
    np.testing.assert_allclose(sk.decrypt(x - packed), 1.5 - records)
    np.testing.assert_allclose(sk.decrypt(2.0 - packed), 2.0 - records)
    scores = packed @ np.array([1.0, -2.0])  # scale of data plus weights
    bias = pk.encrypt(-0.25)  # a lower scale than the scores' is aligned exactly
    assert bias.scale < scores.scale
    np.testing.assert_allclose(
        sk.decrypt(scores + bias), records @ np.array([1.0, -2.0]) - 0.25, atol=1e-5
    )
    assert (packed + x).spec.bound == packed.spec.bound + x.bound
    with pytest.raises(EncodingOverflowError):  # the number's bound exceeds a slot
        wide = 2.0 ** (packed.layout.slot_limit.bit_length() - packed.scale)
        packed + pk.encrypt(1.0, frac_bits=packed.scale, value_bound=wide)
    with pytest.raises(ValueError, match=f"frac_bits={packed.scale}"):
        packed + pk.encrypt(1.0)  # 32 fractional bits: a packed slot is not rescaled
