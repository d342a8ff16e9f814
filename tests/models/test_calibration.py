"""calibrate: activation input ranges, approximation errors, suggested polynomials."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from hecrypt.hybrid.polynomials import sigmoid_poly
from hecrypt.models.calibration import calibrate, with_approximations
from hecrypt.models.onnx_import import from_onnx
from hecrypt.models.sequential import Activation, NetworkError


@pytest.fixture
def sigmoid_mlp(onnx_kit: SimpleNamespace) -> tuple[object, dict[str, np.ndarray]]:
    h = onnx_kit.helper
    rng = np.random.default_rng(7)
    weights = {"w1": onnx_kit.rand(rng, 6, 8, scale=0.5), "b1": onnx_kit.rand(rng, 8),
               "w2": onnx_kit.rand(rng, 8, 5), "b2": onnx_kit.rand(rng, 5),
               "w3": onnx_kit.rand(rng, 5, 3), "b3": onnx_kit.rand(rng, 3)}
    nodes = [h.make_node("Gemm", ["x", "w1", "b1"], ["a"], name="fc1"),
             h.make_node("Sigmoid", ["a"], ["b"], name="s1"),
             h.make_node("Gemm", ["b", "w2", "b2"], ["c"], name="fc2"),
             h.make_node("Relu", ["c"], ["d"], name="r2"),
             h.make_node("Gemm", ["d", "w3", "b3"], ["y"], name="fc3")]
    return from_onnx(onnx_kit.make_model(nodes, ("N", 6), "y", weights)), weights


def test_ranges_are_the_pre_activation_extremes(sigmoid_mlp: tuple) -> None:
    model, w = sigmoid_mlp
    X = np.random.default_rng(1).normal(size=(200, 6)) * 2
    report = calibrate(model, X)
    pre1 = X @ w["w1"] + w["b1"]
    pre2 = (1 / (1 + np.exp(-pre1))) @ w["w2"] + w["b2"]
    (s1, r2) = report.activations
    assert (s1.index, s1.name, r2.index, r2.name) == (1, "sigmoid", 3, "relu")
    np.testing.assert_allclose([s1.low, s1.high], [pre1.min(), pre1.max()], rtol=1e-5)
    np.testing.assert_allclose([r2.low, r2.high], [pre2.min(), pre2.max()], rtol=1e-5)
    assert s1.approx is None and s1.max_error == 0.0 and not s1.exact_in_shares
    assert r2.exact_in_shares
    assert report.max_output_error == 0.0 and report.label_agreement == 1.0
    assert report.samples == 200
    assert "sigmoid" in report.table() and "relu" in report.table()


def test_suggested_polynomials_cover_the_data(sigmoid_mlp: tuple) -> None:
    model, _ = sigmoid_mlp
    X = np.random.default_rng(2).normal(size=(300, 6))
    report = calibrate(model, X)
    suggestion = report.suggest(max_error=1e-2)
    assert set(suggestion) == {1}  # ReLU stays exact unless asked
    poly = suggestion[1]
    s1 = report.activations[0]
    assert poly.interval[0] < s1.low and poly.interval[1] > s1.high
    assert poly.max_error <= 1e-2 and poly.degree % 2 == 1
    approx_model = with_approximations(model, suggestion)
    assert model.layers[1].approx is None  # the original is unchanged
    again = calibrate(approx_model, X)
    assert again.activations[0].approx == poly
    assert again.activations[0].outside == 0.0
    assert again.activations[0].max_error <= poly.max_error + 1e-12
    assert 0 < again.max_output_error < 0.1
    assert again.label_agreement is not None and again.label_agreement >= 0.95
    both = report.suggest(max_error=5e-2, relu=True)
    assert set(both) == {1, 3} and both[3].target == "relu"


def test_a_narrow_approximation_is_reported_outside(sigmoid_mlp: tuple) -> None:
    model, _ = sigmoid_mlp
    X = np.random.default_rng(3).normal(size=(100, 6)) * 4
    narrow = with_approximations(model, {1: sigmoid_poly(3, (-1.0, 1.0))})
    entry = calibrate(narrow, X).activations[0]
    assert entry.outside > 0.2
    assert entry.max_error > narrow.layers[1].approx.max_error
    with pytest.raises(NetworkError):
        with_approximations(model, {0: sigmoid_poly()})
    assert isinstance(with_approximations(narrow, {1: None}).layers[1], Activation)
    assert with_approximations(narrow, {1: None}).layers[1].approx is None
