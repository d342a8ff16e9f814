"""Encoding of real numbers into Paillier plaintexts (fixed point)."""

from __future__ import annotations

from hecrypt.encoding.fixedpoint import DEFAULT_FRAC_BITS, decode, encode, max_int_for

__all__ = ["DEFAULT_FRAC_BITS", "encode", "decode", "max_int_for"]
