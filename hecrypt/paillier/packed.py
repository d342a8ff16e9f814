"""Packed encrypted tensors: one ciphertext holds the same feature of k records.

Batch scoring of a linear model ``X @ w (+ b)`` on encrypted records spends
almost all its time in scalar multiplications of ciphertexts. Packing the
same feature of ``k`` records into the ``k`` slots of one plaintext (see
``docs/packing.md`` and :mod:`hecrypt.encoding.packing`) makes one scalar
multiplication serve ``k`` records: for each chunk of ``k`` records and each
output, ``packed @ w`` is *one* multi-exponentiation over the features, and
one decryption returns ``k`` scores. It also divides the bytes on the wire by
``k``.

Layout of a :class:`PackedTensor` of ``R`` records and ``F`` features::

    chunk c (records c*k .. c*k+k-1), feature j:
        Enc( x[c*k, j] + x[c*k+1, j] * 2^w + ... + x[c*k+k-1, j] * 2^((k-1) w) )

    ciphertexts: an array of shape (ceil(R / k), F); the last chunk is padded
    with zero slots, which decryption drops.

Slot width. The client fixes the layout when it encrypts, before it knows the
weights, from public parameters: the data bound ``value_bound`` (in real
units; without it, the largest ``|x|`` -- which is then revealed), the
fractional bits ``frac_bits`` of the data, a weight bound ``weight_bound`` and
the fractional bits ``weight_frac_bits`` of the weights, and the depth of the
computation: ``terms`` accumulated products (default: the number of
features), plus one bit of headroom for a bias as large as the dot product
itself. With encoded bounds ``B_x = ceil(value_bound * 2^frac_bits)`` and
``B_w = ceil(weight_bound * 2^weight_frac_bits)``::

    slot_bits = bits(B_x * B_w * terms) + 1 (sign) + 1 (bias headroom)
    slots     = (n_bits - 2) // slot_bits

(:func:`hecrypt.encoding.packing.layout_for`); a caller who asks for a slot
count instead gets the widest slot that count allows, and an
:class:`~hecrypt.exceptions.EncodingOverflowError` if it is narrower than
that. With the defaults (data within ``2^5``, 20 fractional bits for data
and weights, ``|w| <= 16``) and 100 features a slot takes 58 bits: 35 records
per 2048-bit ciphertext, 14.6 encrypted bytes per value.

The layout is a budget, the *check* is exact: ``packed @ w`` computes the
per-slot bound of the result from the actual encoded weights
(:func:`hecrypt.encoding.packing.dot_spec`: ``B_x * sum_j |w_j|``) and raises
before computing if it exceeds the slot; the same holds for ``+ b``.

Precision: data are encoded at ``frac_bits`` (error ``<= 2^-(frac_bits+1)``
each), float weights at ``weight_frac_bits`` and integers exactly, so a score
``x . w`` is off by at most ``sum_j (|x_j| e_w + |w_j| e_x + e_x e_w)`` with
``e_x = 2^-(frac_bits+1)``, ``e_w = 2^-(weight_frac_bits+1)``; a bias is
encoded at the result's scale (``frac_bits + weight_frac_bits``). The
defaults give ``e_x = e_w = 2^-21``. Slots are exact integers: packing itself
adds no error, so the result equals the unpacked
:class:`~hecrypt.paillier.tensor.EncryptedTensor` path up to the different
rounding of the weights.

Leaks: the number of records, the number of features (or outputs), the
layout (slot width and count), the scale and the per-slot bound, and the
weight scale the client prepared for. A bound derived from the data (no
``value_bound``) reveals the largest magnitude of the data. Homomorphic
results are not fresh; :meth:`PackedTensor.to_bytes` re-randomizes them.

Layout: this module is the public path; its parts live in private modules,
one idea each: ``_packed_layout`` (default scales and the slot layout for
public bounds, :func:`layout_for_key`), ``_packed_core`` (the
:class:`PackedTensor` class and its chunk kernel :func:`dot_chunk`) and
``_packed_keys`` (the keys' entry points :func:`encrypt_public`,
:func:`encrypt_owner` and :func:`decrypt_owner`). The class and the public
functions report ``hecrypt.paillier.packed`` as their ``__module__``.
"""
# ruff: noqa: F401  (this module re-exports the names of its parts)

from __future__ import annotations

# Every name of the parts below, and the hecrypt names this module imported
# when it was one file, stay importable from here as the same objects.
from hecrypt import _gmp
from hecrypt.encoding import bounds
from hecrypt.encoding.bounds import _INT64_MAX, _check_int
from hecrypt.encoding.packing import PackedSpec, PackingLayout, dot_spec, layout_for
from hecrypt.exceptions import EncodingOverflowError, KeyMismatchError
from hecrypt.paillier import parallel
from hecrypt.paillier._packed_core import (
    MIN_PARALLEL_TERMS,
    PackedTensor,
    _auto_executor,
    _frozen,
    _is_int_weights,
    _obj2d,
    dot_chunk,
)
from hecrypt.paillier._packed_keys import (
    _prepare,
    decrypt_owner,
    encrypt_owner,
    encrypt_public,
)
from hecrypt.paillier._packed_layout import (
    BIAS_HEADROOM,
    DEFAULT_PACKED_FRAC_BITS,
    DEFAULT_WEIGHT_BOUND,
    _encoded_bound,
    _layout,
    layout_for_key,
)
from hecrypt.paillier.number import EncryptedNumber

__all__ = [
    "PackedTensor",
    "DEFAULT_PACKED_FRAC_BITS",
    "DEFAULT_WEIGHT_BOUND",
    "BIAS_HEADROOM",
    "layout_for_key",
    "encrypt_public",
    "encrypt_owner",
    "decrypt_owner",
    "dot_chunk",
]
