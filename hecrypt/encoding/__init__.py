"""Encoding of real numbers into Paillier plaintexts.

* :mod:`~hecrypt.encoding.fixedpoint` -- one number at a time (scale, centered band).
* :mod:`~hecrypt.encoding.bounds` -- arrays at one scale with a tracked magnitude
  bound, and the rules that refuse an operation before it could overflow.
* :mod:`~hecrypt.encoding.packing` -- several signed integers in fixed-width slots
  of one plaintext.
"""

from __future__ import annotations

from hecrypt.encoding.bounds import Encoding, decode_array, encode_array, encode_weights
from hecrypt.encoding.fixedpoint import DEFAULT_FRAC_BITS, decode, encode, max_int_for
from hecrypt.encoding.packing import (
    Packed,
    PackedSpec,
    PackingLayout,
    layout_for,
    slots_for,
)

__all__ = [
    "DEFAULT_FRAC_BITS",
    "encode",
    "decode",
    "max_int_for",
    "Encoding",
    "encode_array",
    "decode_array",
    "encode_weights",
    "PackingLayout",
    "PackedSpec",
    "Packed",
    "layout_for",
    "slots_for",
]
