"""One party's additive share of a fixed-point tensor in Z_2^64, and the local operations.

A secret tensor ``x`` is split between the two computing parties as
``x = x_0 + x_1 mod 2^64``; each party's program holds one
:class:`SharedTensor` with its own ``x_i`` and never the other. Everything in
this module is local: no message is sent, nothing is learnt.

Local operations (exact in the ring unless they truncate):

* ``x + y``, ``x - y``, ``-x`` for two shares (same fixed-point scale);
* ``x + c`` for a public ``c``: party 0 adds it, party 1 does not;
* ``x * k`` for a public integer ``k`` (exact), ``x * c`` / ``x @ W`` /
  :meth:`SharedTensor.conv2d` for public reals: ``c`` encoded with the
  tensor's fractional bits, then :meth:`SharedTensor.truncate` (local,
  probabilistic: see its error bound);
* ``sum``, ``reshape``, indexing, ``transpose``, :func:`concatenate`.

Which party is party 0 is fixed by the protocol (the computing party whose
name sorts first). ``SharedTensor`` refuses numpy's implicit conversions so a
share cannot be mistaken for a value.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from hecrypt.exceptions import HecryptError
from hecrypt.hybrid import ring

__all__ = ["SharedTensor", "ShareMismatchError", "concatenate", "stack"]


class ShareMismatchError(HecryptError, ValueError):
    """Two shares cannot be combined (other scale, other party, other shape)."""


def _is_public_int(c: Any) -> bool:
    if isinstance(c, bool):
        return False
    if isinstance(c, numbers.Integral):
        return True
    return isinstance(c, np.ndarray) and c.dtype.kind in "iu"


class SharedTensor:
    """This party's additive share of a fixed-point tensor.

    Args:
        share: this party's share, a ``uint64`` array (used as is, not copied).
        frac_bits: fractional bits of the encoded value (``2f`` right after a
            product, ``f`` after truncation).
        index: 0 or 1, this party's position in the sharing (party 0 adds
            public constants).

    Leaks: nothing; the share alone is uniformly random.
    """

    __slots__ = ("frac_bits", "index", "share")
    __array_ufunc__ = None  # numpy defers to our reflected operators

    share: np.ndarray
    frac_bits: int
    index: int

    def __init__(self, share: np.ndarray, frac_bits: int, index: int) -> None:
        arr = np.asarray(share)
        if arr.dtype != np.uint64:
            raise TypeError(f"a share is a uint64 array, not {arr.dtype}")
        if index not in (0, 1):
            raise ValueError(f"a share's party index is 0 or 1, not {index!r}")
        if isinstance(frac_bits, bool) or not 0 <= int(frac_bits) < ring.RING_BITS:
            raise ValueError(f"frac_bits must be in [0, {ring.RING_BITS}), not {frac_bits!r}")
        self.share = arr
        self.frac_bits = int(frac_bits)
        self.index = int(index)

    # ---------------------------------------------------------------- basics
    @property
    def shape(self) -> tuple[int, ...]:
        """The tensor's shape (public)."""
        return tuple(self.share.shape)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self.share.ndim

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(self.share.size)

    def __len__(self) -> int:
        return len(self.share)

    def __repr__(self) -> str:
        return f"<SharedTensor party {self.index}, shape {self.shape}, {self.frac_bits} frac bits>"

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(
            "a SharedTensor is one party's share, not a value: open or reveal it through "
            "the protocol (SecretSharing.open / reveal)"
        )

    def __bool__(self) -> bool:
        raise TypeError("the truth value of a secret-shared tensor is not known to either party")

    def _new(self, share: np.ndarray, frac_bits: int | None = None) -> SharedTensor:
        return SharedTensor(share, self.frac_bits if frac_bits is None else frac_bits, self.index)

    def _check(self, other: SharedTensor) -> None:
        if other.index != self.index:
            raise ShareMismatchError(
                "shares of different parties cannot be combined locally (each party combines "
                "its own shares)"
            )
        if other.frac_bits != self.frac_bits:
            raise ShareMismatchError(
                f"shares with {self.frac_bits} and {other.frac_bits} fractional bits cannot be "
                "added: truncate one first"
            )

    def _public(self, c: Any) -> np.ndarray:
        """A public value encoded at this tensor's scale."""
        return ring.encode(np.asarray(c), self.frac_bits)

    # ---------------------------------------------------------------- + - neg
    def __add__(self, other: Any) -> SharedTensor:
        if isinstance(other, SharedTensor):
            self._check(other)
            return self._new(self.share + other.share)
        enc = self._public(other)
        if self.index == 0:
            return self._new(self.share + enc)
        return self._new(self.share + np.zeros_like(enc))

    __radd__ = __add__

    def __neg__(self) -> SharedTensor:
        return self._new(np.negative(self.share))

    def __sub__(self, other: Any) -> SharedTensor:
        if isinstance(other, SharedTensor):
            self._check(other)
            return self._new(self.share - other.share)
        return self + (-np.asarray(other, dtype=np.float64))

    def __rsub__(self, other: Any) -> SharedTensor:
        return (-self) + other

    # ---------------------------------------------------------------- public products
    def __mul__(self, other: Any) -> SharedTensor:
        if isinstance(other, SharedTensor):
            raise TypeError(
                "multiplying two shared tensors needs the protocol (SecretSharing.mul), "
                "not a local operation"
            )
        if _is_public_int(other):
            k = np.asarray(other).astype(np.int64).view(np.uint64)
            return self._new(self.share * k)
        return self.mul_public(other).truncate(self.frac_bits)

    __rmul__ = __mul__

    def mul_public(self, c: Any, frac_bits: int | None = None) -> SharedTensor:
        """``x * c`` for a public real ``c`` encoded with ``frac_bits`` bits, not truncated.

        The result carries ``self.frac_bits + frac_bits`` fractional bits.
        """
        fb = self.frac_bits if frac_bits is None else int(frac_bits)
        return self._new(self.share * ring.encode(np.asarray(c), fb), self.frac_bits + fb)

    def __matmul__(self, other: Any) -> SharedTensor:
        if isinstance(other, SharedTensor):
            raise TypeError("a product of two shared tensors needs SecretSharing.matmul")
        w = np.asarray(other)
        if w.dtype.kind in "iu":
            return self._new(ring.matmul(self.share, w.astype(np.int64).view(np.uint64)))
        return self._new(
            ring.matmul(self.share, ring.encode(w, self.frac_bits)), 2 * self.frac_bits
        ).truncate(self.frac_bits)

    def __rmatmul__(self, other: Any) -> SharedTensor:
        w = np.asarray(other)
        if w.dtype.kind in "iu":
            return self._new(ring.matmul(w.astype(np.int64).view(np.uint64), self.share))
        return self._new(
            ring.matmul(ring.encode(w, self.frac_bits), self.share), 2 * self.frac_bits
        ).truncate(self.frac_bits)

    def conv2d(
        self, kernel: Any, strides: int | Sequence[int] = 1, padding: ring.PaddingLike = "valid"
    ) -> SharedTensor:
        """Convolution with a public kernel ``(kh, kw, C, C_out)`` (channels-last, Keras).

        An integer kernel is exact; a real kernel is encoded with this
        tensor's fractional bits and the result truncated.
        """
        w = np.asarray(kernel)
        if w.dtype.kind in "iu":
            return self._new(
                ring.conv2d(self.share, w.astype(np.int64).view(np.uint64), strides, padding)
            )
        out = ring.conv2d(self.share, ring.encode(w, self.frac_bits), strides, padding)
        return self._new(out, 2 * self.frac_bits).truncate(self.frac_bits)

    # ---------------------------------------------------------------- truncation
    def truncate(self, bits: int | None = None) -> SharedTensor:
        """Divide by ``2^bits`` locally (probabilistic truncation, SecureML).

        Party 0 computes ``floor(x_0 / 2^d)``, party 1 ``-floor(-x_1 / 2^d)``
        on the centered shares (Mohassel and Zhang, "SecureML", IEEE S&P 2017,
        Theorem 1). If ``|x| < 2^l`` (as an integer at the current scale), the
        result differs from ``x / 2^d`` by at most 1 (one unit in the last
        place of the new scale) except with probability at most
        ``2^(l + 1 - 64)`` per element, where the result is off by about
        ``2^(64 - d)`` (a wrong value, not detectable locally). See
        :func:`hecrypt.hybrid.protocols.truncation_failure_probability`.

        Args:
            bits: how many fractional bits to drop (default: back to the
                scale one product added, i.e. ``frac_bits // 2``).

        Leaks: nothing (no communication).
        """
        d = self.frac_bits // 2 if bits is None else int(bits)
        if not 0 <= d <= self.frac_bits:
            raise ValueError(f"cannot drop {d} of {self.frac_bits} fractional bits")
        if d == 0:
            return self
        if self.index == 0:
            out = ring.shift_right_signed(self.share, d)
        else:
            out = np.negative(ring.shift_right_signed(np.negative(self.share), d))
        return self._new(out, self.frac_bits - d)

    def div_pow2(self, bits: int) -> SharedTensor:
        """``x / 2^bits`` at the same scale (a local truncation; same error bound)."""
        if bits <= 0:
            return self._new(self.share * np.uint64(1 << -bits)) if bits else self
        return self._new(self._new(self.share, self.frac_bits + bits).truncate(bits).share)

    def rescale(self, frac_bits: int) -> SharedTensor:
        """Bring to ``frac_bits`` fractional bits: exact shift up, truncation down."""
        if frac_bits >= self.frac_bits:
            return self._new(self.share << np.uint64(frac_bits - self.frac_bits), frac_bits)
        return self.truncate(self.frac_bits - frac_bits)

    # ---------------------------------------------------------------- shape
    def sum(
        self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False
    ) -> SharedTensor:
        """Sum of elements (exact; wraps like the ring)."""
        total = self.share.sum(axis=axis, keepdims=keepdims, dtype=np.uint64)
        return self._new(np.asarray(total))

    def reshape(self, *shape: Any) -> SharedTensor:
        """The same share with another shape."""
        return self._new(self.share.reshape(*shape))

    def transpose(self, *axes: Any) -> SharedTensor:
        """Permuted axes."""
        return self._new(self.share.transpose(*axes))

    @property
    def T(self) -> SharedTensor:
        """Transpose (reversed axes)."""
        return self._new(self.share.T)

    def __getitem__(self, key: Any) -> SharedTensor:
        return self._new(np.asarray(self.share[key]))

    def copy(self) -> SharedTensor:
        """A share with its own copy of the array."""
        return self._new(self.share.copy())


def _same(tensors: Sequence[SharedTensor]) -> tuple[int, int]:
    if not tensors:
        raise ValueError("nothing to concatenate")
    first = tensors[0]
    for t in tensors[1:]:
        first._check(t)
    return first.frac_bits, first.index


def concatenate(tensors: Sequence[SharedTensor], axis: int = 0) -> SharedTensor:
    """Concatenate shares of one party along ``axis`` (same scale)."""
    fb, idx = _same(tensors)
    return SharedTensor(np.concatenate([t.share for t in tensors], axis=axis), fb, idx)


def stack(tensors: Sequence[SharedTensor], axis: int = 0) -> SharedTensor:
    """Stack shares of one party along a new ``axis`` (same scale)."""
    fb, idx = _same(tensors)
    return SharedTensor(np.stack([t.share for t in tensors], axis=axis), fb, idx)
