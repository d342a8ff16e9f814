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
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

import numpy as np

from hecrypt import _gmp
from hecrypt.encoding import bounds
from hecrypt.encoding.bounds import Encoding
from hecrypt.encoding.fixedpoint import DEFAULT_FRAC_BITS
from hecrypt.exceptions import KeyMismatchError
from hecrypt.paillier import parallel
from hecrypt.paillier.number import EncryptedNumber

if TYPE_CHECKING:
    from hecrypt.paillier.keys import PrivateKey, PublicKey

__all__ = ["EncryptedTensor", "HANDLED_FUNCTIONS", "concatenate", "matmul", "stack"]

_MUL_HINT = (
    "Paillier cannot multiply two ciphertexts; use the secret-sharing "
    "multiplication of hecrypt.hybrid (Beaver triples) for ciphertext x ciphertext"
)

#: numpy functions an :class:`EncryptedTensor` implements (``__array_function__``).
HANDLED_FUNCTIONS: dict[Callable[..., Any], Callable[..., Any]] = {}


def implements(np_function: Callable[..., Any]) -> Callable[[Callable[..., Any]], Any]:
    """Register an implementation of ``np_function`` for encrypted tensors."""

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        HANDLED_FUNCTIONS[np_function] = func
        return func

    return decorator


# ---------------------------------------------------------------- helpers
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


def number_as_tensor(x: EncryptedNumber) -> EncryptedTensor:
    """A 0-d :class:`EncryptedTensor` holding ``x`` (same ciphertext, scale and bound).

    What broadcasting an encrypted number against arrays and tensors uses.
    """
    pk = x.public_key
    cs = np.empty((), dtype=object)
    cs[()] = x._c
    return EncryptedTensor._make(pk, cs, Encoding(x.scale, x.bound, pk.max_int), x.is_fresh)


def _is_plain(x: Any) -> bool:
    if isinstance(x, (EncryptedTensor, EncryptedNumber)):
        return False
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "iuf" or x.dtype.kind == "O"
    if isinstance(x, bool):
        return False
    return isinstance(x, (numbers.Real, list, tuple))


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


# ---------------------------------------------------------------- the tensor
class EncryptedTensor:
    """An immutable n-d array of Paillier ciphertexts with one fixed-point scale.

    Build one with ``public_key.encrypt(ndarray)`` (DJN randomness) or
    ``private_key.encrypt(ndarray)`` (the key owner's exact CRT randomness);
    decrypt with ``private_key.decrypt(tensor)``.

    Every element ``m`` (centered residue) stands for ``m / 2**scale`` and
    satisfies ``|m| <= encoding.bound <= encoding.max_int``.

    Leaks: the shape, the scale and the bound (see :mod:`.tensor`); whether
    the ciphertexts are fresh. Nothing about the values.
    """

    __slots__ = ("_c", "_enc", "_fresh", "_pk")

    _pk: PublicKey
    _c: np.ndarray
    _enc: Encoding
    _fresh: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            "build an EncryptedTensor with public_key.encrypt(ndarray) or "
            "EncryptedTensor.from_bytes(...)"
        )

    @classmethod
    def _make(cls, pk: PublicKey, cs: Any, enc: Encoding, fresh: bool) -> EncryptedTensor:
        obj = object.__new__(cls)
        object.__setattr__(obj, "_pk", pk)
        object.__setattr__(obj, "_c", _frozen(cs))
        object.__setattr__(obj, "_enc", enc)
        object.__setattr__(obj, "_fresh", bool(fresh))
        return obj

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("EncryptedTensor is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("EncryptedTensor is immutable")

    # ------------------------------------------------------------ properties
    @property
    def public_key(self) -> PublicKey:
        """The key every element is encrypted under."""
        return self._pk

    @property
    def encoding(self) -> Encoding:
        """Scale, tracked bound and plaintext limit (public metadata)."""
        return self._enc

    @property
    def scale(self) -> int:
        """Fractional bits of every element."""
        return self._enc.scale

    @property
    def bound(self) -> int:
        """Tracked bound on the encoded magnitude of every element."""
        return self._enc.bound

    @property
    def is_fresh(self) -> bool:
        """True for fresh encryptions; False for homomorphic results."""
        return self._fresh

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape (public)."""
        return tuple(self._c.shape)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return int(self._c.ndim)

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(self._c.size)

    @property
    def ciphertexts(self) -> np.ndarray:
        """Read-only object array of the raw ciphertexts (as they are, not re-randomized)."""
        return self._c

    def __len__(self) -> int:
        if self._c.ndim == 0:
            raise TypeError("len() of a 0-d encrypted tensor")
        return int(self._c.shape[0])

    def __iter__(self) -> Iterator[Any]:
        if self._c.ndim == 0:
            raise TypeError("iteration over a 0-d encrypted tensor")
        for i in range(self._c.shape[0]):
            yield self[i]

    def __repr__(self) -> str:
        return (
            f"<EncryptedTensor shape={self.shape} scale=2^-{self.scale} "
            f"bound={self.bound.bit_length()} bits key={self._pk.fingerprint}>"
        )

    def __bool__(self) -> bool:
        raise TypeError("the truth value of an encrypted tensor is unknown; decrypt it first")

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            "refusing to convert an EncryptedTensor to a numpy array: decrypt it with "
            "the private key, or use .ciphertexts for the raw values"
        )

    def __reduce__(self) -> Any:
        raise TypeError("pickle is not supported: use to_bytes() / from_bytes()")

    # ------------------------------------------------------------ structure
    def _same(self, cs: Any, fresh: bool | None = None) -> EncryptedTensor:
        return EncryptedTensor._make(
            self._pk, cs, self._enc, self._fresh if fresh is None else fresh
        )

    def __getitem__(self, key: Any) -> Any:
        """Basic, boolean and integer-array indexing (the index is plaintext).

        A single element comes back as an :class:`EncryptedNumber`. Integer
        array indexing may repeat elements, so its result is not marked fresh.
        """
        if isinstance(key, (EncryptedTensor, EncryptedNumber)):
            raise TypeError("an encrypted value cannot be used as an index")
        keys = key if isinstance(key, tuple) else (key,)
        advanced = any(
            isinstance(k, (list, np.ndarray)) and np.asarray(k).dtype != np.bool_ for k in keys
        )
        res = self._c[key]
        fresh = self._fresh and not advanced
        if isinstance(res, np.ndarray):
            return self._same(res, fresh)
        return EncryptedNumber._make(self._pk, res, self._enc.scale, fresh, self._enc.bound)

    def reshape(self, *shape: Any, order: str = "C") -> EncryptedTensor:
        """Same elements in a new shape (as :meth:`numpy.ndarray.reshape`)."""
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = tuple(shape[0])
        return self._same(self._c.reshape(shape, order=order))  # type: ignore[call-overload]

    def transpose(self, *axes: Any) -> EncryptedTensor:
        """Permute the axes (as :meth:`numpy.ndarray.transpose`)."""
        if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], (int, np.integer))):
            axes = () if axes[0] is None else tuple(axes[0])
        return self._same(self._c.transpose(*axes))

    @property
    def T(self) -> EncryptedTensor:
        """The transpose."""
        return self.transpose()

    def flatten(self) -> EncryptedTensor:
        """A 1-D copy."""
        return self._same(self._c.flatten())

    def ravel(self) -> EncryptedTensor:
        """A 1-D tensor of the same elements."""
        return self._same(self._c.ravel())

    def copy(self) -> EncryptedTensor:
        """A copy (the ciphertexts are shared: they are immutable)."""
        return self._same(self._c.copy())

    # ------------------------------------------------------------ checks
    def _check_key(self, other: EncryptedTensor, what: str) -> None:
        if other._pk is not self._pk and other._pk != self._pk:
            raise KeyMismatchError(
                f"cannot {what} tensors encrypted under different keys "
                f"({self._pk.fingerprint} and {other._pk.fingerprint})"
            )

    def _at_scale(self, scale: int) -> np.ndarray:
        """Ciphertexts of the same values at a higher ``scale`` (times ``2^k``)."""
        if scale == self._enc.scale:
            return self._c
        k = 1 << (scale - self._enc.scale)
        nsq = self._pk._nsq
        return _map(lambda c: _gmp.powmod(c, k, nsq), self._c)

    def _encode_operand(self, other: Any, *, align: bool) -> tuple[np.ndarray, int]:
        """Encoded plaintext integers and their scale.

        For additions (``align``) integers are encoded at this tensor's scale
        and floats at ``max(scale, DEFAULT_FRAC_BITS)``, so the overflow rule
        sees the value actually added. For products, integers are exact at
        scale 0 and floats use :data:`DEFAULT_FRAC_BITS`.
        """
        arr = _plain_array(other)
        ints_dtype = arr.dtype.kind in "iu" or (
            arr.dtype.kind == "O"
            and all(isinstance(v, numbers.Integral) for v in arr.reshape(-1).tolist())
        )
        if align:
            frac = self._enc.scale if ints_dtype else max(self._enc.scale, DEFAULT_FRAC_BITS)
        else:
            frac = 0 if ints_dtype else DEFAULT_FRAC_BITS
        return _obj(bounds.encode_weights(arr, frac)), frac

    # ------------------------------------------------------------ arithmetic
    def _add_tensor(self, other: EncryptedTensor, sign: int) -> EncryptedTensor:
        self._check_key(other, "add")
        enc = bounds.add(self._enc, other._enc)
        nsq = self._pk._nsq
        a = self._at_scale(enc.scale)
        b = other._at_scale(enc.scale)
        if sign < 0:
            b = _map(lambda c: _gmp.invert(c, nsq), b)
        return EncryptedTensor._make(self._pk, _obj((a * b) % nsq), enc, False)

    def _add_plain(self, other: Any, sign: int) -> EncryptedTensor:
        ints, frac = self._encode_operand(other, align=True)
        if sign < 0:
            ints = _obj(-ints)
        enc = bounds.add_plain(self._enc, ints, frac)
        c = self._at_scale(enc.scale)
        shift = enc.scale - frac
        if shift:
            ints = _obj(ints * (1 << shift))
        n, nsq = self._pk._n, self._pk._nsq
        # c * (1 + m n) = c + n (m c mod n)  (mod n^2): no encryption needed
        out = (c + n * (((ints % n) * c) % n)) % nsq
        return EncryptedTensor._make(self._pk, _obj(out), enc, False)

    def __add__(self, other: Any) -> Any:
        if isinstance(other, EncryptedNumber):  # broadcast as a 0-d tensor
            other = number_as_tensor(other)
        if isinstance(other, EncryptedTensor):
            return self._add_tensor(other, 1)
        if _is_plain(other):
            return self._add_plain(other, 1)
        return NotImplemented

    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, EncryptedNumber):
            other = number_as_tensor(other)
        if isinstance(other, EncryptedTensor):
            return self._add_tensor(other, -1)
        if _is_plain(other):
            return self._add_plain(other, -1)
        return NotImplemented

    def __rsub__(self, other: Any) -> Any:
        if isinstance(other, EncryptedNumber):
            return (-self)._add_tensor(number_as_tensor(other), 1)
        if _is_plain(other):
            return (-self)._add_plain(other, 1)
        return NotImplemented

    def __neg__(self) -> EncryptedTensor:
        nsq = self._pk._nsq
        out = _map(lambda c: _gmp.invert(c, nsq), self._c)
        return EncryptedTensor._make(self._pk, out, bounds.negate(self._enc), False)

    def __pos__(self) -> EncryptedTensor:
        return self

    def __mul__(self, other: Any) -> Any:
        if isinstance(other, (EncryptedTensor, EncryptedNumber)):
            raise TypeError(_MUL_HINT)
        if not _is_plain(other):
            return NotImplemented
        ints, ws = self._encode_operand(other, align=False)
        enc = bounds.mul_plain(self._enc, ints, ws)
        nsq = self._pk._nsq
        c, w = np.broadcast_arrays(self._c, ints)
        out = np.empty(c.shape, dtype=object)
        flat = out.reshape(-1)
        for i, (ci, wi) in enumerate(zip(c.reshape(-1).tolist(), w.reshape(-1).tolist())):
            flat[i] = _spow(ci, wi, nsq)
        return EncryptedTensor._make(self._pk, out, enc, False)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Any:
        """Multiply by the reciprocal of a plaintext scalar or array.

        ``1/s`` is encoded at scale 32 (within ``2**-33``), so the result is
        off by at most ``|x| * 2**-33`` plus the tensor's own error times ``1/|s|``.
        """
        if isinstance(other, (EncryptedTensor, EncryptedNumber)):
            raise TypeError("division by a ciphertext is not possible under Paillier")
        if not _is_plain(other):
            return NotImplemented
        arr = _plain_array(other).astype(np.float64)
        if np.any(arr == 0):
            raise ZeroDivisionError("division of an encrypted tensor by zero")
        return self * (1.0 / arr)

    def __rtruediv__(self, other: Any) -> Any:
        raise TypeError("division by a ciphertext is not possible under Paillier")

    def __matmul__(self, other: Any) -> Any:
        if isinstance(other, (EncryptedTensor, EncryptedNumber)):
            raise TypeError(_MUL_HINT)
        if not _is_plain(other):
            return NotImplemented
        return _matmul(self, _plain_array(other), encrypted="left")

    def __rmatmul__(self, other: Any) -> Any:
        if isinstance(other, (EncryptedTensor, EncryptedNumber)):
            raise TypeError(_MUL_HINT)
        if not _is_plain(other):
            return NotImplemented
        return _matmul(self, _plain_array(other), encrypted="right")

    def dot(self, other: Any) -> EncryptedTensor:
        """``np.dot(self, other)`` for a plaintext ``other`` (scalar, 1-D or 2-D)."""
        return _dot(self, other)

    # ------------------------------------------------------------ reductions
    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Any:
        """Sum over ``axis`` (all by default): a product of ciphertexts per output.

        Returns a tensor (0-d for a full reduction). The bound grows by the
        number of elements summed.
        """
        enc = bounds.sum_over(self._enc, self.shape, axis)
        out = _reduce_product(self._c, _axes(self.ndim, axis), self._pk._nsq, keepdims)
        return EncryptedTensor._make(self._pk, out, enc, False)

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Any:
        """Mean over ``axis``: the sum times ``round(2**32 / N)`` (scale grows by 32).

        Precision: the encoded ``1/N`` adds at most ``|sum| * 2**-33``.
        """
        enc, inv = bounds.mean(self._enc, self.shape, axis)
        nsq = self._pk._nsq
        summed = _reduce_product(self._c, _axes(self.ndim, axis), nsq, keepdims)
        out = _map(lambda c: _spow(c, inv, nsq), summed)
        return EncryptedTensor._make(self._pk, out, enc, False)

    # ------------------------------------------------------------ freshness
    def rerandomized(
        self, *, circuit_private: bool = False, executor: Executor | None = None
    ) -> EncryptedTensor:
        """Fresh ciphertexts of the same values.

        Args:
            circuit_private: for results sent to the holder of the private
                key (scores, masked values): ``r^n`` with ``r`` uniform in
                ``Z_n^*``, statistically hiding how they were computed
                whatever the key (see :mod:`hecrypt.paillier.circuit`; one
                full exponentiation per element, or the key's
                circuit-private pool). Otherwise DJN randomness or the key's
                pool, enough for one's own or a trusted key.
            executor: circuit-private only: where to compute (see
                :mod:`hecrypt.paillier.parallel`).
        """
        pk = self._pk
        nsq = pk._nsq
        if circuit_private:
            from hecrypt.paillier.circuit import rerandomize_for_key_holder

            flat = rerandomize_for_key_holder(
                pk, self._c.reshape(-1).tolist(), executor=executor
            )
        else:
            rs = pk._take_randomness(self.size)
            flat = [c * r % nsq for c, r in zip(self._c.reshape(-1).tolist(), rs)]
        out = np.empty(self.size, dtype=object)
        out[:] = flat
        return EncryptedTensor._make(pk, out.reshape(self.shape), self._enc, True)

    def fresh(self) -> EncryptedTensor:
        """``self`` if fresh, else :meth:`rerandomized` (what leaves the process)."""
        return self if self._fresh else self.rerandomized()

    # ------------------------------------------------------------ serialization
    def to_bytes(self, *, rerandomize: bool = True) -> bytes:
        """Binary form (see :func:`hecrypt.paillier.serialization.encrypted_tensor_to_bytes`).

        Leaks: key fingerprint, shape, scale and bound.
        """
        from hecrypt.paillier import serialization

        return serialization.encrypted_tensor_to_bytes(self, rerandomize=rerandomize)

    @classmethod
    def from_bytes(cls, data: bytes, public_key: PublicKey) -> EncryptedTensor:
        """Load and validate a tensor written by :meth:`to_bytes`."""
        from hecrypt.paillier import serialization

        return serialization.encrypted_tensor_from_bytes(data, public_key)

    # ------------------------------------------------------------ numpy protocols
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method != "__call__" or kwargs.get("out") is not None:
            return NotImplemented
        if set(kwargs) - {"out"}:
            return NotImplemented
        if ufunc is np.negative and len(inputs) == 1:
            return -inputs[0]
        if len(inputs) != 2:
            return NotImplemented
        a, b = inputs
        left = isinstance(a, EncryptedTensor)
        if ufunc is np.add:
            return a.__add__(b) if left else b.__radd__(a)
        if ufunc is np.subtract:
            return a.__sub__(b) if left else b.__rsub__(a)
        if ufunc is np.multiply:
            return a.__mul__(b) if left else b.__rmul__(a)
        if ufunc is np.true_divide:
            return a.__truediv__(b) if left else b.__rtruediv__(a)
        if ufunc is np.matmul:
            return a.__matmul__(b) if left else b.__rmatmul__(a)
        return NotImplemented

    def __array_function__(
        self, func: Any, types: Any, args: Any, kwargs: Any
    ) -> Any:
        impl = HANDLED_FUNCTIONS.get(func)
        if impl is None:
            return NotImplemented
        return impl(*args, **kwargs)


# ---------------------------------------------------------------- kernels
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


# ---------------------------------------------------------------- numpy functions
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


# ---------------------------------------------------------------- keys' entry points
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
