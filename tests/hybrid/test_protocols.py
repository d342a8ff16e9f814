"""Beaver products, truncation, polynomials and pooling in shares, with exact costs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid import ring
from hecrypt.hybrid.frames import FRAME_HEADER_SIZE
from hecrypt.hybrid.polynomials import fit, relu_poly, sigmoid_poly, square
from hecrypt.hybrid.protocols import (
    SecretSharing,
    polynomial_plan,
    polynomial_requests,
    truncation_failure_probability,
)
from hecrypt.hybrid.runner import run_parties
from hecrypt.hybrid.triples import DealerTripleSource, TripleRequest, dealer_program
from hecrypt.hybrid.wire import encode_message

F = ring.DEFAULT_FRAC_BITS
ULP = 2.0**-F

Body = Callable[[SecretSharing], Any]


def _program(party: Any, body: Body, plan: list[TripleRequest] | None) -> Any:
    peer = "server" if party.name == "client" else "client"
    src = DealerTripleSource(party, peer, on_demand=plan is None)
    if plan:
        with party.phase("offline"):
            src.prepare(plan)
    out = body(SecretSharing(party, peer, src))
    src.close()
    return out


def run(body: Body, plan: list[TripleRequest] | None = None,
        reports: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``body`` on the client and the server, with a dealer; return their results."""
    prog = functools.partial(_program, body=body, plan=plan)
    return run_parties({"client": prog, "server": prog, "dealer": dealer_program},
                       reports=reports, timeout=20)


def _shared_inputs(ss: SecretSharing, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    me = ss.name
    return tuple(ss.inputs([(x if me == "client" else None, "client", x.shape),
                            (y if me == "server" else None, "server", y.shape)]))


vals = st.floats(-50.0, 50.0, allow_nan=False)


@settings(max_examples=8, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 5)), elements=vals),
       st.data())
def test_products_within_truncation_bound(x: np.ndarray, data: st.DataObject) -> None:
    y = data.draw(hnp.arrays(np.float64, x.shape, elements=vals))
    w = data.draw(hnp.arrays(np.float64, (x.shape[1], 3), elements=vals))

    def body(ss: SecretSharing) -> Any:
        sx, sy = _shared_inputs(ss, x, y)
        sw = ss.input(w if ss.name == "server" else None, "server", w.shape)
        return ss.open(ss.mul(sx, sy)), ss.open(ss.square(sx)), ss.open(ss.matmul(sx, sw))

    res = run(body)
    prod, sq, mm = res["client"]
    for got in (res["server"][0], res["server"][1]):
        assert got.shape == x.shape
    # encoding error of each operand (ULP/2), times the other operand, plus 1 ULP truncation
    bound = ULP / 2 * (np.abs(x) + np.abs(y) + ULP) + ULP
    assert np.all(np.abs(prod - x * y) <= bound)
    assert np.all(np.abs(sq - x * x) <= ULP / 2 * (2 * np.abs(x) + ULP) + ULP)
    mm_bound = ULP / 2 * (np.abs(x) @ np.ones_like(w) + np.ones_like(x) @ np.abs(w) + 1) + ULP
    assert np.all(np.abs(mm - x @ w) <= mm_bound)
    assert np.array_equal(res["server"][2], mm)


def test_conv2d_in_shares() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 6, 6, 2)) * 4
    w = rng.normal(size=(3, 3, 2, 3))

    def body(ss: SecretSharing) -> Any:
        sx, sw = _shared_inputs(ss, x, w)
        return ss.open(ss.conv2d(sx, sw, 1, "same")), ss.open(ss.conv2d(sx, sw, (2, 1), "valid"))

    same, valid = run(body)["client"]
    ref_same = ring.decode(ring.conv2d(ring.encode(x, F), ring.encode(w, F), 1, "same"), 2 * F)
    ref_valid = ring.decode(ring.conv2d(ring.encode(x, F), ring.encode(w, F), (2, 1), "valid"),
                            2 * F)
    assert np.all(np.abs(same - ref_same) <= ULP)
    assert np.all(np.abs(valid - ref_valid) <= ULP)


@pytest.mark.parametrize("poly", [sigmoid_poly(), sigmoid_poly(degree=3), relu_poly(),
                                  square(), fit("sigmoid", 5, (-4, 6), name="s5")],
                         ids=lambda p: p.name)
def test_polynomials_match_plaintext_and_their_target(poly: Any) -> None:
    lo, hi = poly.interval
    x = np.linspace(lo, hi, 101).reshape(1, -1)

    def body(ss: SecretSharing) -> Any:
        sx = ss.input(x if ss.name == "client" else None, "client", x.shape)
        return ss.open(ss.polynomial(sx, poly))

    got = run(body)["client"]
    _, d, levels = polynomial_plan(poly)
    # fixed-point error: t off by 1 ULP (truncation), each power by 1 ULP per level,
    # coefficients by ULP/2 each, final truncation 1 ULP
    slope = sum(abs(c) * j for j, c in enumerate(d))
    bound = slope * ULP * (2 + len(levels)) + ULP / 2 * sum(abs(c) for c in d) + 2 * ULP
    assert np.max(np.abs(got - poly(x))) <= bound
    if poly.target is not None:
        assert np.max(poly.error_on(x)) <= poly.max_error + 1e-12
        assert np.max(np.abs(got - poly(x))) + poly.max_error < 0.25


def test_polynomial_rounds_are_logarithmic() -> None:
    assert [len(lv) for lv in polynomial_plan(sigmoid_poly())[2]] == [1, 2, 2]  # t2; t3 t4; t5 t7
    assert polynomial_plan(sigmoid_poly())[0] == 3  # t = x / 8
    p9 = polynomial_plan(sigmoid_poly(degree=9))[2]
    assert len(p9) == 4
    assert polynomial_plan(square())[2] == [[(1, 1)]]
    # an odd degree-7 polynomial: four products in three rounds (t^2; t^4, t^3; t^4 (d5 t + d7 t^3))
    assert [r.kind for r in polynomial_requests((2, 3), sigmoid_poly())] == [
        "square", "square", "mul", "mul"]
    assert [r.kind for r in polynomial_requests((2,), sigmoid_poly(degree=5))] == [
        "square", "mul", "square", "mul"]


def test_average_pooling() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 6, 6, 3))

    def body(ss: SecretSharing) -> Any:
        sx = ss.input(x if ss.name == "client" else None, "client", x.shape)
        return ss.open(ss.avg_pool2d(sx, 2)), ss.open(ss.avg_pool2d(sx, 3, 2))

    p2, p3 = run(body)["client"]
    ref2 = x.reshape(2, 3, 2, 3, 2, 3).mean(axis=(2, 4))
    win = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))[:, ::2, ::2]
    assert np.all(np.abs(p2 - ref2) <= 2 * ULP)
    assert np.all(np.abs(p3 - win.mean(axis=(4, 5))) <= 3 * ULP)


def test_reveal_only_to_the_named_party_and_private_bias() -> None:
    x = np.array([[1.5, -2.25]])
    bias = np.array([0.5, 0.5])

    def body(ss: SecretSharing) -> Any:
        sx = ss.input(x if ss.name == "client" else None, "client", x.shape)
        sx = ss.add_private(sx, bias if ss.name == "server" else None, "server")
        return ss.reveal(sx, "client"), ss.reveal(sx * 2, "server")

    res = run(body)
    assert res["client"][0].tolist() == [[2.0, -1.75]] and res["client"][1] is None
    assert res["server"][0] is None and res["server"][1].tolist() == [[4.0, -3.5]]


def test_exact_bytes_and_rounds_of_a_small_protocol() -> None:
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    y = np.array([[0.5, -1.0, 2.0], [1.0, 1.0, -0.25]])
    plan = [TripleRequest("mul", (2, 3), (2, 3))]

    def body(ss: SecretSharing) -> Any:
        sx, sy = _shared_inputs(ss, x, y)
        return ss.reveal(ss.mul(sx, sy), "client")

    reports: dict[str, Any] = {}
    res = run(body, plan, reports)
    assert res["client"].tolist() == (x * y).tolist()
    arr = np.zeros((2, 3), dtype=np.uint64)
    seed = bytes(32)

    def frame(obj: Any) -> int:
        return FRAME_HEADER_SIZE + len(encode_message(obj))

    input_msg = frame([seed, [2, 3]])
    beaver = frame([arr, arr])
    reveal = frame(arr)
    c, s, d = reports["client"], reports["server"], reports["dealer"]
    close = frame({"op": "close"})
    assert c["peers"]["server"]["online_bytes_sent"] == input_msg + beaver
    assert s["peers"]["client"]["online_bytes_sent"] == input_msg + beaver + reveal
    assert c["online_bytes_sent"] == input_msg + beaver
    assert c["online_bytes_received"] == input_msg + beaver + reveal
    # online: inputs (1 round), Beaver opening (1), reveal (1)
    assert c["online_rounds"] == 3 and s["online_rounds"] == 2
    # offline: requests to the dealer, seeds back, and the closing message
    req = frame({"op": "prepare", "requests": [plan[0].to_wire()]})
    assert c["offline_bytes_sent"] == req + close and c["offline_rounds"] == 2
    assert c["offline_bytes_received"] == frame({"seed": seed})
    assert s["offline_bytes_received"] == frame({"seed": seed, "c": [arr]})
    assert d["bytes_received"] == 2 * (req + close)
    assert d["online_bytes_sent"] == 0
    # the dealer: requests in (1), seeds out, closing messages in (sent at offline depth 2)
    assert d["offline_rounds"] == 3 and d["online_rounds"] == 0


def test_truncation_failure_probability() -> None:
    assert truncation_failure_probability(6) == 2.0**-25
    assert truncation_failure_probability(0) == 2.0**-31
    assert truncation_failure_probability(31, 16) == 1.0
    assert truncation_failure_probability(10, 13) == 2.0 ** (10 + 26 + 1 - 64)


def _bad_peer(party: Any) -> None:
    party.send("client", [b"x" * 5, [2]])
    party.recv("client")


def _input_client(party: Any) -> None:
    ss = SecretSharing(party, "server", DealerTripleSource(party, "server"))
    ss.input(None, "server", (2,))


def test_malformed_input_message_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="no valid seed"):
        run_parties({"client": _input_client, "server": _bad_peer}, timeout=5)


def test_input_owner_must_be_a_computing_party() -> None:
    def body(ss: SecretSharing) -> Any:
        return ss.input(np.ones(2), "dealer", (2,))

    with pytest.raises(ProtocolError, match="not a computing party"):
        run(body)


def test_script_api_classic_example() -> None:
    from hecrypt.hybrid.script import Computation

    rng = np.random.default_rng(7)
    weights = rng.normal(size=(5, 1))
    records = rng.normal(size=(20, 5))
    with Computation("server", "client", "dealer") as prot:
        w = prot.input(weights, owner="server")
        x = prot.input(records, owner="client")
        y = prot.sigmoid(prot.dot(x, w))
        result = prot.reveal(y, to="client")
        both = prot.open(prot.sum(x * 2.0 + 1 - x, axis=1))
        sq = prot.reveal(prot.square(x) - x * x, to="server")
    assert result.value is not None and both.value is not None and sq.value is not None
    poly = sigmoid_poly()
    assert np.max(np.abs(result.value - poly(records @ weights))) < 1e-3
    assert np.max(np.abs(both.value - (records + 1).sum(axis=1))) < 1e-3
    assert np.max(np.abs(sq.value)) < 1e-3
    assert prot.report["dealer"]["online_bytes_sent"] == 0  # every triple prepared offline
    assert prot.report["client"]["offline_rounds"] == 2
    assert "total" in prot.report_table()
    with pytest.raises(ProtocolError, match="already run"):
        prot.input(records, owner="client")
    with pytest.raises(ProtocolError, match="not a computing party"):
        Computation().input(records, owner="dealer")
