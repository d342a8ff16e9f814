"""Fixtures for the model tests: small ONNX graphs built with onnx.helper, and
onnxruntime as the independent reference."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace
from typing import Any

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper


def make_model(
    nodes: list[Any],
    input_shape: tuple[Any, ...],
    output_name: str,
    weights: dict[str, np.ndarray] | None = None,
    *,
    opset: int = 13,
    input_name: str = "x",
) -> onnx.ModelProto:
    """A model with one float input ``x`` of ``input_shape`` and one output."""
    inits = [numpy_helper.from_array(np.asarray(v, dtype=np.float32) if np.asarray(v).dtype.kind
                                     == "f" else np.asarray(v), name=k)
             for k, v in (weights or {}).items()]
    graph = helper.make_graph(
        nodes, "test",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, None)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    # fill in the output's shape, which the ONNX checker requires (models meant to be
    # refused may not infer: they stay as built)
    with contextlib.suppress(Exception):
        model = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    return model


def run_onnxruntime(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """The model's output on ``x`` according to onnxruntime."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.asarray(session.run(None, {name: x.astype(np.float32)})[0], dtype=np.float64)


def rand(rng: np.random.Generator, *shape: int, scale: float = 0.5) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


@pytest.fixture(scope="session")
def onnx_kit() -> SimpleNamespace:
    """The helpers above, for tests that build ONNX models."""
    return SimpleNamespace(make_model=make_model, run=run_onnxruntime, rand=rand,
                           helper=helper, numpy_helper=numpy_helper)
