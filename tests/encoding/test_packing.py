"""Tests for hecrypt.encoding.packing: signed slots, linear operations, static bounds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hecrypt.encoding import bounds
from hecrypt.encoding.packing import (
    Packed,
    PackingLayout,
    dot,
    dot_spec,
    layout_for,
    slots_for,
)
from hecrypt.exceptions import EncodingOverflowError

SETTINGS = settings(deadline=None, max_examples=80)


def smallest_modulus(n_bits: int) -> int:
    """The smallest odd integer of ``n_bits`` bits: the worst case for the band."""
    return (1 << (n_bits - 1)) + 1


@st.composite
def layouts(draw: st.DrawFn, max_slot_bits: int = 70) -> PackingLayout:
    slot_bits = draw(st.integers(2, max_slot_bits))
    slots = draw(st.integers(1, 12))
    return PackingLayout(slot_bits, slots)


@st.composite
def layout_and_values(draw: st.DrawFn) -> tuple[PackingLayout, list[int]]:
    layout = draw(layouts())
    lim = layout.slot_limit
    count = draw(st.integers(0, layout.slots))
    vals = draw(
        st.lists(
            st.one_of(st.sampled_from([lim, -lim, 0]), st.integers(-lim, lim)),
            min_size=count,
            max_size=count,
        )
    )
    return layout, vals


# ------------------------------------------------------------------ slot counts


@pytest.mark.parametrize(
    ("n_bits", "slot_bits", "slots"),
    [
        (1024, 64, 15),
        (2048, 64, 31),
        (4096, 64, 63),
        (1024, 32, 31),
        (2048, 32, 63),
        (4096, 32, 127),
        (2048, 100, 20),
        (4096, 1, None),
    ],
)
def test_slot_counts(n_bits: int, slot_bits: int, slots: int | None) -> None:
    if slots is None:
        with pytest.raises(ValueError):
            slots_for(n_bits, slot_bits)
        return
    assert slots_for(n_bits, slot_bits) == slots
    layout = PackingLayout.for_modulus(n_bits, slot_bits)
    assert layout.slots == slots and layout.min_modulus_bits <= n_bits
    # the worst case: every slot at +-limit under the smallest modulus of that size
    n = smallest_modulus(n_bits)
    lim = layout.slot_limit
    for vals in ([lim] * slots, [-lim] * slots, [(-1) ** i * lim for i in range(slots)]):
        p = layout.pack(vals)
        assert abs(p) <= n // 3
        assert layout.unpack(layout.pack(vals, n), slots, n) == vals


def test_no_slot_fits() -> None:
    with pytest.raises(EncodingOverflowError):
        PackingLayout.for_modulus(64, 63)
    with pytest.raises(EncodingOverflowError):
        layout_for(1 << 2044, 1, 1, 2048)  # 2045 bits + sign + headroom > 2046


@SETTINGS
@given(st.integers(5, 4096), st.integers(2, 300))
def test_slots_for_keeps_every_packing_inside_the_band(n_bits: int, slot_bits: int) -> None:
    k = slots_for(n_bits, slot_bits)
    if k == 0:
        return
    n = smallest_modulus(n_bits)
    lim = (1 << (slot_bits - 1)) - 1
    worst = sum(lim << (slot_bits * i) for i in range(k))
    assert worst <= n // 3


# ------------------------------------------------------------------ round trips


@SETTINGS
@given(layout_and_values())
def test_round_trip_including_the_slot_limits(lv: tuple[PackingLayout, list[int]]) -> None:
    layout, vals = lv
    p = layout.pack(vals)
    assert layout.unpack(p, len(vals)) == vals
    # and through a residue mod n
    n = smallest_modulus(layout.min_modulus_bits)
    r = layout.pack(vals, n)
    assert 0 <= r < n
    assert layout.unpack(r, len(vals), n) == vals


@SETTINGS
@given(layouts(), st.data())
def test_round_trip_at_plus_minus_bound(layout: PackingLayout, data: st.DataObject) -> None:
    bound = data.draw(st.integers(0, layout.slot_limit))
    signs = data.draw(st.lists(st.sampled_from([-1, 1]), min_size=1, max_size=layout.slots))
    vals = [s * bound for s in signs]
    packed = layout.packed(vals, bound=bound)
    assert packed.spec.bound == bound
    assert packed.unpack() == vals


def test_pack_rejects_bad_input() -> None:
    layout = PackingLayout(8, 4)
    assert layout.slot_limit == 127
    with pytest.raises(EncodingOverflowError):
        layout.pack([128])
    with pytest.raises(EncodingOverflowError):
        layout.pack([-128])
    with pytest.raises(EncodingOverflowError):
        layout.pack([11], bound=10)
    with pytest.raises(ValueError):
        layout.pack([1] * 5)
    with pytest.raises(TypeError):
        layout.pack([1.0])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        layout.pack([True])
    with pytest.raises(ValueError):
        layout.pack([1], n=(1 << 30) + 1)  # 30-bit modulus < 34 bits needed
    with pytest.raises(ValueError):
        layout.unpack(0, 5)
    with pytest.raises(ValueError):
        layout.unpack(1 << 40, 1, n=(1 << 40) - 1)


def test_unpack_detects_top_slot_overflow_and_extra_slots() -> None:
    layout = PackingLayout(8, 4)
    p = layout.pack([1, 2, 3])
    with pytest.raises(EncodingOverflowError):
        layout.unpack(p, 2)  # slot 2 is not empty
    with pytest.raises(EncodingOverflowError):
        layout.unpack(p + (200 << 16), 3)  # slot 2 holds 203 > 127
    with pytest.raises(EncodingOverflowError):
        layout.unpack(1 << 32, 4)
    n = smallest_modulus(layout.min_modulus_bits + 10)
    with pytest.raises(EncodingOverflowError):
        layout.unpack(n // 2, 4, n)  # a residue far outside the band


def test_layout_validation() -> None:
    with pytest.raises(ValueError):
        PackingLayout(1, 4)
    with pytest.raises(ValueError):
        PackingLayout(8, 0)
    with pytest.raises(ValueError):
        PackingLayout(8, 2, headroom=4, mask_bits=4)
    layout = PackingLayout(16, 4, headroom=2, mask_bits=5)
    assert layout.value_bits == 8 and layout.value_limit == 255
    assert layout.total_bits == 64 and layout.fits((1 << 65) + 1)
    assert not layout.fits((1 << 64) + 1)


# ------------------------------------------------------------------ linear operations


@st.composite
def two_packings(draw: st.DrawFn) -> tuple[PackingLayout, list[int], list[int], int, int]:
    layout = draw(layouts(max_slot_bits=40))
    lim = layout.slot_limit
    ba = draw(st.integers(0, lim))
    bb = draw(st.integers(0, lim))
    k = draw(st.integers(1, layout.slots))
    a = draw(st.lists(st.integers(-ba, ba), min_size=k, max_size=k))
    b = draw(st.lists(st.integers(-bb, bb), min_size=k, max_size=k))
    return layout, a, b, ba, bb


@SETTINGS
@given(two_packings(), st.integers(-(1 << 20), 1 << 20), st.integers(-(1 << 20), 1 << 20))
def test_linear_ops_equal_slot_wise_ops(
    t: tuple[PackingLayout, list[int], list[int], int, int], c: int, d: int
) -> None:
    layout, a, b, ba, bb = t
    pa, pb = layout.packed(a, bound=ba), layout.packed(b, bound=bb)
    lim = layout.slot_limit
    cases = [
        (ba + bb, lambda: pa + pb, [x + y for x, y in zip(a, b)]),
        (ba + bb, lambda: pa - pb, [x - y for x, y in zip(a, b)]),
        (ba, lambda: -pa, [-x for x in a]),
        (ba * abs(c), lambda: pa * c, [c * x for x in a]),
        (ba * abs(c), lambda: c * pa, [c * x for x in a]),
        (ba + abs(d), lambda: pa.add_constant(d), [x + d for x in a]),
        (ba * abs(c) + bb * abs(d), lambda: dot([pa, pb], [c, d]), [
            c * x + d * y for x, y in zip(a, b)
        ]),
    ]  # fmt: skip
    for need, op, want in cases:
        if need > lim:
            # refused before computing, exactly when the tracked bound overflows
            with pytest.raises(EncodingOverflowError):
                op()
            continue
        got = op()
        assert got.spec.bound == need
        assert all(abs(v) <= need for v in want)  # the tracked bound holds
        assert got.unpack() == want


@SETTINGS
@given(two_packings(), st.integers(-(1 << 30), 1 << 30))
def test_linear_ops_mod_n_like_paillier(
    t: tuple[PackingLayout, list[int], list[int], int, int], c: int
) -> None:
    # Paillier adds plaintexts and multiplies them by (possibly negative)
    # scalars mod n; the centered lift still unpacks slot-wise.
    layout, a, b, ba, bb = t
    n = smallest_modulus(layout.min_modulus_bits)
    ra, rb = layout.pack(a, n), layout.pack(b, n)
    sa, sb = layout.spec(len(a), ba), layout.spec(len(b), bb)
    try:
        spec = sa.scale(c).add(sb)
    except EncodingOverflowError:
        assert ba * abs(c) + bb > layout.slot_limit
        return
    r = (c * ra + rb) % n
    got = Packed.from_residue(r, n, spec).unpack()
    assert got == [c * x + y for x, y in zip(a, b)]


def test_negative_values_borrow_across_slots() -> None:
    layout = PackingLayout(8, 3)
    p = layout.pack([-1, 0, 1])
    assert p == -1 + (1 << 16)
    assert layout.unpack(p, 3) == [-1, 0, 1]
    assert layout.unpack(-p, 3) == [1, 0, -1]
    assert layout.unpack(p * -127, 3) == [127, 0, -127]
    assert layout.unpack(layout.pack([-127] * 3), 3) == [-127] * 3


def test_constant_to_every_slot_and_per_slot_masks() -> None:
    layout = PackingLayout(16, 4, mask_bits=6)
    p = layout.packed([5, -5, 0], bound=100)
    assert p.add_constant(-3).unpack() == [2, -8, -3]
    assert p.spec.mask_limit == layout.slot_limit - 100
    masks = [p.spec.mask_limit, 0, 17, 9]
    masked = p.add_constant(masks)
    assert masked.spec.count == 4 and masked.spec.bound == layout.slot_limit
    assert masked.unpack() == [5 + masks[0], -5, 17, 9]
    with pytest.raises(EncodingOverflowError):
        p.add_constant([p.spec.mask_limit + 1])
    with pytest.raises(ValueError):
        p.add_constant([0] * 5)


def test_spec_rules_and_errors() -> None:
    layout = PackingLayout(10, 3)
    s = layout.spec(2, 100)
    assert s.negate() == s
    assert s.scale(-5).bound == 500
    with pytest.raises(EncodingOverflowError):
        s.scale(6)  # 600 > 511
    with pytest.raises(EncodingOverflowError):
        layout.spec(1, 512)
    with pytest.raises(ValueError):
        layout.spec(4, 0)
    with pytest.raises(ValueError):
        s.add(PackingLayout(11, 3).spec(1, 1))
    with pytest.raises(ValueError):
        dot_spec([s], [1, 2])
    with pytest.raises(ValueError):
        dot_spec([], [])
    assert dot_spec([s, layout.spec(3, 1)], [2, -300]).bound == 500
    assert dot_spec([s, layout.spec(3, 1)], [2, -300]).count == 3
    p = layout.packed([1, 2])
    assert p.__add__(3) is NotImplemented and p.__mul__(1.5) is NotImplemented
    with pytest.raises(TypeError):
        p * True
    with pytest.raises(EncodingOverflowError, match="tracked bound"):
        Packed.from_residue(layout.pack([3]), (1 << 40) + 1, layout.spec(1, 2))


# ------------------------------------------------------------------ layout_for


@SETTINGS
@given(
    st.integers(0, 1 << 40),
    st.integers(0, 1 << 20),
    st.integers(1, 30),
    st.sampled_from([1024, 2048, 4096]),
    st.integers(0, 3),
    st.integers(0, 40),
    st.data(),
)
def test_layout_for_holds_the_worst_case_dot_product(
    vb: int, wb: int, terms: int, n_bits: int, headroom: int, mask: int, data: st.DataObject
) -> None:
    layout = layout_for(vb, wb, terms, n_bits, headroom=headroom, mask_bits=mask)
    assert layout.headroom == headroom and layout.mask_bits == mask
    assert layout.slots == slots_for(n_bits, layout.slot_bits) >= 1
    assert layout.value_limit >= max(vb, vb * wb * terms)
    k = data.draw(st.integers(1, min(layout.slots, 8)))
    # every record at +-vb with signs aligned to the weights: the bound is reached
    weights = data.draw(st.lists(st.sampled_from([wb, -wb]), min_size=terms, max_size=terms))
    signs = data.draw(st.lists(st.sampled_from([-1, 1]), min_size=k, max_size=k))
    features = [
        layout.packed([s * vb * (1 if w >= 0 else -1) for s in signs], bound=vb) for w in weights
    ]
    score = dot(features, weights)
    assert score.unpack() == [s * vb * wb * terms for s in signs]
    assert score.spec.bound == vb * wb * terms
    # 2^headroom more sums of the same size still fit, and the mask on top
    spare = score.spec
    for _ in range(headroom):
        spare = spare.add(spare)
    assert spare.mask_limit >= ((1 << mask) - 1) * max(1, vb * wb * terms)
    n = smallest_modulus(n_bits)
    assert Packed.from_residue(score.residue(n), n, score.spec).unpack() == score.unpack()


def test_layout_for_widths() -> None:
    # 8-bit pixels (<= 255) times 8-bit weights over 784 features: 28 bits + sign + 1
    layout = layout_for(255, 255, 784, 2048)
    assert layout.slot_bits == (255 * 255 * 784).bit_length() + 2 == 28
    assert layout.slots == 2046 // 28 == 73
    masked = layout_for(255, 255, 784, 2048, headroom=0, mask_bits=40)
    assert masked.slot_bits == 26 + 1 + 40 and masked.slots == 30
    assert layout_for(0, 0, 0, 1024).slot_bits == 3


def test_packing_with_the_array_codec() -> None:
    # the slot limit as an Encoding's max_int: the array rules then guard slots
    layout = layout_for(1 << 12, 1 << 8, 16, 1024, headroom=0)
    x = np.array([0.25, -0.75, 0.5])
    ints, enc = bounds.encode_array(x, 12, layout.slot_limit)
    w = bounds.encode_weights(np.array([0.5] * 16), 8)
    once = bounds.matmul_plain(enc, w, 8)
    assert once.bound <= layout.slot_limit
    with pytest.raises(EncodingOverflowError):
        bounds.mul_plain(once, np.array([1 << 8], dtype=object), 0)
    packed = layout.packed([int(v) for v in ints], bound=enc.bound)
    assert packed.unpack() == ints.tolist()
