"""Every declared bound of the codec, tested on its edge: data exactly at the bound
is accepted (and the tracked bound is the declared one), data one unit of the
last fractional bit above it is refused.

The reference for where the edge lies is computed here with exact rationals
(``round`` of a :class:`~fractions.Fraction` rounds half to even, as the codec
does), not with the code under test.
"""

from __future__ import annotations

import math
from fractions import Fraction

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hecrypt.encoding import bounds, fixedpoint
from hecrypt.encoding.bounds import Encoding, decode_array, encode_array
from hecrypt.encoding.packing import Packed, PackedSpec, PackingLayout, dot_spec
from hecrypt.exceptions import EncodingOverflowError, HecryptError

N = (1 << 256) + 297  # any odd modulus serves the codec
MAX_INT = N // 3


def ref_encode(x: float, f: int) -> int:
    """``round(x * 2**f)`` with ties to even, exactly."""
    return round(Fraction(x) * 2**f)


def ref_declared(vb: float, f: int) -> int:
    """``ceil(vb * 2**f)``, exactly: the encoded bound a declared ``value_bound`` means."""
    return math.ceil(Fraction(vb) * 2**f)


def refusal_edge(bound: int, f: int) -> tuple[float, float]:
    """``(last, first)``: the largest float whose encoding at scale ``f`` is at most
    ``bound`` and the next float up, the smallest one whose encoding exceeds it."""
    x = float(Fraction(2 * bound + 1, 2 ** (f + 1)))  # the tie between bound and bound + 1
    while ref_encode(x, f) > bound:
        x = math.nextafter(x, -math.inf)
    while ref_encode(x, f) <= bound:
        x = math.nextafter(x, math.inf)
    return math.nextafter(x, -math.inf), x


def decoded(ints: np.ndarray, enc: Encoding) -> np.ndarray:
    flat = [int(v) % N for v in np.asarray(ints, dtype=object).reshape(-1).tolist()]
    return decode_array(flat, N, enc, np.shape(ints))


# (value_bound, frac_bits, whether value_bound + 2**-frac_bits is a float one grid
# unit above). The scaled bound is an even integer (the tie above it rounds down,
# so the first refused float is just above the tie), an odd integer (the tie
# rounds up and is itself refused), not an integer (the bound rounds up to the
# encoding grid), at a scale where float spacing is finer than the grid by one bit
# only, and at scales past the float64 fast path or beyond float precision.
FLOAT_CASES = [
    (3.0, 4, True),
    (49 / 16, 4, True),
    (0.3, 10, False),
    (0.3, 0, False),
    (2.0**-30, 32, True),
    (1e6 + 0.1, 32, False),
    (7.25, 0, False),
    (32.0, 20, True),
    (1.5, 80, False),
    (2.0**60, 0, False),
]


# ------------------------------------------------------------------ encode_array, floats
@pytest.mark.parametrize(("vb", "f", "on_grid"), FLOAT_CASES)
def test_float_data_at_and_above_the_declared_bound(vb: float, f: int, on_grid: bool) -> None:
    declared = ref_declared(vb, f)
    ints, enc = encode_array(np.array([vb, -vb, 0.0]), f, MAX_INT, value_bound=vb)
    assert enc.bound == declared and enc.scale == f
    want = ref_encode(vb, f)
    assert ints.tolist() == [want, -want, 0]
    assert decoded(ints, enc).tolist() == [want / 2**f, -want / 2**f, 0.0]

    last, first = refusal_edge(declared, f)
    assert last >= vb and first > vb and math.nextafter(last, math.inf) == first
    assert ref_encode(last, f) <= declared < ref_encode(first, f)
    ints, enc = encode_array(np.array([-last, last]), f, MAX_INT, value_bound=vb)
    assert enc.bound == declared and ints.tolist() == [-ref_encode(last, f), ref_encode(last, f)]
    for data in ([first], [-first], [0.0, vb, first, -vb]):
        with pytest.raises(ValueError, match="value_bound") as info:
            encode_array(np.array(data), f, MAX_INT, value_bound=vb)
        assert isinstance(info.value, HecryptError)
    # one unit of the last fractional bit above the bound, where that is a float
    above = vb + 2.0**-f
    exact = Fraction(above) == Fraction(vb) + Fraction(1, 2**f)
    assert (exact and declared == Fraction(vb) * 2**f) == on_grid
    if on_grid:
        assert ref_encode(above, f) == declared + 1
        with pytest.raises(ValueError, match="value_bound"):
            encode_array(np.array([above]), f, MAX_INT, value_bound=vb)


def test_the_two_rounding_cases_sit_where_expected() -> None:
    # An even scaled bound: its tie (48.5 / 16) still encodes to 48 and is accepted.
    _, enc = encode_array(np.array([48.5 / 16]), 4, MAX_INT, value_bound=3.0)
    assert enc.bound == 48
    with pytest.raises(ValueError, match="value_bound"):
        encode_array(np.array([math.nextafter(48.5 / 16, 4.0)]), 4, MAX_INT, value_bound=3.0)
    # An odd scaled bound: its tie (49.5 / 16) encodes to 50 and is refused; the
    # float just below it is accepted.
    with pytest.raises(ValueError, match="value_bound"):
        encode_array(np.array([49.5 / 16]), 4, MAX_INT, value_bound=49 / 16)
    ints, enc = encode_array(
        np.array([math.nextafter(49.5 / 16, 0.0)]), 4, MAX_INT, value_bound=49 / 16
    )
    assert ints.tolist() == [49] and enc.bound == 49


# ------------------------------------------------------------------ encode_array, ints
@pytest.mark.parametrize("f", [0, 3, 40])
@pytest.mark.parametrize("b", [0, 1, 7, 1000, 2**40, 2**62])
def test_int_data_at_and_above_the_declared_bound(b: int, f: int) -> None:
    ints, enc = encode_array(np.array([b, -b], dtype=np.int64), f, MAX_INT, value_bound=b)
    assert enc.bound == b << f and ints.tolist() == [b << f, -(b << f)]
    assert decoded(ints, enc).tolist() == ([b, -b] if f == 0 else [float(b), float(-b)])
    for data in ([b + 1], [-(b + 1)], [0, b, b + 1]):
        with pytest.raises(ValueError, match="value_bound"):
            encode_array(np.array(data, dtype=np.int64), f, MAX_INT, value_bound=b)


def test_big_int_data_at_and_above_the_declared_bound() -> None:
    b = 2**100  # exactly a float: the declared bound is b itself
    big = np.array([b, -b, 3], dtype=object)
    ints, enc = encode_array(big, None, MAX_INT, value_bound=float(b))
    assert enc.bound == b and decoded(ints, enc).tolist() == [b, -b, 3]
    with pytest.raises(ValueError, match="value_bound"):
        encode_array(np.array([b + 1], dtype=object), None, MAX_INT, value_bound=float(b))


@pytest.mark.parametrize("f", [0, 5])
def test_an_integer_bound_beyond_float_precision_is_exact(f: int) -> None:
    for b in (2**53 + 1, 2**64 + 1, 2**100 + 1):
        assert float(b) < b  # a float would round the bound below the data
        assert bounds.declared_bound(b, f) == b << f
        ints, enc = encode_array(np.array([b, -b], dtype=object), f, MAX_INT, value_bound=b)
        assert enc.bound == b << f and ints.tolist() == [b << f, -(b << f)]
        with pytest.raises(ValueError, match="value_bound"):
            encode_array(np.array([b + 1], dtype=object), f, MAX_INT, value_bound=b)
    assert bounds.declared_bound(np.int64(2**53 + 1), 0) == 2**53 + 1
    for bad in (-1, -0.5, math.nan, math.inf):
        with pytest.raises(ValueError, match="finite non-negative"):
            bounds.declared_bound(bad, 0)


def test_a_fractional_bound_on_int_data_rounds_up_to_the_grid() -> None:
    # 7.25 at scale 0 declares ceil(7.25) = 8: the integer 8 encodes within it
    ints, enc = encode_array(np.array([8, -8]), None, MAX_INT, value_bound=7.25)
    assert enc.bound == 8 and ints.tolist() == [8, -8]
    with pytest.raises(ValueError, match="value_bound"):
        encode_array(np.array([9]), None, MAX_INT, value_bound=7.25)


@settings(deadline=None, max_examples=150)
@given(
    hnp.arrays(np.float64, st.integers(1, 5), elements=st.floats(-1e6, 1e6, width=64)),
    st.integers(0, 32),
    st.integers(-2, 2),
    st.integers(-1, 1),
)
def test_a_declared_bound_below_the_data_is_never_tracked(
    x: np.ndarray, f: int, units: int, ulps: int
) -> None:
    # value_bound a few grid units (and an ulp) around the data's largest encoding
    biggest = max(abs(ref_encode(v, f)) for v in x.tolist())
    vb = max(0.0, float(Fraction(biggest + units, 2**f)))
    for _ in range(abs(ulps)):
        vb = max(0.0, math.nextafter(vb, math.inf if ulps > 0 else -math.inf))
    declared = ref_declared(vb, f)
    if biggest > declared:
        with pytest.raises(ValueError, match="value_bound"):
            encode_array(x, f, MAX_INT, value_bound=vb)
    else:
        ints, enc = encode_array(x, f, MAX_INT, value_bound=vb)
        assert bounds.max_abs(ints) == biggest <= enc.bound == declared


# ------------------------------------------------------------------ the plaintext band
def test_declared_bound_exactly_at_the_limit() -> None:
    limit = 1000
    # 62.5 at scale 4 is exactly 1000; one unit of the last bit above is 1001
    ints, enc = encode_array(np.array([62.5, -62.5]), 4, limit, value_bound=62.5)
    assert enc.bound == limit and ints.tolist() == [1000, -1000]
    for vb in (62.5 + 2.0**-4, math.nextafter(62.5, 63.0)):
        with pytest.raises(EncodingOverflowError, match="declared value_bound"):
            encode_array(np.array([0.0]), 4, limit, value_bound=vb)
    # without a declared bound the data's own bound meets the same limit
    ints, enc = encode_array(np.array([limit, -limit]), None, limit)
    assert enc.bound == limit
    with pytest.raises(EncodingOverflowError):
        encode_array(np.array([limit + 1]), None, limit)
    with pytest.raises(EncodingOverflowError):
        encode_array(np.array([-(limit + 1)]), None, limit)
    _, hi = refusal_edge(limit, 4)
    assert encode_array(np.array([math.nextafter(hi, 0.0)]), 4, limit)[1].bound == limit
    with pytest.raises(EncodingOverflowError):
        encode_array(np.array([hi]), 4, limit)


@pytest.mark.parametrize("limit", [1000, 1023, 1024, MAX_INT])
def test_scalar_codec_at_the_limit(limit: int) -> None:
    for v in (limit, -limit):
        assert fixedpoint.encode(v, limit) == (v, 0)
    for v in (limit + 1, -(limit + 1)):
        with pytest.raises(EncodingOverflowError):
            fixedpoint.encode(v, limit)
    # floats: the largest float encoding within the limit, and the next one
    last, first = refusal_edge(limit, 3)
    assert fixedpoint.encode(last, limit, 3) == (ref_encode(last, 3), 3)
    assert fixedpoint.encode(-last, limit, 3) == (-ref_encode(last, 3), 3)
    for y in (first, -first):
        with pytest.raises(EncodingOverflowError):
            fixedpoint.encode(y, limit, 3)


def test_encoding_exactly_at_the_limit() -> None:
    assert Encoding(0, MAX_INT, MAX_INT).bound == MAX_INT
    with pytest.raises(EncodingOverflowError):
        Encoding(0, MAX_INT + 1, MAX_INT)
    a = Encoding(2, 600, 1000)
    assert bounds.add(a, Encoding(2, 400, 1000)).bound == 1000
    with pytest.raises(EncodingOverflowError):
        bounds.add(a, Encoding(2, 401, 1000))
    assert bounds.add(Encoding(0, 100, 1000), Encoding(3, 200, 1000)).bound == 1000
    with pytest.raises(EncodingOverflowError):
        bounds.add(Encoding(0, 100, 1000), Encoding(3, 201, 1000))
    assert bounds.add_plain(a, np.array([-400, 3]), 2).bound == 1000
    with pytest.raises(EncodingOverflowError):
        bounds.add_plain(a, np.array([-401, 3]), 2)
    assert bounds.rescale(Encoding(0, 125, 1000), 3).bound == 1000
    with pytest.raises(EncodingOverflowError):
        bounds.rescale(Encoding(0, 126, 1000), 3)
    assert bounds.mul_plain(Encoding(0, 250, 1000), np.array([1, -4]), 0).bound == 1000
    with pytest.raises(EncodingOverflowError):
        bounds.mul_plain(Encoding(0, 251, 1000), np.array([1, -4]), 0)
    assert bounds.matmul_plain(Encoding(0, 200, 1000), np.array([2, -3]), 0).bound == 1000
    with pytest.raises(EncodingOverflowError):
        bounds.matmul_plain(Encoding(0, 200, 1000), np.array([2, -4]), 0)
    assert bounds.sum_over(Encoding(0, 250, 1000), (4,)).bound == 1000
    with pytest.raises(EncodingOverflowError):
        bounds.sum_over(Encoding(0, 250, 1000), (5,))
    assert bounds.encode_weights(np.array([1000, -1000]), 0, 1000).tolist() == [1000, -1000]
    with pytest.raises(EncodingOverflowError):
        bounds.encode_weights(np.array([1001]), 0, 1000)


def test_decoding_at_the_edges_of_the_band_and_the_bound() -> None:
    wide = Encoding(0, MAX_INT, MAX_INT)
    assert decode_array([MAX_INT, N - MAX_INT], N, wide, (2,), check_bound=False).tolist() == [
        MAX_INT,
        -MAX_INT,
    ]
    for r in (MAX_INT + 1, N - MAX_INT - 1):
        with pytest.raises(EncodingOverflowError, match="valid band"):
            decode_array([r], N, wide, (1,), check_bound=False)
        with pytest.raises(EncodingOverflowError, match="valid band"):
            fixedpoint.decode(r, N, MAX_INT, 0)
    assert fixedpoint.decode(MAX_INT, N, MAX_INT, 0) == MAX_INT
    assert fixedpoint.decode(N - MAX_INT, N, MAX_INT, 0) == -MAX_INT
    # the tracked bound: a value exactly at it decodes, one above it is refused
    enc = Encoding(4, 1000, MAX_INT)
    assert decode_array([1000, N - 1000], N, enc, (2,)).tolist() == [62.5, -62.5]
    for r in (1001, N - 1001):
        with pytest.raises(EncodingOverflowError, match="tracked bound"):
            decode_array([r], N, enc, (1,))
        with pytest.raises(EncodingOverflowError, match="tracked bound"):
            fixedpoint.decode(r, N, MAX_INT, 4, 1000)
    assert fixedpoint.decode(N - 1000, N, MAX_INT, 4, 1000) == -62.5


# ------------------------------------------------------------------ packing slots
@pytest.mark.parametrize("w", [2, 3, 8, 33, 64, 65])
def test_slot_limit_packs_and_unpacks_exactly(w: int) -> None:
    layout = PackingLayout(w, 4)
    lim = layout.slot_limit
    assert lim == 2 ** (w - 1) - 1
    n = (1 << layout.min_modulus_bits) + 1
    for vals in ([lim, -lim, lim, -lim], [-lim, -lim, -lim, -lim], [lim] * 4, [0, 0, 0, lim]):
        assert layout.unpack(layout.pack(vals)) == vals
        assert layout.unpack(layout.pack(vals, n), n=n) == vals
        assert layout.packed(vals).spec.bound == lim
    assert layout.check(lim) == lim
    for bad in (lim + 1, -(lim + 1)):
        with pytest.raises(EncodingOverflowError):
            layout.pack([0, bad])
        with pytest.raises(EncodingOverflowError):
            layout.packed([bad])
    with pytest.raises(EncodingOverflowError):
        layout.check(lim + 1)
    # a tighter per-value bound: exactly at it packs, one above it is refused
    b = lim // 2
    assert layout.unpack(layout.pack([b, -b], bound=b), 2) == [b, -b]
    assert layout.packed([b, -b], bound=b).spec.bound == b
    for bad in (b + 1, -(b + 1)):
        with pytest.raises(EncodingOverflowError):
            layout.pack([bad], bound=b)
        with pytest.raises(EncodingOverflowError):
            layout.packed([0, bad], bound=b)
    # a top slot one above the limit is not a packing of that many slots
    raw = sum(v << (w * i) for i, v in enumerate([0, 0, 0, lim + 1]))
    with pytest.raises(EncodingOverflowError, match="not a packing"):
        layout.unpack(raw)


def test_slot_rules_reach_the_limit_exactly() -> None:
    layout = PackingLayout(11, 3)  # slot_limit 1023
    lim = layout.slot_limit
    assert PackedSpec(layout, 3, lim).bound == lim
    with pytest.raises(EncodingOverflowError):
        PackedSpec(layout, 3, lim + 1)
    s = layout.spec(3, 341)
    assert s.scale(3).bound == 1023 and s.scale(-3).bound == 1023
    with pytest.raises(EncodingOverflowError):
        layout.spec(3, 342).scale(3)
    assert s.add(layout.spec(1, 682)).bound == lim
    with pytest.raises(EncodingOverflowError):
        s.add(layout.spec(1, 683))
    assert s.add_constant(-682).bound == lim and s.add_constant([0, 682]).bound == lim
    with pytest.raises(EncodingOverflowError):
        s.add_constant(683)
    with pytest.raises(EncodingOverflowError):
        s.add_constant([0, -683])
    assert dot_spec([s, layout.spec(2, 1)], [3, 0]).bound == lim
    assert dot_spec([s, layout.spec(2, 1)], [2, -341]).bound == lim
    with pytest.raises(EncodingOverflowError):
        dot_spec([s, layout.spec(2, 1)], [2, -342])
    # the same rules on packed plaintexts: values at the limit come back exactly
    p = layout.packed([341, -341, 0], bound=341)
    assert (p * 3).unpack() == [1023, -1023, 0]
    assert (-(p * 3)).unpack() == [-1023, 1023, 0]
    with pytest.raises(EncodingOverflowError):
        p * 4


def test_a_decrypted_slot_at_its_bound_is_accepted_one_above_refused() -> None:
    layout = PackingLayout(12, 4)
    n = (1 << 60) + 33
    spec = layout.spec(3, 100)
    got = Packed.from_residue(layout.pack([100, -100, 7], n), n, spec)
    assert got.unpack() == [100, -100, 7]
    for vals in ([101, 0, 0], [0, -101, 0]):
        with pytest.raises(EncodingOverflowError, match="tracked bound"):
            Packed.from_residue(layout.pack(vals, n), n, spec)
