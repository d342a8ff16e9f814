"""Binary forms of encrypted tensors and packed tensors.

A tensor form carries its shape, scale and tracked bound; a packed form its
packing layout, records, columns, scales and bound. Loaders check every
field against the key (the bound within ``max_int`` or the slot limit, the
layout carried by ``n``), match the length before allocating, validate
every ciphertext and mark nothing fresh. Layouts are described in
:mod:`hecrypt.paillier.serialization` and ``docs/formats.md``.

Leaks: the key fingerprint, the shape or records and columns, the layout,
the scales and the bound.
"""

from __future__ import annotations

from typing import Any

from hecrypt.exceptions import InvalidCiphertext
from hecrypt.paillier.framing import (
    MAX_BATCH_SIZE,
    MAX_SCALE,
    MAX_TENSOR_NDIM,
    TYPE_ENCRYPTED_TENSOR,
    TYPE_PACKED_TENSOR,
    _check_public_key_arg,
    _check_scale,
    _fingerprint_bytes,
    _header,
    _minimal_bytes,
    _read_bound,
    _read_ciphertexts,
    _read_fingerprint,
    _read_header,
    ciphertext_width,
)
from hecrypt.paillier.keys import PublicKey


# ========================================================== encrypted tensors
def encrypted_tensor_to_bytes(t: Any, *, rerandomize: bool = True) -> bytes:
    """Binary form of an :class:`~hecrypt.paillier.tensor.EncryptedTensor`.

    Layout: header (type 0x04) ``| fingerprint (8) | scale u16 | len u16 |
    bound (minimal big-endian, empty for 0) | ndim u8 | ndim x dim u32``, then
    the ciphertexts in C order, exactly ``2*|n|`` bytes each.

    Args:
        t: the tensor.
        rerandomize: re-randomize a non-fresh tensor first (default).

    Raises:
        TypeError: not an EncryptedTensor.
        ValueError: a scale, rank or dimension beyond the format's limits, or
            an encoding limit other than the key's ``max_int``.

    Leaks: the key fingerprint, the shape, the scale and the tracked bound.
    """
    from hecrypt.paillier.tensor import EncryptedTensor

    if not isinstance(t, EncryptedTensor):
        raise TypeError(f"expected a hecrypt EncryptedTensor, not {type(t).__name__}")
    pk = t.public_key
    enc = t.encoding
    if enc.scale > MAX_SCALE:
        raise ValueError(
            f"scale {enc.scale} is above the serializable limit of {MAX_SCALE} fractional bits"
        )
    if enc.max_int != pk.max_int:
        raise ValueError("only tensors limited by the key's max_int can be serialized")
    if t.ndim > MAX_TENSOR_NDIM or any(d > 0xFFFFFFFF for d in t.shape):
        raise ValueError(f"a tensor has at most {MAX_TENSOR_NDIM} dimensions of < 2^32")
    if rerandomize:
        t = t.fresh()
    width = ciphertext_width(pk)
    bound = _minimal_bytes(enc.bound) if enc.bound else b""
    out = [
        _header(TYPE_ENCRYPTED_TENSOR),
        _fingerprint_bytes(pk),
        enc.scale.to_bytes(2, "big"),
        len(bound).to_bytes(2, "big"),
        bound,
        bytes((t.ndim,)),
    ]
    out += [d.to_bytes(4, "big") for d in t.shape]
    out += [int(c).to_bytes(width, "big") for c in t.ciphertexts.reshape(-1).tolist()]
    return b"".join(out)


def encrypted_tensor_from_bytes(data: bytes, public_key: PublicKey) -> Any:
    """Load and validate a tensor written by :func:`encrypted_tensor_to_bytes`.

    Every ciphertext is validated (range and unit); the bound must not exceed
    the key's ``max_int``; the result is not marked fresh. A bound that is
    lower than the data makes decryption raise, never return a wrong value.

    Raises:
        InvalidCiphertext: bad header or type tag, scale, bound or rank out of
            bounds, a length that does not match the shape, or an invalid
            ciphertext (its index is named).
        KeyMismatchError: the data was made under another key.
    """
    import numpy as np

    from hecrypt.encoding.bounds import Encoding
    from hecrypt.paillier.tensor import EncryptedTensor

    pk = _check_public_key_arg(public_key)
    r = _read_header(data, TYPE_ENCRYPTED_TENSOR, InvalidCiphertext)
    _read_fingerprint(r, pk)
    scale = _check_scale(r.uint(2, "scale"), InvalidCiphertext)
    bound = _read_bound(r)
    if bound > pk.max_int:
        raise InvalidCiphertext(
            "the tensor's bound exceeds the key's plaintext limit (max_int = n // 3)"
        )
    ndim = r.uint(1, "rank")
    if ndim > MAX_TENSOR_NDIM:
        raise InvalidCiphertext(f"rank {ndim} is above the limit of {MAX_TENSOR_NDIM}")
    shape = tuple(r.uint(4, f"dimension {i}") for i in range(ndim))
    count = 1
    for d in shape:
        count *= d
    extent = 1
    for d in shape:
        extent *= max(d, 1)
    if count == 0 and extent > MAX_BATCH_SIZE:  # numpy cannot describe an empty array that wide
        raise InvalidCiphertext(
            f"shape {shape} spans more than {MAX_BATCH_SIZE} elements (zero dimensions aside)"
        )
    loaded = _read_ciphertexts(r, pk, count, f"tensor of shape {shape}")
    cs = np.empty(count, dtype=object)
    cs[:] = loaded
    enc = Encoding(scale, bound, pk.max_int)
    return EncryptedTensor._make(pk, cs.reshape(shape), enc, False)


# ============================================================= packed tensors
def packed_tensor_to_bytes(t: Any, *, rerandomize: bool = True) -> bytes:
    """Binary form of a :class:`~hecrypt.paillier.packed.PackedTensor`.

    Layout: header (type 0x05) ``| fingerprint (8) | slot_bits u16 | slots u16
    | headroom u16 | mask_bits u16 | count u16 | len u16 | bound | scale u16
    | weight scale u16 | records u32 | rank u8 | columns u32``, then
    ``ceil(records / slots) * columns`` ciphertexts (chunk-major), exactly
    ``2*|n|`` bytes each. The overhead is ``39 + len(bound)`` bytes; a value
    costs ``2*|n| / slots`` bytes (14.6 at 2048 bits with 35 slots).

    Args:
        t: the packed tensor.
        rerandomize: re-randomize a non-fresh tensor first (default).

    Raises:
        TypeError: not a PackedTensor.
        ValueError: a field beyond the format's limits.

    Leaks: the key fingerprint, records, columns, layout, scales and bound.
    """
    from hecrypt.paillier.packed import PackedTensor

    if not isinstance(t, PackedTensor):
        raise TypeError(f"expected a hecrypt PackedTensor, not {type(t).__name__}")
    layout = t.layout
    if max(t.scale, t.weight_frac_bits) > MAX_SCALE:
        raise ValueError(f"a scale is above the serializable limit of {MAX_SCALE} bits")
    if max(layout.slot_bits, layout.slots, layout.headroom, layout.mask_bits) > 0xFFFF:
        raise ValueError("a layout field does not fit 16 bits")
    cs = t.ciphertexts
    if t.records > 0xFFFFFFFF or cs.shape[1] > 0xFFFFFFFF:
        raise ValueError("a packed tensor holds fewer than 2^32 records and columns")
    if rerandomize:
        t = t.fresh()
        cs = t.ciphertexts
    pk = t.public_key
    width = ciphertext_width(pk)
    bound = _minimal_bytes(t.bound) if t.bound else b""
    out = [
        _header(TYPE_PACKED_TENSOR),
        _fingerprint_bytes(pk),
        b"".join(v.to_bytes(2, "big") for v in (
            layout.slot_bits, layout.slots, layout.headroom, layout.mask_bits, t.spec.count
        )),
        len(bound).to_bytes(2, "big"),
        bound,
        t.scale.to_bytes(2, "big"),
        t.weight_frac_bits.to_bytes(2, "big"),
        t.records.to_bytes(4, "big"),
        bytes((t.ndim,)),
        int(cs.shape[1]).to_bytes(4, "big"),
    ]
    out += [int(c).to_bytes(width, "big") for c in cs.reshape(-1).tolist()]
    return b"".join(out)


def packed_tensor_from_bytes(data: bytes, public_key: PublicKey) -> Any:
    """Load and validate a packed tensor written by :func:`packed_tensor_to_bytes`.

    Checks: the layout is well formed and carried by the key's modulus
    (``slot_bits * slots <= bits(n) - 2``), ``count == min(records, slots)``,
    the bound fits a slot, scales are within :data:`MAX_SCALE`, at least one
    record and one column, rank 1 only with one column, the length matches
    before anything is allocated, and every ciphertext is in range and a unit.
    The result is not marked fresh. A bound below the data makes decryption
    raise, never return a wrong value.

    Raises:
        InvalidCiphertext: a rule above is broken (the message names it).
        KeyMismatchError: the data was made under another key.
    """
    import numpy as np

    from hecrypt.encoding.packing import PackedSpec, PackingLayout
    from hecrypt.paillier.packed import PackedTensor

    pk = _check_public_key_arg(public_key)
    r = _read_header(data, TYPE_PACKED_TENSOR, InvalidCiphertext)
    _read_fingerprint(r, pk)
    slot_bits = r.uint(2, "slot width")
    slots = r.uint(2, "slot count")
    headroom = r.uint(2, "headroom")
    mask_bits = r.uint(2, "mask bits")
    count = r.uint(2, "slots in use")
    try:
        layout = PackingLayout(slot_bits, slots, headroom, mask_bits)
    except ValueError as exc:
        raise InvalidCiphertext(f"invalid packing layout: {exc}") from None
    if not layout.fits(pk.n):
        raise InvalidCiphertext(
            f"{slots} slots of {slot_bits} bits do not fit a {pk.n_bits}-bit key "
            "(slot_bits * slots must be at most bits(n) - 2)"
        )
    bound = _read_bound(r)
    if bound > layout.slot_limit:
        raise InvalidCiphertext(
            f"the bound exceeds the slot limit 2^{slot_bits - 1} - 1 of the layout"
        )
    scale = _check_scale(r.uint(2, "scale"), InvalidCiphertext)
    weight_scale = _check_scale(r.uint(2, "weight scale"), InvalidCiphertext)
    records = r.uint(4, "records")
    rank = r.uint(1, "rank")
    cols = r.uint(4, "columns")
    if records < 1 or cols < 1:
        raise InvalidCiphertext("a packed tensor holds at least one record and one column")
    if rank not in (1, 2) or (rank == 1 and cols != 1):
        raise InvalidCiphertext(
            f"rank {rank} with {cols} columns: rank is 1 (one column) or 2"
        )
    if count != min(records, slots):
        raise InvalidCiphertext(
            f"{count} slots in use for {records} records in {slots} slots: it must be "
            f"min(records, slots) = {min(records, slots)}"
        )
    chunks = -(-records // slots)
    total = chunks * cols
    loaded = _read_ciphertexts(
        r, pk, total, f"packed tensor ({records} records in {slots} slots, {cols} columns)"
    )
    cs = np.empty(total, dtype=object)
    cs[:] = loaded
    spec = PackedSpec(layout, count, bound)
    return PackedTensor._make(
        pk, cs.reshape(chunks, cols), spec, records, scale, weight_scale, rank == 1, False
    )
