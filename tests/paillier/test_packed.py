"""PackedTensor: packed batch scoring equals numpy and the unpacked tensor path,
slots hold their limits, overflow is refused before computing, and the binary
form round-trips, rejects tampering and stays within 16 bytes per value."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import numpy as np
import pytest

from hecrypt.encoding.packing import PackingLayout
from hecrypt.exceptions import EncodingOverflowError, InvalidCiphertext, KeyMismatchError
from hecrypt.paillier import EncryptedTensor, PackedTensor, PrivateKey, PublicKey, SerialExecutor
from hecrypt.paillier import packed as packed_mod
from hecrypt.paillier import serialization as ser
from hecrypt.paillier.packed import layout_for_key

Keys = tuple[PublicKey, PrivateKey]
SERIAL = SerialExecutor()
E = 2.0**-21  # encoding error of data and weights at the default 20 fractional bits


def tol(x: np.ndarray, w: np.ndarray, bias: float = 0.0) -> float:
    """The documented error bound of ``x @ w + b`` on the packed path."""
    w2 = np.abs(np.asarray(w, dtype=float)).reshape(x.shape[1], -1)
    rows = np.abs(x).sum(axis=1).max()
    return float(rows * E + w2.sum(axis=0).max() * E + x.shape[1] * E * E + 2.0**-41 + 1e-12)


def dec(keys: Keys, t: Any) -> np.ndarray:
    return keys[1].decrypt(cast(PackedTensor, t), executor=SERIAL)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(23, 6)) * 3
    w = rng.normal(size=6)
    w2 = rng.normal(size=(6, 3))
    return x, w, w2


@pytest.fixture(scope="module")
def enc_x(keypair_1024: Keys, data: Any) -> PackedTensor:
    x = data[0]
    # 5 slots: 23 records make 5 chunks, the last one padded with 2 empty slots
    return keypair_1024[1].encrypt_packed(x, value_bound=32.0, slots=5, executor=SERIAL)


# ------------------------------------------------------------------ round trips
def test_round_trip_shape_padding_and_metadata(keypair_1024: Keys, enc_x: PackedTensor,
                                               data: Any) -> None:
    x = data[0]
    assert enc_x.shape == (23, 6) and len(enc_x) == 23 and enc_x.ndim == 2
    assert enc_x.slots == 5 and enc_x.ciphertexts.shape == (5, 6)
    assert enc_x.scale == 20 and enc_x.weight_frac_bits == 20
    assert enc_x.bound == 32 << 20 and enc_x.is_fresh
    got = dec(keypair_1024, enc_x)
    assert got.shape == (23, 6) and got.dtype == np.float64
    assert np.max(np.abs(got - x)) <= E
    assert "PackedTensor" in repr(enc_x) and "5x204 bits" in repr(enc_x)


def test_public_key_path_and_default_slots(keypair_1024: Keys, data: Any) -> None:
    pk, _ = keypair_1024
    x, w, _ = data
    t = pk.encrypt_packed(x, value_bound=32.0, executor=SERIAL)
    layout = layout_for_key(pk, value_bound=32.0, features=6)
    assert t.layout == layout and (layout.slot_bits, layout.slots) == (54, 18)
    assert t.ciphertexts.shape == (2, 6) and t.spec.count == 18
    one = pk.encrypt_packed(x[:3], value_bound=32.0, executor=SERIAL)
    assert one.ciphertexts.shape == (1, 6) and one.spec.count == 3
    assert np.max(np.abs(dec(keypair_1024, one) - x[:3])) <= E
    assert np.max(np.abs(dec(keypair_1024, t @ w) - x @ w)) <= tol(x, w)


@pytest.mark.parametrize("signed", [1, -1])
def test_values_at_the_slot_limit_round_trip_exactly(keypair_1024: Keys, signed: int) -> None:
    _, sk = keypair_1024
    k = 30
    b = 2**k - 1
    x = np.array([[b], [-b], [0], [1], [-1], [b - 1], [-b]], dtype=np.int64)
    t = sk.encrypt_packed(x, value_bound=b, weight_bound=1, weight_frac_bits=0, terms=1,
                          executor=SERIAL)
    # k value bits, one bias headroom bit, the sign: slot_limit = 2b + 1
    assert t.layout.slot_bits == k + 2 and t.layout.slot_limit == 2 * b + 1
    assert t.scale == 0
    got = dec(keypair_1024, t)
    assert got.dtype == np.int64 and np.array_equal(got, x)
    s = t @ np.array([2]) + signed
    assert s.bound == t.layout.slot_limit  # every slot may sit exactly at the limit
    assert np.array_equal(dec(keypair_1024, s), 2 * x[:, 0] + signed)
    neg = -(t @ np.array([2])) - signed
    assert np.array_equal(dec(keypair_1024, neg), -2 * x[:, 0] - signed)
    with pytest.raises(EncodingOverflowError):
        s + signed
    with pytest.raises(EncodingOverflowError):
        t @ np.array([3])


def test_widest_slot_for_a_requested_count(keypair_1024: Keys) -> None:
    pk, _ = keypair_1024
    layout = layout_for_key(pk, value_bound=32.0, features=10, slots=4)
    assert layout.slots == 4 and layout.slot_bits == (pk.n_bits - 2) // 4
    narrow = layout_for_key(pk, value_bound=32.0, features=10)
    assert narrow.slot_bits < layout.slot_bits and narrow.slots > 4
    with pytest.raises(EncodingOverflowError, match="slots"):
        layout_for_key(pk, value_bound=32.0, features=10, slots=narrow.slots + 1)


# ------------------------------------------------------------------ scoring
def test_dot_equals_numpy_and_tensor_path(keypair_1024: Keys, enc_x: PackedTensor,
                                          data: Any) -> None:
    x, w, _ = data
    scores = enc_x @ w
    assert isinstance(scores, PackedTensor) and scores.shape == (23,)
    assert scores.scale == 40 and not scores.is_fresh
    got = dec(keypair_1024, scores)
    assert got.shape == (23,)
    assert np.max(np.abs(got - x @ w)) <= tol(x, w)
    tensor = keypair_1024[1].encrypt(x, executor=SERIAL)
    want = keypair_1024[1].decrypt(cast(EncryptedTensor, tensor @ w))
    tensor_tol = float((np.abs(x).sum(axis=1).max() + np.abs(w).sum() + 6) * 2.0**-33)
    assert np.max(np.abs(got - want)) <= tol(x, w) + tensor_tol
    assert np.array_equal(dec(keypair_1024, enc_x.dot(w)), got)


def test_multi_output_bias_and_negatives(keypair_1024: Keys, enc_x: PackedTensor,
                                         data: Any) -> None:
    x, _, w2 = data
    b = np.array([0.5, -1.25, 3.0])
    got = dec(keypair_1024, enc_x @ w2 + b)
    assert got.shape == (23, 3)
    assert np.max(np.abs(got - (x @ w2 + b))) <= tol(x, w2)
    got = dec(keypair_1024, 2.0 + (enc_x @ w2) - 1.5)
    assert np.max(np.abs(got - (x @ w2 + 0.5))) <= tol(x, w2)
    got = dec(keypair_1024, -(enc_x @ w2))
    assert np.max(np.abs(got + x @ w2)) <= tol(x, w2)
    # packed + packed under one layout and scale
    s = enc_x @ w2
    assert np.max(np.abs(dec(keypair_1024, s + s) - 2 * (x @ w2))) <= 2 * tol(x, w2)
    assert np.max(np.abs(dec(keypair_1024, s - s))) == 0.0


def test_integer_weights_are_exact(keypair_1024: Keys) -> None:
    _, sk = keypair_1024
    x = np.arange(-12, 12, dtype=np.int64).reshape(8, 3)
    t = sk.encrypt_packed(x, value_bound=100, executor=SERIAL)
    w = np.array([[3, -1], [0, 7], [-5, 2]])
    got = dec(keypair_1024, t @ w + np.array([10, -10]))
    assert got.dtype == np.int64 and np.array_equal(got, x @ w + np.array([10, -10]))


def test_shape_and_type_errors(enc_x: PackedTensor, data: Any) -> None:
    _, w, _ = data
    with pytest.raises(ValueError, match="aligned"):
        enc_x @ np.ones(5)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        enc_x @ np.ones((6, 2, 2))
    with pytest.raises(TypeError, match="boolean"):
        enc_x @ np.ones(6, dtype=bool)
    with pytest.raises(TypeError, match="two ciphertexts"):
        enc_x.dot(enc_x)
    with pytest.raises(ValueError, match="feature axis"):
        (enc_x @ w) @ np.ones(1)
    with pytest.raises(ValueError, match="one value per column"):
        enc_x @ np.ones((6, 3)) + np.ones(2)
    with pytest.raises(ValueError, match="scales"):
        (enc_x @ w) + (enc_x @ np.ones(6, dtype=np.int64))
    with pytest.raises(TypeError):
        np.asarray(enc_x)
    with pytest.raises(TypeError, match="pickle"):
        enc_x.__reduce__()
    with pytest.raises(TypeError):
        PackedTensor()
    with pytest.raises(AttributeError):
        enc_x.__setattr__("_records", 3)


def test_encrypt_argument_errors(keypair_1024: Keys) -> None:
    pk, _ = keypair_1024
    with pytest.raises(ValueError, match="2-D"):
        pk.encrypt_packed(np.ones(4))
    with pytest.raises(ValueError, match="at least one record"):
        pk.encrypt_packed(np.ones((0, 3)))
    with pytest.raises(ValueError, match="value_bound"):
        pk.encrypt_packed(np.full((2, 2), 40.0), value_bound=32.0)
    with pytest.raises(ValueError, match="weight_bound"):
        pk.encrypt_packed(np.ones((2, 2)), weight_bound=float("nan"))
    with pytest.raises(EncodingOverflowError):  # no slot of the key holds it
        pk.encrypt_packed(np.ones((2, 2)), value_bound=2.0**900, frac_bits=100)


def test_key_mismatch(keypair_1024: Keys, other_keypair_1024: Keys,
                      enc_x: PackedTensor) -> None:
    with pytest.raises(KeyMismatchError):
        other_keypair_1024[1].decrypt(enc_x)
    other = other_keypair_1024[0].encrypt_packed(np.ones((23, 6)), value_bound=32.0, slots=5,
                                                 executor=SERIAL)
    with pytest.raises(KeyMismatchError):
        enc_x + other


# ------------------------------------------------------------------ overflow
def test_overflow_refused_before_computing(keypair_1024: Keys,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    pk, _ = keypair_1024
    x = np.ones((4, 3))
    t = pk.encrypt_packed(x, value_bound=1.0, weight_bound=1.0, executor=SERIAL)
    limit = t.layout.slot_limit
    calls: list[int] = []

    def spy(*args: Any) -> Any:
        calls.append(1)
        raise AssertionError("the kernel must not run")

    monkeypatch.setattr(packed_mod, "dot_chunk", spy)
    share = limit / 2.0**40 / 3  # largest |w| of three equal weights the slot holds
    with pytest.raises(EncodingOverflowError, match="slot"):
        t @ np.full(3, share * 1.01)
    with pytest.raises(EncodingOverflowError):
        t @ np.array([[0.0, 2.0**60], [0.0, 0.0], [0.0, 0.0]])
    assert calls == []
    monkeypatch.undo()
    # slightly smaller weights are accepted and computed
    ok = t @ np.full(3, share * 0.99)
    assert np.max(np.abs(dec(keypair_1024, ok) - 3 * share * 0.99)) <= share * 1e-6
    assert ok.bound <= ok.layout.slot_limit
    with pytest.raises(EncodingOverflowError):
        ok + float(ok.layout.slot_limit)  # bias at scale 40 pushes the slot over
    with pytest.raises(EncodingOverflowError):
        s = ok
        for _ in range(ok.layout.slot_bits):
            s = s + s


def test_forged_bound_makes_decryption_raise(keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    t = sk.encrypt_packed(np.full((3, 2), 5.0), value_bound=8.0, executor=SERIAL)
    data = t.to_bytes()
    # lower the bound field (1 byte after the length) to 1: decryption refuses
    at = 6 + 8 + 10
    blen = int.from_bytes(data[at : at + 2], "big")
    forged = data[:at] + (1).to_bytes(2, "big") + b"\x01" + data[at + 2 + blen :]
    loaded = PackedTensor.from_bytes(forged, pk)
    with pytest.raises(EncodingOverflowError, match="bound"):
        sk.decrypt(loaded)


# ------------------------------------------------------------------ serialization
def test_serialization_round_trip(keypair_1024: Keys, enc_x: PackedTensor, data: Any) -> None:
    pk, _ = keypair_1024
    x, w, w2 = data
    for t in (enc_x, enc_x @ w, enc_x @ w2 + 1.0):
        blob = t.to_bytes()
        back = PackedTensor.from_bytes(blob, pk)
        assert back.shape == t.shape and back.layout == t.layout and back.spec == t.spec
        assert back.scale == t.scale and back.weight_frac_bits == t.weight_frac_bits
        assert not back.is_fresh
        assert np.array_equal(dec(keypair_1024, back), dec(keypair_1024, t))
        width = ser.ciphertext_width(pk)
        assert len(blob) == 39 + (t.bound.bit_length() + 7) // 8 + t.ciphertexts.size * width
    # results are re-randomized unless told otherwise
    s = enc_x @ w
    assert s.to_bytes(rerandomize=False) != s.to_bytes()
    assert s.to_bytes(rerandomize=False) == s.to_bytes(rerandomize=False)
    assert enc_x.to_bytes() == enc_x.to_bytes()  # fresh: written as is
    # scoring a loaded tensor works
    back = PackedTensor.from_bytes(enc_x.to_bytes(), pk)
    assert np.max(np.abs(dec(keypair_1024, back @ w) - x @ w)) <= tol(x, w)


def test_serialization_rejects_tampering(keypair_1024: Keys, other_keypair_1024: Keys,
                                         enc_x: PackedTensor) -> None:
    pk, _ = keypair_1024
    good = enc_x.to_bytes()
    width = ser.ciphertext_width(pk)

    def patch(offset: int, value: bytes) -> bytes:
        return good[:offset] + value + good[offset + len(value) :]

    fp = 6
    lay = fp + 8  # slot_bits, slots, headroom, mask_bits, count: u16 each
    blen = int.from_bytes(good[lay + 10 : lay + 12], "big")
    tail = lay + 12 + blen  # scale, weight scale, records, rank, columns
    bad = {
        "magic": patch(0, b"XXXX"),
        "type": patch(5, b"\x04"),
        "truncated": good[:-1],
        "trailing": good + b"\x00",
        "slot width 1": patch(lay, (1).to_bytes(2, "big")),
        "zero slots": patch(lay + 2, (0).to_bytes(2, "big")),
        "layout too big for the key": patch(lay + 2, (60).to_bytes(2, "big")),
        "headroom eats the sign": patch(lay + 4, (500).to_bytes(2, "big")),
        "count": patch(lay + 8, (4).to_bytes(2, "big")),
        "scale": patch(tail, (9000).to_bytes(2, "big")),
        "weight scale": patch(tail + 2, (9000).to_bytes(2, "big")),
        "records": patch(tail + 4, (30).to_bytes(4, "big")),
        "zero records": patch(tail + 4, (0).to_bytes(4, "big")),
        "rank": patch(tail + 8, b"\x03"),
        "rank 1 with columns": patch(tail + 8, b"\x01"),
        "columns": patch(tail + 9, (7).to_bytes(4, "big")),
        "ciphertext zero": good[: len(good) - width] + bytes(width),
        "ciphertext n^2": good[: len(good) - width] + pk.nsquare.to_bytes(width, "big"),
        "ciphertext shares n": good[: len(good) - width] + pk.n.to_bytes(width, "big"),
        "bound above slot": patch(lay + 10, (40).to_bytes(2, "big")),
        "not bytes": cast(bytes, "text"),
    }
    for name, blob in bad.items():
        with pytest.raises(InvalidCiphertext):
            PackedTensor.from_bytes(blob, pk)
            pytest.fail(name)
    with pytest.raises(KeyMismatchError):
        PackedTensor.from_bytes(good, other_keypair_1024[0])
    with pytest.raises(InvalidCiphertext, match="packed tensor"):
        ser.encrypted_tensor_from_bytes(good, pk)
    with pytest.raises(TypeError):
        ser.packed_tensor_to_bytes(cast(Any, "nope"))
    # random corruption never escapes as another exception type
    rng = np.random.default_rng(0)
    for _ in range(200):
        mutable = bytearray(good)
        for _ in range(int(rng.integers(1, 4))):
            mutable[int(rng.integers(0, 60))] = int(rng.integers(0, 256))
        with contextlib.suppress(InvalidCiphertext, KeyMismatchError):
            PackedTensor.from_bytes(bytes(mutable), pk)


def test_bytes_per_value_at_2048_bits(keypair_2048: Keys) -> None:
    pk, _ = keypair_2048
    rng = np.random.default_rng(3)
    layout = layout_for_key(pk, value_bound=32.0, features=100)
    assert (layout.slot_bits, layout.slots) == (58, 35)
    x = np.clip(rng.normal(size=(2 * layout.slots, 100)), -32, 32)
    t = pk.encrypt_packed(x, value_bound=32.0, executor=SERIAL)
    per_value = len(t.to_bytes()) / x.size
    assert per_value <= 16.0, per_value
    assert per_value == pytest.approx(2 * 256 / 35, rel=0.01)
    # and the layout still accepts typical float weights for 100 features
    w = rng.normal(size=100)
    assert (t @ w).bound <= layout.slot_limit


# ------------------------------------------------------------------ executors
def test_executor_paths_agree(keypair_1024: Keys, enc_x: PackedTensor, data: Any) -> None:
    _, sk = keypair_1024
    x, _, w2 = data
    seen: list[tuple[int, int]] = []
    with ThreadPoolExecutor(2) as pool:
        a = enc_x.dot(w2, executor=pool, progress=lambda d, n: seen.append((d, n)))
        t = sk.encrypt_packed(x, value_bound=32.0, slots=5, executor=pool)
        got = sk.decrypt(t @ w2, executor=pool)
    b = enc_x.dot(w2, executor=SERIAL)
    assert a.ciphertexts.tolist() == b.ciphertexts.tolist()
    assert seen and seen[-1] == (5, 5)
    assert np.max(np.abs(got - x @ w2)) <= tol(x, w2)
    # the default executor (process pool for large work) gives the same ciphertexts
    big = enc_x.dot(np.ones((6, 200)))
    small = enc_x.dot(np.ones((6, 200)), executor=SERIAL)
    assert [int(c) for c in big.ciphertexts.reshape(-1)[:5]] == [
        int(c) for c in small.ciphertexts.reshape(-1)[:5]
    ]


def test_layout_is_a_packing_layout(enc_x: PackedTensor) -> None:
    assert isinstance(enc_x.layout, PackingLayout)
    assert enc_x.layout.headroom >= packed_mod.BIAS_HEADROOM


def test_public_names_keep_the_module_path() -> None:
    # The packed tensor is split into private parts; its public path stays
    # hecrypt.paillier.packed, which scoring pickles the chunk kernel by.
    import pickle

    from hecrypt.paillier import _packed_core

    for name in packed_mod.__all__:
        obj = getattr(packed_mod, name)
        if callable(obj):
            assert obj.__module__ == "hecrypt.paillier.packed", name
            assert pickle.loads(pickle.dumps(obj)) is obj, name
    assert packed_mod.PackedTensor is PackedTensor is _packed_core.PackedTensor
    assert packed_mod.dot_chunk is _packed_core.dot_chunk
    assert "hecrypt.paillier.packed.PackedTensor" in repr(PackedTensor)


def test_scoring_runs_the_kernel_named_by_the_public_module(
    keypair_1024: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PackedTensor lives in a private part; scoring still calls packed.dot_chunk,
    # so a replacement set on the public module is the one that runs.
    pk, _ = keypair_1024
    t = pk.encrypt_packed(np.ones((4, 3)), value_bound=1.0, weight_bound=1.0, executor=SERIAL)
    calls: list[int] = []
    kernel = packed_mod.dot_chunk

    def counting(*args: Any) -> Any:
        calls.append(1)
        return kernel(*args)

    monkeypatch.setattr(packed_mod, "dot_chunk", counting)
    out = t.dot(np.array([1, 2, 3]), executor=SERIAL)
    assert calls
    np.testing.assert_array_equal(dec(keypair_1024, out), np.full(4, 6.0))
