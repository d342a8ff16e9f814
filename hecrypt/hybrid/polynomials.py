"""Polynomial approximations of activation functions.

Secret sharing adds and multiplies; it cannot evaluate ``exp`` or a
comparison cheaply. A network evaluated in shares therefore replaces each
nonlinear activation by a polynomial that is close to it on an interval where
the activation's inputs are known to lie. This module builds those
polynomials and states how close they are:

* :func:`fit` fits any function on an interval, by Chebyshev interpolation or
  by least squares, optionally with only a constant and odd powers;
* :func:`sigmoid_poly` is the classic degree-7 least-squares sigmoid on
  ``[-8, 8]`` (Kim, Song, Kim, Lee and Cheon, "Logistic regression model
  training based on the approximate homomorphic encryption", BMC Medical
  Genomics 2018): ``0.5 + c1 x + c3 x^3 + c5 x^5 + c7 x^7``;
* :func:`relu_poly` approximates ReLU; :func:`square` is the exact square
  (CryptoNets' activation).

Every :class:`Polynomial` carries ``max_error``, the largest ``|p(x) - f(x)|``
over its interval, computed on a dense grid of evenly spaced points (the
endpoints included) and then refined around each local maximum of the error,
so that it is the error's supremum up to floating-point rounding. Outside the
interval there is no guarantee at all: polynomials diverge, so callers must
keep the inputs inside (the shipped networks are trained to, see
docs/guide.md).

Maximum errors of the defaults (reproduced by the tests):

======================================  ==========  ==========
polynomial                              interval    max error
======================================  ==========  ==========
``sigmoid_poly()`` degree 7, lstsq      [-8, 8]     3.19e-2
``sigmoid_poly(method="chebyshev")``    [-8, 8]     2.96e-2
``sigmoid_poly(degree=3)``              [-8, 8]     1.14e-1
``sigmoid_poly(degree=5)``              [-8, 8]     6.11e-2
``sigmoid_poly(degree=9)``              [-8, 8]     1.63e-2
``relu_poly()`` degree 4, lstsq         [-4, 4]     2.34e-1
``relu_poly(degree=6)``                 [-4, 4]     1.71e-1
``square()``                            any         0 (exact)
======================================  ==========  ==========

The degree-7 sigmoid is ``0.5 + 1.73501 t - 4.19398 t^3 + 5.43286 t^5 -
2.50613 t^7`` with ``t = x / 8``, the coefficients Kim et al. publish to
within 1e-3.

Fixed point: in the power basis the top coefficients are tiny (``c7`` of the
default sigmoid is about ``-1.2e-6``) and would round to zero with 16
fraction bits. :meth:`Polynomial.scaled_coeffs` gives the coefficients in
``t = x / s`` (``s`` the interval's half-width), which are of order one;
evaluating in ``t`` keeps all of them.

Nothing here is secret: a polynomial is public, and what a network's
activations leak (nothing beyond the chosen interval and degree) is a property
of the protocol that evaluates it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hecrypt.exceptions import HecryptError, ModelFormatError

__all__ = [
    "PolynomialError",
    "Polynomial",
    "TARGETS",
    "fit",
    "max_abs_error",
    "sigmoid_poly",
    "relu_poly",
    "square",
    "GRID_POINTS",
]

#: Evenly spaced points (endpoints included) on which errors are first measured.
GRID_POINTS = 20_001
_REFINE_POINTS = 201
_REFINE_ROUNDS = 3
_LSTSQ_POINTS = 4_001
_MAX_DEGREE = 31


class PolynomialError(HecryptError, ValueError):
    """A polynomial or a fit was asked for with invalid parameters."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(np.asarray(x, dtype=np.float64), 0.0)


def _square(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x * x


#: Named target functions a :class:`Polynomial` may approximate.
TARGETS: Mapping[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": _sigmoid,
    "relu": _relu,
    "square": _square,
    "tanh": np.tanh,
}


def _check_interval(interval: Sequence[float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in interval)
    except (TypeError, ValueError) as exc:
        raise PolynomialError("interval must be a pair of numbers (lo, hi)") from exc
    if not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
        raise PolynomialError(f"interval must be finite with lo < hi, got ({lo}, {hi})")
    return lo, hi


def _horner(coeffs: Sequence[float], x: np.ndarray) -> np.ndarray:
    acc = np.zeros_like(x)
    for c in reversed(coeffs):
        acc = acc * x + c
    return acc


@dataclass(frozen=True)
class Polynomial:
    """A public real polynomial with its approximation guarantee.

    Attributes:
        coeffs: Coefficients from degree 0 upwards (floats), ``p(x) = sum
            coeffs[k] * x**k``. The last one is non-zero unless the
            polynomial is constant.
        interval: ``(lo, hi)``, where the approximation is claimed.
        max_error: ``max |p(x) - target(x)|`` over ``interval`` (0.0 for an
            exact polynomial such as :func:`square`).
        name: A short label (``"sigmoid7"``).
        target: The name of the approximated function in :data:`TARGETS`,
            or ``None`` for a polynomial fitted to a user's function.
    """

    coeffs: tuple[float, ...]
    interval: tuple[float, float]
    max_error: float
    name: str = "poly"
    target: str | None = None

    def __post_init__(self) -> None:
        coeffs = tuple(float(c) for c in self.coeffs)
        if not coeffs:
            raise PolynomialError("a polynomial needs at least one coefficient")
        if len(coeffs) > _MAX_DEGREE + 1:
            raise PolynomialError(f"degree above {_MAX_DEGREE} is not supported")
        if not all(math.isfinite(c) for c in coeffs):
            raise PolynomialError("polynomial coefficients must be finite")
        while len(coeffs) > 1 and coeffs[-1] == 0.0:
            coeffs = coeffs[:-1]
        err = float(self.max_error)
        if not math.isfinite(err) or err < 0:
            raise PolynomialError("max_error must be a finite number >= 0")
        if self.target is not None and self.target not in TARGETS:
            raise PolynomialError(
                f"unknown target {self.target!r}; known: {sorted(TARGETS)}")
        if not isinstance(self.name, str):
            raise PolynomialError("name must be a string")
        object.__setattr__(self, "coeffs", coeffs)
        object.__setattr__(self, "interval", _check_interval(self.interval))
        object.__setattr__(self, "max_error", err)

    @property
    def degree(self) -> int:
        """The degree (0 for a constant)."""
        return len(self.coeffs) - 1

    @property
    def is_odd(self) -> bool:
        """True when only the constant and odd powers are non-zero.

        Such a polynomial is ``c0 + x * q(x**2)``: an evaluator needs the
        powers ``x**2, x**4, ...`` and one last product by ``x``.
        """
        return all(c == 0.0 for c in self.coeffs[2::2])

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        """Evaluate in float64 (Horner's rule), element-wise; any shape."""
        return _horner(self.coeffs, np.asarray(x, dtype=np.float64))

    def scaled_coeffs(self) -> tuple[float, tuple[float, ...]]:
        """Coefficients in the scaled variable ``t = x / s``.

        Returns:
            ``(s, d)`` with ``s = max(|lo|, |hi|)`` and ``p(x) = sum d[k] *
            (x / s)**k``; ``|t| <= 1`` on the interval and the ``d[k]`` are of
            the size of the function's values, which suits fixed point.
        """
        s = max(abs(self.interval[0]), abs(self.interval[1]))
        return s, tuple(c * s**k for k, c in enumerate(self.coeffs))

    def range_on(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact element-wise range of ``p`` over boxes ``[lo, hi]``.

        The extremes of a polynomial on an interval are at its ends or at
        real roots of ``p'`` inside it; all are evaluated (up to float
        rounding in the roots).
        """
        lo = np.asarray(lo, dtype=np.float64)
        hi = np.asarray(hi, dtype=np.float64)
        if lo.shape != hi.shape or np.any(lo > hi):
            raise PolynomialError("range_on needs lo <= hi of the same shape")
        a, b = self(lo), self(hi)
        low, high = np.minimum(a, b), np.maximum(a, b)
        if self.degree >= 2:
            deriv = [k * c for k, c in enumerate(self.coeffs)][1:]
            for r in np.roots(deriv[::-1]):
                if abs(r.imag) <= 1e-9 * max(1.0, abs(r.real)):
                    inside = (lo <= r.real) & (r.real <= hi)
                    v = float(self(np.float64(r.real)))
                    low = np.where(inside, np.minimum(low, v), low)
                    high = np.where(inside, np.maximum(high, v), high)
        return low, high

    def error_on(self, x: np.ndarray) -> np.ndarray:
        """``|p(x) - target(x)|`` element-wise (needs a named target)."""
        if self.target is None:
            raise PolynomialError("this polynomial has no named target to compare with")
        x = np.asarray(x, dtype=np.float64)
        return np.abs(self(x) - TARGETS[self.target](x))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (floats round-trip exactly)."""
        return {
            "name": self.name,
            "target": self.target,
            "coeffs": list(self.coeffs),
            "interval": list(self.interval),
            "max_error": self.max_error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Polynomial:
        """Rebuild from :meth:`to_dict` output, validating every field.

        Raises:
            ModelFormatError: a field is missing, of the wrong type or invalid.
        """
        if not isinstance(data, Mapping):
            raise ModelFormatError("a polynomial must be a JSON object")
        expected = {"name", "target", "coeffs", "interval", "max_error"}
        if set(data) != expected:
            raise ModelFormatError(
                f"a polynomial has exactly the fields {sorted(expected)}, got {sorted(data)}")
        coeffs, interval = data["coeffs"], data["interval"]
        if not isinstance(coeffs, list) or not all(_is_number(c) for c in coeffs):
            raise ModelFormatError("polynomial 'coeffs' must be a list of numbers")
        if (not isinstance(interval, list) or len(interval) != 2
                or not all(_is_number(v) for v in interval)):
            raise ModelFormatError("polynomial 'interval' must be a list of two numbers")
        if not _is_number(data["max_error"]):
            raise ModelFormatError("polynomial 'max_error' must be a number")
        if not isinstance(data["name"], str):
            raise ModelFormatError("polynomial 'name' must be a string")
        target = data["target"]
        if target is not None and not isinstance(target, str):
            raise ModelFormatError("polynomial 'target' must be a string or null")
        try:
            return cls(tuple(coeffs), (interval[0], interval[1]), data["max_error"],
                       data["name"], target)
        except PolynomialError as exc:
            raise ModelFormatError(f"invalid polynomial: {exc}") from exc


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def max_abs_error(poly_or_coeffs: Polynomial | Sequence[float],
                  func: Callable[[np.ndarray], np.ndarray],
                  interval: Sequence[float]) -> float:
    """``max |p(x) - func(x)|`` over ``interval``.

    The error is measured on :data:`GRID_POINTS` evenly spaced points
    (endpoints included); around each grid point that is a local maximum of
    the error (and at least a quarter of the largest) the search is repeated
    :data:`_REFINE_ROUNDS` times on a finer grid spanning its two neighbours.
    For a target that is smooth between its kinks this finds the supremum to
    within floating-point rounding.
    """
    lo, hi = _check_interval(interval)
    coeffs = poly_or_coeffs.coeffs if isinstance(poly_or_coeffs, Polynomial) else tuple(
        float(c) for c in poly_or_coeffs)

    def err(x: np.ndarray) -> np.ndarray:
        return np.abs(_horner(coeffs, x) - np.asarray(func(x), dtype=np.float64))

    x = np.linspace(lo, hi, GRID_POINTS)
    e = err(x)
    if not np.all(np.isfinite(e)):
        raise PolynomialError("the function is not finite on the whole interval")
    best = float(e.max())
    padded = np.concatenate(([-np.inf], e, [-np.inf]))
    peaks = np.flatnonzero((e >= padded[:-2]) & (e >= padded[2:]) & (e >= 0.25 * best))
    h = (hi - lo) / (GRID_POINTS - 1)
    for i in peaks[:200]:
        centre, half = float(x[i]), h
        for _ in range(_REFINE_ROUNDS):
            a, b = max(lo, centre - half), min(hi, centre + half)
            xs = np.linspace(a, b, _REFINE_POINTS)
            es = err(xs)
            j = int(np.argmax(es))
            best = max(best, float(es[j]))
            centre, half = float(xs[j]), (b - a) / (_REFINE_POINTS - 1)
    return best


def _to_power_basis_from_scaled(d: np.ndarray, scale: float) -> tuple[float, ...]:
    return tuple(float(c) / scale**k for k, c in enumerate(d))


def _nodes(method: str, degree: int) -> np.ndarray:
    """Fitting abscissae in [-1, 1]: Chebyshev nodes of the first kind or a uniform grid."""
    if method == "chebyshev":
        k = np.arange(degree + 1)
        return np.cos((2 * k + 1) * np.pi / (2 * (degree + 1)))
    return np.linspace(-1.0, 1.0, _LSTSQ_POINTS)


def fit(func: Callable[[np.ndarray], np.ndarray] | str, degree: int,
        interval: Sequence[float], *, method: str = "chebyshev", odd: bool = False,
        name: str | None = None) -> Polynomial:
    """Fit a polynomial of degree ``degree`` to ``func`` on ``interval``.

    Args:
        func: A vectorised float function, or a name in :data:`TARGETS`.
        degree: 1 to 31.
        interval: ``(lo, hi)``, finite.
        method: ``"chebyshev"``: interpolation at the ``degree + 1`` Chebyshev
            nodes of the first kind (close to the best uniform approximation);
            ``"lstsq"``: least squares on 4001 evenly spaced points (the
            classic fits of the literature).
        odd: Keep only the constant and the odd powers (``c0 + c1 x + c3 x^3
            + ...``), the shape of sigmoid and tanh; needs a symmetric interval
            and an odd degree. The fit is made to ``f(0)`` plus the odd part
            ``(f(x) - f(-x)) / 2``.
        name: Label of the result (default: target name and degree).

    Returns:
        A :class:`Polynomial` whose ``max_error`` is measured by
        :func:`max_abs_error` against ``func``.

    Raises:
        PolynomialError: bad degree, method or interval.
    """
    target: str | None = None
    if isinstance(func, str):
        if func not in TARGETS:
            raise PolynomialError(f"unknown target {func!r}; known: {sorted(TARGETS)}")
        target, func = func, TARGETS[func]
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)):
        raise PolynomialError("degree must be an integer")
    degree = int(degree)
    if not 1 <= degree <= _MAX_DEGREE:
        raise PolynomialError(f"degree must be between 1 and {_MAX_DEGREE}, got {degree}")
    if method not in ("chebyshev", "lstsq"):
        raise PolynomialError(f"method must be 'chebyshev' or 'lstsq', got {method!r}")
    lo, hi = _check_interval(interval)
    if odd and (degree % 2 == 0 or not math.isclose(lo, -hi, rel_tol=0, abs_tol=1e-12 * hi)):
        raise PolynomialError("an odd fit needs an odd degree and a symmetric interval (-a, a)")
    f = func

    def g(x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            y = np.asarray(f(x), dtype=np.float64)
        if y.shape != x.shape or not np.all(np.isfinite(y)):
            raise PolynomialError(
                "the function must map an array to finite values of the same shape "
                "on the whole interval")
        return y

    # Work in t in [-1, 1] (x = mid + half * t) where the problem is well conditioned.
    mid, half = (lo + hi) / 2.0, (hi - lo) / 2.0
    t = _nodes(method, degree)
    x = mid + half * t
    if odd:
        f0 = float(g(np.zeros(1))[0])
        y = (g(x) - g(-x)) / 2.0
        powers = np.arange(1, degree + 1, 2)
        sol, *_ = np.linalg.lstsq(t[:, None] ** powers[None, :], y, rcond=None)
        d = np.zeros(degree + 1)
        d[0] = f0
        d[powers] = sol
        coeffs = _to_power_basis_from_scaled(d, half)
    else:
        cheb = np.polynomial.chebyshev.chebfit(t, g(x), degree)
        d_t = np.polynomial.chebyshev.cheb2poly(cheb)  # power basis in t
        # p(x) = sum d_t[k] ((x - mid) / half)^k, expanded around 0.
        poly_t = np.polynomial.Polynomial(d_t)
        expanded = poly_t(np.polynomial.Polynomial([-mid / half, 1.0 / half]))
        coeffs = tuple(float(c) for c in expanded.coef)
    err = max_abs_error(coeffs, g, (lo, hi))
    return Polynomial(coeffs, (lo, hi), err,
                      name if name is not None else f"{target or 'poly'}{degree}", target)


def sigmoid_poly(degree: int = 7, interval: Sequence[float] = (-8.0, 8.0), *,
                 method: str = "lstsq") -> Polynomial:
    """The sigmoid as ``0.5 + c1 x + c3 x^3 + ... `` (odd powers only).

    The default (degree 7, least squares on ``[-8, 8]``) is the classic
    approximation of Kim et al. (2018); its maximum error on ``[-8, 8]`` is
    3.19e-2 (see the module table). ``degree`` must be odd and the interval
    symmetric.
    """
    return fit("sigmoid", degree, interval, method=method, odd=True,
               name=f"sigmoid{degree}")


def relu_poly(degree: int = 4, interval: Sequence[float] = (-4.0, 4.0), *,
              method: str = "lstsq") -> Polynomial:
    """A polynomial ReLU.

    On a symmetric interval ``(-a, a)`` ReLU is ``x / 2 + |x| / 2``: the
    result is exactly ``x / 2`` plus an even-powers fit of ``|x| / 2`` (so
    ``degree`` must be even); on another interval it is a plain :func:`fit`.
    The default (degree 4, least squares on ``[-4, 4]``) has a maximum error
    of 2.34e-1, at ``x = 0``; the error grows with the interval's width, so
    pick the narrowest interval that contains the inputs.
    """
    lo, hi = _check_interval(interval)
    if not math.isclose(lo, -hi, rel_tol=0, abs_tol=1e-12 * hi):
        return fit("relu", degree, (lo, hi), method=method, name=f"relu{degree}")
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or not (
            2 <= degree <= _MAX_DEGREE and degree % 2 == 0):
        raise PolynomialError("a ReLU polynomial on (-a, a) needs an even degree >= 2")
    if method not in ("chebyshev", "lstsq"):
        raise PolynomialError(f"method must be 'chebyshev' or 'lstsq', got {method!r}")
    degree = int(degree)
    t = _nodes(method, degree)
    powers = np.arange(0, degree + 1, 2)
    sol, *_ = np.linalg.lstsq(t[:, None] ** powers[None, :], np.abs(t) * hi / 2.0, rcond=None)
    d = np.zeros(degree + 1)
    d[powers] = sol
    d[1] = hi / 2.0
    coeffs = _to_power_basis_from_scaled(d, hi)
    err = max_abs_error(coeffs, _relu, (lo, hi))
    return Polynomial(coeffs, (lo, hi), err, f"relu{degree}", "relu")


def square(interval: Sequence[float] = (-8.0, 8.0)) -> Polynomial:
    """``x**2``: exact everywhere (``max_error`` 0); ``interval`` only records
    the range of inputs expected, which bounds the output for fixed point."""
    return Polynomial((0.0, 0.0, 1.0), tuple(interval), 0.0, "square", "square")  # type: ignore[arg-type]
