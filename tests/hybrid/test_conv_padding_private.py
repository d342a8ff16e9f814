"""Private inference through convolutions with explicit (PyTorch/ONNX) padding."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid import ring
from hecrypt.hybrid.errorbound import statistical_error_bound
from hecrypt.hybrid.inference import check_spec, model_spec, plan
from hecrypt.hybrid.parties import client_program, private_predict
from hecrypt.hybrid.polynomials import sigmoid_poly
from hecrypt.hybrid.runner import run_parties
from hecrypt.hybrid.triples import TripleRequest, dealer_program
from hecrypt.models import Activation, Conv2D, Dense, Flatten, Sequential

SMALL = {"key_bits": 1024, "insecure_small_keys": True}


def _loops(x: np.ndarray, w: np.ndarray, strides: tuple[int, int],
           pads: tuple[tuple[int, int], tuple[int, int]]) -> list[Any]:
    """Integer convolution in Python ints by loops (exact; nested lists)."""
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    xs, ws = x.tolist(), w.tolist()
    (top, bottom), (left, right) = pads
    ho = (h + top + bottom - kh) // strides[0] + 1
    wo = (wd + left + right - kw) // strides[1] + 1

    def at(b: int, r: int, q: int, ch: int) -> int:
        r, q = r - top, q - left
        return int(xs[b][r][q][ch]) if 0 <= r < h and 0 <= q < wd else 0

    return [[[[sum(at(b, i * strides[0] + p, j * strides[1] + q, ch) * int(ws[p][q][ch][f])
                   for p in range(kh) for q in range(kw) for ch in range(c))
               for f in range(o)] for j in range(wo)] for i in range(ho)] for b in range(n)]


def _mod(v: Any) -> Any:
    return [_mod(e) for e in v] if isinstance(v, list) else v % (1 << 64)


@pytest.mark.parametrize(("strides", "padding", "pads"), [
    ((2, 2), 1, ((1, 1), (1, 1))),
    ((2, 1), ((2, 0), (1, 2)), ((2, 0), (1, 2))),
    ((1, 3), [[0, 1], [2, 0]], ((0, 1), (2, 0))),
])
def test_ring_conv2d_with_explicit_pads_is_exact(strides: tuple[int, int], padding: Any,
                                                 pads: tuple[tuple[int, int], tuple[int, int]]
                                                 ) -> None:
    rng = np.random.default_rng(4)
    x = ring.random_ring((2, 8, 7, 2))
    w = ring.random_ring((3, 3, 2, 3))
    got = ring.conv2d(x, w, strides, padding)
    assert got.shape == ring.conv2d_output_shape(x.shape, w.shape, strides, padding)
    assert got.tolist() == _mod(_loops(x, w, strides, pads))
    small = rng.integers(-9, 9, size=(1, 8, 7, 2))
    ker = rng.integers(-9, 9, size=(3, 3, 2, 3))
    signed = ring.to_signed(ring.conv2d(ring.from_signed(small), ring.from_signed(ker), strides,
                                        padding))
    assert signed.tolist() == _loops(small, ker, strides, pads)


@pytest.mark.parametrize(("args", "rule"), [
    ((8, 3, 2, ((3, 0), (0, 0))), "smaller than the kernel"),
    ((8, 3, 2, ((-1, 0), (0, 0))), "non-negative"),
    ((8, 3, 2, ((1, 0),)), r"\(\(top, bottom\), \(left, right\)\)"),
    ((1, 5, 1, ((1, 1), (0, 0))), "output size < 1"),
])
def test_ring_padding_refusals(args: tuple[Any, ...], rule: str) -> None:
    with pytest.raises(ValueError, match=rule):
        ring.conv2d_padding(*args)


def _net(seed: int) -> Sequential:
    poly = sigmoid_poly()
    net = Sequential([
        Conv2D(3, 3, strides=2, padding=1, input_shape=(8, 8, 1)),  # 8x8 -> 4x4, PyTorch-style
        Activation("sigmoid", approx=poly),
        Conv2D(2, 2, strides=1, padding=((0, 1), (1, 0))),  # asymmetric: 4x4 -> 4x4
        Flatten(), Dense(3),
    ], seed=seed)
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        if getattr(layer, "kernel", None) is not None:
            layer.set_weights(rng.normal(0, 0.5, layer.kernel.shape),
                              rng.normal(0, 0.5, layer.bias.shape))
    return net


def test_dealer_mode_equals_plaintext_within_the_bound() -> None:
    net = _net(1)
    X = np.random.default_rng(2).uniform(-1, 1, (6, 8, 8, 1))
    res = private_predict(net, X)
    ref = net.predict(X)
    assert np.all(np.abs(res.logits - ref) <= statistical_error_bound(net, X))
    assert np.array_equal(res.labels, ref.argmax(axis=1))
    assert [r.params for r in plan(net, 6) if r.kind == "conv2d"] == [
        ((2, 2), ((1, 1), (1, 1))), ((1, 1), ((0, 1), (1, 0)))]


@pytest.mark.parametrize("mode", ["two-party", "hybrid"])
def test_paillier_modes_equal_plaintext(mode: str) -> None:
    net = Sequential([Conv2D(2, 3, strides=2, padding=((1, 1), (0, 2)), input_shape=(6, 5, 1)),
                      Activation("square"), Flatten(), Dense(2)], seed=3)
    X = np.random.default_rng(5).uniform(-1, 1, (2, 6, 5, 1))
    res = private_predict(net, X, mode=mode, **SMALL)
    ref = net.predict(X)
    np.testing.assert_allclose(res.logits, ref, atol=2e-3)
    np.testing.assert_array_equal(res.labels, ref.argmax(axis=1))


def test_spec_carries_padding_and_the_client_checks_it() -> None:
    spec = model_spec(_net(1))
    assert spec["layers"][0]["padding"] == [[1, 1], [1, 1]]
    assert check_spec(spec)["layers"][0]["padding"] == ((1, 1), (1, 1))
    for bad, rule in ([[[1, 1], [1, -1]], "non-negative"], [[[3, 0], [0, 0]], "smaller"],
                      [[[1, 1]], "top, bottom"], [[[1, 1], [True, 0]], "ints"],
                      ["full", "'valid', 'same'"]):
        spec = model_spec(_net(1))
        spec["layers"][0]["padding"] = bad
        with pytest.raises(ProtocolError, match=f"malformed model description.*{rule}"):
            check_spec(spec)


def test_dealer_checks_the_padding_of_a_request() -> None:
    good = TripleRequest("conv2d", (1, 8, 8, 1), (3, 3, 1, 2), ((2, 2), ((1, 1), (1, 1))))
    assert good.shape_c == (1, 4, 4, 2)
    assert TripleRequest.from_wire(good.to_wire()) == good
    for bad in ([[1, 1], [[9, 9], [9, 9]]], [[1, 1], [[1, 1], [1, -1]]],
                [[1, 1], [[1, 1], "x"]], [["1", 1], "same"]):
        with pytest.raises(ProtocolError, match="malformed triple request"):
            TripleRequest.from_wire(["conv2d", [1, 8, 8, 1], [3, 3, 1, 2], bad])


def _lying_server(party: Any) -> None:
    spec = model_spec(_net(1))
    spec["layers"][0]["padding"] = [[100000, 100000], [0, 0]]
    with party.phase("offline"):
        party.send("client", {"spec": spec, "frac_bits": 16})
        party.recv("client")


def test_a_server_sending_huge_pads_is_refused_by_the_client() -> None:
    with pytest.raises(ProtocolError, match="malformed model description"):
        run_parties({"client": functools.partial(client_program, X=np.ones((1, 64))),
                     "server": _lying_server, "dealer": dealer_program}, timeout=10)


def test_pytorch_export_runs_privately_with_the_dealer() -> None:
    """The exported nn.Conv2d(..., stride=2, padding=1) network, exact ReLU in shares."""
    from pathlib import Path

    from hecrypt.models import from_onnx, nchw_to_nhwc

    path = Path(__file__).parents[1] / "models" / "data" / "stride2_pad1_cnn.onnx"
    net = from_onnx(path)
    X = nchw_to_nhwc(np.random.default_rng(9).normal(size=(4, 1, 8, 8)))
    res = private_predict(net, X)
    ref = net.predict(X)
    assert np.all(np.abs(res.logits - ref) <= statistical_error_bound(net, X))
    assert np.array_equal(res.labels, ref.argmax(axis=1))
