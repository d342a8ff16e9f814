"""Reading an ONNX graph before its layers are mapped: loading, checks, constants.

The half of :mod:`hecrypt.models.onnx_import` that treats the ONNX file as a
graph and knows nothing of :class:`~hecrypt.models.Sequential`: loading a
path, bytes or ``ModelProto`` (with external weights); refusing old opsets,
custom and unsupported ops with a message that names the op, the node and
the supported alternative; reading attributes and float weights; and folding
subgraphs of constants (weights that exporters compute with Transpose, Cast,
Reshape, (Un)Squeeze, and target shapes computed from the batch size alone,
which stands in them as ``_BATCH``).

Leaks: nothing; this is a plaintext model transformation on the server.
"""

from __future__ import annotations

import os
from os import PathLike
from typing import Any

import numpy as np

from hecrypt.exceptions import ModelFormatError, UnsupportedModelError

__all__ = ["MIN_OPSET", "SUPPORTED_OPS", "fold_constant"]

#: Oldest default-domain opset accepted.
MIN_OPSET = 13
#: Ops that carry data through the network.
SUPPORTED_OPS = (
    "Conv", "Gemm", "MatMul", "Add", "BatchNormalization", "AveragePool", "MaxPool",
    "GlobalAveragePool", "Flatten", "Reshape", "Relu", "Sigmoid", "Softmax", "Identity",
    "Dropout", "Pad",
)
#: Ops evaluated on constants only (weights, shapes).
_CONSTANT_OPS = ("Constant", "Identity", "Transpose", "Cast", "Reshape", "Unsqueeze", "Squeeze",
                 "Shape", "Gather", "Concat")
#: Constant ops that may carry the (unknown) batch size through a shape computation.
_BATCH_OPS = ("Identity", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast")
#: Stands for the batch size inside shape constants (no real dimension is negative but -1).
_BATCH = -(2**62)

_RELU = "Relu (exact in shares with the dealer)"
_POLY = "Sigmoid or Relu, or an explicit polynomial via Activation(name, approx=...)"
_CHAIN = "a plain chain of layers (no residual connections, branches or concatenations)"
_ALTERNATIVES = {
    "LeakyRelu": _RELU, "PRelu": _RELU, "Elu": _RELU, "Selu": _RELU, "Celu": _RELU,
    "Gelu": _RELU, "Mish": _RELU, "Clip": _RELU + " instead of ReLU6/Clip",
    "HardSigmoid": "Sigmoid", "HardSwish": _RELU, "Softplus": _RELU, "Softsign": _POLY,
    "Tanh": "Sigmoid (tanh(x) = 2*sigmoid(2x) - 1) or " + _RELU, "Exp": _POLY, "Log": _POLY,
    "Sqrt": _POLY, "Pow": _POLY, "Erf": _POLY,
    "LogSoftmax": "Softmax as the last node, or the logits themselves",
    "Add": _CHAIN + "; Add is accepted only as a constant bias after Conv/MatMul",
    "Sum": _CHAIN, "Concat": _CHAIN, "Split": _CHAIN,
    "Mul": _CHAIN + "; fold scalings into weights",
    "Sub": _CHAIN, "Div": _CHAIN, "Slice": _CHAIN, "Gather": _CHAIN,
    "Shape": "a target shape that is constant or computed from the batch size only "
             "(torch.flatten, nn.Flatten or x.view(x.size(0), -1))",
    "Pad": "a Pad of zeros (mode 'constant', value 0) on the spatial axes read only by a Conv, "
           "or the Conv node's own pads (each side smaller than the kernel)",
    "Conv": "a Conv with group=1, dilations 1 and pads each smaller than the kernel "
            "(PyTorch: nn.Conv2d(..., groups=1, dilation=1, padding=p) with p < kernel_size)",
    "ConvTranspose": "Conv", "LSTM": "Conv and Gemm layers", "GRU": "Conv and Gemm layers",
    "RNN": "Conv and Gemm layers", "GlobalMaxPool": "GlobalAveragePool or MaxPool",
    "LpPool": "AveragePool or MaxPool", "InstanceNormalization": "BatchNormalization after Conv",
    "LayerNormalization": "BatchNormalization after Conv or Gemm",
    "Transpose": "no transpose of the data except tf2onnx's NHWC <-> NCHW pair around the "
                 "convolutional part",
}
_DEFAULT_ALTERNATIVE = "one of " + ", ".join(SUPPORTED_OPS)



def _require_onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - the test extra installs onnx
        raise ImportError(
            "importing ONNX models needs the onnx package: pip install \"hecrypt[onnx]\""
        ) from exc
    return onnx


def _load_model(onnx: Any, path_or_model: Any) -> Any:
    if isinstance(path_or_model, onnx.ModelProto):
        return path_or_model
    if isinstance(path_or_model, (bytes, bytearray)):
        data = bytes(path_or_model)
        where = "the given bytes"
    elif isinstance(path_or_model, (str, PathLike)):
        with open(os.fspath(path_or_model), "rb") as fh:
            data = fh.read()
        where = os.fspath(path_or_model)
    else:
        raise TypeError(
            "from_onnx takes a path, the file's bytes or an onnx.ModelProto, "
            f"not {type(path_or_model).__name__}"
        )
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ModelFormatError(f"{where} is not an ONNX model (protobuf decoding failed: {exc})") \
            from exc
    if not model.HasField("graph") or len(model.graph.node) == 0:
        raise ModelFormatError(f"{where} holds no ONNX graph with nodes")
    if model.graph.initializer and any(t.data_location == 1 for t in model.graph.initializer):
        if not isinstance(path_or_model, (str, PathLike)):
            raise ModelFormatError("the model keeps weights in external files: pass its path")
        from onnx.external_data_helper import load_external_data_for_model

        try:
            load_external_data_for_model(model, os.path.dirname(os.fspath(path_or_model)))
        except Exception as exc:
            raise ModelFormatError(f"cannot read the model's external weights: {exc}") from exc
    return model


def _node_name(node: Any, index: int) -> str:
    return f"node {index} ({node.name!r})" if node.name else f"node {index}"


def _unsupported(node: Any, index: int, why: str | None = None) -> UnsupportedModelError:
    alternative = _ALTERNATIVES.get(node.op_type, _DEFAULT_ALTERNATIVE)
    what = why or f"op {node.op_type} is not supported"
    return UnsupportedModelError(
        f"{what} ({node.op_type} at {_node_name(node, index)}); use {alternative}"
    )


def _check_opsets(model: Any) -> None:
    default = None
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            default = entry.version
    if default is None:
        raise ModelFormatError("the model imports no default-domain (ai.onnx) opset")
    if default < MIN_OPSET:
        raise UnsupportedModelError(
            f"opset {default} is older than the oldest supported, {MIN_OPSET}; "
            f"export again with opset_version >= {MIN_OPSET}"
        )


def _check_ops(model: Any) -> None:
    for index, node in enumerate(model.graph.node):
        if node.domain not in ("", "ai.onnx"):
            raise UnsupportedModelError(
                f"custom op {node.domain}.{node.op_type} at {_node_name(node, index)} is not "
                f"supported; use {_DEFAULT_ALTERNATIVE}"
            )
        if node.op_type not in SUPPORTED_OPS and node.op_type not in _CONSTANT_OPS:
            raise _unsupported(node, index)


def _attrs(onnx: Any, node: Any) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _to_float(array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype.kind != "f":
        raise ModelFormatError(f"{what} must be floating point, got dtype {array.dtype}")
    out = np.asarray(array, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise ModelFormatError(f"{what} holds a NaN or an infinity")
    return out


def fold_constant(
    onnx: Any, node: Any, index: int, consts: dict[str, np.ndarray], symbolic: set[str]
) -> None:
    """Evaluate a node whose inputs are all constants into ``consts[node.output[0]]``.

    ``symbolic`` names the constants that hold the batch size (``_BATCH``);
    only the ops of ``_BATCH_OPS`` (and Cast to int64) may carry it, and the
    result joins ``symbolic`` when it still holds it.

    Raises:
        UnsupportedModelError: an op that is not folded, or arithmetic on the
            batch size.
        ModelFormatError: the op cannot be evaluated on these constants.
    """
    attrs = _attrs(onnx, node)
    args: list[Any] = [consts[name] if name else None for name in node.input]
    op = node.op_type
    batch = any(name in symbolic for name in node.input)
    if batch and (op not in _BATCH_OPS or (op == "Cast" and onnx.helper.
                                               tensor_dtype_to_np_dtype(attrs["to"])
                                               != np.int64)):
        raise _unsupported(node, index, f"{op} of a value computed from the batch size; "
                           "only Gather, Unsqueeze, Squeeze, Concat and Cast to int64 are "
                           "folded")
    try:
        if op == "Constant":
            if "value" not in attrs:
                raise _unsupported(node, index, "a Constant without a tensor 'value'")
            value = onnx.numpy_helper.to_array(attrs["value"])
        elif op in ("Identity", "Dropout"):
            value = args[0]
        elif op == "Transpose":
            value = np.transpose(args[0], attrs.get("perm"))
        elif op == "Cast":
            value = args[0].astype(onnx.helper.tensor_dtype_to_np_dtype(attrs["to"]))
        elif op == "Reshape":
            target = [int(d) for d in args[1]]
            target = [args[0].shape[i] if d == 0 else d for i, d in enumerate(target)]
            value = args[0].reshape(target)
        elif op == "Shape":
            value = np.array(np.shape(args[0]), dtype=np.int64)
        elif op == "Gather":
            value = np.take(args[0], np.asarray(args[1], dtype=np.int64),
                            axis=int(attrs.get("axis", 0)))
        elif op == "Concat":
            value = np.concatenate([np.atleast_1d(a) for a in args],
                                   axis=int(attrs["axis"]))
        elif op in ("Unsqueeze", "Squeeze"):
            axes = [int(a) for a in args[1]] if len(args) > 1 and args[1] is not None else []
            if op == "Unsqueeze":
                value = np.expand_dims(args[0], tuple(axes))
            else:
                value = np.squeeze(args[0], tuple(axes) if axes else None)
        else:
            raise _unsupported(node, index, f"op {op} on constants is not supported")
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise ModelFormatError(
            f"constant {op} at {_node_name(node, index)} cannot be evaluated: {exc}"
        ) from exc
    consts[node.output[0]] = np.asarray(value)
    if batch and _BATCH in consts[node.output[0]]:
        symbolic.add(node.output[0])
