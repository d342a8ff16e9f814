"""Import a feed-forward ONNX network as a channels-last :class:`Sequential`.

``from_onnx(path_or_model)`` reads a model as ``torch.onnx.export`` or
tf2onnx write it (default-domain opset 13 or later) and returns the equivalent
:class:`hecrypt.models.Sequential`. The graph must be a chain: one image or
vector input, every intermediate value read by the next node only, one output.

Supported nodes and what they become:

========================  ===================================================
ONNX                      Sequential
========================  ===================================================
Conv                      ``Conv2D`` (strides; pads each smaller than the
                          kernel; dilation 1; groups 1); a following
                          BatchNormalization or constant per-channel Add is
                          folded into it
Pad (+ Conv)              the Conv's pads: zeros (mode "constant", value 0)
                          on the spatial axes, read only by that Conv, are
                          added to its own (see :mod:`.onnx_padding`)
Gemm, MatMul (+ Add)      ``Dense`` (alpha, beta, transB folded; BatchNorm
                          folded)
AveragePool, MaxPool      ``AveragePooling2D``, ``MaxPooling2D`` (no pads)
GlobalAveragePool         ``AveragePooling2D(pool_size=(H, W))``
Flatten, Reshape          ``Flatten`` (to ``(N, features)`` only)
Relu, Sigmoid             ``Activation("relu")``, ``Activation("sigmoid")``
Softmax                   ``Activation("softmax")``, last node only
Identity, Dropout         nothing (identity at inference)
========================  ===================================================

Shapes computed from the data are folded when only the batch size is
unknown: PyTorch's ``x.view(x.size(0), -1)`` exports as Shape -> Gather ->
Unsqueeze -> Concat -> Reshape (or Shape with start/end -> Concat ->
Reshape); such a subgraph evaluates to ``(batch, -1)`` at import, since every
other dimension is fixed, and the Reshape becomes a ``Flatten``. Any other use
of the batch size (arithmetic on it, a Reshape that moves it) is refused.

Keras models converted by tf2onnx take channels-last images and transpose
them to NCHW (and back before flattening): those two Transpose nodes are
understood, and such a model is fed its NHWC images unchanged.

Layout: ONNX images are NCHW, ``Sequential`` is channels-last (NHWC). Conv
kernels ``(C_out, C_in, kh, kw)`` become ``(kh, kw, C_in, C_out)``; the first
``Dense`` after a flattened ``(C, H, W)`` map gets its input rows permuted, so
the imported model applied to ``x.transpose(0, 2, 3, 1)`` computes what the
ONNX model computes on ``x`` (see :func:`nchw_to_nhwc`).

Anything else raises :class:`~hecrypt.exceptions.UnsupportedModelError`
naming the op, the node and the supported alternative; a file that is not a
valid ONNX model raises :class:`~hecrypt.exceptions.ModelFormatError`.

Leaks: nothing; this is a plaintext model transformation on the server.
The ``onnx`` package is an optional dependency (``pip install "hecrypt[onnx]"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hecrypt.exceptions import ModelFormatError, UnsupportedModelError
from hecrypt.models.layers import NetworkError, window_output
from hecrypt.models.onnx_graph import (
    _BATCH,
    _CHAIN,
    MIN_OPSET,
    SUPPORTED_OPS,
    _attrs,
    _check_ops,
    _check_opsets,
    _load_model,
    _node_name,
    _require_onnx,
    _to_float,
    _unsupported,
    fold_constant,
)
from hecrypt.models.onnx_padding import conv_padding, spatial_pads
from hecrypt.models.sequential import (
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Flatten,
    MaxPooling2D,
    Sequential,
)

__all__ = ["MIN_OPSET", "SUPPORTED_OPS", "from_onnx", "nchw_to_nhwc"]

def nchw_to_nhwc(x: np.ndarray) -> np.ndarray:
    """Images as ONNX/PyTorch lay them out ``(N, C, H, W)`` -> ``(N, H, W, C)``."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"expected a 4-D (N, C, H, W) array, got shape {x.shape}")
    return x.transpose(0, 2, 3, 1)


@dataclass
class _Pending:
    """The layer being built and what follows from the ONNX tensor it produces."""

    kind: str  # "conv" | "dense" | "other"
    kernel: np.ndarray | None = None
    bias: np.ndarray | None = None
    args: dict[str, Any] = field(default_factory=dict)
    layer: Any = None


class _Importer:
    def __init__(self, onnx: Any, model: Any, input_shape: Sequence[int] | None) -> None:
        self.onnx = onnx
        self.graph = model.graph
        self.consts: dict[str, np.ndarray] = {}
        for init in self.graph.initializer:
            try:
                self.consts[init.name] = onnx.numpy_helper.to_array(init)
            except Exception as exc:
                raise ModelFormatError(f"initializer {init.name!r} is malformed: {exc}") from exc
        inputs = [v for v in self.graph.input if v.name not in self.consts]
        if len(inputs) != 1:
            raise UnsupportedModelError(
                f"the graph has {len(inputs)} data inputs; exactly one (the images or records) "
                "is supported"
            )
        if len(self.graph.output) != 1:
            raise UnsupportedModelError(
                f"the graph has {len(self.graph.output)} outputs; exactly one is supported"
            )
        self.current = inputs[0].name
        self.output = self.graph.output[0].name
        self.shape = self._input_shape(inputs[0], input_shape)  # ONNX layout, no batch
        shape = self.shape
        self.first_shape = (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape
        # "nchw": ONNX's layout; "nhwc": after tf2onnx's transpose, the layout of Sequential.
        self.layout = "nchw"
        first = next((n for n in self.graph.node if self.current in n.input), None)
        if (len(shape) == 3 and first is not None and first.op_type == "Transpose"
                and list(_attrs(onnx, first).get("perm", [])) == [0, 3, 1, 2]):
            # a channels-last (Keras) input, transposed to NCHW by the exporter
            self.first_shape = shape
            self.shape = (shape[2], shape[0], shape[1])
            self.layout = "nhwc"
        self.perm: np.ndarray | None = None  # our flat index i holds ONNX flat index perm[i]
        self.layers: list[_Pending] = []
        self.done = False
        readers: dict[str, list[str]] = {}
        for index, node in enumerate(self.graph.node):
            if node.op_type == "Shape":
                continue  # reads the shape, which is known, not the values
            for name in node.input:
                if name:
                    readers.setdefault(name, []).append(f"{_node_name(node, index)} "
                                                        f"({node.op_type})")
        self.readers = readers
        self.symbolic: set[str] = set()  # constants that hold the batch size (_BATCH)
        self.pad: tuple[list[int], Any, int] | None = None  # a Pad to fold into the next Conv

    @staticmethod
    def _not_chain(why: str) -> UnsupportedModelError:
        return UnsupportedModelError(f"the graph is not a chain: {why}; use {_CHAIN}")

    def _input_shape(self, value: Any, given: Sequence[int] | None) -> tuple[int, ...]:
        ttype = value.type.tensor_type
        if ttype.elem_type not in (1, 10, 11):  # float, float16, double
            raise UnsupportedModelError(
                f"input {value.name!r} has ONNX element type {ttype.elem_type}; a floating-point "
                "input is supported"
            )
        if given is not None:
            shape = tuple(int(d) for d in given)
        else:
            dims = list(ttype.shape.dim)
            if any(not d.HasField("dim_value") for d in dims[1:]) or len(dims) < 2:
                raise UnsupportedModelError(
                    f"input {value.name!r} has no static shape beyond the batch dimension; pass "
                    "input_shape=(C, H, W) or (features,)"
                )
            shape = tuple(int(d.dim_value) for d in dims[1:])
        if len(shape) not in (1, 3) or any(d <= 0 for d in shape):
            raise UnsupportedModelError(
                f"input shape {shape} (without batch) is not supported; use (C, H, W) images or "
                "(features,) vectors"
            )
        return shape

    # -- the walk ---------------------------------------------------------------------------------

    def run(self) -> Sequential:
        for index, node in enumerate(self.graph.node):
            data = [name for name in node.input if name and name not in self.consts]
            if not data:
                self._constant(node, index)
                continue
            if node.op_type == "Shape":
                self._data_shape(node, index, data)
                continue
            if self.done:
                raise _unsupported(node, index, "nothing may follow the final Softmax")
            if data != [self.current]:
                raise self._not_chain(f"{_node_name(node, index)} ({node.op_type}) reads {data}, "
                                      f"the chain is at {self.current!r}")
            readers = self.readers.get(self.current, [])
            if len(readers) != 1 or self.current == self.output:
                also = " and the graph output" if self.current == self.output else ""
                raise self._not_chain(f"tensor {self.current!r} is read by "
                                      f"{', '.join(readers)}{also}")
            handler = getattr(self, "_op_" + node.op_type, None)
            if handler is None:
                raise _unsupported(node, index, f"op {node.op_type} is only supported on "
                                   "constants here")
            handler(node, index, _attrs(self.onnx, node))
            for extra in node.output[1:]:
                if extra and (self.readers.get(extra) or extra == self.output):
                    raise _unsupported(node, index, f"its second output {extra!r} is used")
            self.current = node.output[0]
        if self.current != self.output:
            raise UnsupportedModelError(
                f"the graph's output {self.output!r} is not the end of the chain ({self.current!r})"
            )
        return self._build()

    def _data_shape(self, node: Any, index: int, data: list[str]) -> None:
        """Shape of the chain's tensor: its known dimensions after ``_BATCH``."""
        if data != [self.current]:
            raise self._not_chain(f"{_node_name(node, index)} (Shape) reads {data}, the chain "
                                  f"is at {self.current!r}")
        if node.output[0] == self.output:
            raise _unsupported(node, index, "the data's shape as the graph's output")
        dims = self.shape
        if self.layout == "nhwc" and len(dims) == 3:
            dims = (dims[1], dims[2], dims[0])
        full = [_BATCH, *dims]
        attrs = _attrs(self.onnx, node)
        start, end = int(attrs.get("start", 0)), attrs.get("end")
        value = np.array(full[start:None if end is None else int(end)], dtype=np.int64)
        self.consts[node.output[0]] = value
        if _BATCH in value:
            self.symbolic.add(node.output[0])

    def _constant(self, node: Any, index: int) -> None:
        fold_constant(self.onnx, node, index, self.consts, self.symbolic)

    def _const(self, node: Any, position: int, index: int, what: str) -> np.ndarray:
        if position >= len(node.input) or not node.input[position]:
            raise ModelFormatError(f"{_node_name(node, index)} ({node.op_type}) lacks its {what}")
        name = node.input[position]
        if name not in self.consts or name in self.symbolic:
            raise _unsupported(node, index, f"its {what} {name!r} is computed, not a constant")
        return _to_float(self.consts[name], f"{what} of {_node_name(node, index)}")

    def _need(self, node: Any, index: int, ndim: int) -> None:
        if ndim == 4 and self.layout != "nchw":
            raise _unsupported(node, index, f"{node.op_type} on a channels-last (transposed) "
                               "tensor; only Flatten, Reshape and element-wise ops may follow "
                               "the transpose to NHWC")
        if len(self.shape) + 1 != ndim:
            raise _unsupported(node, index, f"{node.op_type} on a {len(self.shape) + 1}-D tensor "
                               f"(shape (N, {', '.join(map(str, self.shape))})) is not supported")

    # -- linear layers ----------------------------------------------------------------------------

    def _op_Conv(self, node: Any, index: int, attrs: dict[str, Any]) -> None:
        self._need(node, index, 4)
        if attrs.get("group", 1) != 1:
            raise _unsupported(node, index, "grouped or depthwise convolution (group != 1)")
        weight = self._const(node, 1, index, "weight")
        channels, height, width = self.shape
        if weight.ndim != 4 or weight.shape[1] != channels:
            raise ModelFormatError(f"Conv weight of shape {weight.shape} at "
                                   f"{_node_name(node, index)} does not fit {channels} channels")
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise _unsupported(node, index, "dilated convolution (dilations != 1)")
        out_ch, _, kh, kw = weight.shape
        if list(attrs.get("kernel_shape", [kh, kw])) != [kh, kw]:
            raise ModelFormatError(f"Conv kernel_shape disagrees with the weight at "
                                   f"{_node_name(node, index)}")
        bias = (self._const(node, 2, index, "bias") if len(node.input) > 2 and node.input[2]
                else np.zeros(out_ch))
        if bias.shape != (out_ch,):
            raise ModelFormatError(f"Conv bias of shape {bias.shape} at {_node_name(node, index)}")
        sh, sw = (int(s) for s in attrs.get("strides", [1, 1]))
        padding = conv_padding(node, index, attrs, (height, width), (kh, kw), (sh, sw), self.pad)
        self.pad = None
        axes = (padding, padding) if isinstance(padding, str) else padding
        try:
            oh = window_output(height, kh, sh, axes[0])[0]
            ow = window_output(width, kw, sw, axes[1])[0]
        except NetworkError:
            oh = ow = 0
        if oh <= 0 or ow <= 0:
            raise ModelFormatError(
                f"Conv kernel larger than its (padded) input at {_node_name(node, index)}"
            )
        self.layers.append(_Pending(
            "conv", weight.transpose(2, 3, 1, 0).copy(), bias.copy(),
            {"filters": out_ch, "kernel_size": (kh, kw), "strides": (sh, sw), "padding": padding},
        ))
        self.shape = (out_ch, oh, ow)

    def _dense(self, kernel: np.ndarray, bias: np.ndarray) -> None:
        if self.perm is not None:
            kernel = kernel[self.perm]
            self.perm = None
        self.layers.append(_Pending("dense", kernel.copy(), bias.copy(),
                                    {"units": kernel.shape[1]}))
        self.shape = (kernel.shape[1],)

    def _op_Gemm(self, node: Any, index: int, attrs: dict[str, Any]) -> None:
        self._need(node, index, 2)
        if attrs.get("transA", 0):
            raise _unsupported(node, index, "Gemm with transA=1 (the data must be the first "
                               "operand, untransposed)")
        weight = self._const(node, 1, index, "weight")
        if weight.ndim != 2:
            raise ModelFormatError(f"Gemm weight of shape {weight.shape} at "
                                   f"{_node_name(node, index)}")
        if attrs.get("transB", 0):
            weight = weight.T
        if weight.shape[0] != self.shape[0]:
            raise ModelFormatError(f"Gemm weight of shape {weight.shape} at "
                                   f"{_node_name(node, index)} does not fit {self.shape[0]} inputs")
        units = weight.shape[1]
        bias = np.zeros(units)
        if len(node.input) > 2 and node.input[2]:
            c = self._const(node, 2, index, "bias")
            try:
                bias = np.broadcast_to(c, (1, units)).reshape(units) * float(attrs.get("beta", 1.0))
            except ValueError as exc:
                raise ModelFormatError(f"Gemm bias of shape {c.shape} at "
                                       f"{_node_name(node, index)} is not per unit") from exc
        self._dense(weight * float(attrs.get("alpha", 1.0)), bias)

    def _op_MatMul(self, node: Any, index: int, attrs: dict[str, Any]) -> None:
        self._need(node, index, 2)
        if node.input[0] != self.current:
            raise _unsupported(node, index, "MatMul with the weight first (data @ weight only)")
        weight = self._const(node, 1, index, "weight")
        if weight.ndim != 2 or weight.shape[0] != self.shape[0]:
            raise ModelFormatError(f"MatMul weight of shape {weight.shape} at "
                                   f"{_node_name(node, index)} does not fit {self.shape[0]} inputs")
        self._dense(weight, np.zeros(weight.shape[1]))

    def _last_linear(self, node: Any, index: int, why: str
                     ) -> tuple[_Pending, np.ndarray, np.ndarray]:
        """The preceding Conv/Gemm layer and its kernel and bias, to fold ``node`` into."""
        if not self.layers or self.layers[-1].kind not in ("conv", "dense"):
            raise _unsupported(node, index, why)
        layer = self.layers[-1]
        if layer.kernel is None or layer.bias is None:
            raise ModelFormatError(f"{_node_name(node, index)} follows a layer without weights")
        return layer, layer.kernel, layer.bias

    def _channel_vector(self, node: Any, index: int, value: np.ndarray, count: int) -> np.ndarray:
        """A constant that broadcasts over the channel (or unit) axis only, as a vector."""
        spatial = len(self.shape) - 1
        v = np.asarray(value, dtype=np.float64)
        while v.ndim > spatial + 1 and v.shape[0] == 1:
            v = v[0]
        if v.ndim == spatial + 1 and all(d == 1 for d in v.shape[1:]):
            v = v.reshape(v.shape[0])
        if v.ndim == 0:
            v = np.full(count, float(v))
        if v.shape == (1,):
            v = np.full(count, float(v[0]))
        if v.shape != (count,):
            raise _unsupported(node, index, f"constant of shape {value.shape} is not "
                               "per channel; only a per-channel bias can be folded")
        return v

    def _op_Add(self, node: Any, index: int, attrs: dict[str, Any]) -> None:
        layer, _, bias = self._last_linear(node, index, "Add is only supported as a constant "
                                           "bias right after Conv, Gemm or MatMul")
        other = [name for name in node.input if name != self.current]
        if len(other) != 1:
            raise _unsupported(node, index, "Add of a tensor to itself")
        value = self._const(node, list(node.input).index(other[0]), index, "bias")
        layer.bias = bias + self._channel_vector(node, index, value, bias.shape[0])

    def _op_BatchNormalization(self, node: Any, index: int, attrs: dict[str, Any]) -> None:
        layer, kernel, bias = self._last_linear(
            node, index, "BatchNormalization is only supported right after a Conv or Gemm, "
            "where it is folded into the weights")
        if attrs.get("training_mode", 0):
            raise _unsupported(node, index, "BatchNormalization in training mode")
        scale, offset, mean, var = (self._const(node, i, index, what) for i, what in
                                    enumerate(("scale", "B", "input_mean", "input_var"), start=1))
        count = bias.shape[0]
        if any(v.shape != (count,) for v in (scale, offset, mean, var)):
            raise ModelFormatError(f"BatchNormalization parameters at {_node_name(node, index)} "
                                   f"do not have {count} entries")
        eps = float(attrs.get("epsilon", 1e-5))
        if np.any(var + eps <= 0):
            raise ModelFormatError(f"BatchNormalization variance + epsilon <= 0 at "
                                   f"{_node_name(node, index)}")
        factor = scale / np.sqrt(var + eps)
        layer.kernel = kernel * factor  # the last axis is the output channel/unit
        layer.bias = (bias - mean) * factor + offset

    def _op_Pad(self, node: Any, index: int, attrs: dict[str, Any]) -> None:
        self._need(node, index, 4)
        readers = [(i, n) for i, n in enumerate(self.graph.node) if node.output[0] in n.input]
        if (node.output[0] == self.output or len(readers) != 1
                or readers[0][1].op_type != "Conv" or readers[0][1].input[0] != node.output[0]):
            read = ", ".join(f"{_node_name(n, i)} ({n.op_type})" for i, n in readers)
            also = " and the graph output" if node.output[0] == self.output else ""
            raise _unsupported(node, index, f"a Pad read by {read or 'no node'}{also}; a Pad "
                               "is folded only into the one Conv that reads it as its data")
        self.pad = (spatial_pads(node, index, attrs, 4, self.consts, self.symbolic), node, index)

    # -- pooling, reshaping, activations ----------------------------------------------------------

    def _pool(self, node: Any, index: int, attrs: dict[str, Any], cls: Any) -> None:
        self._need(node, index, 4)
        channels, height, width = self.shape
        kernel = [int(k) for k in attrs.get("kernel_shape", [])]
        if len(kernel) != 2:
            raise ModelFormatError(f"{node.op_type} at {_node_name(node, index)} needs a 2-D "
                                   "kernel_shape")
        strides = [int(s) for s in attrs.get("strides", [1, 1])]
        if any(int(p) != 0 for p in attrs.get("pads", [0, 0, 0, 0])):
            raise _unsupported(node, index, "padded pooling (pads != 0); pad in the Conv before "
                               "it or pool without padding")
        auto = attrs.get("auto_pad", b"NOTSET")
        if (auto.decode() if isinstance(auto, bytes) else str(auto)) not in ("NOTSET", "VALID", ""):
            raise _unsupported(node, index, "padded pooling (auto_pad SAME)")
        if any(int(d) != 1 for d in attrs.get("dilations", [1, 1])):
            raise _unsupported(node, index, "dilated pooling")
        if attrs.get("storage_order", 0):
            raise _unsupported(node, index, "storage_order=1")
        out = [(n - k) // s + 1 for n, k, s in zip((height, width), kernel, strides)]
        if attrs.get("ceil_mode", 0) and any((n - k) % s for n, k, s in
                                             zip((height, width), kernel, strides)):
            raise _unsupported(node, index, "ceil_mode=1 with a partial last window")
        if min(out) <= 0:
            raise ModelFormatError(f"pooling window larger than its input at "
                                   f"{_node_name(node, index)}")
        size = kernel[0] if kernel[0] == kernel[1] else tuple(kernel)
        step = strides[0] if strides[0] == strides[1] else tuple(strides)
        self.layers.append(_Pending("other", layer=cls(pool_size=size, strides=step)))
        self.shape = (channels, out[0], out[1])

    def _op_AveragePool(self, node: Any, index: int, attrs: dict[str, Any]) -> None:
        self._pool(node, index, attrs, AveragePooling2D)

    def _op_MaxPool(self, node: Any, index: int, attrs: dict[str, Any]) -> None:
        self._pool(node, index, attrs, MaxPooling2D)

    def _op_GlobalAveragePool(self, node: Any, index: int, attrs: dict[str, Any]) -> None:
        self._need(node, index, 4)
        _, height, width = self.shape
        self._pool(node, index, {"kernel_shape": [height, width], "strides": [height, width]},
                   AveragePooling2D)

    def _op_Transpose(self, node: Any, index: int, attrs: dict[str, Any]) -> None:
        perm = [int(p) for p in attrs.get("perm", [])]
        if len(self.shape) == 3 and perm == [0, 3, 1, 2] and self.layout == "nhwc":
            self.layout = "nchw"
        elif len(self.shape) == 3 and perm == [0, 2, 3, 1] and self.layout == "nchw":
            self.layout = "nhwc"
        else:
            raise _unsupported(node, index, f"Transpose with perm {perm} of the data")

    def _flatten(self) -> None:
        if len(self.shape) == 3:
            channels, height, width = self.shape
            if self.layout == "nhwc":  # already our (h, w, c) order
                self.layout = "nchw"
            elif channels > 1 and height * width > 1:
                self.perm = np.arange(channels * height * width).reshape(
                    channels, height, width).transpose(1, 2, 0).ravel()
            self.layers.append(_Pending("other", layer=Flatten()))
            self.shape = (channels * height * width,)

    def _op_Flatten(self, node: Any, index: int, attrs: dict[str, Any]) -> None:
        axis = int(attrs.get("axis", 1))
        if axis not in (1, -len(self.shape)):
            raise _unsupported(node, index, f"Flatten with axis={axis}; only axis=1 (to "
                               "(N, features)) is supported")
        self._flatten()

    def _op_Reshape(self, node: Any, index: int, attrs: dict[str, Any]) -> None:
        target = self.consts.get(node.input[1]) if len(node.input) > 1 else None
        if target is None:
            raise _unsupported(node, index, "Reshape to a computed shape")
        features = int(np.prod(self.shape))
        dims = [int(d) for d in np.asarray(target).ravel()]
        if dims and dims[0] == _BATCH:  # x.view(x.size(0), ...): the batch stays first
            dims[0] = 0
        if _BATCH in dims:
            raise _unsupported(node, index, "Reshape that moves the batch size away from the "
                               "first axis")
        if len(dims) != 2 or not (dims[1] == features or (dims[1] == -1 and dims[0] in (0, 1))):
            raise _unsupported(node, index, f"Reshape to {dims}; only a flat (N, {features}) "
                               "vector is supported")
        self._flatten()

    def _activation(self, name: str) -> None:
        self.layers.append(_Pending("other", layer=Activation(name)))

    def _op_Relu(self, node: Any, index: int, attrs: dict[str, Any]) -> None:
        self._activation("relu")

    def _op_Sigmoid(self, node: Any, index: int, attrs: dict[str, Any]) -> None:
        self._activation("sigmoid")

    def _op_Softmax(self, node: Any, index: int, attrs: dict[str, Any]) -> None:
        axis = int(attrs.get("axis", -1))
        if len(self.shape) != 1 or axis not in (1, -1) or node.output[0] != self.output:
            raise _unsupported(node, index, "Softmax is supported only as the last node, over "
                               "the class axis of (N, classes) logits")
        self._activation("softmax")
        self.done = True

    def _op_Identity(self, node: Any, index: int, attrs: dict[str, Any]) -> None:
        return None

    def _op_Dropout(self, node: Any, index: int, attrs: dict[str, Any]) -> None:
        if len(node.input) > 2 and node.input[2]:
            mode = self.consts.get(node.input[2])
            if mode is None or bool(np.asarray(mode).ravel()[0]):
                raise _unsupported(node, index, "Dropout in training mode")

    # -- output -----------------------------------------------------------------------------------

    def _build(self) -> Sequential:
        if self.perm is not None:
            raise UnsupportedModelError(
                "the network ends in a flattened multi-channel map, whose element order differs "
                "between NCHW and channels-last; end it with Gemm/MatMul or GlobalAveragePool"
            )
        if not self.layers:
            raise UnsupportedModelError("the graph computes nothing but identities")
        layers: list[Any] = []
        for pending in self.layers:
            if pending.kind == "conv":
                layers.append(Conv2D(**pending.args, kernel=pending.kernel, bias=pending.bias))
            elif pending.kind == "dense":
                layers.append(Dense(**pending.args, kernel=pending.kernel, bias=pending.bias))
            else:
                layers.append(pending.layer)
        return Sequential(layers, input_shape=self.first_shape)


def from_onnx(path_or_model: Any, *, input_shape: Sequence[int] | None = None) -> Sequential:
    """Build a :class:`Sequential` that computes what an ONNX network computes.

    Args:
        path_or_model: a ``.onnx`` file path, its bytes, or an ``onnx.ModelProto``.
        input_shape: the input's shape without the batch axis in the file's
            layout, ``(C, H, W)`` (``(H, W, C)`` for a tf2onnx file that starts
            with a transpose to NCHW) or ``(features,)``; needed only when the
            file leaves those dimensions symbolic.

    Returns:
        A channels-last ``Sequential``: feed it ``nchw_to_nhwc(images)``. Its
        activations carry no approximation; see
        :func:`hecrypt.models.calibrate` to choose one where the private run
        needs it (sigmoid).

    Raises:
        UnsupportedModelError: an op, attribute or graph shape outside the
            supported set (the message names the op, the node and the
            alternative), or an opset older than 13.
        ModelFormatError: the bytes are not a valid ONNX model (decoding,
            the ONNX checker, weight shapes or non-finite weights).
        OSError: the file cannot be read.
        ImportError: the ``onnx`` package is missing.
    """
    onnx = _require_onnx()
    model = _load_model(onnx, path_or_model)
    _check_opsets(model)
    _check_ops(model)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ModelFormatError(f"the ONNX checker rejects the model: {exc}") from exc
    return _Importer(onnx, model, input_shape).run()
