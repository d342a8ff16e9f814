"""A tight, high-probability bound on the logit error of a network evaluated in shares.

The private logits differ from ``net.predict(X)`` for two reasons, which this
module separates instead of bounding both in the worst case (as
:func:`hecrypt.hybrid.inference.network_error_bound` does):

1. **Rounding (deterministic).** Inputs, weights, biases and polynomial
   coefficients are rounded to ``f`` fractional bits. Their whole effect is
   computed exactly: the network is run in float64 with the rounded values
   (the "fixed-point reference"), and the difference with ``net.predict`` is
   the deterministic part.
2. **Truncation (random).** Each local truncation (SecureML) turns
   ``v / 2^d`` into ``v / 2^d + tau`` with ``tau`` in ``{-r, 1 - r}`` units
   of ``2^-f`` (``r`` the dropped fraction) with probabilities ``1 - r, r``:
   zero mean, range one unit, and independent across elements and layers
   (it depends on the low bits of party 0's share, which are uniform and
   fresh for every element). To first order the logit error is
   ``sum_s J_s tau_s`` with ``J_s`` the sensitivity of the logit to source
   ``s`` (computed by a backward pass through the fixed-point reference), so
   by Hoeffding's inequality ``|sum| <= 2^-f sqrt(sum_s J_s^2 / 2 *
   ln(2M / delta))`` for all ``M`` logits at once, except with probability
   ``delta``.

The bound holds to first order in ``2^-f`` (second-order terms are of size
``2^-2f`` times the network's curvature) and outside truncation failures
(probability :func:`~hecrypt.hybrid.protocols.truncation_failure_probability`
per product).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hecrypt.hybrid import ring

__all__ = ["statistical_error_bound"]


def _q(v: Any, f: int) -> np.ndarray:
    return np.asarray(np.rint(np.ldexp(np.asarray(v, dtype=np.float64), f)) * 2.0**-f)


def _poly_forward(poly: Any, x: np.ndarray, f: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed-point reference of :meth:`SecretSharing.polynomial`: ``(value, slope, gain^2)``.

    ``slope`` is ``d value / d x``; ``gain^2`` the sum of squared sensitivities of
    the value to the evaluation's own truncations.
    """
    from hecrypt.hybrid.protocols import is_odd7, polynomial_plan

    k, d, levels = polynomial_plan(poly)
    dq = [float(_q(c, f)) for c in d]
    t = x * 2.0**-k
    if is_odd7(poly):
        u = t * t
        u2 = u * u
        t3 = t * u
        lin = dq[5] * t + dq[7] * t3
        value = dq[0] + dq[1] * t + dq[3] * t3 + u2 * lin
        g_u2, g_lin = lin, u2
        g_t3 = dq[7] * g_lin + dq[3]
        g_u = 2 * u * g_u2 + t * g_t3
        g_t = dq[5] * g_lin + dq[1] + u * g_t3 + 2 * t * g_u
        gain2 = g_u**2 + g_u2**2 + g_t3**2 + g_lin**2 + 2.0 + g_t**2
        return value, g_t * 2.0**-k, gain2
    powers = {1: t}
    order = []
    for level in levels:
        for i, j in level:
            powers[i + j] = powers[i] * powers[j]
            order.append((i, j))
    value = np.full(x.shape, dq[0]) + sum(
        (dq[j] * powers[j] for j in range(1, len(dq)) if dq[j] != 0.0), np.zeros(x.shape))
    grads = {j: np.full(x.shape, dq[j] if j < len(dq) else 0.0) for j in powers}
    gain2 = np.ones(x.shape)  # the final truncation
    for i, j in reversed(order):
        g = grads[i + j]
        gain2 = gain2 + g**2
        grads[i] = grads[i] + g * powers[j]
        grads[j] = grads[j] + g * powers[i]
    gain2 = gain2 + grads[1] ** 2  # the truncation of t = x / 2^k
    return value, grads[1] * 2.0**-k, gain2


def _conv_backward(s: np.ndarray, w: np.ndarray, x_shape: tuple[int, ...],
                   strides: tuple[int, int], padding: ring.PaddingLike) -> np.ndarray:
    """Adjoint of a channels-last convolution: ``s`` (B, Ho, Wo, O) -> (B, H, W, C)."""
    b, h, wd, c = x_shape
    kh, kw, _, o = w.shape
    ho, pt, pb = ring.conv2d_padding(h, kh, strides[0], padding, 0)
    wo, pl, pr = ring.conv2d_padding(wd, kw, strides[1], padding, 1)
    cols = (s.reshape(-1, o) @ w.reshape(-1, o).T).reshape(b, ho, wo, kh, kw, c)
    grad = np.zeros((b, h + pt + pb, wd + pl + pr, c))
    for p in range(kh):
        for q in range(kw):
            grad[:, p:p + (ho - 1) * strides[0] + 1:strides[0],
                 q:q + (wo - 1) * strides[1] + 1:strides[1], :] += cols[:, :, :, p, q, :]
    return grad[:, pt:pt + h, pl:pl + wd, :]


def statistical_error_bound(net: Any, X: np.ndarray, frac_bits: int = ring.DEFAULT_FRAC_BITS,
                            delta: float = 1e-9) -> np.ndarray:
    """Per-logit bounds on ``|private logits - net.predict(X)|`` (see the module docstring).

    Args:
        net: a :class:`hecrypt.models.Sequential` (Conv2D, Dense, AveragePooling2D,
            Flatten, Dropout, square and polynomial activations, exact ReLU and
            max pooling; a final softmax is ignored: logits are compared).
        X: the batch, ``(N, *input_shape)`` or flat per sample.
        frac_bits: the fixed point's fractional bits.
        delta: probability that the truncation part exceeds its bound.

    Returns:
        ``(N, k)`` bounds, one per logit.
    """
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must be in (0, 1), not {delta}")
    f = int(frac_bits)
    ulp = 2.0**-f
    layers = [layer for layer in net.layers if not (
        layer.kind == "Activation" and layer.name == "softmax")]
    x = _q(np.asarray(X, dtype=np.float64).reshape(len(X), *net.input_shape), f)
    # forward pass of the fixed-point reference, keeping what the backward pass needs
    tape: list[tuple[Any, np.ndarray, Any]] = []
    for layer in layers:
        kind = layer.kind
        if kind == "Conv2D":
            w = _q(layer.kernel, f)
            out = _conv_float(x, w, tuple(layer.strides), layer.padding) + _q(layer.bias, f)
            tape.append((layer, x, (w, np.ones(out.shape))))
        elif kind == "Dense":
            w = _q(layer.kernel, f)
            out = x @ w + _q(layer.bias, f)
            tape.append((layer, x, (w, np.ones(out.shape))))
        elif kind == "AveragePooling2D":
            out = layer.forward(x)
            tape.append((layer, x, np.ones(out.shape)))
        elif kind in ("Flatten", "Dropout"):
            out = layer.forward(x)
            tape.append((layer, x, None))
        elif kind == "Activation" and layer.approx is not None:
            out, slope, gain2 = _poly_forward(layer.approx, x, f)
            tape.append((layer, x, (slope, gain2)))
        elif kind == "Activation" and layer.name == "square":
            out = x * x
            tape.append((layer, x, np.ones(out.shape)))
        elif kind in ("MaxPooling2D", "Activation"):  # exact ReLU / max pooling
            out = layer.forward(x)
            tape.append((layer, x, None))
        else:  # pragma: no cover - private_predict refuses other layers
            raise ValueError(f"no error model for layer {kind}")
        x = out
    logits = x.reshape(len(X), -1)
    ref = np.asarray(X, dtype=np.float64).reshape(len(X), *net.input_shape)
    for layer in layers:
        ref = layer.forward(ref)
    det = np.abs(logits - ref.reshape(len(X), -1))
    # backward pass: squared sensitivities of every logit to every truncation
    n, k = logits.shape
    eye = np.zeros((n, k, k))
    eye[:, np.arange(k), np.arange(k)] = 1.0
    s: np.ndarray = eye
    s = s.reshape(n * k, *x.shape[1:]) if x.ndim > 2 else s.reshape(n * k, k)
    var = np.zeros(n * k)
    for layer, x_in, saved in reversed(tape):
        kind = layer.kind
        rep = np.repeat(x_in, k, axis=0)
        if kind in ("Conv2D", "Dense"):
            w, _ = saved
            var += (s**2).reshape(n * k, -1).sum(axis=1)  # the product's truncation
            if kind == "Dense":
                s = s @ w.T
            else:
                s = _conv_backward(s, w, rep.shape, tuple(layer.strides), layer.padding)
        elif kind == "AveragePooling2D":
            var += (s**2).reshape(n * k, -1).sum(axis=1)
            ph, pw = layer.pool_size
            grad = np.zeros(rep.shape)
            sh, sw = layer.strides
            ho, wo = s.shape[1], s.shape[2]
            for p in range(ph):
                for q in range(pw):
                    grad[:, p:p + (ho - 1) * sh + 1:sh, q:q + (wo - 1) * sw + 1:sw, :] += (
                        s / (ph * pw))
            s = grad
        elif kind in ("Flatten", "Dropout"):
            s = s.reshape(rep.shape)
        elif kind == "Activation" and layer.approx is not None:
            slope, gain2 = saved
            g2 = np.repeat(gain2, k, axis=0)
            var += (s**2 * g2).reshape(n * k, -1).sum(axis=1)
            s = s * np.repeat(slope, k, axis=0)
        elif kind == "Activation" and layer.name == "square":
            var += (s**2).reshape(n * k, -1).sum(axis=1)
            s = s * 2 * rep
        elif kind == "Activation":  # exact ReLU
            s = s * (rep > 0)
        else:  # max pooling: route to the (first) maximum of each window
            ph, pw = layer.pool_size
            sh, sw = layer.strides
            win = np.lib.stride_tricks.sliding_window_view(rep, (ph, pw), axis=(1, 2))
            win = win[:, ::sh, ::sw][:, : s.shape[1], : s.shape[2]]  # (B, Ho, Wo, C, ph, pw)
            flat = win.reshape(*win.shape[:4], -1)
            arg = flat.argmax(axis=-1)
            grad = np.zeros(rep.shape)
            bi, hi, wi, ci = np.indices(arg.shape)
            grad_rows = hi * sh + arg // pw
            grad_cols = wi * sw + arg % pw
            np.add.at(grad, (bi, grad_rows, grad_cols, ci), s)
            s = grad
    proxy = var.reshape(n, k) * ulp**2 / 4
    lam = np.sqrt(2 * proxy * math.log(2 * n * k / delta))
    return det + lam


def _conv_float(x: np.ndarray, w: np.ndarray, strides: tuple[int, int], padding: ring.PaddingLike
                ) -> np.ndarray:
    h, wd = x.shape[1], x.shape[2]
    kh, kw = w.shape[0], w.shape[1]
    ho, pt, pb = ring.conv2d_padding(h, kh, strides[0], padding, 0)
    wo, pl, pr = ring.conv2d_padding(wd, kw, strides[1], padding, 1)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(1, 2))
    win = win[:, : (ho - 1) * strides[0] + 1 : strides[0], : (wo - 1) * strides[1] + 1 : strides[1]]
    return np.tensordot(win, w, axes=([4, 5, 3], [0, 1, 2]))
