"""The padding of an imported ONNX Conv: its own pads and a standalone Pad folded into it.

Exporters such as tf2onnx (Keras ``ZeroPadding2D`` or asymmetric "same") and
some PyTorch graphs write a ``Pad`` node (mode "constant", value 0, pads on
the two spatial axes only) followed by a ``Conv`` without pads. Zero padding
followed by a convolution is the convolution with those pads, so
:func:`spatial_pads` reads such a Pad into four pads, and
:func:`conv_padding` adds them to the Conv's own pads before mapping the sum
to the ``Conv2D`` padding (``"valid"``, ``"same"`` or explicit
``((top, bottom), (left, right))``, each pad smaller than the kernel on its
side, as :func:`hecrypt.hybrid.ring.normalize_padding` requires).

Pads are kept in ONNX Conv order ``[top, left, bottom, right]`` (the NCHW
spatial axes H then W), which is the order of the channels-last ``Conv2D``
padding too: only the channel axis moves between the layouts.

Leaks: nothing; this is a plaintext model transformation on the server.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hecrypt.exceptions import ModelFormatError
from hecrypt.models.onnx_graph import _node_name, _unsupported

__all__ = ["conv_padding", "spatial_pads"]

Pads = list[int]  # [top, left, bottom, right]


def _int_constant(node: Any, index: int, position: int, what: str,
                  consts: dict[str, np.ndarray], symbolic: set[str]) -> np.ndarray | None:
    """The constant integer input ``position`` of ``node``, or None when absent."""
    if position >= len(node.input) or not node.input[position]:
        return None
    name = node.input[position]
    if name not in consts or name in symbolic:
        raise _unsupported(node, index, f"its {what} {name!r} is computed, not a constant")
    value = np.asarray(consts[name])
    if value.dtype.kind not in "iu":
        raise ModelFormatError(f"{what} of {_node_name(node, index)} must be integers, got "
                               f"dtype {value.dtype}")
    return value.astype(np.int64).ravel()


def spatial_pads(node: Any, index: int, attrs: dict[str, Any], rank: int,
                 consts: dict[str, np.ndarray], symbolic: set[str]) -> Pads:
    """The ``[top, left, bottom, right]`` pads of a Pad node on an NCHW tensor.

    Reads the opset 11+ form: ``pads`` (``[x1_begin, ..., xn_begin, x1_end,
    ..., xn_end]``), optional ``constant_value`` and, from opset 18, optional
    ``axes`` (then ``pads`` has two entries per listed axis) as constant
    inputs; ``mode`` as an attribute.

    Raises:
        UnsupportedModelError: a mode other than "constant", a non-zero pad
            value, padding on the batch or channel axis, negative pads
            (cropping), or pads computed from the data.
        ModelFormatError: pads or axes of the wrong length, type or range.
    """
    where = _node_name(node, index)
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    if mode != "constant":
        raise _unsupported(node, index, f"{mode} padding (mode={mode!r}); only zero padding "
                           "(mode 'constant') equals a Conv's pads")
    pads = _int_constant(node, index, 1, "pads", consts, symbolic)
    if pads is None:
        raise ModelFormatError(f"{where} (Pad) lacks its pads input")
    if len(node.input) > 2 and node.input[2]:
        name = node.input[2]
        if name not in consts or name in symbolic:
            raise _unsupported(node, index, f"its constant_value {name!r} is computed, not a "
                               "constant")
        value = np.asarray(consts[name]).ravel()
        if value.size != 1:
            raise ModelFormatError(f"constant_value of {where} must be one scalar")
        if float(value[0]) != 0.0:
            raise _unsupported(node, index, f"non-zero pad value {float(value[0])}; only zero "
                               "padding equals a Conv's pads")
    axes = _int_constant(node, index, 3, "axes", consts, symbolic)
    if axes is None:
        axes = np.arange(rank)
    axes = np.where(axes < 0, axes + rank, axes)
    if (np.any(axes < 0) or np.any(axes >= rank) or len(set(axes.tolist())) != len(axes)
            or len(pads) != 2 * len(axes)):
        raise ModelFormatError(f"Pad at {where}: pads {pads.tolist()} and axes "
                               f"{axes.tolist()} do not fit a {rank}-D tensor")
    begin, end = [0] * rank, [0] * rank
    for i, axis in enumerate(axes.tolist()):
        begin[axis], end[axis] = int(pads[i]), int(pads[i + len(axes)])
    if min(begin + end) < 0:
        raise _unsupported(node, index, f"negative pads {pads.tolist()} (cropping); only "
                           "non-negative zero padding is folded into a Conv")
    for axis, name in ((0, "batch"), (1, "channel")):
        if begin[axis] or end[axis]:
            raise _unsupported(node, index, f"padding on the {name} axis (pads "
                               f"{pads.tolist()}); only the two spatial axes may be padded")
    return [begin[2], begin[3], end[2], end[3]]


def conv_padding(node: Any, index: int, attrs: dict[str, Any], size: tuple[int, int],
                 kernel: tuple[int, int], strides: tuple[int, int],
                 extra: tuple[Pads, Any, int] | None = None,
                 ) -> str | tuple[tuple[int, int], tuple[int, int]]:
    """The Conv2D padding of a Conv node on a ``size`` input.

    ``extra`` is a preceding Pad's ``(pads, node, index)``: its pads are added
    to the Conv's own (whose "same" auto_pad is then computed on the padded
    size, as ONNX does). The result is "valid" or "same" when the pads are
    exactly Keras's, explicit ``((top, bottom), (left, right))`` otherwise.

    Raises:
        UnsupportedModelError: a (combined) pad not smaller than the kernel
            on its side, the rule of ``Conv2D``.
        ModelFormatError: malformed auto_pad or pads.
    """
    added = extra[0] if extra is not None else [0, 0, 0, 0]
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)

    def same_pads(height: int, width: int) -> list[tuple[int, int]]:
        out = []
        for n, k, s in zip((height, width), kernel, strides):
            total = max((-(-n // s) - 1) * s + k - n, 0)
            out.append((total // 2, total - total // 2))
        return out

    padded = (size[0] + added[0] + added[2], size[1] + added[1] + added[3])
    same = same_pads(*padded)
    if auto == "VALID":
        own = [0, 0, 0, 0]
    elif auto == "SAME_UPPER":
        own = [same[0][0], same[1][0], same[0][1], same[1][1]]
    elif auto == "SAME_LOWER":  # the larger half before
        own = [same[0][1], same[1][1], same[0][0], same[1][0]]
    elif auto in ("NOTSET", ""):
        own = [int(p) for p in attrs.get("pads", [0, 0, 0, 0])]
    else:
        raise ModelFormatError(f"Conv auto_pad={auto!r} at {_node_name(node, index)} is not "
                               "one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
    if len(own) != 4 or min(own) < 0:
        raise ModelFormatError(f"Conv pads {own} at {_node_name(node, index)} must be four "
                               "non-negative ints [top, left, bottom, right]")
    pads = [a + b for a, b in zip(own, added)]
    if all(p == 0 for p in pads):
        return "valid"
    keras = same_pads(*size)
    if pads == [keras[0][0], keras[1][0], keras[0][1], keras[1][1]]:
        return "same"
    if pads[0] >= kernel[0] or pads[2] >= kernel[0] or pads[1] >= kernel[1] or (
            pads[3] >= kernel[1]):
        if extra is None:
            raise _unsupported(node, index, f"pads {pads} not smaller than the kernel "
                               f"{list(kernel)} (outputs that see only zeros)")
        raise _unsupported(node, index, f"pads {pads} (the Pad at "
                           f"{_node_name(extra[1], extra[2])} {added} plus the Conv's own "
                           f"{own}) not smaller than the kernel {list(kernel)}; Conv2D needs "
                           "each pad smaller than the kernel on its side (outputs that see "
                           "only zeros)")
    return (pads[0], pads[2]), (pads[1], pads[3])
