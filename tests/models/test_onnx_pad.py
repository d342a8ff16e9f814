"""ONNX Pad nodes folded into the following Conv: agreement with onnxruntime, refusals."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from hecrypt.exceptions import UnsupportedModelError
from hecrypt.models.onnx_import import from_onnx, nchw_to_nhwc

TOL = dict(rtol=1e-4, atol=1e-4)


def _pad(kit: SimpleNamespace, pads: list[int], *, value: float | None = None,
         axes: list[int] | None = None, out: str = "p", **attrs: Any) -> tuple[Any, dict]:
    """A Pad node of ``x`` into ``out`` and its constant inputs."""
    inputs = ["x", "pads"]
    consts: dict[str, np.ndarray] = {"pads": np.array(pads, dtype=np.int64)}
    if value is not None or axes is not None:
        inputs.append("value" if value is not None else "")
        if value is not None:
            consts["value"] = np.array(value, dtype=np.float32)
    if axes is not None:
        inputs.append("axes")
        consts["axes"] = np.array(axes, dtype=np.int64)
    return kit.helper.make_node("Pad", inputs, [out], name="pad", **attrs), consts


def _conv(kit: SimpleNamespace, rng: np.random.Generator, src: str, out: str,
          channels: int = 2, kernel: int = 3, **attrs: Any) -> tuple[Any, dict]:
    node = kit.helper.make_node("Conv", [src, "w", "b"], [out], name="conv", **attrs)
    return node, {"w": kit.rand(rng, 3, channels, kernel, kernel), "b": kit.rand(rng, 3)}


@pytest.mark.parametrize("pads, axes, conv_attrs, hw, padding", [
    # [N, C, H, W begins, N, C, H, W ends]: symmetric 1 at stride 1 is Keras's "same"
    ([0, 0, 1, 1, 0, 0, 1, 1], None, {}, (6, 6), "same"),
    ([0, 0, 1, 1, 0, 0, 1, 1], None, {"strides": [2, 2]}, (8, 8), ((1, 1), (1, 1))),
    ([0, 0, 0, 1, 0, 0, 2, 0], None, {"strides": [2, 1]}, (7, 6), ((0, 2), (1, 0))),
    ([0, 0, 2, 0, 0, 0, 1, 2], None, {"strides": [1, 2]}, (5, 7), ((2, 1), (0, 2))),
    # tf2onnx's "same" at stride 2: the extra pad after
    ([0, 0, 0, 0, 0, 0, 1, 1], None, {"strides": [2, 2]}, (8, 8), "same"),
    # the Conv's own pads are added to the Pad's
    ([0, 0, 1, 0, 0, 0, 0, 1], None, {"pads": [0, 1, 1, 0]}, (6, 5), "same"),
    ([0, 0, 1, 0, 0, 0, 0, 1], None, {"pads": [1, 0, 0, 0], "strides": [2, 2]}, (7, 6),
     ((2, 0), (0, 1))),
    # opset 18's axes input (negative axes count from the end)
    ([1, 0, 2, 1], [2, -1], {"strides": [2, 2]}, (6, 6), ((1, 2), (0, 1))),
])
def test_pad_then_conv_matches_onnxruntime(onnx_kit: SimpleNamespace, pads: list[int],
                                           axes: list[int] | None, conv_attrs: dict[str, Any],
                                           hw: tuple[int, int], padding: Any) -> None:
    rng = np.random.default_rng(7)
    pad, consts = _pad(onnx_kit, pads, value=0.0 if axes is None else None, axes=axes)
    conv, weights = _conv(onnx_kit, rng, "p", "c", **conv_attrs)
    relu = onnx_kit.helper.make_node("Relu", ["c"], ["y"], name="relu")
    model = onnx_kit.make_model([pad, conv, relu], ("N", 2, *hw), "y", {**consts, **weights},
                                opset=18 if axes is not None else 13)
    imported = from_onnx(model)
    assert imported.layers[0].padding == padding
    x = onnx_kit.rand(rng, 3, 2, *hw, scale=1.0)
    expected = onnx_kit.run(model, x)
    np.testing.assert_allclose(imported.predict(nchw_to_nhwc(x)), nchw_to_nhwc(expected), **TOL)


def _refused_cases(kit: SimpleNamespace) -> dict[str, tuple[Any, str]]:
    """name -> (model, a phrase the error must contain)."""
    h = kit.helper
    rng = np.random.default_rng(0)
    spatial = [0, 0, 1, 1, 0, 0, 1, 1]

    def pad_conv(pads: list[int], *, kernel: int = 3, shape: tuple[int, ...] = ("N", 2, 6, 6),
                 conv_attrs: dict[str, Any] | None = None, **pad_args: Any) -> Any:
        pad, consts = _pad(kit, pads, **pad_args)
        conv, weights = _conv(kit, rng, "p", "y", kernel=kernel, **(conv_attrs or {}))
        return kit.make_model([pad, conv], shape, "y", {**consts, **weights})

    pad, consts = _pad(kit, spatial)
    conv, weights = _conv(kit, rng, "p", "c")
    two_readers = kit.make_model(
        [pad, conv, h.make_node("Conv", ["p", "w", "b"], ["d"], name="conv2"),
         h.make_node("Concat", ["c", "d"], ["y"], name="cat", axis=1)],
        ("N", 2, 6, 6), "y", {**consts, **weights})
    pad_relu = kit.make_model([pad, h.make_node("Relu", ["p"], ["y"], name="relu")],
                              ("N", 2, 6, 6), "y", consts)
    return {
        "reflect": (pad_conv(spatial, mode="reflect"), "reflect padding"),
        "edge": (pad_conv(spatial, mode="edge"), "edge padding"),
        "non_zero_value": (pad_conv(spatial, value=1.5), "non-zero pad value 1.5"),
        "channel_axis": (pad_conv([0, 1, 1, 1, 0, 0, 1, 1]), "padding on the channel axis"),
        "batch_axis": (pad_conv([0, 0, 1, 1, 1, 0, 1, 1]), "padding on the batch axis"),
        "negative": (pad_conv([0, 0, -1, 0, 0, 0, 0, 0]), "negative pads"),
        "two_readers": (two_readers, "folded only into the one Conv"),
        "not_conv": (pad_relu, "folded only into the one Conv"),
        "sum_not_below_kernel": (pad_conv([0, 0, 2, 0, 0, 0, 0, 0],
                                          conv_attrs={"pads": [1, 0, 0, 0]}),
                                 "not smaller than the kernel [3, 3]; Conv2D needs"),
    }


CASES = ["reflect", "edge", "non_zero_value", "channel_axis", "batch_axis", "negative",
         "two_readers", "not_conv", "sum_not_below_kernel"]


@pytest.mark.parametrize("case", CASES)
def test_unfoldable_pad_is_refused_naming_op_node_and_rule(onnx_kit: SimpleNamespace,
                                                           case: str) -> None:
    cases = _refused_cases(onnx_kit)
    assert sorted(cases) == sorted(CASES)
    model, phrase = cases[case]
    with pytest.raises(UnsupportedModelError) as info:
        from_onnx(model)
    message = str(info.value)
    assert phrase in message
    named = "(Conv at node 1 ('conv'))" if case == "sum_not_below_kernel" else \
        "(Pad at node 0 ('pad'))"
    assert named in message and "; use " in message


def test_pad_then_conv_runs_privately_with_the_dealer(onnx_kit: SimpleNamespace) -> None:
    """An asymmetric Pad + stride-2 Conv export, exact ReLU in shares: labels as in plaintext."""
    from hecrypt.hybrid.errorbound import statistical_error_bound
    from hecrypt.hybrid.parties import private_predict

    h = onnx_kit.helper
    rng = np.random.default_rng(11)
    pad, consts = _pad(onnx_kit, [0, 0, 0, 1, 0, 0, 1, 1], value=0.0)
    conv, weights = _conv(onnx_kit, rng, "p", "c", channels=1, strides=[2, 2])
    nodes = [pad, conv, h.make_node("Relu", ["c"], ["r"], name="relu"),
             h.make_node("Flatten", ["r"], ["f"], name="flat"),
             h.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], name="fc", transB=1)]
    weights.update(fc_w=onnx_kit.rand(rng, 3, 3 * 4 * 4), fc_b=onnx_kit.rand(rng, 3))
    model = onnx_kit.make_model(nodes, ("N", 1, 8, 8), "y", {**consts, **weights})
    net = from_onnx(model)
    assert net.layers[0].padding == ((0, 1), (1, 1))
    x = rng.normal(size=(4, 1, 8, 8))
    np.testing.assert_allclose(net.predict(nchw_to_nhwc(x)), onnx_kit.run(model, x), **TOL)
    X = nchw_to_nhwc(x)
    res = private_predict(net, X, mode="dealer")
    ref = net.predict(X)
    assert np.all(np.abs(res.logits - ref) <= statistical_error_bound(net, X))
    assert np.array_equal(res.labels, ref.argmax(axis=1))
