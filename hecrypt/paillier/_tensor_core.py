"""The :class:`EncryptedTensor` class: its state, shape, arithmetic and numpy protocols.

An immutable n-d array of ciphertexts under one key with one
:class:`~hecrypt.encoding.bounds.Encoding`; see :mod:`hecrypt.paillier.tensor`
(its public path) for what is supported, the precision and what leaks. The
products with a plaintext matrix live in :mod:`._tensor_linalg`, the joins
and the keys' entry points in :mod:`._tensor_build`, the numpy functions in
:mod:`._tensor_numpy`.
"""

from __future__ import annotations

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
from hecrypt.paillier._tensor_kernels import (
    _axes,
    _frozen,
    _map,
    _obj,
    _plain_array,
    _reduce_product,
    _spow,
)
from hecrypt.paillier.number import EncryptedNumber

if TYPE_CHECKING:
    from hecrypt.paillier.keys import PublicKey

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
        from hecrypt.paillier._tensor_linalg import _matmul  # it imports this module

        return _matmul(self, _plain_array(other), encrypted="left")

    def __rmatmul__(self, other: Any) -> Any:
        if isinstance(other, (EncryptedTensor, EncryptedNumber)):
            raise TypeError(_MUL_HINT)
        if not _is_plain(other):
            return NotImplemented
        from hecrypt.paillier._tensor_linalg import _matmul  # it imports this module

        return _matmul(self, _plain_array(other), encrypted="right")

    def dot(self, other: Any) -> EncryptedTensor:
        """``np.dot(self, other)`` for a plaintext ``other`` (scalar, 1-D or 2-D)."""
        from hecrypt.paillier._tensor_linalg import _dot  # it imports this module

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


EncryptedTensor.__module__ = "hecrypt.paillier.tensor"  # its public path
