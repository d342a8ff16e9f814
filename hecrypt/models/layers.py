"""Layers of a :class:`~hecrypt.models.sequential.Sequential` network.

The layout is Keras's channels-last one: a batch of images is ``(N, H, W, C)``,
a Conv2D kernel is ``(kh, kw, C_in, C_out)`` with a bias ``(C_out,)``, a Dense
kernel is ``(in, out)`` with a bias ``(out,)``. Shapes given to and returned
by :meth:`Layer.output_shape` leave the batch dimension out.

Every ``forward`` is plain float64 numpy: the plaintext reference that a
private evaluation must reproduce. An activation that is evaluated privately
through a polynomial names it (``Activation("sigmoid", approx=p)``) and the
reference then computes that polynomial, not the exact function, so the two
compute the same function and differ only by fixed-point error.

Layers hold public information only (their configuration and the model
owner's weights); nothing here is secret-shared.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from hecrypt.exceptions import HecryptError
from hecrypt.hybrid import ring
from hecrypt.hybrid.polynomials import Polynomial

__all__ = [
    "NetworkError",
    "Layer",
    "Conv2D",
    "Dense",
    "AveragePooling2D",
    "MaxPooling2D",
    "Flatten",
    "Dropout",
    "Activation",
    "ACTIVATIONS",
    "LAYER_TYPES",
]

#: Activation names :class:`Activation` accepts.
ACTIVATIONS = ("sigmoid", "relu", "square", "softmax")


class NetworkError(HecryptError, ValueError):
    """A layer or network is configured inconsistently, or an input has the wrong shape."""


Shape = tuple[int, ...]


def _pair(value: int | Sequence[int], what: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (isinstance(value, (tuple, list)) and len(value) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)):
        pair = (int(value[0]), int(value[1]))
    else:
        raise NetworkError(
            f"{what} must be a positive int or a pair of positive ints, got {value!r}")
    if pair[0] < 1 or pair[1] < 1:
        raise NetworkError(f"{what} must be positive, got {value!r}")
    return pair


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise NetworkError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _shape(value: Sequence[int] | None, what: str) -> Shape | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value),)
    try:
        shape = tuple(_positive_int(v, what) for v in value)
    except TypeError as exc:
        raise NetworkError(f"{what} must be a tuple of positive ints, got {value!r}") from exc
    if not shape:
        raise NetworkError(f"{what} must have at least one dimension")
    return shape


def _weights(value: np.ndarray | None, shape: Shape, what: str) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.array(value, dtype=np.float64)  # a copy: layers own their weights
    if arr.shape != shape:
        raise NetworkError(f"{what} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise NetworkError(f"{what} must be finite")
    arr.setflags(write=False)
    return arr


def _expect_rank(input_shape: Shape, rank: int, layer: str) -> None:
    if len(input_shape) != rank:
        kind = "images (H, W, C)" if rank == 3 else "vectors (features,)"
        hint = "; add Flatten() before it" if rank == 1 else ""
        raise NetworkError(f"{layer} takes {kind}, got input shape {input_shape}{hint}")


def window_output(size: int, kernel: int, stride: int, padding: str | Sequence[int]
                  ) -> tuple[int, int, int]:
    """Output length and (before, after) padding of one spatial axis.

    ``"valid"``: no padding, ``floor((size - kernel) / stride) + 1`` outputs
    (``size >= kernel`` required). ``"same"``: ``ceil(size / stride)``
    outputs and ``max((out - 1) * stride + kernel - size, 0)`` zeros of
    padding, the smaller half before (TensorFlow's rule, which Keras uses).
    An explicit ``(before, after)`` pair: ``floor((size + before + after -
    kernel) / stride) + 1`` outputs (PyTorch's and ONNX's rule; at least one
    required).
    """
    if not isinstance(padding, str):
        before, after = (int(v) for v in padding)
        if size + before + after < kernel:
            raise NetworkError(f"a window of {kernel} does not fit an axis of {size} padded by "
                               f"{(before, after)} (the output would be empty)")
        return (size + before + after - kernel) // stride + 1, before, after
    if padding == "valid":
        if size < kernel:
            raise NetworkError(f"a window of {kernel} does not fit an axis of {size} ('valid')")
        return (size - kernel) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


class Layer:
    """Base class: configuration, shape inference, plaintext forward pass."""

    #: Type name used in saved files.
    kind: ClassVar[str] = "Layer"
    #: Names of the weight arrays the layer holds.
    weight_names: ClassVar[tuple[str, ...]] = ()

    input_shape: Shape | None = None

    def output_shape(self, input_shape: Sequence[int]) -> Shape:
        """The per-sample output shape for a per-sample ``input_shape``."""
        raise NotImplementedError

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Apply the layer to a batch ``(N, *input_shape)`` (float64)."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """The JSON-ready configuration (without weights)."""
        return {}

    def bounds(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Interval bounds: boxes ``(N, *input)`` to boxes holding every output.

        The default suits layers that are monotone non-decreasing in each
        input (pooling, flatten, dropout, sigmoid, ReLU).
        """
        return self.forward(lo), self.forward(hi)

    def build(self, input_shape: Shape, rng: np.random.Generator) -> Shape:
        """Check ``input_shape``, create missing weights, return the output shape."""
        out = self.output_shape(input_shape)
        self.built_input_shape: Shape = tuple(input_shape)
        return out

    def weight_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        """Shapes of the weight arrays for ``input_shape``."""
        return {}

    def get_weights(self) -> dict[str, np.ndarray]:
        """The weight arrays (read-only views)."""
        return {name: getattr(self, name) for name in self.weight_names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class _Weighted(Layer):
    kernel: np.ndarray
    bias: np.ndarray
    weight_names = ("kernel", "bias")

    def __init__(self, kernel: np.ndarray | None, bias: np.ndarray | None) -> None:
        self._pending = (kernel, bias)

    def build(self, input_shape: Shape, rng: np.random.Generator) -> Shape:
        out = self.output_shape(input_shape)
        shapes = self.weight_shapes(input_shape)
        kernel, bias = self._pending
        k = _weights(kernel, shapes["kernel"], f"{self.kind} kernel")
        b = _weights(bias, shapes["bias"], f"{self.kind} bias")
        if k is None:
            fan_in = int(np.prod(shapes["kernel"][:-1]))
            fan_out = shapes["kernel"][-1]
            limit = math.sqrt(6.0 / (fan_in + fan_out))  # Glorot uniform, as Keras
            k = rng.uniform(-limit, limit, size=shapes["kernel"])
            k.setflags(write=False)
        if b is None:
            b = np.zeros(shapes["bias"])
            b.setflags(write=False)
        self.kernel, self.bias = k, b
        self._pending = (k, b)
        self.built_input_shape = tuple(input_shape)
        return out

    def _linear(self, x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._linear(x, self.kernel) + self.bias

    def bounds(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mid = self.forward((lo + hi) / 2.0)
        rad = self._linear((hi - lo) / 2.0, np.abs(self.kernel))
        return mid - rad, mid + rad

    def set_weights(self, kernel: np.ndarray, bias: np.ndarray) -> None:
        """Replace the weights (same shapes, finite) of a layer in a built network."""
        if not hasattr(self, "built_input_shape"):
            raise NetworkError(f"{self.kind}.set_weights needs the layer to be in a Sequential "
                               "first (its input shape decides the weight shapes)")
        shapes = self.weight_shapes(self.built_input_shape)
        if kernel is None or bias is None:
            raise NetworkError(f"{self.kind}.set_weights needs both a kernel and a bias")
        k = _weights(kernel, shapes["kernel"], f"{self.kind} kernel")
        b = _weights(bias, shapes["bias"], f"{self.kind} bias")
        self.kernel, self.bias = k, b  # type: ignore[assignment]
        self._pending = (k, b)


def _conv_padding(padding: Any, kernel_size: tuple[int, int]
                  ) -> str | tuple[tuple[int, int], tuple[int, int]]:
    """Conv2D's padding in canonical form (see :func:`hecrypt.hybrid.ring.normalize_padding`)."""
    try:
        pad = ring.normalize_padding(padding)
    except ValueError as exc:
        raise NetworkError(f"Conv2D padding: {exc}") from None
    if isinstance(pad, str):
        return pad
    for amounts, k, sides in zip(pad, kernel_size, ("(top, bottom)", "(left, right)")):
        if max(amounts) >= k:
            raise NetworkError(f"Conv2D padding {sides} = {amounts} must be smaller than the "
                               f"kernel size {k} on each side (a larger pad only adds outputs "
                               "that see nothing but zeros)")
    return pad


class Conv2D(_Weighted):
    """2-D convolution (cross-correlation, as every framework computes it).

    ``y[n, i, j, f] = bias[f] + sum_{a, b, c} xp[n, i*sh + a, j*sw + b, c] *
    kernel[a, b, c, f]`` where ``xp`` is the input zero-padded per
    :func:`window_output`.

    ``padding`` is ``"valid"``, ``"same"`` (Keras's rules) or explicit zero
    rows and columns ``((top, bottom), (left, right))`` as PyTorch and ONNX
    give them (an int ``p`` means ``((p, p), (p, p))``); each explicit amount
    must be smaller than the kernel along its axis. ``.padding`` holds the
    string or the tuple form.
    """

    kind = "Conv2D"

    def __init__(self, filters: int, kernel_size: int | Sequence[int], strides: int |
                 Sequence[int] = 1, padding: ring.PaddingLike = "valid",
                 input_shape: Sequence[int] |
                 None = None, *, kernel: np.ndarray | None = None,
                 bias: np.ndarray | None = None) -> None:
        super().__init__(kernel, bias)
        self.filters = _positive_int(filters, "Conv2D filters")
        self.kernel_size = _pair(kernel_size, "Conv2D kernel_size")
        self.strides = _pair(strides, "Conv2D strides")
        self.padding = _conv_padding(padding, self.kernel_size)
        self.input_shape = _shape(input_shape, "Conv2D input_shape")

    def padding_amounts(self, input_shape: Sequence[int]
                        ) -> tuple[tuple[int, int], tuple[int, int]]:
        """``((top, bottom), (left, right))`` zero rows/columns added to the input."""
        _expect_rank(tuple(input_shape), 3, "Conv2D")
        _, top, bottom = window_output(input_shape[0], self.kernel_size[0], self.strides[0],
                                       self._axis_padding(0))
        _, left, right = window_output(input_shape[1], self.kernel_size[1], self.strides[1],
                                       self._axis_padding(1))
        return (top, bottom), (left, right)

    def output_shape(self, input_shape: Sequence[int]) -> Shape:
        shape = tuple(input_shape)
        _expect_rank(shape, 3, "Conv2D")
        h, _, _ = window_output(shape[0], self.kernel_size[0], self.strides[0],
                                self._axis_padding(0))
        w, _, _ = window_output(shape[1], self.kernel_size[1], self.strides[1],
                                self._axis_padding(1))
        return (h, w, self.filters)

    def _axis_padding(self, axis: int) -> str | tuple[int, int]:
        return self.padding if isinstance(self.padding, str) else self.padding[axis]

    def weight_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        return {"kernel": (*self.kernel_size, input_shape[2], self.filters),
                "bias": (self.filters,)}

    def _linear(self, x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        (top, bottom), (left, right) = self.padding_amounts(x.shape[1:])
        xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
        kh, kw = self.kernel_size
        sh, sw = self.strides
        win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(1, 2))
        win = win[:, ::sh, ::sw]  # (N, Ho, Wo, C, kh, kw)
        return np.tensordot(win, kernel, axes=([4, 5, 3], [0, 1, 2]))

    def config(self) -> dict[str, Any]:
        return {"filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides),
                "padding": (self.padding if isinstance(self.padding, str)
                            else [list(self.padding[0]), list(self.padding[1])])}


class Dense(_Weighted):
    """Fully connected layer on vectors: ``y = x @ kernel + bias``."""

    kind = "Dense"

    def __init__(self, units: int, input_shape: Sequence[int] | None = None, *,
                 kernel: np.ndarray | None = None, bias: np.ndarray | None = None) -> None:
        super().__init__(kernel, bias)
        self.units = _positive_int(units, "Dense units")
        self.input_shape = _shape(input_shape, "Dense input_shape")

    def output_shape(self, input_shape: Sequence[int]) -> Shape:
        _expect_rank(tuple(input_shape), 1, "Dense")
        return (self.units,)

    def weight_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        return {"kernel": (input_shape[0], self.units), "bias": (self.units,)}

    def _linear(self, x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        return x @ kernel

    def config(self) -> dict[str, Any]:
        return {"units": self.units}


class _Pooling2D(Layer):
    def __init__(self, pool_size: int | Sequence[int] = 2,
                 strides: int | Sequence[int] | None = None, padding: str = "valid",
                 input_shape: Sequence[int] | None = None) -> None:
        self.pool_size = _pair(pool_size, f"{self.kind} pool_size")
        self.strides = self.pool_size if strides is None else _pair(strides,
                                                                    f"{self.kind} strides")
        if padding != "valid":
            raise NetworkError(f"{self.kind} supports padding='valid' only, got {padding!r}")
        self.padding = padding
        self.input_shape = _shape(input_shape, f"{self.kind} input_shape")

    def output_shape(self, input_shape: Sequence[int]) -> Shape:
        shape = tuple(input_shape)
        _expect_rank(shape, 3, self.kind)
        h, _, _ = window_output(shape[0], self.pool_size[0], self.strides[0], "valid")
        w, _, _ = window_output(shape[1], self.pool_size[1], self.strides[1], "valid")
        return (h, w, shape[2])

    def _windows(self, x: np.ndarray) -> np.ndarray:
        self.output_shape(x.shape[1:])
        ph, pw = self.pool_size
        win = np.lib.stride_tricks.sliding_window_view(x, (ph, pw), axis=(1, 2))
        return win[:, ::self.strides[0], ::self.strides[1]]  # (N, Ho, Wo, C, ph, pw)

    def config(self) -> dict[str, Any]:
        return {"pool_size": list(self.pool_size), "strides": list(self.strides)}


class AveragePooling2D(_Pooling2D):
    """Mean over each window (no padding): a public linear map, cheap in shares."""

    kind = "AveragePooling2D"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._windows(x).mean(axis=(4, 5))


class MaxPooling2D(_Pooling2D):
    """Maximum over each window (no padding). Privately a maximum needs secure
    comparisons, which only some private modes offer (see docs/guide.md)."""

    kind = "MaxPooling2D"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._windows(x).max(axis=(4, 5))


class Flatten(Layer):
    """``(H, W, C)`` (any rank) to a vector, in C order (channels fastest), as Keras."""

    kind = "Flatten"

    def __init__(self, input_shape: Sequence[int] | None = None) -> None:
        self.input_shape = _shape(input_shape, "Flatten input_shape")

    def output_shape(self, input_shape: Sequence[int]) -> Shape:
        return (int(np.prod(tuple(input_shape))),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(x.shape[0], -1)


class Dropout(Layer):
    """Dropout: the identity at inference; ``rate`` is kept for the record."""

    kind = "Dropout"

    def __init__(self, rate: float, input_shape: Sequence[int] | None = None) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise NetworkError(f"Dropout rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.input_shape = _shape(input_shape, "Dropout input_shape")

    def output_shape(self, input_shape: Sequence[int]) -> Shape:
        return tuple(input_shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def config(self) -> dict[str, Any]:
        return {"rate": self.rate}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large |x|


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class Activation(Layer):
    """An element-wise activation, exact or through a named polynomial.

    Args:
        name: ``"sigmoid"``, ``"relu"``, ``"square"`` or ``"softmax"``
            (softmax over the last axis; privately it is applied by the client
            after the logits are revealed, so it may only end a network that is
            evaluated privately).
        approx: The polynomial evaluated instead of ``name`` (its ``target``,
            when it has one, must be ``name``). ``None`` computes the exact
            function; ``"square"`` is a polynomial already and softmax cannot
            be approximated, so both refuse ``approx``.
    """

    kind = "Activation"

    def __init__(self, name: str, approx: Polynomial | None = None,
                 input_shape: Sequence[int] | None = None) -> None:
        if name not in ACTIVATIONS:
            raise NetworkError(f"Activation name must be one of {ACTIVATIONS}, got {name!r}")
        if approx is not None:
            if not isinstance(approx, Polynomial):
                raise NetworkError("Activation approx must be a hecrypt Polynomial or None")
            if name in ("square", "softmax"):
                raise NetworkError(f"Activation {name!r} takes no polynomial approximation")
            if approx.target is not None and approx.target != name:
                raise NetworkError(
                    f"Activation {name!r} given a polynomial of {approx.target!r}")
        self.name = name
        self.approx = approx
        self.input_shape = _shape(input_shape, "Activation input_shape")

    def output_shape(self, input_shape: Sequence[int]) -> Shape:
        return tuple(input_shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.approx is not None:
            return self.approx(x)
        if self.name == "sigmoid":
            return _sigmoid(x)
        if self.name == "relu":
            return np.maximum(x, 0.0)
        if self.name == "square":
            return x * x
        return _softmax(x)

    def bounds(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.approx is not None:
            return self.approx.range_on(lo, hi)
        if self.name == "square":
            low = np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(lo * lo, hi * hi))
            return low, np.maximum(lo * lo, hi * hi)
        if self.name == "softmax":  # e^lo_i / (e^lo_i + sum_j!=i e^hi_j) and symmetrically
            shift = hi.max(axis=-1, keepdims=True)
            el, eh = np.exp(lo - shift), np.exp(hi - shift)
            se_l, se_h = el.sum(axis=-1, keepdims=True), eh.sum(axis=-1, keepdims=True)
            return el / (el + se_h - eh), eh / (eh + se_l - el)
        return self.forward(lo), self.forward(hi)

    def config(self) -> dict[str, Any]:
        return {"name": self.name,
                "approx": None if self.approx is None else self.approx.to_dict()}

    def __repr__(self) -> str:
        approx = "" if self.approx is None else f", approx={self.approx.name}"
        return f"Activation({self.name!r}{approx})"


#: Layer classes by their saved type name.
LAYER_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls
    for cls in (Conv2D, Dense, AveragePooling2D, MaxPooling2D, Flatten, Dropout, Activation)
}
