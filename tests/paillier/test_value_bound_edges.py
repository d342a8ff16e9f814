"""Declared bounds on every encryption entry point, tested on their edge.

For ``encrypt(number)``, ``encrypt(array)`` (an :class:`EncryptedTensor`) and
``encrypt_packed``, with the public and with the private key: data exactly at
``value_bound`` is accepted, the tracked bound is the declared one
(``ceil(value_bound * 2**f)``) and the value decrypts to its encoding; the
smallest float whose encoding lies one unit above the declared bound is refused
with :class:`ValueBoundError`. Where the edge lies is computed here with exact
rationals, independently of the codec.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any, cast

import numpy as np
import pytest

from hecrypt.exceptions import EncodingOverflowError, ValueBoundError
from hecrypt.paillier import EncryptedNumber, PackedTensor, PrivateKey, PublicKey, SerialExecutor
from hecrypt.paillier.packed import layout_for_key

Keys = tuple[PublicKey, PrivateKey]
SERIAL = SerialExecutor()
OWNERS = pytest.mark.parametrize("owner", [False, True], ids=["public", "private"])


def ref_encode(x: float, f: int) -> int:
    """``round(x * 2**f)`` with ties to even, exactly."""
    return round(Fraction(x) * 2**f)


def ref_declared(vb: float, f: int) -> int:
    """``ceil(vb * 2**f)``, exactly."""
    return math.ceil(Fraction(vb) * 2**f)


def refusal_edge(bound: int, f: int) -> tuple[float, float]:
    """``(last, first)``: the largest float encoding at most ``bound`` at scale ``f``,
    and the next float up (the smallest one encoding above it)."""
    x = float(Fraction(2 * bound + 1, 2 ** (f + 1)))
    while ref_encode(x, f) > bound:
        x = math.nextafter(x, -math.inf)
    while ref_encode(x, f) <= bound:
        x = math.nextafter(x, math.inf)
    return math.nextafter(x, -math.inf), x


def encryptor(keys: Keys, owner: bool) -> Callable[..., Any]:
    return keys[1].encrypt if owner else keys[0].encrypt


def packer(keys: Keys, owner: bool) -> Callable[..., PackedTensor]:
    fn = keys[1].encrypt_packed if owner else keys[0].encrypt_packed
    return cast(Callable[..., PackedTensor], fn)


# (value_bound, frac_bits, on_grid): an even and an odd scaled bound (the tie
# above it rounds down, resp. up), a bound between grid points, a scale beyond
# float64's precision at that magnitude, the packed default scale. on_grid: the
# scaled bound is an integer and value_bound + 2**-frac_bits is a float.
CASES = [
    (3.0, 4, True),
    (49 / 16, 4, True),
    (0.3, 10, False),
    (1.5, 80, False),
    (32.0, 20, True),
    (1e6 + 0.1, 32, False),
]


def one_unit_above(vb: float, f: int, on_grid: bool) -> list[float]:
    """``[vb + 2**-f]`` when that is one grid unit above an on-grid bound, else ``[]``."""
    above = vb + 2.0**-f
    exact = Fraction(above) == Fraction(vb) + Fraction(1, 2**f)
    assert (exact and ref_declared(vb, f) == Fraction(vb) * 2**f) == on_grid
    if on_grid:
        assert ref_encode(above, f) == ref_declared(vb, f) + 1
    return [above, -above] if on_grid else []


# ------------------------------------------------------------------ encrypt(number)
@OWNERS
@pytest.mark.parametrize(("vb", "f", "on_grid"), CASES)
def test_number_at_and_above_the_declared_bound(
    keypair_1024: Keys, owner: bool, vb: float, f: int, on_grid: bool
) -> None:
    _, sk = keypair_1024
    encrypt = encryptor(keypair_1024, owner)
    declared = ref_declared(vb, f)
    last, first = refusal_edge(declared, f)
    for x in (vb, -vb, last, -last):
        y = encrypt(x, frac_bits=f, value_bound=vb)
        assert y.bound == declared and y.scale == f
        assert sk.decrypt(y) == ref_encode(x, f) / 2**f
    for x in (first, -first, *one_unit_above(vb, f, on_grid)):
        with pytest.raises(ValueBoundError, match="value_bound"):
            encrypt(x, frac_bits=f, value_bound=vb)


@OWNERS
@pytest.mark.parametrize("b", [0, 1, 1000, 2**62, 2**100])
def test_int_number_at_and_above_the_declared_bound(
    keypair_1024: Keys, owner: bool, b: int
) -> None:
    _, sk = keypair_1024
    encrypt = encryptor(keypair_1024, owner)
    for x in (b, -b):
        y = encrypt(x, value_bound=b)
        assert y.bound == b and y.scale == 0 and sk.decrypt(y) == x
    for x in (b + 1, -(b + 1)):
        with pytest.raises(ValueBoundError, match="value_bound"):
            encrypt(x, value_bound=b)
    # an integer at a fractional scale: b << 3 against ceil(b * 2^3)
    assert encrypt(b, frac_bits=3, value_bound=b).bound == b << 3
    with pytest.raises(ValueBoundError):
        encrypt(b + 1, frac_bits=3, value_bound=b)


# ------------------------------------------------------------------ encrypt(array)
@OWNERS
@pytest.mark.parametrize(("vb", "f", "on_grid"), CASES)
def test_tensor_at_and_above_the_declared_bound(
    keypair_1024: Keys, owner: bool, vb: float, f: int, on_grid: bool
) -> None:
    _, sk = keypair_1024
    encrypt = encryptor(keypair_1024, owner)
    declared = ref_declared(vb, f)
    last, first = refusal_edge(declared, f)
    data = np.array([[vb, -vb], [last, -last]])
    t = encrypt(data, frac_bits=f, value_bound=vb, executor=SERIAL)
    assert t.bound == declared and t.scale == f and t.encoding.bound == declared
    assert sk.decrypt(t).tolist() == [[ref_encode(v, f) / 2**f for v in row] for row in data]
    assert t[1, 0].bound == declared  # an element keeps the tensor's bound
    above = [[x] for x in one_unit_above(vb, f, on_grid)]
    for bad in ([first], [-first], [0.0, vb, first], *above):
        with pytest.raises(ValueBoundError, match="value_bound"):
            encrypt(np.array(bad), frac_bits=f, value_bound=vb, executor=SERIAL)


@OWNERS
def test_int_tensor_at_and_above_the_declared_bound(keypair_1024: Keys, owner: bool) -> None:
    _, sk = keypair_1024
    encrypt = encryptor(keypair_1024, owner)
    for b in (1, 1000, 2**40):
        t = encrypt(np.array([b, -b, 0]), value_bound=b, executor=SERIAL)
        assert t.bound == b and t.scale == 0
        assert sk.decrypt(t).tolist() == [b, -b, 0]
        for bad in ([b + 1], [0, -(b + 1)]):
            with pytest.raises(ValueBoundError, match="value_bound"):
                encrypt(np.array(bad), value_bound=b, executor=SERIAL)
    big = 2**100
    t = encrypt(np.array([big, -big], dtype=object), value_bound=float(big), executor=SERIAL)
    assert t.bound == big and sk.decrypt(t).tolist() == [big, -big]
    with pytest.raises(ValueBoundError):
        encrypt(np.array([big + 1], dtype=object), value_bound=float(big), executor=SERIAL)


@OWNERS
@pytest.mark.parametrize("b", [2**53 + 1, 2**100 + 1])
def test_an_integer_bound_beyond_float_precision_is_exact(
    keypair_1024: Keys, owner: bool, b: int
) -> None:
    # float(b) rounds down to b - 1: the bound must be taken as the integer it is
    pk, sk = keypair_1024
    assert float(b) < b
    encrypt = encryptor(keypair_1024, owner)
    for x in (b, -b):
        y = encrypt(x, value_bound=b)
        assert y.bound == b and sk.decrypt(y) == x
    with pytest.raises(ValueBoundError):
        encrypt(b + 1, value_bound=b)
    data = np.array([b, -b], dtype=object)
    t = encrypt(data, value_bound=b, executor=SERIAL)
    assert t.bound == b and sk.decrypt(t).tolist() == [b, -b]
    with pytest.raises(ValueBoundError):
        encrypt(np.array([b + 1], dtype=object), value_bound=b, executor=SERIAL)
    p = packer(keypair_1024, owner)(data.reshape(2, 1), frac_bits=0, value_bound=b,
                                    executor=SERIAL)
    assert p.bound == b and sk.decrypt(p, executor=SERIAL).tolist() == [[b], [-b]]
    assert p.layout == layout_for_key(pk, value_bound=b, features=1, frac_bits=0)
    with pytest.raises(ValueBoundError):
        packer(keypair_1024, owner)(np.array([[b + 1]], dtype=object), frac_bits=0,
                                    value_bound=b, executor=SERIAL)
    raw = EncryptedNumber(pk, pk.raw_encrypt(b))
    assert raw.with_bound(b).bound == b and sk.decrypt(raw.with_bound(b)) == b
    with pytest.raises(EncodingOverflowError, match="tracked bound"):
        sk.decrypt(raw.with_bound(b - 1))


# ------------------------------------------------------------------ encrypt_packed
@OWNERS
@pytest.mark.parametrize(("vb", "f", "on_grid"), CASES)
def test_packed_at_and_above_the_declared_bound(
    keypair_1024: Keys, owner: bool, vb: float, f: int, on_grid: bool
) -> None:
    _, sk = keypair_1024
    pack = packer(keypair_1024, owner)
    declared = ref_declared(vb, f)
    last, first = refusal_edge(declared, f)
    data = np.array([[vb, -last], [-vb, last], [0.0, vb]])
    t = pack(data, frac_bits=f, value_bound=vb, slots=2, executor=SERIAL)
    assert t.bound == declared and t.spec.bound == declared and t.scale == f
    assert t.layout == layout_for_key(keypair_1024[0], value_bound=vb, features=2,
                                      frac_bits=f, slots=2)
    want = [[ref_encode(v, f) / 2**f for v in row] for row in data]
    assert sk.decrypt(t, executor=SERIAL).tolist() == want
    for bad in ([[first]], [[-first]], [[0.0, 1.0], [first, vb]],
                *([[x]] for x in one_unit_above(vb, f, on_grid))):
        with pytest.raises(ValueBoundError, match="value_bound"):
            pack(np.array(bad), frac_bits=f, value_bound=vb, executor=SERIAL)


@OWNERS
def test_int_packed_at_and_above_the_declared_bound(keypair_1024: Keys, owner: bool) -> None:
    _, sk = keypair_1024
    pack = packer(keypair_1024, owner)
    b = 2**30 - 1
    t = pack(np.array([[b], [-b], [7]], dtype=np.int64), value_bound=b, executor=SERIAL)
    assert t.bound == b and t.scale == 0
    assert sk.decrypt(t, executor=SERIAL).tolist() == [[b], [-b], [7]]
    for bad in ([[b + 1]], [[0], [-(b + 1)]]):
        with pytest.raises(ValueBoundError, match="value_bound"):
            pack(np.array(bad, dtype=np.int64), value_bound=b, executor=SERIAL)


def test_the_packed_layout_is_sized_from_the_declared_bound_not_the_data(
    keypair_1024: Keys,
) -> None:
    # Small data under a large declared bound: the layout (public) is the one the
    # bound asks for, so it reveals nothing about the data.
    pk, sk = keypair_1024
    small = pk.encrypt_packed(np.full((3, 2), 0.5), value_bound=1000.0, executor=SERIAL)
    full = pk.encrypt_packed(np.full((3, 2), 1000.0), value_bound=1000.0, executor=SERIAL)
    assert small.layout == full.layout and small.bound == full.bound == 1000 << 20
    assert sk.decrypt(full, executor=SERIAL).tolist() == [[1000.0] * 2] * 3


def test_the_worst_case_at_both_declared_bounds_fits_the_layout(keypair_1024: Keys) -> None:
    # The layout promises room for sum w_j x_j + b with |x| <= value_bound,
    # |w| <= weight_bound and a bias as large as that sum. Bounds between grid
    # points round up: 0.96875 at 4 fractional bits is 15.5, so B = 16 (5 bits),
    # and a weight of exactly 0.96875 encodes to 16 (ties to even).
    pk, sk = keypair_1024
    opts: dict[str, Any] = {"weight_bound": 0.96875, "weight_frac_bits": 4, "terms": 1}
    t = sk.encrypt_packed(np.array([[1], [-1]]), value_bound=1, executor=SERIAL, **opts)
    assert t.layout == layout_for_key(pk, value_bound=1, features=1, frac_bits=0, **opts)
    assert t.layout.slot_bits == 5 + 1 + 1  # bits(1 * 16), the sign, the bias headroom
    s = t @ np.array([0.96875])
    assert s.bound == 16
    worst = s + 1.0  # the bias at the result's scale (2^4) is 16 as well
    assert worst.bound == 32 <= worst.layout.slot_limit
    assert sk.decrypt(worst, executor=SERIAL).tolist() == [2.0, 0.0]
    # the same rounding for a declared data bound between grid points
    packed = sk.encrypt_packed(np.array([[0.96875]]), frac_bits=4, value_bound=0.96875,
                               weight_bound=1, weight_frac_bits=0, terms=1, executor=SERIAL)
    assert packed.bound == 16 and packed.layout == layout_for_key(
        pk, value_bound=0.96875, features=1, frac_bits=4, weight_bound=1, weight_frac_bits=0,
        terms=1,
    )
    assert packed.layout.slot_bits == 7


# ------------------------------------------------------------------ with_bound
def test_with_bound_tracks_the_declared_bound(keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    raw = EncryptedNumber(pk, pk.raw_encrypt(49), 4)  # 49 / 16, the widest bound
    assert raw.bound == pk.max_int
    for vb in (49 / 16, 3.1):
        y = raw.with_bound(vb)
        assert y.bound == ref_declared(vb, 4) and sk.decrypt(y) == 49 / 16
    # a vouched bound below the value: decryption refuses instead of a wrong value
    lying = raw.with_bound(3.0)
    assert lying.bound == 48
    with pytest.raises(EncodingOverflowError, match="tracked bound"):
        sk.decrypt(lying)
