"""Building encrypted tensors: joins, and the keys' array encryption and decryption.

:func:`concatenate` and :func:`stack` (scales aligned to the largest), and
the array encryption and decryption that :class:`~hecrypt.paillier.keys.PublicKey`
and :class:`~hecrypt.paillier.keys.PrivateKey` call. Re-exported by
:mod:`hecrypt.paillier.tensor`.

Leaks: the shapes, scales and bounds; nothing about the values.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

import numpy as np

from hecrypt import _gmp
from hecrypt.encoding import bounds
from hecrypt.encoding.bounds import Encoding
from hecrypt.exceptions import KeyMismatchError
from hecrypt.paillier import parallel
from hecrypt.paillier._tensor_core import EncryptedTensor

if TYPE_CHECKING:
    from hecrypt.paillier.keys import PrivateKey, PublicKey


def _aligned(tensors: Sequence[Any], what: str) -> tuple[list[np.ndarray], Encoding, bool]:
    items = list(tensors)
    if not items:
        raise ValueError(f"need at least one tensor to {what}")
    for x in items:
        if not isinstance(x, EncryptedTensor):
            raise TypeError(
                f"{what}: every operand must be an EncryptedTensor, not {type(x).__name__} "
                "(encrypt plaintext first)"
            )
    first = items[0]
    for x in items[1:]:
        first._check_key(x, what)
    scale = max(x.scale for x in items)
    encs = [bounds.rescale(x._enc, scale) for x in items]
    max_int = min(e.max_int for e in encs)
    enc = Encoding(scale, max(e.bound for e in encs), max_int)
    return [x._at_scale(scale) for x in items], enc, all(
        x._fresh and x.scale == scale for x in items
    )


def concatenate(tensors: Sequence[EncryptedTensor], axis: int = 0) -> EncryptedTensor:
    """Join tensors under one key along ``axis``; scales align to the largest.

    Raises:
        KeyMismatchError: tensors under different keys.
        TypeError: a plaintext operand (encrypt it first).
    """
    cs, enc, fresh = _aligned(tensors, "concatenate")
    pk = tensors[0].public_key
    return EncryptedTensor._make(pk, np.concatenate(cs, axis=axis), enc, fresh)


def stack(tensors: Sequence[EncryptedTensor], axis: int = 0) -> EncryptedTensor:
    """Stack tensors of one shape under one key along a new ``axis``.

    Raises:
        KeyMismatchError: tensors under different keys.
        TypeError: a plaintext operand (encrypt it first).
    """
    cs, enc, fresh = _aligned(tensors, "stack")
    pk = tensors[0].public_key
    return EncryptedTensor._make(pk, np.stack(cs, axis=axis), enc, fresh)

def encrypt_public(
    pk: PublicKey,
    values: np.ndarray,
    *,
    frac_bits: int | None,
    value_bound: float | None,
    executor: Executor | None,
    progress: parallel.ProgressCallback | None,
) -> EncryptedTensor:
    """Encrypt an array with DJN randomness (see :meth:`PublicKey.encrypt`)."""
    ints, enc = bounds.encode_array(values, frac_bits, pk.max_int, value_bound=value_bound)
    n = pk._n
    ms = [_gmp.mpz(m) % n for m in ints.reshape(-1).tolist()]
    cs = pk._encrypt_residues(ms, executor, progress)
    return _from_flat(pk, cs, ints.shape, enc)


def encrypt_owner(
    sk: PrivateKey,
    values: np.ndarray,
    *,
    frac_bits: int | None,
    value_bound: float | None,
    executor: Executor | None,
    progress: parallel.ProgressCallback | None,
) -> EncryptedTensor:
    """Encrypt an array with the key owner's CRT randomness (see :meth:`PrivateKey.encrypt`)."""
    pk = sk.public_key
    ints, enc = bounds.encode_array(values, frac_bits, pk.max_int, value_bound=value_bound)
    n = pk._n
    ms = [_gmp.mpz(m) % n for m in ints.reshape(-1).tolist()]
    cs = sk._encrypt_residues(ms, executor, progress)
    return _from_flat(pk, cs, ints.shape, enc)


def _from_flat(pk: PublicKey, cs: list[Any], shape: tuple[int, ...], enc: Encoding) -> Any:
    out = np.empty(len(cs), dtype=object)
    out[:] = cs
    return EncryptedTensor._make(pk, out.reshape(shape), enc, True)


def decrypt_owner(
    sk: PrivateKey,
    t: EncryptedTensor,
    *,
    executor: Executor | None,
    progress: parallel.ProgressCallback | None,
) -> np.ndarray:
    """Decrypt a tensor to an ndarray (see :meth:`PrivateKey.decrypt`)."""
    pk = sk.public_key
    if t._pk is not pk and t._pk != pk:
        raise KeyMismatchError(
            f"tensor encrypted under key {t._pk.fingerprint}, not {pk.fingerprint}"
        )
    ms = parallel.map_chunks(
        parallel.decrypt_chunk,
        (sk._p, sk._q),
        t._c.reshape(-1).tolist(),
        executor=executor,
        progress=progress,
    )
    return bounds.decode_array(ms, pk.n, t._enc, t.shape)


concatenate.__module__ = "hecrypt.paillier.tensor"
stack.__module__ = "hecrypt.paillier.tensor"
