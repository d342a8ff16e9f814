"""Models in shares: the public description of a model, its triple plan, its evaluation.

A model is split into what both computing parties may know and what only the
server knows:

* the *spec* (:func:`model_spec`, a JSON-ready dict): the architecture, the
  shapes, the polynomials, the task. The server sends it to the client; it is
  what private inference reveals about the model (besides the outputs).
* the *weights* (:func:`model_weights`): kernels, which the server secret-shares,
  and biases, which the server adds to its own share (a value only the server
  knows added to its share is a sharing of the sum; no message).

:func:`plan` lists every Beaver triple an evaluation consumes, in order, from
the spec and the batch shape alone, so the offline phase can prepare them all.
:func:`evaluate` runs the layers on a :class:`~hecrypt.hybrid.protocols.SecretSharing`:
one Beaver round per Conv2D or Dense layer (the layer's input and kernel are
opened masked, once), ``ceil(log2 d)`` rounds per degree-``d`` activation,
none for pooling, flattening and biases.

Supported: :class:`hecrypt.models.Sequential` with Conv2D, Dense,
AveragePooling2D, Flatten, Dropout (identity), Activation("square"),
Activation("sigmoid"|"relu", approx=<Polynomial>), exact Activation("relu")
and MaxPooling2D (secure comparison, :mod:`hecrypt.hybrid.comparison`: 9
rounds per ReLU or max-tree level; a ReLU right before a max pooling is
evaluated after it, on one value per window), and a final
Activation("softmax") (applied by the client to the revealed logits);
:class:`hecrypt.models.LinearModel` (regression; binary logistic regression
with the sigmoid in shares; multiclass logits). Anything else raises
:class:`~hecrypt.exceptions.UnsupportedModelError` naming the alternative.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hecrypt.exceptions import ProtocolError, UnsupportedModelError
from hecrypt.hybrid import comparison, ring
from hecrypt.hybrid.protocols import Product, SecretSharing, polynomial_requests
from hecrypt.hybrid.shares import SharedTensor
from hecrypt.hybrid.triples import MAX_ELEMENTS, TripleRequest, check_budget

__all__ = ["model_spec", "model_weights", "check_spec", "plan", "evaluate", "spec_input_shape",
           "weight_shapes"]

SERVER = "server"
CLIENT = "client"


# ----------------------------------------------------------------------- specs
def _padding_message(padding: Any) -> Any:
    """A Conv2D padding as the spec carries it: a string or ``[[top, bottom], [left, right]]``."""
    if isinstance(padding, str):
        return padding
    (t, b), (lft, r) = padding
    return [[int(t), int(b)], [int(lft), int(r)]]


def _poly_dict(poly: Any) -> dict[str, Any]:
    return dict(poly.to_dict())


def _sequential_spec(net: Any) -> dict[str, Any]:
    layers: list[dict[str, Any]] = []
    shapes = net.shapes
    n = len(net.layers)
    for i, layer in enumerate(net.layers):
        kind = layer.kind
        where = f"layer {i} ({kind})"
        if kind == "Conv2D":
            layers.append({"type": "conv2d", "kernel": list(layer.kernel.shape),
                           "strides": list(layer.strides),
                           "padding": _padding_message(layer.padding)})
        elif kind == "Dense":
            layers.append({"type": "dense", "kernel": list(layer.kernel.shape)})
        elif kind == "AveragePooling2D":
            layers.append({"type": "avgpool", "pool": list(layer.pool_size),
                           "strides": list(layer.strides)})
        elif kind == "Flatten":
            layers.append({"type": "flatten"})
        elif kind == "Dropout":
            continue
        elif kind == "MaxPooling2D":  # exact, by secure comparison (hybrid/comparison.py)
            pool = {"type": "maxpool", "pool": list(layer.pool_size),
                    "strides": list(layer.strides)}
            if layers and layers[-1]["type"] == "relu":
                # relu(maxpool(x)) == maxpool(relu(x)) (both monotone): the ReLU then
                # compares one value per window instead of every value
                layers.insert(len(layers) - 1, pool)
            else:
                layers.append(pool)
        elif kind == "Activation":
            name = layer.name
            if name == "softmax":
                if i != n - 1:
                    raise UnsupportedModelError(
                        f"{where}: softmax is applied by the client to the revealed logits, so it "
                        "may only be the last layer"
                    )
                layers.append({"type": "softmax"})
            elif name == "square":
                layers.append({"type": "square"})
            elif name == "relu" and layer.approx is None:
                layers.append({"type": "relu"})  # exact, by secure comparison
            elif layer.approx is None:
                raise UnsupportedModelError(
                    f"{where}: Activation({name!r}) has no polynomial approximation; private "
                    f"inference evaluates it as a polynomial: use Activation({name!r}, "
                    "approx=...) with e.g. hecrypt.hybrid.polynomials.sigmoid_poly() (see "
                    "hecrypt.models.calibrate to choose one)"
                )
            else:
                layers.append({"type": "poly", "poly": _poly_dict(layer.approx)})
        else:
            raise UnsupportedModelError(f"{where}: layer type {kind!r} cannot run in shares")
    return {"model": "sequential", "input_shape": list(shapes[0]),
            "output_shape": list(shapes[-1]), "layers": layers}


def model_spec(model: Any, *, sigmoid: Any = None, reveal_logits: bool = True) -> dict[str, Any]:
    """The public description of ``model`` for private inference (no weights).

    Args:
        model: a :class:`hecrypt.models.Sequential` or :class:`hecrypt.models.LinearModel`.
        sigmoid: (binary logistic regression) the polynomial for the sigmoid
            in shares (default :func:`hecrypt.hybrid.polynomials.sigmoid_poly`).
        reveal_logits: (binary logistic regression) also reveal the logit to
            the client, so labels are exact (``False``: reveal only the
            polynomial probability; labels are then ``p > 0.5``).

    Raises:
        UnsupportedModelError: a layer or model the engine cannot evaluate.
    """
    from hecrypt.models.linear import LinearModel

    if isinstance(model, LinearModel):
        info = model.info
        binary_logistic = info.is_classifier and info.n_outputs == 1 and info.proba == "sigmoid"
        poly = None
        if binary_logistic:
            if sigmoid is None:
                from hecrypt.hybrid.polynomials import sigmoid_poly

                sigmoid = sigmoid_poly()
            poly = _poly_dict(sigmoid)
        return {"model": "linear", "info": info.to_dict(), "sigmoid": poly,
                "reveal_logits": bool(reveal_logits or not binary_logistic),
                "kernel": [info.n_features, info.n_outputs]}
    if type(model).__name__ == "Sequential" and hasattr(model, "layers"):
        return _sequential_spec(model)
    raise UnsupportedModelError(
        f"private inference takes a hecrypt.models.Sequential or LinearModel, not "
        f"{type(model).__name__}"
    )


def model_weights(model: Any) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """The server's private ``(kernel, bias)`` pairs in evaluation order."""
    from hecrypt.models.linear import LinearModel

    if isinstance(model, LinearModel):
        return [(np.asarray(model.coef, dtype=np.float64).T.copy(),
                 np.asarray(model.intercept, dtype=np.float64))]
    return [(np.asarray(layer.kernel, dtype=np.float64), np.asarray(layer.bias, dtype=np.float64))
            for layer in model.layers if layer.kind in ("Conv2D", "Dense")]


def weight_shapes(spec: dict[str, Any]) -> list[tuple[int, ...]]:
    """Kernel shapes in evaluation order."""
    if spec["model"] == "linear":
        return [tuple(spec["kernel"])]
    return [tuple(layer["kernel"]) for layer in spec["layers"]
            if layer["type"] in ("conv2d", "dense")]


def spec_input_shape(spec: dict[str, Any]) -> tuple[int, ...]:
    """Per-sample input shape."""
    if spec["model"] == "linear":
        return (int(spec["info"]["n_features"]),)
    return tuple(int(s) for s in spec["input_shape"])


def _ints(v: Any, n: int | None, what: str) -> list[int]:
    if not isinstance(v, list) or (n is not None and len(v) != n) or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 < s <= 1 << 20 for s in v):
        raise ProtocolError(f"malformed model description: {what} = {v!r:.100}")
    return list(v)


def check_spec(obj: Any) -> dict[str, Any]:
    """Validate a spec received from the server (client side).

    Raises:
        ProtocolError: anything malformed.
    """
    from hecrypt.hybrid.polynomials import Polynomial
    from hecrypt.models.linear import ModelInfo

    if not isinstance(obj, dict) or obj.get("model") not in ("linear", "sequential"):
        raise ProtocolError("malformed model description from the server")
    try:
        if obj["model"] == "linear":
            ModelInfo.from_dict(obj["info"])
            _ints(obj["kernel"], 2, "kernel")
            if obj["sigmoid"] is not None:
                Polynomial.from_dict(obj["sigmoid"])
            _check_size(obj)
            return obj
        _ints(obj["input_shape"], None, "input_shape")
        for layer in obj["layers"]:
            t = layer["type"]
            if t == "conv2d":
                _ints(layer["kernel"], 4, "kernel")
                _ints(layer["strides"], 2, "strides")
                try:
                    layer["padding"] = ring.normalize_padding(layer["padding"])
                except ValueError as exc:
                    raise ProtocolError(f"malformed model description: {exc}") from None
            elif t == "dense":
                _ints(layer["kernel"], 2, "kernel")
            elif t in ("avgpool", "maxpool"):
                _ints(layer["pool"], 2, "pool")
                _ints(layer["strides"], 2, "strides")
            elif t == "poly":
                Polynomial.from_dict(layer["poly"])
            elif t not in ("flatten", "square", "softmax", "relu"):
                raise ProtocolError(f"malformed model description: layer type {t!r}")
        _check_size(obj)
    except ProtocolError:
        raise
    except Exception as exc:
        raise ProtocolError(f"malformed model description from the server: {exc}") from None
    return obj


def _check_size(spec: dict[str, Any]) -> None:
    """Refuse a described model whose triples for one record exceed :data:`MAX_ELEMENTS`.

    The sizes in a description are the server's word: without this a few
    bytes could make the client allocate without bound (the dealer applies
    the same budget to the requests it serves).
    """
    check_budget(plan(spec, (1, *spec_input_shape(spec))), MAX_ELEMENTS,
                 "the model the server described (one record)")


def _poly(d: dict[str, Any]) -> Any:
    from hecrypt.hybrid.polynomials import Polynomial

    return Polynomial.from_dict(d)


# ----------------------------------------------------------------------- plan
def _pool_shape(shape: tuple[int, ...], pool: Sequence[int], strides: Sequence[int]) -> tuple:
    n, h, w, c = shape
    if h < pool[0] or w < pool[1]:
        raise ValueError(f"a pooling window {tuple(pool)} does not fit {shape}")
    return (n, (h - pool[0]) // strides[0] + 1, (w - pool[1]) // strides[1] + 1, c)


def plan(model: Any, batch_shape: Sequence[int] | int) -> list[TripleRequest]:
    """Every triple a private evaluation of ``model`` on ``batch_shape`` takes, in order.

    Args:
        model: a model or its spec (:func:`model_spec`).
        batch_shape: ``(N, *input_shape)`` (an int is taken as ``N``).

    Raises:
        UnsupportedModelError: the model cannot be evaluated in shares.
    """
    spec = model if isinstance(model, dict) else model_spec(model)
    in_shape = spec_input_shape(spec)
    if isinstance(batch_shape, int):
        shape: tuple[int, ...] = (batch_shape, *in_shape)
    else:
        shape = tuple(int(s) for s in batch_shape)
        shape = (shape[0], *in_shape)
    reqs: list[TripleRequest] = []
    if spec["model"] == "linear":
        k = spec["kernel"]
        reqs.append(TripleRequest("matmul", shape, tuple(k)))
        if spec["sigmoid"] is not None:
            reqs.extend(polynomial_requests((shape[0], k[1]), _poly(spec["sigmoid"])))
        return reqs

    for layer in spec["layers"]:
        t = layer["type"]
        if t == "conv2d":
            req = TripleRequest("conv2d", shape, tuple(layer["kernel"]),
                                (tuple(layer["strides"]), layer["padding"]))
            reqs.append(req)
            shape = ring.conv2d_output_shape(shape, layer["kernel"], layer["strides"],
                                             layer["padding"])
        elif t == "dense":
            if len(shape) != 2:
                raise UnsupportedModelError(f"Dense takes (N, features), got {shape}")
            reqs.append(TripleRequest("matmul", shape, tuple(layer["kernel"])))
            shape = (shape[0], layer["kernel"][1])
        elif t == "avgpool":
            shape = _pool_shape(shape, layer["pool"], layer["strides"])
        elif t == "maxpool":
            reqs.extend(comparison.max_pool_requests(shape, layer["pool"], layer["strides"]))
            shape = _pool_shape(shape, layer["pool"], layer["strides"])
        elif t == "relu":
            reqs.extend(comparison.relu_requests(shape))
        elif t == "flatten":
            shape = (shape[0], int(np.prod(shape[1:])))
        elif t == "square":
            reqs.append(TripleRequest("square", shape))
        elif t == "poly":
            reqs.extend(polynomial_requests(shape, _poly(layer["poly"])))
    return reqs


# ----------------------------------------------------------------------- evaluation
def evaluate(
    ss: SecretSharing,
    spec: dict[str, Any],
    x: SharedTensor,
    weights: Sequence[tuple[SharedTensor, np.ndarray | None]],
) -> dict[str, SharedTensor]:
    """Run the model in shares; returns the shared outputs to reveal to the client.

    Args:
        ss: this computing party's protocol object.
        spec: the model's spec.
        x: the shared batch ``(N, *input_shape)``.
        weights: per Conv2D/Dense (or the linear model), the shared kernel and
            the bias (the server's own array; ``None`` on the client).

    Returns:
        ``{"logits": ...}`` (the values before any softmax or, for regression,
        the predictions), and ``"proba"`` for binary logistic regression.
    """
    it = iter(weights)
    if spec["model"] == "linear":
        kernel, bias = next(it)
        z = ss.add_private(ss.matmul(x, kernel), bias, SERVER)
        out: dict[str, SharedTensor] = {}
        if spec["reveal_logits"]:
            out["logits"] = z
        if spec["sigmoid"] is not None:
            out["proba"] = ss.polynomial(z, _poly(spec["sigmoid"]))
        return out
    for layer in spec["layers"]:
        t = layer["type"]
        if t == "conv2d":
            kernel, bias = next(it)
            x = ss.products([Product("conv2d", x, kernel,
                                     (tuple(layer["strides"]), layer["padding"]))])[0]
            x = ss.add_private(x, bias, SERVER)
        elif t == "dense":
            kernel, bias = next(it)
            x = ss.add_private(ss.matmul(x, kernel), bias, SERVER)
        elif t == "avgpool":
            x = ss.avg_pool2d(x, tuple(layer["pool"]), tuple(layer["strides"]))
        elif t == "maxpool":
            x = comparison.max_pool2d(ss, x, tuple(layer["pool"]), tuple(layer["strides"]))
        elif t == "relu":
            x = comparison.relu(ss, x)
        elif t == "flatten":
            x = x.reshape(x.shape[0], -1)
        elif t == "square":
            x = ss.square(x)
        elif t == "poly":
            x = ss.polynomial(x, _poly(layer["poly"]))
    return {"logits": x}


# ----------------------------------------------------------------------- error bounds
def _poly_eval_error(poly: Any, lo: float, hi: float, e_in: float, f: int) -> float:
    """Error of :meth:`SecretSharing.polynomial` on inputs in ``[lo, hi]`` known to ``e_in``."""
    from hecrypt.hybrid.protocols import is_odd7, polynomial_plan

    ulp = 2.0**-f
    coeffs = np.asarray(poly.coeffs, dtype=np.float64)
    deriv = np.polynomial.polynomial.polyder(coeffs) if len(coeffs) > 1 else np.zeros(1)
    grid = np.linspace(lo - e_in, hi + e_in, 2001)
    lipschitz = float(np.max(np.abs(np.polynomial.polynomial.polyval(grid, deriv))))
    k, d, _ = polynomial_plan(poly)
    # t = x / 2^k: one truncation (1 ulp in t, so 2^k |p'| ulp in the result); a power
    # t^j = t^a t^b carries err_a |t|^b + err_b |t|^a + 1 ulp, so err_j <= (j - 1) ulp T^(j-1)
    # with T = max(1, max|t|); each coefficient's encoding adds ulp/2 |t^j|; one final
    # truncation adds 1 ulp.
    tmax = max(1.0, max(abs(lo), abs(hi)) / 2.0**k)
    fixed = 2.0**k * lipschitz * ulp + ulp
    if is_odd7(poly):
        # u = t^2, u^2, t^3 = t u, L = d5 t + d7 t^3, r = u^2 L (see SecretSharing.polynomial)
        t2, t3, t4 = tmax**2, tmax**3, tmax**4
        e_u = ulp
        e_u2 = 2 * t2 * e_u + e_u * e_u + ulp
        e_t3 = tmax * e_u + ulp
        e_lin = abs(d[7]) * e_t3 + ulp / 2 * (tmax + t3) + ulp
        lin_max = abs(d[5]) * tmax + abs(d[7]) * t3
        e_r = e_u2 * lin_max + t4 * e_lin + e_u2 * e_lin + ulp
        return lipschitz * e_in + fixed + abs(d[3]) * e_t3 + ulp / 2 * (tmax + t3) + e_r
    for j, c in enumerate(d):
        if j >= 1 and c != 0.0:
            fixed += abs(c) * (j - 1) * ulp * tmax ** (j - 1) + ulp / 2 * tmax**j
    return lipschitz * e_in + fixed


def linear_error_bound(X: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None,
                       frac_bits: int = 16, e_in: float = 0.0) -> float:
    """Largest error of a private ``X @ kernel + bias`` (fixed point and truncation).

    ``2^-(f+1) (sum_j |x_j| + sum_j |w_j| + n e_in)`` for the encodings of
    ``x`` and ``w``, plus ``sum_j |w_j| e_in`` (inputs already off by
    ``e_in``), plus one truncation ``2^-f`` and the bias encoding
    ``2^-(f+1)``; maximized over records and outputs. Holds except with the
    truncation failure probability of
    :func:`hecrypt.hybrid.protocols.truncation_failure_probability`.
    """
    half = 2.0 ** -(frac_bits + 1)
    x = np.abs(np.asarray(X, dtype=np.float64)).reshape(len(X), -1)
    w = np.abs(np.asarray(kernel, dtype=np.float64)).reshape(-1, kernel.shape[-1])
    xs = float(x.sum(axis=1).max()) + x.shape[1] * e_in
    ws = float(w.sum(axis=0).max())
    return half * (xs + ws) + ws * e_in + 2.0 * half + (half if bias is not None else 0.0)


def network_error_bound(net: Any, X: np.ndarray, frac_bits: int = 16) -> float:
    """A bound on ``|private logits - net.predict(X)|`` for this batch (first-order analysis).

    Walks the layers with the plaintext activations of ``X`` and carries a
    bound ``e`` on every entry's error: Conv2D/Dense as in
    :func:`linear_error_bound` (for a convolution the input sum is over the
    largest window); a polynomial multiplies ``e`` by its largest slope on the
    observed input range widened by ``e`` and adds its fixed-point error (the
    truncation of ``x / 2^k``, ``(j - 1)`` ulps per power ``t^j`` times its
    coefficient, half an ulp per coefficient, one final truncation); average
    pooling adds one ulp; square ``2 max|x| e + e^2`` plus one ulp; exact ReLU
    and max pooling (1-Lipschitz) one ulp. Truncation failures (probability
    :func:`~hecrypt.hybrid.protocols.truncation_failure_probability`) are
    outside the bound.
    """
    ulp = 2.0**-frac_bits
    acts = net.activations(X)
    e = ulp / 2  # encoding of the input
    for i, layer in enumerate(net.layers):
        x = acts[i]
        kind = layer.kind
        if kind == "Conv2D":
            kh, kw, c, _ = layer.kernel.shape
            window = float(np.abs(x).max()) * kh * kw * c
            w = np.abs(layer.kernel).reshape(-1, layer.kernel.shape[-1])
            ws = float(w.sum(axis=0).max())
            half = ulp / 2
            e = half * (window + kh * kw * c * e + ws) + ws * e + 3 * half
        elif kind == "Dense":
            e = linear_error_bound(x, layer.kernel, layer.bias, frac_bits, e)
        elif kind == "AveragePooling2D":
            e = e + ulp
        elif kind == "Activation" and layer.name == "square":
            e = 2 * float(np.abs(x).max()) * e + e * e + ulp * (1 + float(np.abs(x).max()))
        elif kind == "Activation" and layer.approx is not None:
            e = _poly_eval_error(layer.approx, float(x.min()), float(x.max()), e, frac_bits)
        elif kind == "MaxPooling2D" or (kind == "Activation" and layer.name == "relu"):
            e = e + ulp  # exact comparison: 1-Lipschitz, at most one ulp of its own
    return float(e)
