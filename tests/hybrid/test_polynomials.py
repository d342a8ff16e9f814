"""Polynomial approximations: fits, documented maximum errors, serialization."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hecrypt.exceptions import HecryptError, ModelFormatError
from hecrypt.hybrid.polynomials import (
    Polynomial,
    PolynomialError,
    fit,
    max_abs_error,
    relu_poly,
    sigmoid_poly,
    square,
)

SIGMOID7 = sigmoid_poly()
RELU4 = relu_poly()
# (polynomial, max error stated in the module docstring, rounded to 3 digits)
DOCUMENTED = [
    (SIGMOID7, 3.19e-2),
    (sigmoid_poly(method="chebyshev"), 2.96e-2),
    (sigmoid_poly(degree=3), 1.14e-1),
    (sigmoid_poly(degree=5), 6.11e-2),
    (sigmoid_poly(degree=9), 1.63e-2),
    (RELU4, 2.34e-1),
    (relu_poly(degree=6), 1.71e-1),
]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _slack(err: float) -> float:
    return err * 1e-9 + 1e-12


@pytest.mark.parametrize(("poly", "documented"), DOCUMENTED, ids=lambda v: getattr(v, "name", ""))
def test_documented_max_errors(poly: Polynomial, documented: float) -> None:
    assert poly.max_error == pytest.approx(documented, rel=5e-3)
    # An independent, much denser grid never finds a larger error.
    lo, hi = poly.interval
    x = np.linspace(lo, hi, 1_000_003)
    assert poly.error_on(x).max() <= poly.max_error + _slack(poly.max_error)
    # ... and it is attained (the figure is not a loose bound).
    assert poly.error_on(x).max() >= poly.max_error * (1 - 1e-6)


def test_sigmoid7_is_the_classic_polynomial() -> None:
    scale, d = SIGMOID7.scaled_coeffs()
    assert scale == 8.0
    # Kim, Song, Kim, Lee, Cheon (2018): 0.5 + 1.73496 t - 4.19407 t^3 + 5.43402 t^5 - 2.50739 t^7
    published = [0.5, 1.73496, 0, -4.19407, 0, 5.43402, 0, -2.50739]
    assert np.allclose(d, published, atol=2e-3)
    assert SIGMOID7.is_odd and SIGMOID7.degree == 7 and SIGMOID7.target == "sigmoid"
    assert SIGMOID7.coeffs[2::2] == (0.0, 0.0, 0.0)


@settings(max_examples=300, deadline=None)
@given(st.floats(-8.0, 8.0, allow_nan=False))
def test_sigmoid7_within_max_error(x: float) -> None:
    err = abs(float(SIGMOID7(np.array(x))) - float(_sigmoid(np.array(x))))
    assert err <= SIGMOID7.max_error + _slack(SIGMOID7.max_error)


@settings(max_examples=300, deadline=None)
@given(st.floats(-4.0, 4.0, allow_nan=False))
def test_relu4_within_max_error(x: float) -> None:
    err = abs(float(RELU4(np.array(x))) - max(x, 0.0))
    assert err <= RELU4.max_error + _slack(RELU4.max_error)


@settings(max_examples=40, deadline=None)
@given(
    degree=st.sampled_from([1, 3, 5, 7, 9, 11]),
    half=st.floats(0.5, 12.0),
    method=st.sampled_from(["chebyshev", "lstsq"]),
    target=st.sampled_from(["sigmoid", "tanh"]),
    xs=st.lists(st.floats(-1.0, 1.0), min_size=1, max_size=20),
)
def test_fitted_max_error_holds_everywhere(degree: int, half: float, method: str, target: str,
                                           xs: list[float]) -> None:
    p = fit(target, degree, (-half, half), method=method, odd=True)
    x = np.array(xs) * half
    assert np.all(p.error_on(x) <= p.max_error + _slack(p.max_error))
    assert p.is_odd


@settings(max_examples=30, deadline=None)
@given(
    degree=st.integers(1, 8),
    lo=st.floats(-6.0, 2.0),
    width=st.floats(0.5, 8.0),
    method=st.sampled_from(["chebyshev", "lstsq"]),
    xs=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=20),
)
def test_general_fit_of_a_user_function(degree: int, lo: float, width: float, method: str,
                                        xs: list[float]) -> None:
    def f(x: np.ndarray) -> np.ndarray:
        return np.sin(x) + 0.1 * x

    p = fit(f, degree, (lo, lo + width), method=method, name="mine")
    assert p.target is None and p.name == "mine"
    x = lo + np.array(xs) * width
    assert np.all(np.abs(p(x) - f(x)) <= p.max_error + _slack(p.max_error))
    assert p.max_error == pytest.approx(max_abs_error(p, f, p.interval))


def test_exact_fits_have_no_error() -> None:
    cubic = fit(lambda x: 2 - x + 0.5 * x**3, 3, (-3, 5), method="lstsq")
    assert np.allclose(cubic.coeffs, [2, -1, 0, 0.5], atol=1e-10)
    assert cubic.max_error < 1e-10
    sq = square()
    assert sq.max_error == 0.0 and sq.coeffs == (0.0, 0.0, 1.0)
    x = np.linspace(-100, 100, 101)
    assert np.array_equal(sq(x), x * x)


def test_relu_poly_structure() -> None:
    assert RELU4.coeffs[1] == 0.5 and RELU4.coeffs[3] == 0.0
    # largest error at 0, where ReLU has its kink
    assert RELU4.error_on(np.array([0.0]))[0] == pytest.approx(RELU4.max_error)
    asym = relu_poly(interval=(-2.0, 6.0))
    assert np.all(asym.error_on(np.linspace(-2, 6, 999)) <= asym.max_error + 1e-12)


def test_evaluation_shapes_and_horner() -> None:
    p = Polynomial((1.0, -2.0, 3.0), (-1, 1), 0.0)
    x = np.arange(12.0).reshape(3, 2, 2)
    assert p(x).shape == (3, 2, 2)
    assert np.allclose(p(x), 1 - 2 * x + 3 * x * x)
    assert p.degree == 2
    assert Polynomial((1.0, 2.0, 0.0, 0.0), (-1, 1), 0.0).degree == 1  # trailing zeros dropped
    s, d = SIGMOID7.scaled_coeffs()
    x = np.linspace(-8, 8, 33)
    assert np.allclose(sum(c * (x / s) ** k for k, c in enumerate(d)), SIGMOID7(x))


def test_dict_round_trip_is_exact() -> None:
    for p, _ in DOCUMENTED:
        q = Polynomial.from_dict(json.loads(json.dumps(p.to_dict())))
        assert q == p


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("coeffs"),
        lambda d: d.update(coeffs="1,2"),
        lambda d: d.update(coeffs=[1.0, True]),
        lambda d: d.update(coeffs=[1.0, math.nan]),
        lambda d: d.update(interval=[1.0]),
        lambda d: d.update(interval=[2.0, 1.0]),
        lambda d: d.update(max_error=-1.0),
        lambda d: d.update(max_error="0"),
        lambda d: d.update(target="cosh"),
        lambda d: d.update(name=3),
        lambda d: d.update(extra=1),
    ],
)
def test_from_dict_rejects_malformed(mutate) -> None:  # type: ignore[no-untyped-def]
    d = SIGMOID7.to_dict()
    mutate(d)
    with pytest.raises(ModelFormatError):
        Polynomial.from_dict(d)


@pytest.mark.parametrize(
    "call",
    [
        lambda: fit("sigmoid", 0, (-1, 1)),
        lambda: fit("sigmoid", 40, (-1, 1)),
        lambda: fit("sigmoid", 2.5, (-1, 1)),
        lambda: fit("sigmoid", 3, (1, -1)),
        lambda: fit("sigmoid", 3, (-1, math.inf)),
        lambda: fit("sigmoid", 3, (-1, 1), method="remez"),
        lambda: fit("sigmoid", 4, (-1, 1), odd=True),
        lambda: fit("sigmoid", 3, (-1, 2), odd=True),
        lambda: fit("nope", 3, (-1, 1)),
        lambda: fit(np.log, 3, (-1, 1)),
        lambda: relu_poly(degree=3),
        lambda: Polynomial((), (-1, 1), 0.0),
        lambda: Polynomial((1.0,), (-1, 1), math.inf),
    ],
)
def test_invalid_parameters_raise(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PolynomialError) as info:
        call()
    assert isinstance(info.value, HecryptError) and isinstance(info.value, ValueError)


def test_polynomial_is_frozen() -> None:
    with pytest.raises(AttributeError):
        SIGMOID7.coeffs = (1.0,)  # type: ignore[misc]


@settings(max_examples=60, deadline=None)
@given(a=st.floats(-8, 8), b=st.floats(-8, 8), degree=st.sampled_from([3, 5, 7, 9]))
def test_range_on_contains_all_values_and_is_attained(a: float, b: float, degree: int) -> None:
    lo, hi = min(a, b), max(a, b)
    p = sigmoid_poly(degree=degree)
    low, high = p.range_on(np.array([lo]), np.array([hi]))
    values = p(np.linspace(lo, hi, 2001))
    assert low[0] <= values.min() + 1e-12 and values.max() <= high[0] + 1e-12
    assert values.min() - low[0] <= 1e-6 and high[0] - values.max() <= 1e-6
