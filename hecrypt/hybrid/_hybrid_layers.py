"""The two-party modes' view of a network: linear layers as matrix products.

Part of :mod:`hecrypt.hybrid.hybrid` (its public path): the shapes every
layer sees, which inputs are already shared, the Paillier matrix-product job
of each linear layer (im2col rows for a convolution), the triples the hybrid
online phase takes for its activations, the homomorphic work it costs, and
the integer encoding of the weights (whose bit lengths the hybrid mode makes
public). Pure functions of the public architecture and the batch shape.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hecrypt.hybrid import paillier_cross as pc
from hecrypt.hybrid import ring
from hecrypt.hybrid.protocols import polynomial_plan, polynomial_requests
from hecrypt.hybrid.triples import TripleRequest

#: Largest bit length of an encoded weight (``round(w * 2^f)``) the hybrid mode accepts.
MAX_WEIGHT_BITS = 48


def _linear_layers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The spec's layers, a linear model being one dense layer."""
    if spec["model"] == "linear":
        return [{"type": "dense", "kernel": list(spec["kernel"])}]
    return list(spec["layers"])


def _shapes(layers: list[dict[str, Any]], shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The input shape of every layer, and the output shape last."""
    out = [shape]
    for layer in layers:
        t = layer["type"]
        if t == "conv2d":
            shape = ring.conv2d_output_shape(shape, layer["kernel"], tuple(layer["strides"]),
                                             layer["padding"])
        elif t == "dense":
            shape = (shape[0], int(layer["kernel"][1]))
        elif t == "avgpool":
            (ph, pw), (sh, sw) = layer["pool"], layer["strides"]
            shape = (shape[0], (shape[1] - ph) // sh + 1, (shape[2] - pw) // sw + 1, shape[3])
        elif t == "flatten":
            shape = (shape[0], math.prod(shape[1:]))
        out.append(shape)
    return out


def _lifted(layers: list[dict[str, Any]]) -> list[bool]:
    """Per layer: is its input shared by both parties (else it is the client's own data)?"""
    flags, own = [], True
    for layer in layers:
        flags.append(not own)
        own = own and layer["type"] == "flatten"
    return flags


def _job(layer: dict[str, Any], shape: tuple[int, ...], lifted: bool, y_bits: int
         ) -> pc.MatmulJob:
    if layer["type"] == "conv2d":
        kh, kw, cin, cout = layer["kernel"]
        n, ho, wo, _ = ring.conv2d_output_shape(shape, layer["kernel"], tuple(layer["strides"]),
                                                layer["padding"])
        return pc.MatmulJob(n * ho * wo, kh * kw * cin, cout, y_bits=y_bits, signed=True,
                            lifted=lifted)
    k, n_out = layer["kernel"]
    return pc.MatmulJob(shape[0], k, n_out, y_bits=y_bits, signed=True, lifted=lifted)


def _rows(x: np.ndarray, layer: dict[str, Any]) -> np.ndarray:
    """A linear layer's input as the rows of a matrix product (im2col for a convolution)."""
    if layer["type"] == "conv2d":
        kh, kw = layer["kernel"][0], layer["kernel"][1]
        return ring.im2col(x, kh, kw, tuple(layer["strides"]), layer["padding"])
    return x.reshape(x.shape[0], -1)


def _poly(d: dict[str, Any]) -> Any:
    from hecrypt.hybrid.polynomials import Polynomial

    return Polynomial.from_dict(d)


def _odd7(poly: Any) -> tuple[int, list[float]] | None:
    """``(k, d)`` of :func:`polynomial_plan` when ``poly`` is a constant plus an odd
    polynomial of degree 7 (the sigmoid's shape), else None."""
    k, d, _ = polynomial_plan(poly)
    if len(d) != 8 or any(d[j] != 0.0 for j in (2, 4, 6)):
        return None
    return k, d


def _poly_requests(shape: tuple[int, ...], poly: Any) -> list[TripleRequest]:
    """The triples :meth:`_Hybrid.polynomial` takes, in order."""
    if _odd7(poly) is None:
        return polynomial_requests(shape, poly)
    return [TripleRequest("square", shape), TripleRequest("square", shape),
            TripleRequest("mul", shape, shape), TripleRequest("mul", shape, shape)]


def hybrid_requests(spec: dict[str, Any], shape: tuple[int, ...]) -> list[TripleRequest]:
    """Every triple the hybrid online phase takes (activations only), in order."""
    layers = _linear_layers(spec)
    reqs: list[TripleRequest] = []
    shapes = _shapes(layers, shape)
    for layer, shp in zip(layers, shapes):
        if layer["type"] == "poly":
            reqs.extend(_poly_requests(shp, _poly(layer["poly"])))
        elif layer["type"] == "square":
            reqs.append(TripleRequest("square", shp))
    if spec["model"] == "linear" and spec["sigmoid"] is not None:
        reqs.extend(_poly_requests(shapes[-1], _poly(spec["sigmoid"])))
    return reqs


def _he_counts(spec: dict[str, Any], shape: tuple[int, ...], y_bits: list[int], n_bits: int,
               sigma: int) -> tuple[int, int]:
    """(client encryptions, server re-randomizations) of the hybrid online phase."""
    layers = _linear_layers(spec)
    enc = out = 0
    bits = iter(y_bits)
    for layer, shp, lifted in zip(layers, _shapes(layers, shape), _lifted(layers)):
        if layer["type"] in ("conv2d", "dense"):
            plan_ = pc.job_layout(_job(layer, shp, lifted, next(bits)), n_bits, sigma)
            enc += plan_.inputs
            out += plan_.outputs
    return enc, out


def encode_weights(weights: list[tuple[np.ndarray, np.ndarray | None]], frac_bits: int
                   ) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[int]]:
    """Kernels as ``round(W * 2^f)`` and biases as ``round(b * 2^2f)`` (int64), and the
    bit length of each kernel's largest encoded weight (public in the hybrid mode).

    Raises:
        EncodingOverflowError: a weight needs more than :data:`MAX_WEIGHT_BITS` bits.
    """
    from hecrypt.exceptions import EncodingOverflowError

    out, bits = [], []
    for kernel, bias in weights:
        w = np.rint(np.ldexp(np.asarray(kernel, dtype=np.float64), frac_bits))
        b = np.zeros(w.shape[-1]) if bias is None else np.asarray(bias, dtype=np.float64)
        b2 = np.rint(np.ldexp(b, 2 * frac_bits))
        top = float(np.abs(w).max()) if w.size else 0.0
        if top >= 2.0**MAX_WEIGHT_BITS or float(np.abs(b2).max(initial=0.0)) >= 2.0**62:
            raise EncodingOverflowError(
                f"a weight or bias is too large for the hybrid mode at {frac_bits} fractional "
                f"bits (|w| * 2^f < 2^{MAX_WEIGHT_BITS}, |b| * 2^2f < 2^62)")
        out.append((w.astype(np.int64), b2.astype(np.int64)))
        bits.append(max(1, int(top).bit_length()))
    return out, bits


# Users and pickles name the public path.
hybrid_requests.__module__ = encode_weights.__module__ = "hecrypt.hybrid.hybrid"
