"""The ring Z_2^64 as numpy ``uint64`` arrays: fixed point, exact products, secure randomness.

Every secret-shared value lives in Z_2^64. A numpy ``uint64`` array *is* an
element of that ring: addition, subtraction and multiplication wrap modulo
2^64 in C without any reduction step (numpy does not warn on unsigned
wrap-around of arrays). Signed values are carried centered: the residue ``u``
stands for ``u`` if ``u < 2^63`` and for ``u - 2^64`` otherwise (the
two's-complement view ``u.view(np.int64)``).

Fixed point: a real ``x`` is carried as ``round(x * 2^f)`` with ``f``
fractional bits (:data:`DEFAULT_FRAC_BITS` = 16 by default). The product of
two fixed-point values carries ``2f`` fractional bits and is truncated back to
``f`` (see :mod:`hecrypt.hybrid.protocols`). :func:`encode` refuses values
whose encoding falls outside the signed range ``[-2^63, 2^63)`` (or a tighter
bound the caller names) with :class:`~hecrypt.exceptions.EncodingOverflowError`.

Exact products: :func:`matmul` and :func:`conv2d` compute modulo 2^64 exactly.
numpy's integer ``matmul`` is not BLAS, but measured on this project's 2-core
machine it runs at about 1.4e9 multiply-adds per second for the layer sizes
used here, so no splitting into float64 limbs is needed.

Randomness: :func:`random_ring` reads ``os.urandom``; :func:`expand_seed`
stretches a 32-byte seed from ``os.urandom`` with SHAKE-256 (an extendable
output function, used here as a PRG; a SHAKE-256 stream is indistinguishable
from random for anyone without the seed). ``numpy.random`` is never used for
secrets.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from hecrypt.exceptions import EncodingOverflowError

__all__ = [
    "RING_BITS",
    "DEFAULT_FRAC_BITS",
    "SEED_BYTES",
    "encode",
    "decode",
    "encode_max",
    "random_ring",
    "new_seed",
    "expand_seed",
    "matmul",
    "conv2d",
    "conv2d_output_shape",
    "conv2d_padding",
    "normalize_padding",
    "PaddingLike",
    "to_signed",
    "from_signed",
    "shift_right_signed",
]

#: Bits of the ring: shares are elements of Z_2^64.
RING_BITS = 64
#: Fractional bits of the fixed-point encoding unless the caller chooses otherwise.
DEFAULT_FRAC_BITS = 16
#: Size of a PRG seed in bytes (256 bits).
SEED_BYTES = 32

_U64 = np.uint64


def encode_max(frac_bits: int) -> float:
    """The largest magnitude :func:`encode` accepts by default: ``2^(63 - frac_bits)``."""
    _check_frac_bits(frac_bits)
    return float(2.0 ** (RING_BITS - 1 - frac_bits))


def _check_frac_bits(frac_bits: int) -> None:
    if isinstance(frac_bits, bool) or not isinstance(frac_bits, (int, np.integer)):
        raise TypeError(f"frac_bits must be an int, not {type(frac_bits).__name__}")
    if not 0 <= int(frac_bits) <= RING_BITS - 2:
        raise ValueError(f"frac_bits must be in [0, {RING_BITS - 2}], not {frac_bits}")


def encode(x: Any, frac_bits: int = DEFAULT_FRAC_BITS, *, bound: float | None = None) -> np.ndarray:
    """Encode reals as ring elements: ``round(x * 2^frac_bits) mod 2^64``.

    Args:
        x: a number or array of numbers (ints, floats, bools are refused).
        frac_bits: fractional bits of the encoding.
        bound: refuse ``|x| >= bound`` (default :func:`encode_max`, the whole
            signed range of the ring). Protocols pass a tighter bound when the
            value will be multiplied.

    Returns:
        A ``uint64`` array of ``x``'s shape. The rounding error is at most
        ``2^-(frac_bits + 1)`` per value.

    Raises:
        EncodingOverflowError: a value is NaN, infinite, or ``|x| >= bound``
            (the message gives the largest magnitude found and the bound).
        TypeError: not numeric.
    """
    _check_frac_bits(frac_bits)
    arr = np.asarray(x)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"cannot encode values of dtype {arr.dtype}: expected ints or floats")
    limit = encode_max(frac_bits) if bound is None else min(float(bound), encode_max(frac_bits))
    f = arr.astype(np.float64)
    if f.size:
        if not np.all(np.isfinite(f)):
            raise EncodingOverflowError("cannot encode NaN or infinity in the ring")
        peak = float(np.max(np.abs(f)))
        if peak >= limit:
            raise EncodingOverflowError(
                f"a value of magnitude {peak:.6g} is outside the range the ring can carry: "
                f"|x| < {limit:.6g} with {frac_bits} fractional bits in Z_2^{RING_BITS}"
            )
    if arr.dtype.kind in "iu":  # exact for integers beyond float64's 53 bits
        return (arr.astype(np.int64) << np.int64(frac_bits)).view(_U64)
    scaled = np.rint(np.ldexp(f, frac_bits))
    return scaled.astype(np.int64).view(_U64)


def decode(u: np.ndarray, frac_bits: int = DEFAULT_FRAC_BITS) -> np.ndarray:
    """Decode ring elements (centered) to float64: ``signed(u) / 2^frac_bits``.

    Every residue decodes (the ring has no invalid band); values beyond 2^53
    lose float64 precision.
    """
    _check_frac_bits(frac_bits)
    arr = np.asarray(u)
    if arr.dtype != _U64:
        raise TypeError(f"ring elements are uint64 arrays, not {arr.dtype}")
    return np.ldexp(arr.view(np.int64).astype(np.float64), -int(frac_bits))


def to_signed(u: np.ndarray) -> np.ndarray:
    """The centered (two's-complement) int64 view of ring elements."""
    return np.asarray(u, dtype=_U64).view(np.int64)


def from_signed(i: np.ndarray) -> np.ndarray:
    """Ring elements from int64 values (no copy when already int64)."""
    return np.asarray(i, dtype=np.int64).view(_U64)


def shift_right_signed(u: np.ndarray, bits: int) -> np.ndarray:
    """Arithmetic right shift of the centered values: ``floor(signed(u) / 2^bits)``."""
    return (to_signed(u) >> np.int64(bits)).view(_U64)


# --------------------------------------------------------------------- randomness
def _count(shape: Sequence[int] | int) -> tuple[tuple[int, ...], int]:
    shp = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    if any(s < 0 for s in shp):
        raise ValueError(f"negative dimension in shape {shp}")
    return shp, math.prod(shp)


def random_ring(shape: Sequence[int] | int) -> np.ndarray:
    """Uniform ring elements of ``shape`` from ``os.urandom`` (a fresh, writable array)."""
    shp, n = _count(shape)
    return np.frombuffer(bytearray(os.urandom(8 * n)), dtype="<u8").astype(_U64).reshape(shp)


def new_seed() -> bytes:
    """A fresh 32-byte PRG seed from ``os.urandom``."""
    return os.urandom(SEED_BYTES)


def expand_seed(seed: bytes, label: bytes, shape: Sequence[int] | int) -> np.ndarray:
    """Pseudo-random ring elements: SHAKE-256(seed || label) read as little-endian uint64.

    Different labels under one seed give independent streams, so one seed
    serves many tensors (the label names the tensor: request index and role).

    Args:
        seed: :data:`SEED_BYTES` bytes from :func:`new_seed`.
        label: a domain-separation label (at most 255 bytes).
        shape: the shape of the result.

    Raises:
        ValueError: a seed of another size or a label that is too long.
    """
    if not isinstance(seed, (bytes, bytearray)) or len(seed) != SEED_BYTES:
        raise ValueError(f"a PRG seed is {SEED_BYTES} bytes")
    if len(label) > 255:
        raise ValueError("a PRG label is at most 255 bytes")
    shp, n = _count(shape)
    xof = hashlib.shake_256(bytes(seed) + bytes([len(label)]) + bytes(label))
    return np.frombuffer(bytearray(xof.digest(8 * n)), dtype="<u8").astype(_U64).reshape(shp)


# --------------------------------------------------------------------- exact products
def _ring(a: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype != _U64:
        raise TypeError(f"{what} must be a uint64 ring array, not {arr.dtype}")
    return arr


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact ``a @ b`` modulo 2^64 (numpy's uint64 matmul wraps; shapes as ``np.matmul``)."""
    return np.matmul(_ring(a, "a"), _ring(b, "b"))


#: What a convolution's ``padding`` argument may be: ``"valid"``, ``"same"``, an int
#: ``p`` or ``((top, bottom), (left, right))`` (tuples or lists).
PaddingLike = str | int | Sequence[Sequence[int]]


def normalize_padding(padding: Any) -> str | tuple[tuple[int, int], tuple[int, int]]:
    """The canonical form of a convolution's padding.

    Accepts ``"valid"``, ``"same"``, a non-negative int ``p`` (``((p, p), (p, p))``)
    or ``((top, bottom), (left, right))`` as tuples or lists of non-negative
    ints (the form a JSON file or a decoded message carries).

    Raises:
        ValueError: any other value (the message states the accepted forms).
    """
    if isinstance(padding, str):
        if padding in ("valid", "same"):
            return padding
        raise ValueError(f"padding must be 'valid', 'same' or ((top, bottom), (left, right)), "
                         f"not {padding!r}")
    if _is_int(padding):
        p = _pad_amount(padding)
        return (p, p), (p, p)
    if not isinstance(padding, (tuple, list)) or len(padding) != 2 or not all(
            isinstance(a, (tuple, list)) and len(a) == 2 for a in padding):
        raise ValueError("explicit padding must be ((top, bottom), (left, right)), "
                         f"not {padding!r}")
    (t, b), (lft, r) = padding
    return (_pad_amount(t), _pad_amount(b)), (_pad_amount(lft), _pad_amount(r))


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _pad_amount(v: Any) -> int:
    if not _is_int(v) or int(v) < 0:
        raise ValueError(f"padding amounts must be non-negative ints, not {v!r}")
    return int(v)


def conv2d_padding(size: int, kernel: int, stride: int, padding: PaddingLike, axis: int = 0
                   ) -> tuple[int, int, int]:
    """``(output size, pad before, pad after)`` along one axis.

    ``"valid"``: no padding, ``out = floor((size - kernel) / stride) + 1``.
    ``"same"``: ``out = ceil(size / stride)``, padding split with the extra
    element after (as TensorFlow/Keras). Explicit padding (any form
    :func:`normalize_padding` accepts; ``axis`` 0 takes ``(top, bottom)``, 1
    ``(left, right)``): ``out = floor((size + before + after - kernel) / stride) + 1``
    (as PyTorch and ONNX). Each explicit amount must be smaller than the
    kernel, as "same" padding always is: a larger pad only adds outputs that
    see nothing but zeros (and would let a peer's message make a party pad
    its input without bound).

    Raises:
        ValueError: unknown padding, a pad not smaller than the kernel, or a
            kernel larger than the (padded) input.
    """
    if stride < 1 or kernel < 1:
        raise ValueError("kernel sizes and strides must be positive")
    pad = normalize_padding(padding)
    if isinstance(pad, str):
        if pad == "valid":
            if kernel > size:
                raise ValueError(f"a kernel of {kernel} does not fit an input of {size} "
                                 "('valid')")
            return (size - kernel) // stride + 1, 0, 0
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        return out, total // 2, total - total // 2
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 (height) or 1 (width), not {axis!r}")
    before, after = pad[axis]
    if max(before, after) >= kernel:
        raise ValueError(f"padding {before, after} must be smaller than the kernel ({kernel}) "
                         "on each side")
    if size + before + after < kernel:
        raise ValueError(f"a kernel of {kernel} does not fit an input of {size} padded by "
                         f"{before, after} (output size < 1)")
    return (size + before + after - kernel) // stride + 1, before, after


def _pair(v: int | Sequence[int], what: str) -> tuple[int, int]:
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    t = tuple(int(s) for s in v)
    if len(t) != 2:
        raise ValueError(f"{what} must be an int or a pair of ints")
    return t[0], t[1]


def conv2d_output_shape(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    strides: int | Sequence[int] = 1,
    padding: PaddingLike = "valid",
) -> tuple[int, int, int, int]:
    """Output shape ``(N, H', W', C_out)`` of :func:`conv2d` (channels-last)."""
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError("conv2d takes x of shape (N, H, W, C) and w of shape (kh, kw, C, C_out)")
    n, h, w, c = (int(s) for s in x_shape)
    kh, kw, cin, cout = (int(s) for s in w_shape)
    if cin != c:
        raise ValueError(f"the kernel expects {cin} input channels, the input has {c}")
    sh, sw = _pair(strides, "strides")
    ho = conv2d_padding(h, kh, sh, padding, 0)[0]
    wo = conv2d_padding(w, kw, sw, padding, 1)[0]
    return n, ho, wo, cout


def im2col(
    x: np.ndarray, kh: int, kw: int, strides: int | Sequence[int], padding: PaddingLike
) -> np.ndarray:
    """Patches of ``x`` (N, H, W, C) as a matrix ``(N*H'*W', kh*kw*C)`` (row order kh, kw, C)."""
    n, h, w, c = x.shape
    sh, sw = _pair(strides, "strides")
    ho, pt, pb = conv2d_padding(h, kh, sh, padding, 0)
    wo, pl, pr = conv2d_padding(w, kw, sw, padding, 1)
    if pt or pb or pl or pr:
        x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))
    win = win[:, : (ho - 1) * sh + 1 : sh, : (wo - 1) * sw + 1 : sw]  # (N, H', W', C, kh, kw)
    return np.ascontiguousarray(win.transpose(0, 1, 2, 4, 5, 3)).reshape(n * ho * wo, kh * kw * c)


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    strides: int | Sequence[int] = 1,
    padding: PaddingLike = "valid",
) -> np.ndarray:
    """Exact 2-D convolution modulo 2^64, channels-last (cross-correlation, as Keras).

    Args:
        x: ``(N, H, W, C)`` ring elements.
        w: ``(kh, kw, C, C_out)`` ring elements.
        strides: an int or ``(sh, sw)``.
        padding: ``"valid"``, ``"same"`` or explicit ``((top, bottom), (left, right))``
            zeros (see :func:`conv2d_padding`).

    Returns:
        ``(N, H', W', C_out)`` with ``out[n, i, j, o] = sum_{p, q, c}
        x[n, i*sh + p - pad_top, j*sw + q - pad_left, c] * w[p, q, c, o]``.
    """
    xr = _ring(x, "x")
    wr = _ring(w, "w")
    shape = conv2d_output_shape(xr.shape, wr.shape, strides, padding)
    kh, kw, c, cout = wr.shape
    cols = im2col(xr, kh, kw, strides, padding)
    return np.matmul(cols, wr.reshape(kh * kw * c, cout)).reshape(shape)
