"""Calibration: where a network's activations are evaluated, and what approximating them costs.

An imported network (:func:`hecrypt.models.from_onnx`) computes its
activations exactly. In shares, ReLU and max pooling are exact with the dealer
(secure comparison); a sigmoid, and a ReLU in the two-party modes, must be a
polynomial, which is only good on an interval. :func:`calibrate` runs the
plaintext network on sample data and records, for every ``Activation`` layer,
the range of its inputs, the approximation the layer carries, and the error
that approximation makes on those inputs (and on the outputs and labels of
the whole network); :meth:`CalibrationReport.suggest` proposes polynomials
that cover the observed ranges, and :func:`with_approximations` installs them::

    model = from_onnx("net.onnx")
    report = calibrate(model, X_sample)
    private_model = with_approximations(model, report.suggest(max_error=1e-2))
    print(calibrate(private_model, X_sample).table())

Leaks: nothing; calibration is plaintext work of the model owner on data it
holds (the observed ranges describe that data, so publish them only if the
data may be described).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from hecrypt.hybrid.polynomials import Polynomial, fit, relu_poly
from hecrypt.models.sequential import Activation, NetworkError, Sequential

__all__ = ["ActivationCalibration", "CalibrationReport", "calibrate", "with_approximations"]

#: Activations computed exactly in shares with the dealer.
EXACT_IN_SHARES = ("relu", "square")


def _exact(name: str, x: np.ndarray) -> np.ndarray:
    return Activation(name).forward(x)


@dataclass(frozen=True)
class ActivationCalibration:
    """One activation layer on the calibration data.

    Attributes:
        index: The layer's index in ``model.layers``.
        name: ``"sigmoid"``, ``"relu"``, ``"square"`` or ``"softmax"``.
        low, high: The smallest and largest input the layer received.
        approx: The polynomial the layer evaluates, or ``None`` (exact).
        max_error: ``max |approx(x) - name(x)|`` over the inputs received
            (0.0 without an approximation).
        outside: Fraction of the inputs outside ``approx.interval``, where the
            polynomial's guarantee does not hold (0.0 without one).
        exact_in_shares: Whether the dealer mode can evaluate the exact
            function (ReLU by secure comparison, the square by a product).
    """

    index: int
    name: str
    low: float
    high: float
    approx: Polynomial | None
    max_error: float
    outside: float
    exact_in_shares: bool


@dataclass(frozen=True)
class CalibrationReport:
    """What :func:`calibrate` measured.

    Attributes:
        activations: One entry per ``Activation`` layer, in order.
        samples: Number of calibration records.
        max_output_error: ``max |model(X) - exact(X)|`` where ``exact`` is the
            same network with every activation exact.
        label_agreement: Fraction of records whose arg max output is the same
            for the model and its exact version (``None`` for one output).
    """

    activations: tuple[ActivationCalibration, ...]
    samples: int
    max_output_error: float
    label_agreement: float | None

    def table(self) -> str:
        """A readable table, one line per activation, then the network's totals."""
        rows = [f"{'layer':>5}  {'activation':<10} {'input range':<24} {'approx':<12} "
                f"{'interval':<20} {'max err':>9} {'outside':>8}"]
        for a in self.activations:
            interval = ("" if a.approx is None
                        else f"[{a.approx.interval[0]:.3g}, {a.approx.interval[1]:.3g}]")
            approx = a.approx.name if a.approx is not None else (
                "exact*" if a.exact_in_shares else "exact")
            rows.append(f"{a.index:>5}  {a.name:<10} {f'[{a.low:.4g}, {a.high:.4g}]':<24} "
                        f"{approx:<12} {interval:<20} {a.max_error:>9.3g} {a.outside:>8.2%}")
        agree = ("" if self.label_agreement is None
                 else f", labels equal to the exact network's on {self.label_agreement:.2%}")
        rows.append(f"{self.samples} records: outputs within {self.max_output_error:.3g} of the "
                    f"exact network{agree}")
        rows.append("exact*: exact in shares with the dealer (secure comparison or a product)")
        return "\n".join(rows)

    def suggest(self, *, max_error: float = 1e-2, margin: float = 0.1, relu: bool = False,
                max_degree: int = 15) -> dict[int, Polynomial]:
        """Polynomials covering the observed input ranges.

        For every sigmoid (and every ReLU when ``relu`` is true, as the
        two-party modes need) the interval is the symmetric ``(-a, a)`` with
        ``a`` the largest observed magnitude widened by ``margin``; the degree
        is the smallest (odd for the sigmoid, even for ReLU) whose maximum
        error on the interval is at most ``max_error``, else ``max_degree``.
        A higher degree costs more multiplication rounds (about log2(degree)).

        Returns:
            ``{layer index: polynomial}`` for :func:`with_approximations`.
        """
        out: dict[int, Polynomial] = {}
        for a in self.activations:
            if a.name not in ("sigmoid", "relu") or (a.name == "relu" and not relu):
                continue
            bound = max(abs(a.low), abs(a.high), 1e-3) * (1.0 + margin)
            first = 3 if a.name == "sigmoid" else 2
            best: Polynomial | None = None
            for degree in range(first, max_degree + 1, 2):
                if a.name == "sigmoid":
                    best = fit("sigmoid", degree, (-bound, bound), method="chebyshev", odd=True,
                               name=f"sigmoid{degree}")
                else:
                    best = relu_poly(degree, (-bound, bound), method="chebyshev")
                if best.max_error <= max_error:
                    break
            if best is not None:
                out[a.index] = best
        return out


def calibrate(model: Sequential, X: np.ndarray) -> CalibrationReport:
    """Record each activation's input range on ``X`` and the error of its approximation.

    Args:
        model: A ``Sequential`` (imported or built).
        X: Calibration records, in any shape ``model.predict`` accepts.

    Returns:
        A :class:`CalibrationReport`; ``.table()`` prints it and
        ``.suggest()`` proposes polynomials for the observed ranges.
    """
    x = model.prepare_input(X)
    exact = x
    entries = []
    for index, layer in enumerate(model.layers):
        if isinstance(layer, Activation):
            low, high = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
            error, outside = 0.0, 0.0
            if layer.approx is not None and x.size:
                error = float(np.max(np.abs(layer.approx(x) - _exact(layer.name, x))))
                lo, hi = layer.approx.interval
                outside = float(np.mean((x < lo) | (x > hi)))
            entries.append(ActivationCalibration(index, layer.name, low, high, layer.approx,
                                                 error, outside, layer.name in EXACT_IN_SHARES))
            exact = _exact(layer.name, exact)
        else:
            exact = layer.forward(exact)
        x = layer.forward(x)
    diff = float(np.max(np.abs(x - exact))) if x.size else 0.0
    agreement = None
    if x.ndim == 2 and x.shape[1] > 1:
        agreement = float(np.mean(x.argmax(axis=1) == exact.argmax(axis=1)))
    return CalibrationReport(tuple(entries), int(x.shape[0]), diff, agreement)


def with_approximations(model: Sequential,
                        approximations: Mapping[int, Polynomial | None]) -> Sequential:
    """A copy of ``model`` whose activation ``i`` evaluates ``approximations[i]``.

    ``None`` makes an activation exact again. The original is left unchanged.

    Raises:
        NetworkError: an index that is not an ``Activation`` layer, or a
            polynomial the activation refuses (another target).
    """
    layers = [copy.deepcopy(layer) for layer in model.layers]
    for index, poly in approximations.items():
        layer = layers[index] if 0 <= index < len(layers) else None
        if not isinstance(layer, Activation):
            raise NetworkError(f"layer {index} is not an Activation layer")
        layers[index] = Activation(layer.name, approx=poly)
    return Sequential(layers, input_shape=model.input_shape, description=model.description)
