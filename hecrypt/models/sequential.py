"""A small feed-forward network type, declared like Keras's ``Sequential``.

::

    from hecrypt.models import Sequential, Conv2D, Activation, AveragePooling2D, Flatten, Dense
    from hecrypt.hybrid.polynomials import sigmoid_poly

    net = Sequential([
        Conv2D(4, 3, padding="same", input_shape=(8, 8, 1)),
        Activation("sigmoid", approx=sigmoid_poly()),
        AveragePooling2D(2),
        Flatten(),
        Dense(10),
    ])
    logits = net.predict(images)          # plaintext float64 reference
    net.save("net.npz")                   # hecrypt.models.load_sequential("net.npz")

The network is the model owner's public description of a computation: its
layer list, shapes and weights. :meth:`Sequential.predict` is the plaintext
reference every private evaluation is checked against; activations with a
polynomial ``approx`` are computed as that polynomial there too. The file
format is in :mod:`hecrypt.models.netfile` and docs/formats.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from os import PathLike

import numpy as np

from hecrypt.exceptions import InvalidFeatures
from hecrypt.models.layers import (
    ACTIVATIONS,
    LAYER_TYPES,
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    MaxPooling2D,
    NetworkError,
    Shape,
)

__all__ = [
    "Sequential",
    "Conv2D",
    "Dense",
    "AveragePooling2D",
    "MaxPooling2D",
    "Flatten",
    "Dropout",
    "Activation",
    "Layer",
    "NetworkError",
    "ACTIVATIONS",
    "LAYER_TYPES",
    "load_sequential",
]


class Sequential:
    """A stack of layers applied in order to per-sample inputs of one shape.

    Args:
        layers: The layers, at least one. The input shape comes from
            ``input_shape`` or else from the first layer's ``input_shape``.
        input_shape: Per-sample input shape (no batch axis), e.g. ``(8, 8, 1)``.
        seed: Seeds the Glorot-uniform initialisation of weights not given
            (weights are public; this is for building untrained networks).
        description: Free text saved with the network.

    Raises:
        NetworkError: no input shape, a layer's input of the wrong rank, a
            window that does not fit, weights of the wrong shape.
    """

    def __init__(self, layers: Iterable[Layer], *, input_shape: Sequence[int] | None = None,
                 seed: int | None = 0, description: str = "") -> None:
        layers = tuple(layers)
        if not layers:
            raise NetworkError("a Sequential network needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise NetworkError(f"layer {i} is a {type(layer).__name__}, not a hecrypt Layer")
        if len({id(layer) for layer in layers}) != len(layers):
            raise NetworkError("the same layer object appears twice")
        for i, layer in enumerate(layers[1:], start=1):
            if layer.input_shape is not None:
                raise NetworkError(f"only the first layer may set input_shape (layer {i} does)")
        shape = input_shape if input_shape is not None else layers[0].input_shape
        if shape is None:
            raise NetworkError("give the first layer an input_shape (or pass input_shape=)")
        if not isinstance(description, str):
            raise NetworkError("description must be a string")
        shape_t: Shape = tuple(int(d) for d in shape)
        if not shape_t or any(d < 1 for d in shape_t):
            raise NetworkError(f"input_shape must be positive dimensions, got {shape}")
        if (input_shape is not None and layers[0].input_shape is not None
                and tuple(layers[0].input_shape) != shape_t):
            raise NetworkError(f"input_shape {shape_t} disagrees with the first layer's "
                               f"{layers[0].input_shape}")
        rng = np.random.default_rng(seed)
        shapes = [shape_t]
        for i, layer in enumerate(layers):
            try:
                shapes.append(layer.build(shapes[-1], rng))
            except NetworkError as exc:
                raise NetworkError(f"layer {i} ({layer.kind}): {exc}") from exc
        self._layers = layers
        self._shapes = tuple(shapes)
        self.description = description

    @property
    def layers(self) -> tuple[Layer, ...]:
        """The layers in order."""
        return self._layers

    @property
    def input_shape(self) -> Shape:
        """Per-sample input shape (no batch axis)."""
        return self._shapes[0]

    @property
    def output_shape(self) -> Shape:
        """Per-sample output shape."""
        return self._shapes[-1]

    @property
    def shapes(self) -> tuple[Shape, ...]:
        """``shapes[i]`` is layer ``i``'s input shape; the last one is the output's."""
        return self._shapes

    def prepare_input(self, X: np.ndarray) -> np.ndarray:
        """Validate a batch and bring it to ``(N, *input_shape)`` float64.

        A batch whose samples have another shape with the same number of
        values is reshaped in C order (so ``(N, 64)`` and ``(N, 8, 8)`` both
        feed an ``(8, 8, 1)`` network).

        Raises:
            InvalidFeatures: not a finite real array with a batch axis, or
                samples of the wrong size.
        """
        arr = np.asarray(X)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                        or arr.dtype == np.bool_):
            raise InvalidFeatures(f"inputs must be a real numeric array, got dtype {arr.dtype}")
        if np.issubdtype(arr.dtype, np.complexfloating):
            raise InvalidFeatures("inputs must be real, not complex")
        if arr.ndim < 2:
            raise InvalidFeatures(
                f"inputs need a batch axis: shape (N, *{self.input_shape}), got {arr.shape}")
        size = int(np.prod(self.input_shape))
        if int(np.prod(arr.shape[1:])) != size:
            raise InvalidFeatures(
                f"each sample must have shape {self.input_shape} ({size} values), "
                f"got {arr.shape[1:]}")
        out = arr.astype(np.float64).reshape((arr.shape[0], *self.input_shape))
        if not np.all(np.isfinite(out)):
            raise InvalidFeatures("inputs must be finite (no NaN or infinity)")
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The plaintext forward pass (float64): ``(N, *output_shape)``."""
        x = self.prepare_input(X)
        for layer in self._layers:
            x = layer.forward(x)
        return x

    def activations(self, X: np.ndarray) -> list[np.ndarray]:
        """Every intermediate value: ``[input, after layer 0, ..., output]``.

        Useful to check that the inputs of polynomial activations stay inside
        their intervals on some data.
        """
        x = self.prepare_input(X)
        out = [x]
        for layer in self._layers:
            x = layer.forward(x)
            out.append(x)
        return out

    def polynomial_input_ranges(self, X: np.ndarray) -> list[tuple[int, float, float]]:
        """``(layer index, min, max)`` of the inputs of each polynomial activation on ``X``."""
        values = self.activations(X)
        return [(i, float(values[i].min()), float(values[i].max()))
                for i, layer in enumerate(self._layers)
                if isinstance(layer, Activation) and layer.approx is not None]

    def interval_bounds(self, lo: float | np.ndarray, hi: float | np.ndarray
                        ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Worst-case bounds of every intermediate value over a box of inputs.

        Interval arithmetic (linear layers by centre and radius, monotone
        layers at the ends, polynomials at their ends and critical points):
        for every input ``x`` with ``lo <= x <= hi`` element-wise, the value
        after layer ``i`` lies in ``result[i + 1]`` (``result[0]`` is the
        input box). The bounds are guaranteed but can be loose.

        Args:
            lo, hi: Scalars or arrays broadcastable to ``input_shape``.
        """
        low = np.broadcast_to(np.asarray(lo, dtype=np.float64), self.input_shape)[None]
        high = np.broadcast_to(np.asarray(hi, dtype=np.float64), self.input_shape)[None]
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))) or np.any(low > high):
            raise InvalidFeatures("interval_bounds needs finite lo <= hi")
        out = [(low[0], high[0])]
        for layer in self._layers:
            low, high = layer.bounds(low, high)
            out.append((low[0], high[0]))
        return out

    def summary(self) -> str:
        """A readable table: layer, output shape, number of weights."""
        rows = [f"{'layer':<64} {'output':<16} {'weights':>8}"]
        total = 0
        for layer, shape in zip(self._layers, self._shapes[1:]):
            count = sum(int(w.size) for w in layer.get_weights().values())
            total += count
            rows.append(f"{layer!r:<64.64} {shape!s:<16} {count:>8}")
        rows.append(f"input {self.input_shape}, {total} weights")
        return "\n".join(rows)

    def __repr__(self) -> str:
        return f"Sequential({list(self._layers)!r}, input_shape={self.input_shape})"

    def save(self, path: str | PathLike[str]) -> None:
        """Write the network to ``path`` (npz with a JSON header; see docs/formats.md)."""
        from hecrypt.models import netfile

        netfile.save(self, path)

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Sequential:
        """Same as :func:`load_sequential`."""
        return load_sequential(path)


def load_sequential(path: str | PathLike[str]) -> Sequential:
    """Load and validate a network saved with :meth:`Sequential.save`.

    Raises:
        ModelFormatError: the file is not a valid hecrypt network file.
        OSError: the file cannot be read.
    """
    from hecrypt.models import netfile

    return netfile.load(path)
