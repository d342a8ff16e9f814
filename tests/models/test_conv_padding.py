"""Conv2D with explicit ((top, bottom), (left, right)) padding, as PyTorch and ONNX give it."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from hecrypt.exceptions import ModelFormatError
from hecrypt.models import (
    Activation,
    Conv2D,
    Dense,
    Flatten,
    NetworkError,
    Sequential,
    from_onnx,
    nchw_to_nhwc,
    netfile,
)

RNG = np.random.default_rng(7)


def _reference(x: np.ndarray, k: np.ndarray, b: np.ndarray, strides: tuple[int, int],
               pads: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """Convolution by explicit loops over output positions (no shared code with the layer)."""
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    kh, kw, _, f = k.shape
    ho = (xp.shape[1] - kh) // strides[0] + 1
    wo = (xp.shape[2] - kw) // strides[1] + 1
    out = np.empty((x.shape[0], ho, wo, f))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, i * strides[0]:i * strides[0] + kh, j * strides[1]:j * strides[1] + kw]
            out[:, i, j] = np.einsum("nabc,abcf->nf", patch, k) + b
    return out


@pytest.mark.parametrize(("shape", "ksize", "strides", "padding", "pads", "out_hw"), [
    ((8, 8, 2), (3, 3), (2, 2), 1, ((1, 1), (1, 1)), (4, 4)),  # PyTorch padding=1, stride 2
    ((8, 8, 2), (3, 3), (2, 2), ((1, 1), (1, 1)), ((1, 1), (1, 1)), (4, 4)),
    ((7, 6, 1), (3, 2), (2, 1), ((2, 0), (0, 1)), ((2, 0), (0, 1)), (4, 6)),
    ((5, 9, 3), (3, 3), (1, 3), [[0, 1], [2, 0]], ((0, 1), (2, 0)), (4, 3)),  # lists (JSON)
    ((4, 4, 1), (2, 2), (1, 1), ((0, 0), (0, 0)), ((0, 0), (0, 0)), (3, 3)),
])
def test_forward_matches_the_loop_reference(shape: tuple[int, int, int], ksize: tuple[int, int],
                                            strides: tuple[int, int], padding: Any,
                                            pads: tuple[tuple[int, int], tuple[int, int]],
                                            out_hw: tuple[int, int]) -> None:
    layer = Conv2D(3, ksize, strides=strides, padding=padding)
    net = Sequential([layer], input_shape=shape, seed=5)
    assert layer.padding == pads
    assert layer.padding_amounts(shape) == pads
    assert net.output_shape == (*out_hw, 3)
    layer.set_weights(layer.kernel, RNG.normal(size=3))
    x = RNG.normal(size=(2, *shape))
    got = net.predict(x)
    assert got.shape == (2, *out_hw, 3)
    np.testing.assert_allclose(got, _reference(x, layer.kernel, layer.bias, strides, pads),
                               atol=1e-12)


def test_symmetric_pads_differ_from_same_at_stride_two_on_even_input() -> None:
    """TensorFlow's "same" pads (0, 1) here, PyTorch's padding=1 pads (1, 1): other outputs."""
    explicit = Conv2D(1, 3, strides=2, padding=1)
    same = Conv2D(1, 3, strides=2, padding="same")
    Sequential([explicit], input_shape=(8, 8, 1), seed=1)
    Sequential([same], input_shape=(8, 8, 1), seed=1)
    assert same.padding_amounts((8, 8, 1)) == ((0, 1), (0, 1))
    x = RNG.normal(size=(1, 8, 8, 1))
    assert explicit.forward(x).shape == same.forward(x).shape == (1, 4, 4, 1)
    assert not np.allclose(explicit.forward(x), same.forward(x))


@pytest.mark.parametrize(("padding", "rule"), [
    (-1, "non-negative"),
    (((1, -1), (0, 0)), "non-negative"),
    (((1, 1),), r"\(\(top, bottom\), \(left, right\)\)"),
    (((1, 1, 1), (0, 0)), r"\(\(top, bottom\), \(left, right\)\)"),
    ((1, 1, 1, 1), r"\(\(top, bottom\), \(left, right\)\)"),
    (((1.0, 1), (0, 0)), "ints"),
    (((True, 1), (0, 0)), "ints"),
    (1.5, r"\(\(top, bottom\), \(left, right\)\)"),
    ("full", "'valid', 'same'"),
    (((3, 0), (0, 0)), "smaller than the kernel size 3"),
    (((0, 0), (0, 2)), r"\(left, right\) = \(0, 2\) must be smaller than the kernel size 2"),
])
def test_bad_padding_is_refused_with_the_rule(padding: Any, rule: str) -> None:
    with pytest.raises(NetworkError, match=rule):
        Conv2D(2, (3, 2), padding=padding)


def test_an_empty_output_is_refused() -> None:
    with pytest.raises(NetworkError, match=r"padded by \(1, 1\).*empty"):
        Sequential([Conv2D(2, 5, padding=1)], input_shape=(2, 8, 1))


def _net() -> Sequential:
    return Sequential([
        Conv2D(2, 3, strides=2, padding=((1, 0), (2, 1)), input_shape=(8, 7, 1)),
        Activation("square"), Conv2D(2, 2, padding="same"), Flatten(), Dense(3),
    ], seed=4)


def test_network_file_round_trips_explicit_padding() -> None:
    net = _net()
    data = netfile.dumps(net)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        header = json.loads(np.load(io.BytesIO(z.read("header.npy"))).tobytes())
    assert header["layers"][0]["config"]["padding"] == [[1, 0], [2, 1]]
    assert header["layers"][2]["config"]["padding"] == "same"
    back = netfile.loads(data)
    assert back.layers[0].padding == ((1, 0), (2, 1))
    assert back.layers[2].padding == "same"
    x = RNG.normal(size=(3, 8, 7, 1))
    np.testing.assert_array_equal(back.predict(x), net.predict(x))
    assert netfile.dumps(back) == data


def _with_padding(data: bytes, padding: Any) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "header.npy":
                header = json.loads(np.load(io.BytesIO(body)).tobytes())
                header["layers"][0]["config"]["padding"] = padding
                buf = io.BytesIO()
                np.save(buf, np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
                body = buf.getvalue()
            z.writestr(info, body)
    return out.getvalue()


@pytest.mark.parametrize(("padding", "rule"), [
    ([[1, 0], [2]], r"\(\(top, bottom\), \(left, right\)\)"),
    ([[1, 0], [-2, 1]], "non-negative"),
    ([[1, 0], [2.0, 1]], "ints"),
    ([[1, 0], [3, 1]], "smaller than the kernel"),
    ("full", "'valid', 'same'"),
])
def test_network_file_with_bad_padding_is_a_format_error(padding: Any, rule: str) -> None:
    with pytest.raises(ModelFormatError, match=rf"layer 0 \(Conv2D\).*{rule}"):
        netfile.loads(_with_padding(netfile.dumps(_net()), padding))


def test_network_file_with_string_padding_still_loads() -> None:
    # ((1, 0), (2, 1)) and "same" both give 4x4 from 8x7 at stride 2: the weights still fit
    data = _with_padding(netfile.dumps(_net()), "same")
    assert netfile.loads(data).layers[0].padding == "same"


def test_onnx_conv_like_pytorch_padding_one_stride_two(onnx_kit: SimpleNamespace) -> None:
    """nn.Conv2d(1, 3, 3, stride=2, padding=1) on 8x8, then the same asymmetric, then Gemm."""
    rng = np.random.default_rng(3)
    h = onnx_kit.helper
    nodes = [
        h.make_node("Conv", ["x", "w1", "b1"], ["a"], name="conv1", strides=[2, 2],
                    pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        h.make_node("Relu", ["a"], ["r"], name="relu"),
        h.make_node("Conv", ["r", "w2", "b2"], ["c"], name="conv2", strides=[1, 2],
                    pads=[0, 1, 2, 0]),
        h.make_node("Flatten", ["c"], ["f"], name="flat"),
        h.make_node("Gemm", ["f", "w3", "b3"], ["y"], name="fc", transB=1),
    ]
    weights = {"w1": onnx_kit.rand(rng, 3, 1, 3, 3), "b1": onnx_kit.rand(rng, 3),
               "w2": onnx_kit.rand(rng, 2, 3, 3, 3), "b2": onnx_kit.rand(rng, 2),
               "w3": onnx_kit.rand(rng, 4, 2 * 4 * 2), "b3": onnx_kit.rand(rng, 4)}
    model = onnx_kit.make_model(nodes, ("N", 1, 8, 8), "y", weights)
    net = from_onnx(model)
    conv1, conv2 = net.layers[0], net.layers[2]
    assert conv1.padding == ((1, 1), (1, 1)) and conv1.strides == (2, 2)
    assert conv2.padding == ((0, 2), (1, 0))
    x = onnx_kit.rand(rng, 5, 1, 8, 8, scale=1.0)
    np.testing.assert_allclose(net.predict(nchw_to_nhwc(x)), onnx_kit.run(model, x),
                               rtol=1e-4, atol=1e-4)


def test_pytorch_export_with_padding_one_at_stride_two() -> None:
    """A file torch.onnx.export wrote (tests/models/data/make_stride2_pad1_cnn.py)."""
    import onnxruntime

    path = Path(__file__).with_name("data") / "stride2_pad1_cnn.onnx"
    net = from_onnx(path)
    convs = [layer for layer in net.layers if isinstance(layer, Conv2D)]
    assert [(c.strides, c.padding) for c in convs] == [
        ((2, 2), ((1, 1), (1, 1))), ((1, 1), ((1, 1), (0, 0)))]
    x = np.random.default_rng(8).normal(size=(6, 1, 8, 8)).astype(np.float32)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {"image": x})[0]
    np.testing.assert_allclose(net.predict(nchw_to_nhwc(x)), expected, rtol=1e-4, atol=1e-4)
