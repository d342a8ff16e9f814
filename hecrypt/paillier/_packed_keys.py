"""The keys' packed entry points: pack and encrypt records, decrypt and unpack.

Part of :mod:`hecrypt.paillier.packed` (its public path): what
``PublicKey.encrypt_packed``, ``PrivateKey.encrypt_packed`` and
``PrivateKey.decrypt`` call for packed tensors. Encryption encodes the
records, sizes the layout (:mod:`hecrypt.paillier._packed_layout`) and packs
the same feature of ``k`` records into one plaintext; decryption checks every
slot against the tracked bound and drops the padding.

Leaks: the number of records and features, the layout and the scale; a
bound derived from the data (no ``value_bound``) reveals the largest
magnitude of the data.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

import numpy as np

from hecrypt import _gmp
from hecrypt.encoding import bounds
from hecrypt.encoding.bounds import _INT64_MAX, _check_int
from hecrypt.encoding.packing import PackedSpec
from hecrypt.exceptions import EncodingOverflowError, KeyMismatchError
from hecrypt.paillier import parallel
from hecrypt.paillier._packed_core import PackedTensor, _obj2d
from hecrypt.paillier._packed_layout import (
    DEFAULT_PACKED_FRAC_BITS,
    DEFAULT_WEIGHT_BOUND,
    _encoded_bound,
    _layout,
)

if TYPE_CHECKING:
    from hecrypt.paillier.keys import PrivateKey, PublicKey


def _prepare(
    pk: PublicKey,
    values: Any,
    slots: int | None,
    frac_bits: int | None,
    value_bound: float | None,
    weight_bound: float,
    weight_frac_bits: int,
    terms: int | None,
) -> tuple[list[Any], PackedSpec, int, int, int]:
    """Encode, size the layout and pack: ``(residues, spec, records, cols, scale)``."""
    arr = np.asarray(values)
    if arr.ndim != 2:
        raise ValueError(
            f"encrypt_packed takes a 2-D array (records x features), not {arr.ndim}-D; "
            "use X.reshape(1, -1) for a single record"
        )
    records, cols = (int(d) for d in arr.shape)
    if records == 0 or cols == 0:
        raise ValueError("encrypt_packed needs at least one record and one feature")
    if frac_bits is None:
        ints_in = arr.dtype.kind in "iu"
        frac_bits = 0 if ints_in else DEFAULT_PACKED_FRAC_BITS
    frac_bits = _check_int(frac_bits, "frac_bits")
    weight_frac_bits = _check_int(weight_frac_bits, "weight_frac_bits")
    terms = cols if terms is None else _check_int(terms, "terms", 1)
    w_bound = _encoded_bound(weight_bound, weight_frac_bits, "weight_bound")
    ints, enc = bounds.encode_array(arr, frac_bits, pk.max_int, value_bound=value_bound)
    layout = _layout(pk.n_bits, enc.bound, w_bound, terms, slots)
    k = layout.slots
    spec = PackedSpec(layout, min(records, k), enc.bound)
    w = layout.slot_bits
    n = pk._n
    residues: list[Any] = []
    for start in range(0, records, k):
        for column in ints[start : start + k].T.tolist():
            p = 0
            for v in reversed(column):
                p = (p << w) + v
            residues.append(_gmp.mpz(p) % n)
    return residues, spec, records, cols, enc.scale


def _pack_and_encrypt(
    pk: PublicKey,
    encrypt_residues: Callable[..., list[Any]],
    values: Any,
    slots: int | None,
    frac_bits: int | None,
    value_bound: float | None,
    weight_bound: float,
    weight_frac_bits: int,
    terms: int | None,
    executor: Executor | None,
    progress: parallel.ProgressCallback | None,
) -> PackedTensor:
    """Pack ``values`` and encrypt the residues with ``encrypt_residues`` (a key's batch path)."""
    ms, spec, records, cols, scale = _prepare(
        pk, values, slots, frac_bits, value_bound, weight_bound, weight_frac_bits, terms
    )
    cs = encrypt_residues(ms, executor, progress)
    return PackedTensor._make(pk, _obj2d([cs[i : i + cols] for i in range(0, len(cs), cols)],
                                         cols),
                              spec, records, scale, weight_frac_bits, False, True)


def encrypt_public(
    pk: PublicKey,
    values: Any,
    *,
    slots: int | None = None,
    frac_bits: int | None = None,
    value_bound: float | None = None,
    weight_bound: float = DEFAULT_WEIGHT_BOUND,
    weight_frac_bits: int = DEFAULT_PACKED_FRAC_BITS,
    terms: int | None = None,
    executor: Executor | None = None,
    progress: parallel.ProgressCallback | None = None,
) -> PackedTensor:
    """Pack and encrypt with DJN randomness (see :meth:`PublicKey.encrypt_packed`)."""
    return _pack_and_encrypt(pk, pk._encrypt_residues, values, slots, frac_bits, value_bound,
                             weight_bound, weight_frac_bits, terms, executor, progress)


def encrypt_owner(
    sk: PrivateKey,
    values: Any,
    *,
    slots: int | None = None,
    frac_bits: int | None = None,
    value_bound: float | None = None,
    weight_bound: float = DEFAULT_WEIGHT_BOUND,
    weight_frac_bits: int = DEFAULT_PACKED_FRAC_BITS,
    terms: int | None = None,
    executor: Executor | None = None,
    progress: parallel.ProgressCallback | None = None,
) -> PackedTensor:
    """Pack and encrypt with the key owner's CRT randomness (see
    :meth:`PrivateKey.encrypt_packed`)."""
    return _pack_and_encrypt(sk.public_key, sk._encrypt_residues, values, slots, frac_bits,
                             value_bound, weight_bound, weight_frac_bits, terms, executor,
                             progress)


def decrypt_owner(
    sk: PrivateKey,
    t: PackedTensor,
    *,
    executor: Executor | None = None,
    progress: parallel.ProgressCallback | None = None,
) -> np.ndarray:
    """Decrypt and unpack to an ndarray of ``t.shape`` (see :meth:`PrivateKey.decrypt`).

    float64 for a positive scale (each value correctly rounded), int64 (or
    exact Python ints for very wide slots) at scale 0. Padding slots are
    dropped.

    Raises:
        KeyMismatchError: ``t`` is under another key.
        EncodingOverflowError: a slot is not a valid packing or exceeds the
            tracked bound (the data was not produced by the checked operations).
    """
    pk = sk.public_key
    if t._pk is not pk and t._pk != pk:
        raise KeyMismatchError(
            f"packed tensor encrypted under key {t._pk.fingerprint}, not {pk.fingerprint}"
        )
    cols = int(t._c.shape[1])
    ms = parallel.map_chunks(
        parallel.decrypt_chunk, (sk._p, sk._q), t._c.reshape(-1).tolist(),
        executor=executor, progress=progress,
    )
    layout, count, bound = t.layout, t._spec.count, t._spec.bound
    n = pk.n
    table: list[list[int]] = [[] for _ in range(cols)]
    for i, m in enumerate(ms):
        vals = layout.unpack(int(m), count, n)
        if any(abs(v) > bound for v in vals):
            raise EncodingOverflowError(
                "a decrypted slot exceeds its tracked bound: the packed tensor was not "
                "produced by the bounded operations its spec describes"
            )
        table[i % cols].extend(vals)
    records = t._records
    columns = [col[:records] for col in table]
    scale = t._scale
    out: np.ndarray
    if scale > 0:
        div = 1 << scale
        try:
            out = np.array([[v / div for v in col] for col in columns], dtype=np.float64)
        except OverflowError:
            raise EncodingOverflowError(
                "a decrypted value is beyond the float64 range (above 2^1024): the "
                "computation left the range of the data it was declared for"
            ) from None
    elif bound <= _INT64_MAX:
        out = np.array(columns, dtype=np.int64)
    else:
        out = np.empty((cols, records), dtype=object)
        for j, col in enumerate(columns):
            out[j, :] = col
    out = out.T
    return out.reshape(records) if t._vector else np.ascontiguousarray(out)


encrypt_public.__module__ = "hecrypt.paillier.packed"  # their public path
encrypt_owner.__module__ = "hecrypt.paillier.packed"
decrypt_owner.__module__ = "hecrypt.paillier.packed"
