"""Encrypted tensors: numpy-like arrays of Paillier ciphertexts with one scale.

An :class:`EncryptedTensor` holds a numpy object array of ciphertexts, the
public key, and one :class:`~hecrypt.encoding.bounds.Encoding` (scale, bound,
limit) shared by every element. Each homomorphic operation first updates the
encoding through the rules of :mod:`hecrypt.encoding.bounds`, which raise
:class:`~hecrypt.exceptions.EncodingOverflowError` *before* anything is
computed if a result could leave the plaintext space: overflow is an error,
never a wrong value.

Supported: shape manipulation (indexing, slicing, boolean and integer array
indexing, reshape, transpose, flatten, concatenate, stack), ``+``/``-`` with
another tensor under the same key or a plaintext array/scalar (numpy
broadcasting), unary ``-``, ``*`` and ``/`` by plaintext, ``sum``, ``mean``,
``dot`` and ``@`` with a plaintext matrix on either side. The numpy functions
in :data:`HANDLED_FUNCTIONS` and the ufuncs ``add``, ``subtract``,
``multiply``, ``true_divide``, ``negative`` and ``matmul`` dispatch here;
anything else raises ``TypeError``, and so does ``np.asarray(tensor)`` (no
implicit decryption, no leak of the raw ciphertext array).

Precision: see :mod:`hecrypt.encoding.bounds`. Integer data at scale 0 is
exact; floats are encoded with ``2**-(f+1)`` error, carried linearly.

Leaks: the shape, the scale and the tracked bound of every tensor are public
(they decide whether an operation may run); nothing about the values.
Homomorphic results are not fresh ciphertexts; :meth:`EncryptedTensor.to_bytes`
re-randomizes them unless told otherwise.

Layout: this module is the public path; its parts live in private modules,
one idea each: ``_tensor_kernels`` (object-array kernels: element maps,
reductions, the multi-exponentiation contraction), ``_tensor_core`` (the
:class:`EncryptedTensor` class), ``_tensor_linalg`` (products with a plaintext
matrix, :func:`matmul`), ``_tensor_build`` (:func:`concatenate`, :func:`stack`
and the keys' array encryption and decryption) and ``_tensor_numpy`` (the
numpy functions in :data:`HANDLED_FUNCTIONS`). The class and the public
functions report ``hecrypt.paillier.tensor`` as their ``__module__``.
"""
# ruff: noqa: F401  (this module re-exports the names of its parts)

from __future__ import annotations

# Every name of the parts below, and the hecrypt names this module imported
# when it was one file, stay importable from here as the same objects.
from hecrypt import _gmp
from hecrypt.encoding import bounds
from hecrypt.encoding.bounds import Encoding
from hecrypt.encoding.fixedpoint import DEFAULT_FRAC_BITS
from hecrypt.exceptions import KeyMismatchError
from hecrypt.paillier import parallel
from hecrypt.paillier._tensor_build import (
    _aligned,
    _from_flat,
    concatenate,
    decrypt_owner,
    encrypt_owner,
    encrypt_public,
    stack,
)
from hecrypt.paillier._tensor_core import (
    _MUL_HINT,
    HANDLED_FUNCTIONS,
    EncryptedTensor,
    _is_plain,
    implements,
    number_as_tensor,
)
from hecrypt.paillier._tensor_kernels import (
    _axes,
    _contract,
    _frozen,
    _map,
    _obj,
    _plain_array,
    _reduce_product,
    _spow,
)
from hecrypt.paillier._tensor_linalg import _dot, _matmul, matmul
from hecrypt.paillier._tensor_numpy import (
    _no_extra,
    _np_concatenate,
    _np_dot,
    _np_mean,
    _np_reshape,
    _np_stack,
    _np_sum,
    _np_transpose,
)
from hecrypt.paillier.number import EncryptedNumber

__all__ = ["EncryptedTensor", "HANDLED_FUNCTIONS", "concatenate", "matmul", "stack"]
