"""The numpy functions an :class:`~hecrypt.paillier.tensor.EncryptedTensor` implements.

Importing this module registers ``np.sum``, ``np.mean``, ``np.dot``,
``np.concatenate``, ``np.stack``, ``np.reshape`` and ``np.transpose`` in
:data:`~hecrypt.paillier.tensor.HANDLED_FUNCTIONS` (what
``EncryptedTensor.__array_function__`` dispatches to); options that have no
meaning for ciphertexts (``dtype``, ``out``...) raise ``TypeError``.
:mod:`hecrypt.paillier.tensor` imports it, so the registrations exist as soon
as the class can be used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hecrypt.paillier._tensor_build import concatenate, stack
from hecrypt.paillier._tensor_core import EncryptedTensor, implements
from hecrypt.paillier._tensor_linalg import _dot


def _no_extra(name: str, **kwargs: Any) -> None:
    for key, value in kwargs.items():
        if value is not None and value is not False:
            raise TypeError(f"np.{name} on an EncryptedTensor does not support {key}=")


@implements(np.sum)
def _np_sum(
    a: EncryptedTensor,
    axis: Any = None,
    dtype: Any = None,
    out: Any = None,
    keepdims: bool = False,
    **kwargs: Any,
) -> Any:
    _no_extra("sum", dtype=dtype, out=out, **kwargs)
    return a.sum(axis=axis, keepdims=keepdims)


@implements(np.mean)
def _np_mean(
    a: EncryptedTensor,
    axis: Any = None,
    dtype: Any = None,
    out: Any = None,
    keepdims: bool = False,
    **kwargs: Any,
) -> Any:
    _no_extra("mean", dtype=dtype, out=out, **kwargs)
    return a.mean(axis=axis, keepdims=keepdims)


@implements(np.dot)
def _np_dot(a: Any, b: Any, out: Any = None) -> Any:
    _no_extra("dot", out=out)
    return _dot(a, b)


@implements(np.concatenate)
def _np_concatenate(arrays: Sequence[Any], axis: int = 0, **kwargs: Any) -> Any:
    _no_extra("concatenate", **kwargs)
    return concatenate(arrays, axis=axis)


@implements(np.stack)
def _np_stack(arrays: Sequence[Any], axis: int = 0, **kwargs: Any) -> Any:
    _no_extra("stack", **kwargs)
    return stack(arrays, axis=axis)


@implements(np.reshape)
def _np_reshape(a: EncryptedTensor, *args: Any, **kwargs: Any) -> Any:
    shape = args[0] if args else kwargs.pop("shape", kwargs.pop("newshape", None))
    order = args[1] if len(args) > 1 else kwargs.pop("order", "C")
    _no_extra("reshape", **kwargs)
    if shape is None:
        raise TypeError("np.reshape needs a shape")
    return a.reshape(shape, order=order)


@implements(np.transpose)
def _np_transpose(a: EncryptedTensor, axes: Any = None) -> Any:
    return a.transpose(axes)
