"""ONNX import: every supported op agrees with onnxruntime, everything else is refused."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from hecrypt.exceptions import ModelFormatError, UnsupportedModelError
from hecrypt.models.onnx_import import from_onnx, nchw_to_nhwc

TOL = dict(rtol=1e-4, atol=1e-4)


def _agrees(kit: SimpleNamespace, model: Any, x: np.ndarray) -> Any:
    """Import ``model``, check it against onnxruntime on ``x`` (NCHW or flat), return it."""
    imported = from_onnx(model)
    expected = kit.run(model, x)
    ours = imported.predict(nchw_to_nhwc(x) if x.ndim == 4 else x)
    np.testing.assert_allclose(ours, expected.reshape(ours.shape), **TOL)
    assert ours.shape[0] == x.shape[0]
    return imported


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def _conv(name: str, inp: str, out: str, **attrs: Any) -> Any:
    from onnx import helper

    inputs = [inp, name + "_w"] + ([name + "_b"] if attrs.pop("bias", True) else [])
    return helper.make_node("Conv", inputs, [out], name=name, **attrs)


# -- supported ops, one at a time ------------------------------------------------------------------


@pytest.mark.parametrize("attrs, hw", [
    ({}, (6, 6)),
    ({"pads": [1, 1, 1, 1]}, (6, 5)),
    ({"pads": [1, 1, 1, 1], "strides": [2, 2]}, (7, 7)),
    ({"pads": [0, 0, 1, 1], "strides": [2, 2]}, (6, 6)),
    ({"auto_pad": "SAME_UPPER", "strides": [2, 1]}, (6, 6)),
    ({"auto_pad": "VALID", "strides": [1, 2]}, (6, 7)),
    ({"bias": False, "kernel_shape": [3, 3]}, (5, 5)),
    ({"pads": [1, 1, 1, 1], "strides": [2, 2]}, (8, 8)),  # PyTorch's padding=1 at stride 2
    ({"pads": [2, 0, 1, 2], "strides": [2, 1]}, (8, 7)),  # asymmetric, all four different
    ({"pads": [0, 1, 2, 0], "strides": [1, 3]}, (5, 9)),
    ({"auto_pad": "SAME_LOWER", "strides": [2, 2]}, (8, 8)),
])
def test_conv(onnx_kit: SimpleNamespace, rng: np.random.Generator, attrs: dict[str, Any],
              hw: tuple[int, int]) -> None:
    has_bias = attrs.get("bias", True)
    node = _conv("c", "x", "y", **dict(attrs))
    weights = {"c_w": onnx_kit.rand(rng, 4, 3, 3, 3)}
    if has_bias:
        weights["c_b"] = onnx_kit.rand(rng, 4)
    model = onnx_kit.make_model([node], ("N", 3, *hw), "y", weights)
    imported = from_onnx(model)
    x = onnx_kit.rand(rng, 2, 3, *hw, scale=1.0)
    expected = onnx_kit.run(model, x)
    np.testing.assert_allclose(imported.predict(nchw_to_nhwc(x)), nchw_to_nhwc(expected), **TOL)


@pytest.mark.parametrize("pads, padding", [
    ([0, 0, 0, 0], "valid"),
    ([0, 0, 1, 1], "same"),  # TensorFlow's "same" at stride 2 on 8x8: the extra pad after
    ([1, 1, 1, 1], ((1, 1), (1, 1))),  # PyTorch's padding=1: not "same" here
    ([2, 0, 1, 2], ((2, 1), (0, 2))),
])
def test_conv_pads_map_to_keras_names_only_when_exact(
        onnx_kit: SimpleNamespace, rng: np.random.Generator, pads: list[int],
        padding: Any) -> None:
    node = _conv("c", "x", "y", pads=pads, strides=[2, 2])
    weights = {"c_w": onnx_kit.rand(rng, 2, 1, 3, 3), "c_b": onnx_kit.rand(rng, 2)}
    imported = from_onnx(onnx_kit.make_model([node], ("N", 1, 8, 8), "y", weights))
    assert imported.layers[0].padding == padding


def test_conv_batchnorm_and_bias_add_are_folded(onnx_kit: SimpleNamespace,
                                                rng: np.random.Generator) -> None:
    h = onnx_kit.helper
    nodes = [
        _conv("c", "x", "a", pads=[1, 1, 1, 1]),
        h.make_node("BatchNormalization", ["a", "s", "o", "m", "v"], ["b"], name="bn",
                    epsilon=1e-3),
        h.make_node("Add", ["extra", "b"], ["y"], name="bias"),
    ]
    weights = {"c_w": onnx_kit.rand(rng, 5, 2, 3, 3), "c_b": onnx_kit.rand(rng, 5),
               "s": onnx_kit.rand(rng, 5) + 1, "o": onnx_kit.rand(rng, 5),
               "m": onnx_kit.rand(rng, 5), "v": np.abs(onnx_kit.rand(rng, 5)) + 0.1,
               "extra": onnx_kit.rand(rng, 1, 5, 1, 1)}
    model = onnx_kit.make_model(nodes, ("N", 2, 6, 6), "y", weights)
    imported = from_onnx(model)
    assert [type(layer).__name__ for layer in imported.layers] == ["Conv2D"]
    x = onnx_kit.rand(rng, 3, 2, 6, 6, scale=1.0)
    np.testing.assert_allclose(imported.predict(nchw_to_nhwc(x)),
                               nchw_to_nhwc(onnx_kit.run(model, x)), **TOL)


@pytest.mark.parametrize("trans_b, alpha, beta, bias_shape", [
    (0, 1.0, 1.0, (3,)), (1, 0.5, 2.0, (1, 3)), (1, 1.0, 1.0, None),
])
def test_gemm(onnx_kit: SimpleNamespace, rng: np.random.Generator, trans_b: int, alpha: float,
              beta: float, bias_shape: tuple[int, ...] | None) -> None:
    inputs = ["x", "w"] + (["b"] if bias_shape else [])
    node = onnx_kit.helper.make_node("Gemm", inputs, ["y"], name="fc", transB=trans_b,
                                     alpha=alpha, beta=beta)
    weights = {"w": onnx_kit.rand(rng, *((3, 7) if trans_b else (7, 3)))}
    if bias_shape:
        weights["b"] = onnx_kit.rand(rng, *bias_shape)
    model = onnx_kit.make_model([node], ("N", 7), "y", weights)
    _agrees(onnx_kit, model, onnx_kit.rand(rng, 4, 7, scale=2.0))


def test_gemm_batchnorm_relu_matmul_add_sigmoid(onnx_kit: SimpleNamespace,
                                                rng: np.random.Generator) -> None:
    h = onnx_kit.helper
    nodes = [
        h.make_node("Gemm", ["x", "w1", "b1"], ["a"], name="fc1", transB=1),
        h.make_node("BatchNormalization", ["a", "s", "o", "m", "v"], ["b"], name="bn"),
        h.make_node("Relu", ["b"], ["c"], name="relu"),
        h.make_node("MatMul", ["c", "w2"], ["d"], name="mm"),
        h.make_node("Add", ["d", "b2"], ["e"], name="add"),
        h.make_node("Sigmoid", ["e"], ["y"], name="sig"),
    ]
    weights = {"w1": onnx_kit.rand(rng, 6, 5), "b1": onnx_kit.rand(rng, 6),
               "s": onnx_kit.rand(rng, 6) + 1, "o": onnx_kit.rand(rng, 6),
               "m": onnx_kit.rand(rng, 6), "v": np.abs(onnx_kit.rand(rng, 6)) + 0.1,
               "w2": onnx_kit.rand(rng, 6, 2), "b2": onnx_kit.rand(rng, 2)}
    model = onnx_kit.make_model(nodes, ("N", 5), "y", weights)
    imported = _agrees(onnx_kit, model, onnx_kit.rand(rng, 8, 5, scale=2.0))
    assert [type(layer).__name__ for layer in imported.layers] == [
        "Dense", "Activation", "Dense", "Activation"]


@pytest.mark.parametrize("op, attrs, hw", [
    ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]}, (6, 6)),
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [1, 1]}, (5, 6)),
    ("MaxPool", {"kernel_shape": [2, 2]}, (4, 4)),
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2]}, (7, 7)),
    ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2]}, (6, 8)),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}, (7, 7)),
    ("GlobalAveragePool", {}, (5, 5)),
])
def test_pooling(onnx_kit: SimpleNamespace, rng: np.random.Generator, op: str,
                 attrs: dict[str, Any], hw: tuple[int, int]) -> None:
    node = onnx_kit.helper.make_node(op, ["x"], ["y"], name="pool", **attrs)
    model = onnx_kit.make_model([node], ("N", 3, *hw), "y")
    x = onnx_kit.rand(rng, 2, 3, *hw, scale=2.0)
    imported = from_onnx(model)
    np.testing.assert_allclose(imported.predict(nchw_to_nhwc(x)),
                               nchw_to_nhwc(onnx_kit.run(model, x)), **TOL)


@pytest.mark.parametrize("flatten", ["Flatten", "Reshape-1", "Reshape0", "ReshapeN"])
def test_flatten_then_dense_permutes_rows(onnx_kit: SimpleNamespace, rng: np.random.Generator,
                                          flatten: str) -> None:
    h = onnx_kit.helper
    weights: dict[str, np.ndarray] = {"c_w": onnx_kit.rand(rng, 3, 2, 3, 3),
                                      "c_b": onnx_kit.rand(rng, 3),
                                      "w": onnx_kit.rand(rng, 10, 3 * 4 * 4), "b": np.zeros(10)}
    if flatten == "Flatten":
        flat = h.make_node("Flatten", ["a"], ["f"], name="flat", axis=1)
    else:
        weights["shape"] = np.array({"Reshape-1": [-1, 48], "Reshape0": [0, -1],
                                     "ReshapeN": [1, 48]}[flatten], dtype=np.int64)
        flat = h.make_node("Reshape", ["a", "shape"], ["f"], name="flat")
    nodes = [_conv("c", "x", "a"), flat,
             h.make_node("Gemm", ["f", "w", "b"], ["y"], name="fc", transB=1)]
    model = onnx_kit.make_model(nodes, (1 if flatten == "ReshapeN" else "N", 2, 6, 6), "y",
                                weights)
    _agrees(onnx_kit, model, onnx_kit.rand(rng, 1 if flatten == "ReshapeN" else 3, 2, 6, 6))


def _view_flatten(kit: SimpleNamespace, style: str, src: str, out: str) -> list[Any]:
    """``out = src.view(src.size(0), -1)`` as PyTorch's exporters write it."""
    h, nh = kit.helper, kit.numpy_helper

    def const(name: str, value: Any) -> Any:
        return h.make_node("Constant", [], [name], name=name,
                           value=nh.from_array(np.array(value, dtype=np.int64), name))

    if style == "legacy":  # TorchScript exporter: Shape -> Gather -> Unsqueeze -> Concat
        return [h.make_node("Shape", [src], ["shp"], name="shape"), const("zero", 0),
                h.make_node("Gather", ["shp", "zero"], ["n"], name="gather", axis=0),
                const("axes", [0]), h.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsq"),
                const("minus1", [-1]),
                h.make_node("Concat", ["n1", "minus1"], ["target"], name="concat", axis=0),
                h.make_node("Reshape", [src, "target"], [out], name="view")]
    # torch.export-based exporter: Shape with start/end (opset 15+), Cast, Concat
    return [h.make_node("Shape", [src], ["n1"], name="shape", start=0, end=1),
            h.make_node("Cast", ["n1"], ["n2"], name="cast", to=7), const("minus1", [-1]),
            h.make_node("Concat", ["n2", "minus1"], ["target"], name="concat", axis=0),
            h.make_node("Reshape", [src, "target"], [out], name="view")]


@pytest.mark.parametrize("style", ["legacy", "dynamo"])
def test_view_by_batch_size_is_folded_to_flatten(onnx_kit: SimpleNamespace,
                                                 rng: np.random.Generator, style: str) -> None:
    h = onnx_kit.helper
    nodes = [_conv("c", "x", "a", pads=[1, 1, 1, 1]),
             h.make_node("Relu", ["a"], ["r"], name="relu"),
             h.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2],
                         strides=[2, 2]),
             *_view_flatten(onnx_kit, style, "p", "f"),
             h.make_node("Gemm", ["f", "w", "b"], ["y"], name="fc", transB=1)]
    weights = {"c_w": onnx_kit.rand(rng, 3, 2, 3, 3), "c_b": onnx_kit.rand(rng, 3),
               "w": onnx_kit.rand(rng, 5, 3 * 3 * 3), "b": onnx_kit.rand(rng, 5)}
    model = onnx_kit.make_model(nodes, ("N", 2, 6, 6), "y", weights, opset=17)
    imported = _agrees(onnx_kit, model, onnx_kit.rand(rng, 3, 2, 6, 6, scale=2.0))
    assert [type(layer).__name__ for layer in imported.layers] == [
        "Conv2D", "Activation", "MaxPooling2D", "Flatten", "Dense"]
    one = onnx_kit.rand(rng, 1, 2, 6, 6)  # the batch size really is unknown at import
    np.testing.assert_allclose(imported.predict(nchw_to_nhwc(one)), onnx_kit.run(model, one),
                               **TOL)


def test_identity_dropout_constants_and_softmax(onnx_kit: SimpleNamespace,
                                                rng: np.random.Generator) -> None:
    h, nh = onnx_kit.helper, onnx_kit.numpy_helper
    w = onnx_kit.rand(rng, 4, 6)  # (out, in): transposed by a constant Transpose node
    nodes = [
        h.make_node("Identity", ["x"], ["a"], name="id"),
        h.make_node("Dropout", ["a", "ratio"], ["b", "mask"], name="drop"),
        h.make_node("Constant", [], ["wt"], name="const", value=nh.from_array(w, "wt")),
        h.make_node("Transpose", ["wt"], ["w"], name="tr", perm=[1, 0]),
        h.make_node("Identity", ["bias"], ["bias2"], name="idc"),
        h.make_node("MatMul", ["b", "w"], ["c"], name="mm"),
        h.make_node("Add", ["c", "bias2"], ["d"], name="add"),
        h.make_node("Dropout", ["d"], ["e"], name="drop2"),
        h.make_node("Softmax", ["e"], ["y"], name="sm", axis=-1),
    ]
    weights = {"ratio": np.array(0.5, dtype=np.float32), "bias": onnx_kit.rand(rng, 4)}
    model = onnx_kit.make_model(nodes, ("N", 6), "y", weights)
    imported = _agrees(onnx_kit, model, onnx_kit.rand(rng, 5, 6, scale=3.0))
    assert imported.layers[-1].name == "softmax"


def test_small_cnn_end_to_end(onnx_kit: SimpleNamespace, rng: np.random.Generator) -> None:
    h = onnx_kit.helper
    nodes = [
        _conv("c1", "x", "a1", pads=[1, 1, 1, 1]),
        h.make_node("BatchNormalization", ["a1", "s", "o", "m", "v"], ["a2"], name="bn"),
        h.make_node("Relu", ["a2"], ["a3"], name="r1"),
        h.make_node("MaxPool", ["a3"], ["a4"], name="p1", kernel_shape=[2, 2], strides=[2, 2]),
        _conv("c2", "a4", "a5"),
        h.make_node("Sigmoid", ["a5"], ["a6"], name="s2"),
        h.make_node("AveragePool", ["a6"], ["a7"], name="p2", kernel_shape=[2, 2],
                    strides=[1, 1]),
        h.make_node("Flatten", ["a7"], ["a8"], name="flat"),
        h.make_node("Gemm", ["a8", "w", "b"], ["a9"], name="fc", transB=1),
        h.make_node("Relu", ["a9"], ["a10"], name="r2"),
        h.make_node("Gemm", ["a10", "w2", "b2"], ["y"], name="out", transB=1),
    ]
    weights = {"c1_w": onnx_kit.rand(rng, 4, 1, 3, 3), "c1_b": onnx_kit.rand(rng, 4),
               "s": onnx_kit.rand(rng, 4) + 1, "o": onnx_kit.rand(rng, 4),
               "m": onnx_kit.rand(rng, 4), "v": np.abs(onnx_kit.rand(rng, 4)) + 0.1,
               "c2_w": onnx_kit.rand(rng, 6, 4, 3, 3), "c2_b": onnx_kit.rand(rng, 6),
               "w": onnx_kit.rand(rng, 12, 6), "b": onnx_kit.rand(rng, 12),
               "w2": onnx_kit.rand(rng, 10, 12), "b2": onnx_kit.rand(rng, 10)}
    model = onnx_kit.make_model(nodes, ("N", 1, 8, 8), "y", weights)
    imported = _agrees(onnx_kit, model, onnx_kit.rand(rng, 6, 1, 8, 8, scale=3.0))
    assert [type(layer).__name__ for layer in imported.layers] == [
        "Conv2D", "Activation", "MaxPooling2D", "Conv2D", "Activation", "AveragePooling2D",
        "Flatten", "Dense", "Activation", "Dense"]
    assert imported.input_shape == (8, 8, 1)


def test_keras_tf2onnx_layout_with_transposes(onnx_kit: SimpleNamespace,
                                              rng: np.random.Generator) -> None:
    """tf2onnx: NHWC input -> Transpose to NCHW -> convs -> Transpose back -> Reshape -> MatMul."""
    h = onnx_kit.helper
    nodes = [
        h.make_node("Transpose", ["x"], ["t"], name="to_nchw", perm=[0, 3, 1, 2]),
        _conv("c", "t", "a", auto_pad="SAME_UPPER"),
        h.make_node("Relu", ["a"], ["r"], name="relu"),
        h.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("Transpose", ["p"], ["q"], name="to_nhwc", perm=[0, 2, 3, 1]),
        h.make_node("Reshape", ["q", "shape"], ["f"], name="flat"),
        h.make_node("MatMul", ["f", "w"], ["m"], name="dense"),
        h.make_node("Add", ["m", "b"], ["l"], name="bias"),
        h.make_node("Softmax", ["l"], ["y"], name="softmax", axis=-1),
    ]
    weights = {"c_w": onnx_kit.rand(rng, 4, 3, 3, 3), "c_b": onnx_kit.rand(rng, 4),
               "shape": np.array([-1, 3 * 3 * 4], dtype=np.int64),
               "w": onnx_kit.rand(rng, 36, 5), "b": onnx_kit.rand(rng, 5)}
    model = onnx_kit.make_model(nodes, ("N", 6, 6, 3), "y", weights)
    imported = from_onnx(model)
    assert imported.input_shape == (6, 6, 3)
    x = onnx_kit.rand(rng, 4, 6, 6, 3, scale=2.0)  # channels-last, fed as is
    np.testing.assert_allclose(imported.predict(x), onnx_kit.run(model, x), **TOL)


def test_accepts_path_and_bytes(onnx_kit: SimpleNamespace, rng: np.random.Generator,
                                tmp_path: Any) -> None:
    node = onnx_kit.helper.make_node("Gemm", ["x", "w"], ["y"], name="fc")
    model = onnx_kit.make_model([node], ("N", 3), "y", {"w": onnx_kit.rand(rng, 3, 2)})
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    x = onnx_kit.rand(rng, 2, 3)
    expected = onnx_kit.run(model, x)
    for source in (path, str(path), model.SerializeToString()):
        np.testing.assert_allclose(from_onnx(source).predict(x), expected, **TOL)
    with pytest.raises(TypeError, match="path"):
        from_onnx(12)


def test_symbolic_shape_needs_input_shape(onnx_kit: SimpleNamespace,
                                          rng: np.random.Generator) -> None:
    node = onnx_kit.helper.make_node("Relu", ["x"], ["y"], name="r")
    model = onnx_kit.make_model([node], ("N", "C", 4, 4), "y")
    with pytest.raises(UnsupportedModelError, match="input_shape"):
        from_onnx(model)
    flat = onnx_kit.helper.make_node("Flatten", ["y"], ["z"], name="f")
    model = onnx_kit.make_model([node, flat], ("N", "C", 4, 4), "z")
    x = onnx_kit.rand(rng, 2, 1, 4, 4)
    imported = from_onnx(model, input_shape=(1, 4, 4))
    np.testing.assert_allclose(imported.predict(nchw_to_nhwc(x)), onnx_kit.run(model, x), **TOL)


# -- refused ---------------------------------------------------------------------------------------


def _unsupported_cases(kit: SimpleNamespace) -> dict[str, tuple[Any, str]]:
    """name -> (model, a phrase the error must contain)."""
    h = kit.helper
    r = np.random.default_rng(0)
    img = {"c_w": kit.rand(r, 2, 2, 3, 3), "c_b": kit.rand(r, 2)}

    def one(op: str, **attrs: Any) -> Any:
        return kit.make_model([h.make_node(op, ["x"], ["y"], name="bad", **attrs)],
                              ("N", 4), "y")

    def rank2(model: Any) -> Any:  # an output shape the ONNX checker accepts, (N, M)
        for dim in ("N", "M") if model is not None else ():  # None: listing the names only
            model.graph.output[0].type.tensor_type.shape.dim.add().dim_param = dim
        return model

    return {
        "tanh": (one("Tanh"), "Sigmoid"),
        "leaky": (one("LeakyRelu"), "Relu"),
        "logsoftmax": (one("LogSoftmax"), "Softmax"),
        "custom": (kit.make_model([h.make_node("Foo", ["x"], ["y"], name="bad", domain="x.y")],
                                  ("N", 4), "y"), "x.y.Foo"),
        "residual": (kit.make_model([h.make_node("Relu", ["x"], ["a"], name="r"),
                                     h.make_node("Add", ["a", "x"], ["y"], name="bad")],
                                    ("N", 4), "y"), "chain"),
        "concat": (kit.make_model([h.make_node("Concat", ["x", "x"], ["y"], name="bad", axis=1)],
                                  ("N", 4), "y"), "chain"),
        "branch": (kit.make_model([h.make_node("Relu", ["x"], ["a"], name="r"),
                                   h.make_node("Sigmoid", ["a"], ["y"], name="s"),
                                   h.make_node("Relu", ["a"], ["c"], name="bad")],
                                  ("N", 4), "y"), "chain"),
        "opset12": (kit.make_model([h.make_node("Relu", ["x"], ["y"], name="r")], ("N", 4), "y",
                                   opset=12), "opset_version >= 13"),
        "groups": (kit.make_model([_conv("bad", "x", "y", group=2)], ("N", 2, 5, 5), "y",
                                  {"bad_w": kit.rand(r, 2, 1, 3, 3), "bad_b": kit.rand(r, 2)}),
                   "group"),
        "dilation": (kit.make_model([_conv("bad", "x", "y", dilations=[2, 2])], ("N", 2, 7, 7),
                                    "y", {"bad_w": kit.rand(r, 2, 2, 3, 3),
                                          "bad_b": kit.rand(r, 2)}), "dilat"),
        "pads_not_below_kernel": (kit.make_model(
            [_conv("bad", "x", "y", pads=[3, 0, 0, 0])], ("N", 2, 7, 7), "y",
            {"bad_w": kit.rand(r, 2, 2, 3, 3), "bad_b": kit.rand(r, 2)}),
            "not smaller than the kernel [3, 3]"),
        "pool_pads": (kit.make_model([h.make_node("MaxPool", ["x"], ["y"], name="bad",
                                                  kernel_shape=[2, 2], pads=[1, 1, 1, 1])],
                                     ("N", 2, 6, 6), "y"), "padded pooling"),
        "softmax_mid": (kit.make_model([h.make_node("Softmax", ["x"], ["a"], name="bad"),
                                        h.make_node("Relu", ["a"], ["y"], name="r")],
                                       ("N", 4), "y"), "last node"),
        "bn_after_relu": (kit.make_model(
            [_conv("c", "x", "a"), h.make_node("Relu", ["a"], ["b"], name="r"),
             h.make_node("BatchNormalization", ["b", "s", "o", "m", "v"], ["y"], name="bad")],
            ("N", 2, 5, 5), "y", {**img, **{k: np.ones(2) for k in "somv"}}), "right after"),
        "reshape_4d": (kit.make_model(
            [h.make_node("Reshape", ["x", "shape"], ["y"], name="bad")], ("N", 2, 4, 4), "y",
            {"shape": np.array([-1, 4, 2, 4], dtype=np.int64)}), "flat"),
        "flatten_axis2": (kit.make_model(
            [h.make_node("Flatten", ["x"], ["y"], name="bad", axis=2)], ("N", 2, 4, 4), "y"),
            "axis=1"),
        "transA": (kit.make_model([h.make_node("Gemm", ["x", "w"], ["y"], name="bad", transA=1)],
                                  (3, 4), "y", {"w": kit.rand(r, 3, 3)}), "transA"),
        "shape_op": (kit.make_model([h.make_node("Shape", ["x"], ["s"], name="s"),
                                     h.make_node("Cast", ["s"], ["y"], name="bad", to=1)],
                                    ("N", 4), "y"), "batch size"),
        "batch_arithmetic": (kit.make_model(
            [h.make_node("Shape", ["x"], ["s"], name="s", start=0, end=1),
             h.make_node("Mul", ["s", "two"], ["d"], name="bad"),
             h.make_node("Concat", ["d", "m1"], ["t"], name="cat", axis=0),
             h.make_node("Reshape", ["x", "t"], ["y"], name="view")], ("N", 4), "y",
            {"two": np.array([2], dtype=np.int64), "m1": np.array([-1], dtype=np.int64)},
            opset=17), "op Mul"),
        "batch_moved": (rank2(kit.make_model(
            [h.make_node("Shape", ["x"], ["s"], name="s", start=0, end=1),
             h.make_node("Concat", ["m1", "s"], ["t"], name="cat", axis=0),
             h.make_node("Reshape", ["x", "t"], ["y"], name="bad")], ("N", 2, 2, 2), "y",
            {"m1": np.array([-1], dtype=np.int64)}, opset=17)), "moves the batch"),
        "shape_elsewhere": (rank2(kit.make_model(
            [h.make_node("Relu", ["x"], ["a"], name="r"),
             h.make_node("Shape", ["x"], ["s"], name="bad"),
             h.make_node("Reshape", ["a", "s"], ["y"], name="view")], ("N", 4), "y")), "chain"),
        "ceil_partial": (kit.make_model([h.make_node("MaxPool", ["x"], ["y"], name="bad",
                                                     kernel_shape=[2, 2], strides=[2, 2],
                                                     ceil_mode=1)], ("N", 2, 5, 5), "y"),
                         "ceil_mode"),
        "dense_on_image": (kit.make_model([h.make_node("MatMul", ["x", "w"], ["y"], name="bad")],
                                          ("N", 2, 4, 3), "y", {"w": kit.rand(r, 3, 2)}), "4-D"),
        "computed_weight": (kit.make_model([h.make_node("Relu", ["x"], ["a"], name="r"),
                                            h.make_node("MatMul", ["x", "a"], ["y"], name="bad")],
                                           ("N", 4), "y"), "chain"),
        "dropout_training": (kit.make_model(
            [h.make_node("Dropout", ["x", "", "t"], ["y"], name="bad")], ("N", 4), "y",
            {"t": np.array(True)}), "training"),
        "transpose_data": (kit.make_model(
            [h.make_node("Transpose", ["x"], ["y"], name="bad", perm=[0, 1, 3, 2])],
            ("N", 2, 4, 3), "y"), "perm"),
        "conv_after_nhwc": (kit.make_model(
            [h.make_node("Transpose", ["x"], ["a"], name="t", perm=[0, 2, 3, 1]),
             _conv("bad", "a", "y")], ("N", 2, 5, 5), "y",
            {"bad_w": kit.rand(r, 2, 2, 3, 3), "bad_b": kit.rand(r, 2)}), "channels-last"),
        "ends_flat_map": (kit.make_model([h.make_node("Flatten", ["x"], ["y"], name="f")],
                                         ("N", 2, 3, 3), "y"), "ends in a flattened"),
    }


CASES = list(_unsupported_cases(SimpleNamespace(
    make_model=lambda *a, **k: None, rand=lambda *a, **k: None,
    helper=SimpleNamespace(make_node=lambda *a, **k: None))))


@pytest.mark.parametrize("case", CASES)
def test_unsupported_is_refused_with_op_node_and_alternative(onnx_kit: SimpleNamespace,
                                                             case: str) -> None:
    model, phrase = _unsupported_cases(onnx_kit)[case]
    with pytest.raises(UnsupportedModelError) as info:
        from_onnx(model)
    message = str(info.value)
    assert phrase in message
    if case not in ("opset12", "ends_flat_map"):
        assert "bad" in message and "use " in message


def test_malformed_files_raise_model_format_error(onnx_kit: SimpleNamespace, tmp_path: Any,
                                                  rng: np.random.Generator) -> None:
    h = onnx_kit.helper
    good = onnx_kit.make_model([h.make_node("Gemm", ["x", "w"], ["y"], name="fc")], ("N", 3),
                               "y", {"w": onnx_kit.rand(rng, 3, 2)})
    data = good.SerializeToString()
    bad_inputs: list[Any] = [b"", b"not an onnx file at all \xff\xfe", data[: len(data) // 2],
                             b"\x08" * 50]
    for index, blob in enumerate(bad_inputs):
        path = tmp_path / f"bad{index}.onnx"
        path.write_bytes(blob)
        with pytest.raises(ModelFormatError):
            from_onnx(path)
    cases = [
        # a node reading a tensor nobody defines (checker)
        onnx_kit.make_model([h.make_node("Gemm", ["x", "nowhere"], ["y"], name="fc")], ("N", 3),
                            "y"),
        # MaxPool without its required kernel_shape (checker)
        onnx_kit.make_model([h.make_node("MaxPool", ["x"], ["y"], name="p")], ("N", 1, 4, 4),
                            "y"),
        # weights that do not fit the input
        onnx_kit.make_model([h.make_node("Gemm", ["x", "w"], ["y"], name="fc")], ("N", 3), "y",
                            {"w": onnx_kit.rand(rng, 5, 2)}),
        onnx_kit.make_model([_conv("c", "x", "y")], ("N", 2, 5, 5), "y",
                            {"c_w": onnx_kit.rand(rng, 2, 3, 3, 3), "c_b": onnx_kit.rand(rng, 2)}),
        # non-finite and integer weights
        onnx_kit.make_model([h.make_node("Gemm", ["x", "w"], ["y"], name="fc")], ("N", 2), "y",
                            {"w": np.array([[np.nan, 1.0], [0.0, 1.0]])}),
        onnx_kit.make_model([h.make_node("Gemm", ["x", "w"], ["y"], name="fc")], ("N", 2), "y",
                            {"w": np.array([[1, 2], [3, 4]], dtype=np.int64)}),
    ]
    empty = onnx_kit.make_model([], ("N", 2), "x")
    for model in [*cases, empty]:
        with pytest.raises(ModelFormatError):
            from_onnx(model)
