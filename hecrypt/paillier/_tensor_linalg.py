"""Products of an :class:`~hecrypt.paillier.tensor.EncryptedTensor` with a plaintext matrix.

``t @ w``, ``w @ t`` and ``dot``: the weights are encoded at one scale, the
bound rule of :mod:`hecrypt.encoding.bounds` runs first, then one
multi-exponentiation per output element (:func:`matmul` spreads them over an
executor). Re-exported by :mod:`hecrypt.paillier.tensor`.

Leaks: the shapes, the weights' scale and the tracked bound; only public
values (ciphertexts and plaintext weights) reach an executor.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

import numpy as np

from hecrypt.encoding import bounds
from hecrypt.paillier import parallel
from hecrypt.paillier._tensor_core import _MUL_HINT, EncryptedTensor, _is_plain
from hecrypt.paillier._tensor_kernels import _contract, _obj, _plain_array
from hecrypt.paillier.number import EncryptedNumber


def _matmul(
    t: EncryptedTensor,
    w: np.ndarray,
    *,
    encrypted: str,
    executor: Executor | None = None,
    progress: parallel.ProgressCallback | None = None,
    spread: bool = False,
) -> EncryptedTensor:
    """``t @ w`` (``encrypted="left"``) or ``w @ t`` (``"right"``) for plaintext ``w``.

    ``executor=None`` runs in-process (the ``@`` operator) unless ``spread``
    (:func:`matmul`), where it means the default pool for large outputs.
    """
    if executor is None and not spread:
        executor = parallel.SerialExecutor()
    if w.ndim == 0 or t.ndim == 0:
        raise ValueError("matmul: input operand does not have enough dimensions (0-d)")
    if w.ndim > 2:
        raise ValueError("matmul with a plaintext of more than 2 dimensions is not supported")
    if encrypted == "right" and t.ndim > 2:
        raise ValueError("plaintext @ tensor supports tensors of at most 2 dimensions")
    ws = bounds.weights_scale(w)
    ints = _obj(bounds.encode_weights(w, ws))
    if encrypted == "left":
        if t.shape[-1] != ints.shape[0]:
            raise ValueError(
                f"matmul: shapes {t.shape} and {w.shape} are not aligned "
                f"({t.shape[-1]} != {ints.shape[0]})"
            )
        enc = bounds.matmul_plain(t._enc, ints, ws, encrypted="left")
        out = _contract(t._c, ints, t._pk._nsq, executor, progress)
        return EncryptedTensor._make(t._pk, out, enc, False)
    # w @ t
    k = t.shape[0]
    if ints.shape[-1] != k:
        raise ValueError(
            f"matmul: shapes {w.shape} and {t.shape} are not aligned ({ints.shape[-1]} != {k})"
        )
    enc = bounds.matmul_plain(t._enc, ints, ws, encrypted="right")
    cs = t._c.T if t.ndim == 2 else t._c  # (j, k) or (k,)
    out = _contract(cs, ints.T, t._pk._nsq, executor, progress)  # (j, m) / (j,) / (m,) / ()
    if t.ndim == 2 and ints.ndim == 2:
        out = out.T
    return EncryptedTensor._make(t._pk, out, enc, False)


def matmul(
    a: Any,
    b: Any,
    *,
    executor: Executor | None = None,
    progress: parallel.ProgressCallback | None = None,
) -> EncryptedTensor:
    """``a @ b`` for an encrypted tensor and a plaintext matrix, spread over an executor.

    Same result as the ``@`` operator (which runs in-process), computed as
    one multi-exponentiation per output element, with the outputs cut into
    chunks (see :func:`hecrypt.paillier.parallel.contract`). Only public
    values travel: ciphertexts (compact binary chunks) and the plaintext
    weights, so any executor may run it.

    Args:
        a: an :class:`EncryptedTensor` or a plaintext array (at most 2-D).
        b: a plaintext array (at most 2-D) or an :class:`EncryptedTensor`.
        executor: where to run; None means the default process pool when
            there are at least :data:`~hecrypt.paillier.parallel.MIN_PARALLEL_ITEMS`
            outputs, else in-process.
        progress: ``progress(done, total)`` in output elements, once per chunk.

    Raises:
        TypeError: two encrypted operands (use the hybrid multiplication), or
            no encrypted operand.
        ValueError: shapes that do not align.
        EncodingOverflowError: the product could leave the plaintext space.
    """
    if isinstance(a, EncryptedTensor) and isinstance(b, (EncryptedTensor, EncryptedNumber)):
        raise TypeError(_MUL_HINT)
    if isinstance(b, EncryptedTensor) and isinstance(a, EncryptedNumber):
        raise TypeError(_MUL_HINT)
    if isinstance(a, EncryptedTensor) and _is_plain(b):
        t, w, side = a, _plain_array(b), "left"
    elif isinstance(b, EncryptedTensor) and _is_plain(a):
        t, w, side = b, _plain_array(a), "right"
    else:
        raise TypeError("matmul needs one EncryptedTensor and one plaintext operand")
    return _matmul(t, w, encrypted=side, executor=executor, progress=progress, spread=True)


def _dot(a: Any, b: Any) -> Any:
    if isinstance(a, EncryptedTensor) and isinstance(b, (EncryptedTensor, EncryptedNumber)):
        raise TypeError(_MUL_HINT)
    if isinstance(b, EncryptedTensor) and isinstance(a, EncryptedNumber):
        raise TypeError(_MUL_HINT)
    if isinstance(a, EncryptedTensor):
        t, w, side = a, _plain_array(b), "left"
    elif isinstance(b, EncryptedTensor):
        t, w, side = b, _plain_array(a), "right"
    else:
        raise TypeError("dot needs an EncryptedTensor operand")
    if w.ndim == 0 or t.ndim == 0:
        return t * w
    if t.ndim > 2 or w.ndim > 2:
        raise ValueError("dot supports operands of at most 2 dimensions; use @ or reshape")
    return _matmul(t, w, encrypted=side)


matmul.__module__ = "hecrypt.paillier.tensor"
