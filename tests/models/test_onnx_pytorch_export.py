"""A network really trained and exported from PyTorch (tests/models/data and its script)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from hecrypt.models.onnx_import import from_onnx

DATA = Path(__file__).with_name("data")


def _digits_test_split() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    _, Xte, _, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    return Xte, yte


@pytest.mark.parametrize("name", ["digits_relu_cnn.onnx", "digits_relu_cnn_legacy.onnx"])
def test_pytorch_digits_cnn_matches_onnxruntime(name: str) -> None:
    path = DATA / name
    Xte, yte = _digits_test_split()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {"image": Xte.reshape(-1, 1, 8, 8).astype(np.float32)})[0]
    model = from_onnx(path)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "Activation", "MaxPooling2D", "Conv2D", "Activation", "MaxPooling2D",
        "Flatten", "Dense", "Activation", "Dense"]
    assert model.input_shape == (8, 8, 1)
    logits = model.predict(Xte.reshape(-1, 8, 8, 1))  # one channel: NCHW and NHWC coincide
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(logits.argmax(1), expected.argmax(1))
    assert (logits.argmax(1) == yte).mean() >= 0.96
