"""Packed layouts: the slot width and count a packed tensor is encrypted with.

Part of :mod:`hecrypt.paillier.packed` (its public path): the default data
and weight scales, the bias headroom, and the sizing of a
:class:`~hecrypt.encoding.packing.PackingLayout` from public bounds
(:func:`layout_for_key`); see that module for the formulas.

Leaks: nothing; the layout is computed from public parameters only.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

from hecrypt.encoding import bounds
from hecrypt.encoding.bounds import _check_int
from hecrypt.encoding.packing import PackingLayout, layout_for
from hecrypt.exceptions import EncodingOverflowError

if TYPE_CHECKING:
    from hecrypt.paillier.keys import PublicKey

#: Fractional bits of float data and float weights in packed scoring.
DEFAULT_PACKED_FRAC_BITS = 20
#: Bound on ``|w|`` the default layout is sized for (real units).
DEFAULT_WEIGHT_BOUND = 16.0
#: Headroom bits of a packed layout: room for a bias as large as the dot product.
BIAS_HEADROOM = 1


def _encoded_bound(bound: float, frac_bits: int, name: str) -> int:
    """``ceil(bound * 2**frac_bits)`` for a finite non-negative real ``bound``."""
    if isinstance(bound, bool) or not isinstance(bound, numbers.Real):
        raise TypeError(f"{name} must be a real number, not {type(bound).__name__}")
    return bounds.declared_bound(bound, frac_bits, name)


def _layout(
    n_bits: int, x_bound: int, w_bound: int, terms: int, slots: int | None
) -> PackingLayout:
    """The packed layout for encoded bounds (narrowest slot, or widest for ``slots``)."""
    need = layout_for(x_bound, w_bound, terms, n_bits, headroom=BIAS_HEADROOM)
    if slots is None:
        return need
    slots = _check_int(slots, "slots", 1)
    width = (n_bits - 2) // slots
    if width < need.slot_bits:
        raise EncodingOverflowError(
            f"{slots} slots of {width} bits do not fit the computation: a slot needs "
            f"{need.slot_bits} bits (data, weights, {terms} terms, sign and bias headroom); "
            f"at most {need.slots} slots fit a {n_bits}-bit key with these bounds"
        )
    value_bits = need.slot_bits - 1 - BIAS_HEADROOM
    return PackingLayout(width, slots, headroom=width - 1 - value_bits)


def layout_for_key(
    public_key: PublicKey,
    *,
    value_bound: float,
    features: int,
    weight_bound: float = DEFAULT_WEIGHT_BOUND,
    frac_bits: int = DEFAULT_PACKED_FRAC_BITS,
    weight_frac_bits: int = DEFAULT_PACKED_FRAC_BITS,
    terms: int | None = None,
    slots: int | None = None,
) -> PackingLayout:
    """The slot layout ``encrypt_packed`` uses for these public parameters.

    So that nobody has to compute slot widths: the layout holds
    ``sum_(j < terms) w_j x_j + b`` for ``|x_j| <= value_bound`` at
    ``frac_bits``, ``|w_j| <= weight_bound`` at ``weight_frac_bits`` and a
    bias no larger than the dot product (see the module documentation).

    Args:
        public_key: the key (only its size matters).
        value_bound: bound on ``|x|`` in real units.
        features: number of features of a record.
        weight_bound: bound on ``|w|`` in real units.
        frac_bits: fractional bits of the data.
        weight_frac_bits: fractional bits of float weights.
        terms: accumulated products (default ``features``).
        slots: a slot count to use (the widest slot it allows is returned);
            default: as many slots as the narrowest sufficient slot gives.

    Raises:
        EncodingOverflowError: the computation does not fit (even one slot,
            or the requested count).
        ValueError: a negative or non-finite parameter.
    """
    frac_bits = _check_int(frac_bits, "frac_bits")
    weight_frac_bits = _check_int(weight_frac_bits, "weight_frac_bits")
    features = _check_int(features, "features", 1)
    terms = features if terms is None else _check_int(terms, "terms", 1)
    x_bound = _encoded_bound(value_bound, frac_bits, "value_bound")
    w_bound = _encoded_bound(weight_bound, weight_frac_bits, "weight_bound")
    return _layout(public_key.n_bits, x_bound, w_bound, terms, slots)

layout_for_key.__module__ = "hecrypt.paillier.packed"  # its public path
