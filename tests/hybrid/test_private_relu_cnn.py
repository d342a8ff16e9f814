"""Private inference of the ReLU + max-pooling CNN exported from PyTorch, with the dealer."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from hecrypt.hybrid import private_predict
from hecrypt.hybrid.inference import model_spec, network_error_bound, plan
from hecrypt.hybrid.parties import client_program, server_program
from hecrypt.hybrid.runner import run_parties
from hecrypt.hybrid.triples import dealer_program
from hecrypt.models import from_onnx

MODEL = Path(__file__).parents[1] / "models" / "data" / "digits_relu_cnn.onnx"


def _reference(n: int | None) -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    _, Xte, _, _ = train_test_split(X, y, test_size=0.25, random_state=0)
    Xte = Xte[:n]
    session = onnxruntime.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"image": Xte.reshape(-1, 1, 8, 8).astype(np.float32)})[0]
    return Xte, np.asarray(logits, dtype=np.float64)


def test_relu_before_max_pooling_is_evaluated_after_it() -> None:
    net = from_onnx(MODEL)
    types = [layer["type"] for layer in model_spec(net)["layers"]]
    assert types == ["conv2d", "maxpool", "relu", "conv2d", "maxpool", "relu", "flatten",
                     "dense", "relu", "dense"]
    kinds = [r.kind for r in plan(net, 3)]
    assert kinds.count("conv2d") == 2 and kinds.count("matmul") == 2
    # per image: 8x4x4 + 16x2x2 + 32 ReLUs (after pooling), 3 comparisons per 2x2 window
    relu_elems = sum(int(np.prod(r.shape_a)) for r in plan(net, 3) if r.kind == "mul") // 2
    assert relu_elems == 3 * (8 * 4 * 4 + 16 * 2 * 2 + 32 + 3 * (8 * 4 * 4 + 16 * 2 * 2))


def test_private_labels_equal_onnxruntime_on_a_sample() -> None:
    X, expected = _reference(24)
    net = from_onnx(MODEL)
    images = X.reshape(-1, 8, 8, 1)
    res = private_predict(net, images)
    np.testing.assert_array_equal(res.labels, expected.argmax(1))
    # exact ReLU and max pooling: only fixed-point rounding and truncation remain
    bound = network_error_bound(net, images)
    assert np.max(np.abs(res.logits - net.predict(images))) <= bound
    assert np.max(np.abs(res.logits - expected)) < 0.02
    assert res.report["total"]["online_rounds"] < 80


@pytest.mark.slow
def test_private_labels_equal_onnxruntime_on_the_digits_test_split() -> None:
    X, expected = _reference(None)
    res = private_predict(from_onnx(MODEL), X.reshape(-1, 8, 8, 1))
    assert np.mean(res.labels == expected.argmax(1)) >= 0.99


def _client_batches(party: Any, batches: list[np.ndarray]) -> list[np.ndarray]:
    return [client_program(party, chunk)["labels"] for chunk in batches]


def _server_batches(party: Any, model: Any, count: int) -> None:
    for _ in range(count):
        server_program(party, model)


def _dealer_batches(party: Any, count: int) -> None:
    for _ in range(count):
        dealer_program(party)


def test_one_session_runs_several_batches() -> None:
    """Long-lived parties (no process start-up per batch) run batch after batch."""
    X, expected = _reference(10)
    batches = [X[:4].reshape(-1, 8, 8, 1), X[4:].reshape(-1, 8, 8, 1)]
    programs: dict[str, Any] = {
        "client": functools.partial(_client_batches, batches=batches),
        "server": functools.partial(_server_batches, model=from_onnx(MODEL), count=2),
        "dealer": functools.partial(_dealer_batches, count=2),
    }
    out: dict[str, Any] = run_parties(programs)
    np.testing.assert_array_equal(np.concatenate(out["client"]), expected.argmax(1))
