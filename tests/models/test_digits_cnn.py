"""The shipped digits CNN: architecture, plaintext accuracy, activation ranges."""

from __future__ import annotations

import numpy as np
import pytest

from hecrypt.hybrid.polynomials import sigmoid_poly
from hecrypt.models import (
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Flatten,
    Sequential,
    digits_split,
    load_digits_cnn,
)


@pytest.fixture(scope="module")
def net() -> Sequential:
    return load_digits_cnn()


@pytest.fixture(scope="module")
def split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return digits_split()


def test_architecture(net: Sequential) -> None:
    kinds = [type(layer) for layer in net.layers]
    assert kinds == [Conv2D, Activation, Conv2D, Activation, AveragePooling2D, Flatten, Dense,
                     Activation, Dense]
    assert net.input_shape == (8, 8, 1) and net.output_shape == (10,)
    for i in (0, 2):
        conv = net.layers[i]
        assert isinstance(conv, Conv2D)
        assert conv.kernel_size == (3, 3) and conv.padding == "same" and conv.filters <= 8
    assert net.layers[4].pool_size == (2, 2)  # type: ignore[attr-defined]
    for i in (1, 3, 7):
        act = net.layers[i]
        assert isinstance(act, Activation) and act.name == "sigmoid"
        assert act.approx == sigmoid_poly()
    assert net.layers[6].units <= 64  # type: ignore[attr-defined]
    assert load_digits_cnn() is not net  # a fresh object each time


def test_split_is_the_documented_one(split: tuple[np.ndarray, ...]) -> None:
    X_train, X_test, y_train, y_test = split
    assert X_train.shape == (1347, 8, 8) and X_test.shape == (450, 8, 8)
    assert X_test.min() == 0 and X_test.max() == 16
    per_class = np.bincount(np.concatenate([y_train, y_test]))
    assert np.abs(np.bincount(y_test) - per_class * 0.25).max() <= 1  # stratified
    again = digits_split()
    assert all(np.array_equal(a, b) for a, b in zip(again, split))  # deterministic


def test_plaintext_test_accuracy_at_least_97_percent(net: Sequential,
                                                     split: tuple[np.ndarray, ...]) -> None:
    _, X_test, _, y_test = split
    logits = net.predict(X_test)
    assert logits.shape == (450, 10)
    assert np.array_equal(net.predict(X_test.reshape(450, 64)), logits)
    accuracy = float((logits.argmax(axis=1) == y_test).mean())
    assert accuracy >= 0.97


def test_activation_inputs_stay_inside_the_interval(net: Sequential,
                                                    split: tuple[np.ndarray, ...]) -> None:
    X_train, X_test, _, _ = split
    for X in (X_test, X_train):
        ranges = net.polynomial_input_ranges(X)
        assert [i for i, _, _ in ranges] == [1, 3, 7]
        for i, lo, hi in ranges:
            a, b = net.layers[i].approx.interval  # type: ignore[attr-defined]
            assert a <= lo and hi <= b


def test_reference_is_the_polynomial_network(net: Sequential,
                                             split: tuple[np.ndarray, ...]) -> None:
    # an independent forward pass with explicit loops for the first image
    x = split[1][0] * 1.0
    p = sigmoid_poly()
    h = x[:, :, None]
    for conv in (net.layers[0], net.layers[2]):
        k, b = conv.kernel, conv.bias  # type: ignore[attr-defined]
        hp = np.pad(h, ((1, 1), (1, 1), (0, 0)))
        out = np.empty((8, 8, k.shape[3]))
        for i in range(8):
            for j in range(8):
                for f in range(k.shape[3]):
                    out[i, j, f] = np.sum(hp[i:i + 3, j:j + 3, :] * k[:, :, :, f]) + b[f]
        h = p(out)
    pooled = h.reshape(4, 2, 4, 2, -1).mean(axis=(1, 3))
    d1, d2 = net.layers[6], net.layers[8]
    hidden = p(pooled.reshape(-1) @ d1.kernel + d1.bias)  # type: ignore[attr-defined]
    logits = hidden @ d2.kernel + d2.bias  # type: ignore[attr-defined]
    assert np.allclose(net.predict(x[None])[0], logits, atol=1e-9)
