"""Fixed-point codec for arrays, with a tracked bound on every tensor's magnitude.

An encrypted tensor carries one :class:`Encoding` for all its elements:

* ``scale`` -- the number of fractional bits ``f``; an element ``m`` of the
  plaintext stands for the real number ``m / 2**f``;
* ``bound`` -- an integer ``B`` with ``|m| <= B`` for *every* element;
* ``max_int`` -- the largest magnitude the plaintext space may hold: ``n // 3``
  for a Paillier modulus ``n`` (:func:`hecrypt.encoding.max_int_for`), or a
  tighter limit such as a packing slot
  (:attr:`hecrypt.encoding.packing.PackingLayout.slot_limit`).

The invariant ``bound <= max_int`` holds for every :class:`Encoding` that
exists. The propagation rules below (:func:`add`, :func:`add_plain`,
:func:`mul_plain`, :func:`matmul_plain`, :func:`sum_over`, :func:`negate`,
:func:`mean`, :func:`rescale`) work on encodings only -- no ciphertext, no
value -- and each raises :class:`~hecrypt.exceptions.EncodingOverflowError`
*before* the caller computes anything if the result's bound could exceed the
limit. Overflow is therefore an error, never a wrong answer: if every
operation went through its rule, every element of every result satisfies
``|m| <= bound <= max_int`` and decodes exactly.

Rules (``a``, ``b`` encodings; ``w`` encoded plaintext integers at scale
``s_w``; ``k = 2**(target - scale)`` when a scale is raised):

============================  ====================  ==================================
operation                     scale                 bound
============================  ====================  ==================================
rescale to ``t >= f``         ``t``                 ``B * 2**(t - f)``
``a + b``                     ``max(f_a, f_b)``     ``B_a * k_a + B_b * k_b``
``a + w``                     ``max(f_a, s_w)``     ``B_a * k_a + max|w| * k_w``
``a * w`` (broadcast)         ``f_a + s_w``         ``B_a * max|w|``
``a @ W`` / ``W @ a``         ``f_a + s_w``         ``B_a * max_j sum_i |W_ij|`` (over
                                                    the contracted axis)
sum of ``N`` elements         ``f_a``               ``B_a * N``
``-a``                        ``f_a``               ``B_a``
mean of ``N`` elements        ``f_a + g``           ``B_a * N * round(2**g / N)``
============================  ====================  ==================================

Precision: a float encoded at scale ``f`` is within ``2**-(f+1)`` of its
value; integers are exact. Additions, negations, sums and products with
encoded weights are exact on the encoded integers, so the error of a result is
that of its inputs carried through the (linear) operation, e.g. ``x @ W`` is
off by at most ``sum_i (|x_i| * e_w + |W_i| * e_x + e_x * e_w)`` where
``e_x = 2**-(f_x+1)``, ``e_w = 2**-(s_w+1)``.

Leaks: the scale and the bound are public metadata of a tensor (they decide
whether an operation may run). A bound taken from the data
(:func:`encode_array` without ``value_bound``) reveals the largest magnitude,
up to the encoding precision; pass a public ``value_bound`` (a range known
from the schema, e.g. pixels in ``[0, 1]``) to reveal nothing beyond it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import numpy as np

from hecrypt.encoding.fixedpoint import DEFAULT_FRAC_BITS, check_frac_bits
from hecrypt.exceptions import EncodingOverflowError, ValueBoundError

__all__ = [
    "Encoding",
    "encode_array",
    "decode_array",
    "encode_weights",
    "declared_bound",
    "weights_scale",
    "max_abs",
    "rescale",
    "add",
    "add_plain",
    "mul_plain",
    "matmul_plain",
    "sum_over",
    "negate",
    "mean",
]

_INT64_MAX = (1 << 63) - 1


def _check_int(value: Any, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class Encoding:
    """Fixed-point scale and magnitude bound shared by all elements of a tensor.

    An element ``m`` (a signed integer, carried as ``m mod n``) stands for
    ``m / 2**scale``; every element satisfies ``|m| <= bound``; and
    ``bound <= max_int`` always (construction raises otherwise).

    Attributes:
        scale: fractional bits ``f`` (``>= 0``).
        bound: integer bound ``B`` on ``|m|`` of every element (``>= 0``).
        max_int: the plaintext limit: ``n // 3`` for a Paillier modulus, or a
            tighter limit such as a packing slot.

    Raises:
        EncodingOverflowError: ``bound > max_int``.
    """

    scale: int
    bound: int
    max_int: int

    def __post_init__(self) -> None:
        scale = _check_int(self.scale, "scale")
        bound = _check_int(self.bound, "bound")
        max_int = _check_int(self.max_int, "max_int", 1)
        # normalise numpy / gmpy2 integers to Python ints
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "bound", bound)
        object.__setattr__(self, "max_int", max_int)
        if bound > max_int:
            raise EncodingOverflowError(
                f"a bound of {bound.bit_length()} bits exceeds the plaintext limit of "
                f"{max_int.bit_length()} bits (|m| <= max_int must hold for every element)"
            )

    @property
    def value_bound(self) -> float:
        """The bound in real units, ``bound / 2**scale`` (rounded to a float)."""
        return _int_ratio_to_float(self.bound, self.scale)

    def with_bound(self, bound: int) -> Encoding:
        """The same scale and limit with another bound (checked)."""
        return Encoding(self.scale, bound, self.max_int)


def _int_ratio_to_float(m: int, scale: int) -> float:
    try:
        return m / (1 << scale)
    except OverflowError:
        raise EncodingOverflowError(
            f"a value of {abs(m).bit_length() - scale} integer bits does not fit a float"
        ) from None


def declared_bound(value_bound: Any, scale: int, name: str = "value_bound") -> int:
    """``ceil(value_bound * 2**scale)``, exactly: the encoded bound a public bound means.

    An integer bound is taken as it is (not rounded to a float first, which
    could move it below the data it bounds); anything else is read as a float,
    by its exact binary value.

    Raises:
        ValueError: ``value_bound`` is negative, NaN or infinite.
    """
    if isinstance(value_bound, numbers.Integral) and not isinstance(value_bound, bool):
        p, q = int(value_bound), 1
    else:
        vb = float(value_bound)
        if not math.isfinite(vb):
            raise ValueError(f"{name} must be a finite non-negative number")
        p, q = vb.as_integer_ratio()
    if p < 0:
        raise ValueError(f"{name} must be a finite non-negative number")
    return -((-p << scale) // q)


def _need(bound: int, max_int: int, what: str) -> int:
    if bound > max_int:
        raise EncodingOverflowError(
            f"{what} could reach a magnitude of {bound.bit_length()} bits, but the plaintext "
            f"limit is {max_int.bit_length()} bits (max_int < 2^{max_int.bit_length()}); "
            "rescale to fewer "
            "fractional bits, reduce the data range, or use a larger modulus"
        )
    return bound


# ------------------------------------------------------------------ encoding


def _as_array(x: Any) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == np.bool_:
        raise TypeError("cannot encode a boolean array: convert it to int first")
    if arr.dtype.kind not in "iufO":
        raise TypeError(f"cannot encode an array of dtype {arr.dtype}: expected ints or floats")
    if arr.dtype.kind == "O":
        flat = arr.reshape(-1)
        if all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in flat.tolist()):
            return np.array([int(v) for v in flat.tolist()], dtype=object).reshape(arr.shape)
        for v in flat.tolist():
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise TypeError(f"cannot encode {type(v).__name__}: expected ints or floats")
        return arr.astype(np.float64)
    return arr


def _is_int_array(arr: np.ndarray) -> bool:
    return arr.dtype.kind in "iuO"


def _encode_float_exact(v: float, scale: int) -> int:
    """``round(v * 2**scale)`` with ties to even, exactly, for any finite float."""
    p, q = v.as_integer_ratio()
    return round(Fraction(p << scale, q))


def _encode_ints(arr: np.ndarray, scale: int) -> np.ndarray:
    """Integers of ``arr`` (``round(x * 2**scale)``) as an object array of Python ints."""
    if _is_int_array(arr):
        out = np.empty(arr.shape, dtype=object)
        flat = out.reshape(-1)
        for i, v in enumerate(arr.reshape(-1).tolist()):
            flat[i] = int(v) << scale
        return out
    x = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(x)):
        raise ValueError("cannot encode NaN or infinity: only finite numbers have an encoding")
    # ldexp by a power of two is exact unless it overflows, and rint rounds
    # ties to even like Python's round(): identical to fixedpoint.encode.
    with np.errstate(over="ignore"):
        scaled = np.rint(np.ldexp(x, scale))
    out = np.empty(arr.shape, dtype=object)
    flat = out.reshape(-1)
    if scaled.size and np.all(np.abs(scaled) < 2.0**62):
        for i, v in enumerate(scaled.reshape(-1).astype(np.int64).tolist()):
            flat[i] = v
    else:
        for i, v in enumerate(x.reshape(-1).tolist()):
            flat[i] = _encode_float_exact(v, scale)
    return out


def max_abs(ints: Any) -> int:
    """Largest ``|m|`` over an array of integers (0 for an empty array)."""
    vals = np.asarray(ints, dtype=object).reshape(-1).tolist()
    return max((abs(int(v)) for v in vals), default=0)


def encode_array(
    x: Any,
    frac_bits: int | None,
    max_int: int,
    *,
    value_bound: float | None = None,
) -> tuple[np.ndarray, Encoding]:
    """Encode a real array at one scale and return its integers and :class:`Encoding`.

    Integer arrays are exact at scale 0 unless ``frac_bits`` is given (then
    ``m = x << frac_bits``); float arrays use ``frac_bits`` or
    :data:`~hecrypt.encoding.DEFAULT_FRAC_BITS`, rounding ties to even (the
    same integers as :func:`hecrypt.encoding.encode`; error at most
    ``2**-(f+1)``).

    Args:
        x: array-like of ints or floats (numpy ints/floats, or an object array of
            Python ints for exact big integers). Booleans are refused.
        frac_bits: fractional bits, or ``None`` for the default described above.
        max_int: the plaintext limit (``n // 3`` or tighter).
        value_bound: optional public bound on ``|x|`` in real units. The
            encoding's bound is then ``ceil(value_bound * 2**f)``, which reveals
            nothing about the data; without it the bound is the largest encoded
            magnitude (revealed to whoever sees the encoding).

    Returns:
        ``(ints, encoding)``: an object array of Python ints with ``x``'s shape,
        and its :class:`Encoding`.

    Raises:
        TypeError: not an int or float array.
        ValueError: NaN or infinity, or negative ``frac_bits``.
        ValueBoundError: (a ``ValueError``) data whose encoding exceeds the
            declared bound ``ceil(value_bound * 2**f)``; data at most
            ``value_bound`` never does.
        EncodingOverflowError: the bound exceeds ``max_int``.
    """
    arr = _as_array(x)
    if frac_bits is None:
        scale = 0 if _is_int_array(arr) else DEFAULT_FRAC_BITS
    else:
        scale = check_frac_bits(frac_bits)
    max_int = _check_int(max_int, "max_int", 1)
    if value_bound is not None:
        declared = declared_bound(value_bound, scale)  # |round(x 2^f)| <= it for |x| <= vb
        _need(declared, max_int, "the declared value_bound")
    ints = _encode_ints(arr, scale)
    actual = max_abs(ints)
    if value_bound is not None:
        if actual > declared:
            raise ValueBoundError(
                f"data exceeds the declared value_bound {value_bound!r} at scale 2^{scale}: "
                f"an encoded magnitude of {actual.bit_length()} bits is above "
                f"ceil(value_bound * 2^{scale})"
            )
        bound = declared
    else:
        bound = actual
    _need(bound, max_int, f"encoding at scale 2^{scale}")
    return ints, Encoding(scale, bound, max_int)


def encode_weights(w: Any, frac_bits: int | None = None, max_int: int | None = None) -> np.ndarray:
    """Encode plaintext weights (an operand, not a tensor) and return their integers.

    The scale is ``frac_bits``; when ``None`` it is 0 for integer weights and
    :data:`~hecrypt.encoding.DEFAULT_FRAC_BITS` for floats. Pass the same scale
    to the rule (:func:`mul_plain`, :func:`matmul_plain`, :func:`add_plain`).

    Args:
        w: array-like (or scalar) of ints or floats.
        frac_bits: scale of the encoding.
        max_int: optional limit on each encoded weight.

    Returns:
        An object array of Python ints with ``w``'s shape.

    Raises:
        ValueError: NaN or infinity.
        EncodingOverflowError: a weight exceeds ``max_int``.
    """
    arr = _as_array(w)
    if frac_bits is None:
        scale = 0 if _is_int_array(arr) else DEFAULT_FRAC_BITS
    else:
        scale = check_frac_bits(frac_bits)
    ints = _encode_ints(arr, scale)
    if max_int is not None:
        _need(max_abs(ints), _check_int(max_int, "max_int", 1), "a weight")
    return ints


def weights_scale(w: Any, frac_bits: int | None = None) -> int:
    """The scale :func:`encode_weights` uses for ``w`` and ``frac_bits``."""
    if frac_bits is not None:
        return check_frac_bits(frac_bits)
    return 0 if _is_int_array(_as_array(w)) else DEFAULT_FRAC_BITS


def _shape(shape: Sequence[int] | int) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def _center(residue: int, n: int, max_int: int) -> int:
    if residue <= max_int:
        return residue
    if residue >= n - max_int:
        return residue - n
    raise EncodingOverflowError(
        "decrypted value is outside the valid band [-max_int, max_int]: the computation "
        "overflowed the plaintext space"
    )


def decode_array(
    residues: Any,
    n: int,
    encoding: Encoding,
    shape: Sequence[int] | int,
    *,
    check_bound: bool = True,
) -> np.ndarray:
    """Decode residues mod ``n`` (centered) into a numpy array of ``shape``.

    Each residue ``r`` in ``[0, n)`` maps to ``m = r`` if ``r <= max_int``
    and ``m = r - n`` if ``r >= n - max_int``; anything in between is outside
    the valid band and raises.

    Output dtype (decided by the encoding alone, not by the values):

    * scale ``> 0``: ``float64``, each element ``m / 2**scale`` correctly rounded;
    * scale 0 with ``bound < 2**63``: ``int64`` (exact);
    * scale 0 with a larger bound: ``object`` array of Python ints (exact).

    Args:
        residues: iterable of ``prod(shape)`` integers in ``[0, n)`` (ints or mpz),
            in C order.
        n: the plaintext modulus.
        encoding: the tensor's :class:`Encoding`.
        shape: the tensor's shape.
        check_bound: also require ``|m| <= encoding.bound`` (default). A value
            above its tracked bound means the bookkeeping was bypassed or the
            ciphertext is not what it claims to be.

    Raises:
        ValueError: wrong number of residues, a residue outside ``[0, n)``, or
            ``max_int`` too large for ``n`` to decode unambiguously.
        EncodingOverflowError: a residue outside the valid band (or above the
            bound with ``check_bound``), or a value too large for a float.
    """
    n = _check_int(n, "n", 3)
    if 2 * encoding.max_int >= n:
        raise ValueError("max_int must be < n / 2 for centered decoding to be unambiguous")
    shp = _shape(shape)
    vals = [int(r) for r in (np.asarray(residues, dtype=object).reshape(-1).tolist())]
    if len(vals) != math.prod(shp):
        raise ValueError(f"{len(vals)} residues do not fill shape {shp}")
    limit = encoding.bound if check_bound else encoding.max_int
    ms = []
    for r in vals:
        if not 0 <= r < n:
            raise ValueError("a residue must satisfy 0 <= r < n")
        m = _center(r, n, encoding.max_int)
        if abs(m) > limit:
            raise EncodingOverflowError(
                "decrypted value exceeds the tensor's tracked bound: the result was not "
                "produced by the bounded operations its encoding describes"
            )
        ms.append(m)
    if encoding.scale > 0:
        return np.array(
            [_int_ratio_to_float(m, encoding.scale) for m in ms], dtype=np.float64
        ).reshape(shp)
    if encoding.bound <= _INT64_MAX:
        return np.array(ms, dtype=np.int64).reshape(shp)
    out = np.empty(len(ms), dtype=object)
    out[:] = ms
    return out.reshape(shp)


# ------------------------------------------------------------------ rules


def rescale(a: Encoding, scale: int) -> Encoding:
    """Raise ``a`` to ``scale`` fractional bits (multiply every element by ``2**k``).

    Raises:
        ValueError: ``scale`` is below ``a.scale`` (lowering needs a division).
        EncodingOverflowError: the bound times ``2**k`` exceeds the limit.
    """
    scale = _check_int(scale, "scale")
    if scale < a.scale:
        raise ValueError(
            f"cannot lower the scale from 2^{a.scale} to 2^{scale}: only raising is exact"
        )
    bound = _need(a.bound << (scale - a.scale), a.max_int, f"rescaling to 2^{scale}")
    return Encoding(scale, bound, a.max_int)


def add(a: Encoding, b: Encoding) -> Encoding:
    """Encoding of ``a + b`` (also ``a - b``) for two tensors; broadcasting is free.

    Scales align to the larger one (the caller multiplies the lower-scale
    operand by ``2**(result.scale - its scale)``); the bounds of the aligned
    operands add. The limit is the tighter of the two.

    Raises:
        EncodingOverflowError: the aligned sum could exceed the limit.
    """
    scale = max(a.scale, b.scale)
    max_int = min(a.max_int, b.max_int)
    bound = (a.bound << (scale - a.scale)) + (b.bound << (scale - b.scale))
    return Encoding(scale, _need(bound, max_int, "the sum"), max_int)


def add_plain(a: Encoding, p: Any, p_scale: int) -> Encoding:
    """Encoding of ``a + p`` for encoded plaintext integers ``p`` at ``p_scale``.

    Args:
        a: the tensor's encoding.
        p: encoded plaintext integers (:func:`encode_weights`), any broadcastable
            shape.
        p_scale: their scale.

    Raises:
        EncodingOverflowError: the aligned sum could exceed the limit.
    """
    p_scale = _check_int(p_scale, "p_scale")
    scale = max(a.scale, p_scale)
    bound = (a.bound << (scale - a.scale)) + (max_abs(p) << (scale - p_scale))
    return Encoding(scale, _need(bound, a.max_int, "the sum with a plaintext"), a.max_int)


def mul_plain(a: Encoding, w: Any, w_scale: int) -> Encoding:
    """Encoding of ``a * w`` (element-wise, broadcasting) for encoded weights ``w``.

    Scales add; the bound is ``a.bound * max|w|``. A scalar weight is a 0-d ``w``.

    Raises:
        EncodingOverflowError: the product could exceed the limit.
    """
    w_scale = _check_int(w_scale, "w_scale")
    bound = _need(a.bound * max_abs(w), a.max_int, "the product with plaintext weights")
    return Encoding(a.scale + w_scale, bound, a.max_int)


def matmul_plain(
    a: Encoding,
    w: Any,
    w_scale: int,
    *,
    encrypted: Literal["left", "right"] = "left",
) -> Encoding:
    """Encoding of ``a @ W`` (``encrypted="left"``) or ``W @ a`` (``"right"``).

    Every output element is a sum over the contracted axis of ``W`` of
    products ``m_i * W_ij``, so the bound is ``a.bound`` times the largest L1
    norm of ``W`` along that axis: axis ``-2`` for ``a @ W`` (axis 0 when ``W``
    is 1-D), axis ``-1`` for ``W @ a``. Scales add.

    Args:
        a: the encrypted operand's encoding.
        w: encoded plaintext integers (:func:`encode_weights`), at least 1-D.
        w_scale: their scale.
        encrypted: which side of ``@`` the encrypted tensor is on.

    Raises:
        ValueError: ``w`` is 0-d or ``encrypted`` is not ``"left"``/``"right"``.
        EncodingOverflowError: an output could exceed the limit.
    """
    w_scale = _check_int(w_scale, "w_scale")
    arr = np.asarray(w, dtype=object)
    if arr.ndim == 0:
        raise ValueError("matmul needs a weight array of at least one dimension")
    if encrypted == "left":
        axis = 0 if arr.ndim == 1 else arr.ndim - 2
    elif encrypted == "right":
        axis = arr.ndim - 1
    else:
        raise ValueError('encrypted must be "left" or "right"')
    if arr.size == 0:
        l1 = 0
    else:
        moved = np.moveaxis(arr, axis, -1).reshape(-1, arr.shape[axis])
        l1 = max((sum(abs(int(v)) for v in row) for row in moved.tolist()), default=0)
    bound = _need(a.bound * l1, a.max_int, "the matrix product")
    return Encoding(a.scale + w_scale, bound, a.max_int)


def _count(shape: Sequence[int] | int, axis: int | Sequence[int] | None) -> int:
    shp = _shape(shape)
    if axis is None:
        return math.prod(shp)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    nd = len(shp)
    norm = set()
    for ax in axes:
        ax = int(ax)
        if not -nd <= ax < nd:
            raise ValueError(f"axis {ax} is out of bounds for a {nd}-d tensor")
        norm.add(ax % nd)
    return math.prod(shp[ax] for ax in norm)


def sum_over(
    a: Encoding, shape: Sequence[int] | int, axis: int | Sequence[int] | None = None
) -> Encoding:
    """Encoding of ``a.sum(axis)`` for a tensor of ``shape``: bound times the count summed.

    Raises:
        ValueError: an axis out of range.
        EncodingOverflowError: the sum could exceed the limit.
    """
    count = _count(shape, axis)
    return a.with_bound(_need(a.bound * count, a.max_int, f"a sum of {count} elements"))


def negate(a: Encoding) -> Encoding:
    """Encoding of ``-a``: the same (the bound is symmetric)."""
    return a


def mean(
    a: Encoding,
    shape: Sequence[int] | int,
    axis: int | Sequence[int] | None = None,
    frac_bits: int = DEFAULT_FRAC_BITS,
) -> tuple[Encoding, int]:
    """Encoding of ``a.mean(axis)``: the sum times the encoded ``1/N``.

    The caller sums ``N`` elements and multiplies by ``inv``; the result's
    scale is ``a.scale + frac_bits``. The error added by encoding ``1/N`` is
    at most ``|sum| * 2**-(frac_bits+1)`` in real units.

    Returns:
        ``(encoding, inv)`` with ``inv = round(2**frac_bits / N)``.

    Raises:
        ValueError: an empty reduction (``N == 0``) or a bad axis.
        EncodingOverflowError: the sum or the scaled mean could exceed the limit.
    """
    count = _count(shape, axis)
    if count == 0:
        raise ValueError("the mean of zero elements is undefined")
    frac_bits = _check_int(frac_bits, "frac_bits")
    inv = round(Fraction(1 << frac_bits, count))
    summed = sum_over(a, shape, axis)
    return mul_plain(summed, inv, frac_bits), inv
