"""Kernels of :mod:`hecrypt.paillier.tensor` on object arrays of ciphertexts.

Plain functions that know numpy object arrays and ciphertext arithmetic modulo
``n^2`` but not the :class:`~hecrypt.paillier.tensor.EncryptedTensor` class:
wrapping and freezing arrays, element maps, signed exponentiation, axis
normalisation, the product reduction behind ``sum``/``mean`` and the
multi-exponentiation contraction behind ``@``. Re-exported by
:mod:`hecrypt.paillier.tensor`.

Leaks: nothing; every input and output here is already public (ciphertexts,
plaintext weights, shapes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np

from hecrypt import _gmp
from hecrypt.paillier import parallel


def _obj(x: Any) -> np.ndarray:
    """``x`` as an object ndarray (numpy returns scalars from 0-d operations)."""
    if isinstance(x, np.ndarray):
        return x
    out = np.empty((), dtype=object)
    out[()] = x
    return out


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr = _obj(arr)
    arr.flags.writeable = False
    return arr


def _map(fn: Callable[[Any], Any], arr: np.ndarray) -> np.ndarray:
    out = np.empty(arr.shape, dtype=object)
    flat = out.reshape(-1)
    for i, c in enumerate(arr.reshape(-1).tolist()):
        flat[i] = fn(c)
    return out


def _spow(c: Any, e: int, nsq: Any) -> Any:
    """``c^e mod n^2`` for a signed ``e``."""
    e = int(e)
    if e == 0:
        return _gmp.mpz(1)
    if e == 1:
        return c
    if e < 0:
        return _gmp.powmod(_gmp.invert(c, nsq), -e, nsq)
    return _gmp.powmod(c, e, nsq)


def _plain_array(x: Any) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == np.bool_:
        raise TypeError("boolean plaintext operands are refused: convert them to int first")
    return arr


def _axes(ndim: int, axis: int | Sequence[int] | None) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    raw = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in raw:
        ax = int(ax)
        if not -ndim <= ax < ndim:
            raise np.exceptions.AxisError(ax, ndim)
        out.append(ax % ndim)
    if len(set(out)) != len(out):
        raise ValueError("duplicate value in 'axis'")
    return tuple(out)

def _reduce_product(
    cs: np.ndarray, axes: tuple[int, ...], nsq: Any, keepdims: bool
) -> np.ndarray:
    nd = cs.ndim
    keep = [ax for ax in range(nd) if ax not in axes]
    moved = np.transpose(cs, keep + list(axes))
    out_shape = tuple(cs.shape[ax] for ax in keep)
    k = math.prod(cs.shape[ax] for ax in axes)
    count = math.prod(out_shape)
    rows = moved.reshape(-1, k).tolist() if moved.size else [[] for _ in range(count)]
    out = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):
        acc = _gmp.mpz(1)
        for c in row:
            acc = acc * c % nsq
        out[i] = acc
    res = out.reshape(out_shape)
    if keepdims:
        res = res.reshape(tuple(1 if ax in axes else cs.shape[ax] for ax in range(nd)))
    return res


def _contract(
    cs: np.ndarray,
    w: np.ndarray,
    nsq: Any,
    executor: Executor | None = None,
    progress: parallel.ProgressCallback | None = None,
) -> np.ndarray:
    """``cs @ w`` for ``cs`` (..., k) and ``w`` (k,) or (k, m): one multi-exp per output.

    Spread by :func:`hecrypt.paillier.parallel.contract` (``executor=None``
    there means the default pool for large outputs).
    """
    k = cs.shape[-1]
    lead = cs.shape[:-1]
    rows = cs.reshape(-1, k).tolist() if cs.size else [[] for _ in range(math.prod(lead))]
    w2 = w.reshape(k, -1)
    cols = [list(w2[:, j].tolist()) for j in range(w2.shape[1])]
    res = parallel.contract(rows, cols, nsq, executor=executor, progress=progress)
    out = np.empty((len(rows), len(cols)), dtype=object)
    for i, row in enumerate(res):
        for j, c in enumerate(row):
            out[i, j] = c
    if w.ndim == 1:
        return out.reshape(lead)
    return out.reshape((*lead, w2.shape[1]))
