"""Dealer triples: c = a * b for every kind, request checks, the dealer's messages."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid.runner import run_parties
from hecrypt.hybrid.triples import (
    DealerTripleSource,
    TripleRequest,
    check_budget,
    dealer_program,
    triple_product,
)

REQUESTS = [
    TripleRequest("mul", (3, 4), (3, 4)),
    TripleRequest("square", (5,)),
    TripleRequest("matmul", (4, 6), (6, 2)),
    TripleRequest("conv2d", (2, 6, 5, 3), (3, 3, 3, 4), ((1, 1), "same")),
    TripleRequest("conv2d", (1, 7, 7, 2), (2, 3, 2, 1), ((2, 3), "valid")),
]


def _computing(party: Any, peer: str, requests: list[TripleRequest]) -> list[tuple]:
    src = DealerTripleSource(party, peer)
    with party.phase("offline"):
        src.prepare(requests)
    assert src.pending == len(requests)
    out = [tuple(src.take(r)) for r in requests]
    src.close()
    return out


def run_dealer(requests: list[TripleRequest], reports: dict | None = None) -> dict[str, Any]:
    return run_parties({
        "client": functools.partial(_computing, peer="server", requests=requests),
        "server": functools.partial(_computing, peer="client", requests=requests),
        "dealer": dealer_program,
    }, reports=reports, timeout=20)


def test_every_kind_satisfies_c_equals_a_times_b() -> None:
    reports: dict[str, Any] = {}
    res = run_dealer(REQUESTS, reports)
    assert res["dealer"] == {"batches": 1, "triples": 5,
                             "elements": sum(r.elements for r in REQUESTS)}
    for i, req in enumerate(REQUESTS):
        a0, b0, c0 = res["client"][i]
        a1, b1, c1 = res["server"][i]
        a = a0 + a1
        b = None if b0 is None else b0 + b1
        assert a.shape == req.shape_a and c0.shape == req.shape_c
        assert np.array_equal(c0 + c1, triple_product(req, a, b))
        # shares of a are not the value: each party's share alone looks random
        assert not np.array_equal(a0, a) and not np.array_equal(a1, a)
    # the dealer works offline; the client receives a seed only, the server seed + c
    assert reports["dealer"]["online_bytes_sent"] == 0
    c_bytes = 8 * sum(int(np.prod(r.shape_c)) for r in REQUESTS)
    sent = reports["dealer"]["peers"]
    assert sent["client"]["bytes_sent"] < 200
    assert c_bytes < sent["server"]["bytes_sent"] < c_bytes + 400
    assert reports["client"]["offline_rounds"] == 2


def test_triples_differ_between_runs() -> None:
    req = [TripleRequest("mul", (8,), (8,))]
    r1 = run_dealer(req)
    r2 = run_dealer(req)
    assert not np.array_equal(r1["client"][0][0], r2["client"][0][0])


def test_request_validation() -> None:
    assert TripleRequest("matmul", [2, 3], [3, 4]).shape_c == (2, 4)
    assert TripleRequest("conv2d", (1, 8, 8, 1), (3, 3, 1, 4), ((1, 1), "same")).shape_c == (
        1, 8, 8, 4)
    with pytest.raises(ValueError, match="unknown triple kind"):
        TripleRequest("div", (2,))
    with pytest.raises(ValueError, match="equal shapes"):
        TripleRequest("mul", (2,), (3,))
    with pytest.raises(ValueError, match="needs shape_b"):
        TripleRequest("matmul", (2, 3))
    with pytest.raises(ValueError, match=r"a \(m, k\)"):
        TripleRequest("matmul", (2, 3), (4, 4))
    with pytest.raises(ValueError, match="conv2d params"):
        TripleRequest("conv2d", (1, 8, 8, 1), (3, 3, 1, 4), ((1, 1), "full"))
    with pytest.raises(ValueError, match="no b"):
        TripleRequest("square", (2,), (2,))
    r = REQUESTS[3]
    assert TripleRequest.from_wire(r.to_wire()) == r
    with pytest.raises(ProtocolError, match="malformed triple request"):
        TripleRequest.from_wire(["mul", "x", None, []])


def _take_wrong(party: Any, peer: str) -> None:
    src = DealerTripleSource(party, peer)
    src.prepare([TripleRequest("square", (2,))])
    src.take(TripleRequest("square", (3,)))


def _take_unprepared(party: Any, peer: str) -> None:
    DealerTripleSource(party, peer).take(TripleRequest("square", (3,)))


def test_take_refuses_a_triple_that_was_not_prepared() -> None:
    with pytest.raises(ProtocolError, match="was asked"):
        run_parties({"client": functools.partial(_take_wrong, peer="server"),
                     "server": functools.partial(_take_wrong, peer="client"),
                     "dealer": dealer_program}, timeout=10)
    with pytest.raises(ProtocolError, match="plan did not include it"):
        run_parties({"client": functools.partial(_take_unprepared, peer="server"),
                     "server": functools.partial(_take_unprepared, peer="client")}, timeout=10)


def _ask(party: Any, peer: str, n: int) -> None:
    DealerTripleSource(party, peer).prepare([TripleRequest("square", (n,))])


def test_dealer_refuses_different_or_oversized_requests() -> None:
    with pytest.raises(ProtocolError, match="different triples"):
        run_parties({"client": functools.partial(_ask, peer="server", n=2),
                     "server": functools.partial(_ask, peer="client", n=3),
                     "dealer": dealer_program}, timeout=10)
    with pytest.raises(ProtocolError, match="more than the limit"):
        run_parties({"client": functools.partial(_ask, peer="server", n=100),
                     "server": functools.partial(_ask, peer="client", n=100),
                     "dealer": functools.partial(dealer_program, max_elements=50)}, timeout=10)


def _on_demand(party: Any, peer: str) -> tuple:
    src = DealerTripleSource(party, peer, on_demand=True)
    t = src.take(TripleRequest("mul", (4,), (4,)))
    src.close()
    return tuple(t)


def test_on_demand_fetches_one_triple() -> None:
    res = run_parties({"client": functools.partial(_on_demand, peer="server"),
                       "server": functools.partial(_on_demand, peer="client"),
                       "dealer": dealer_program}, timeout=10)
    (a0, b0, c0), (a1, b1, c1) = res["client"], res["server"]
    assert np.array_equal(c0 + c1, (a0 + a1) * (b0 + b1))
    assert res["dealer"]["batches"] == 1



def _ask_conv(party: Any, peer: str) -> None:
    # small shares (10,000 + 81 + 10,000 elements), a large patch matrix (100 * 100 * 81)
    req = TripleRequest("conv2d", (1, 100, 100, 1), (9, 9, 1, 1), ((1, 1), "same"))
    DealerTripleSource(party, peer).prepare([req])


def test_dealer_counts_the_patch_matrix_of_a_convolution() -> None:
    req = TripleRequest("conv2d", (1, 100, 100, 1), (9, 9, 1, 1), ((1, 1), "same"))
    assert req.elements == 10_000 + 81 + 10_000
    assert req.work_elements == 100 * 100 * 81
    assert TripleRequest("matmul", (3, 4), (4, 5)).work_elements == 0
    assert check_budget([req], req.elements + req.work_elements, "x") == 830_081
    with pytest.raises(ProtocolError, match="more than the limit 830080"):
        check_budget([req], 830_080, "x")
    with pytest.raises(ProtocolError, match="more than the limit"):
        run_parties({"client": functools.partial(_ask_conv, peer="server"),
                     "server": functools.partial(_ask_conv, peer="client"),
                     "dealer": functools.partial(dealer_program, max_elements=100_000)},
                    timeout=10)


def test_client_refuses_a_described_model_beyond_the_budget() -> None:
    from hecrypt.hybrid.inference import check_spec, model_spec
    from hecrypt.models import Conv2D, Dense, Flatten, Sequential

    spec = model_spec(Sequential([Conv2D(1, 3, padding="same", input_shape=(8, 8, 1)),
                                  Flatten(), Dense(2)], seed=0))
    assert check_spec(spec) is spec
    # a few bytes claiming a wide kernel on a large input: the triples' shares fit the
    # budget (about 1.1 million elements), the patch matrix (262,144 x 3,969) does not
    spec["input_shape"] = [512, 512, 1]
    spec["layers"][0]["kernel"] = [63, 63, 1, 1]
    spec["layers"][-1]["kernel"] = [512 * 512, 2]
    with pytest.raises(ProtocolError, match=r"model the server described.*more than the limit"):
        check_spec(spec)
    spec["layers"][0]["kernel"] = [3, 3, 1, 1]
    assert check_spec(spec) is spec  # the same model with a small kernel fits


def test_client_refuses_a_linear_model_beyond_the_budget() -> None:
    from hecrypt.hybrid.inference import check_spec, model_spec
    from hecrypt.models import LinearModel

    spec = model_spec(LinearModel(np.ones(3), 0.0))
    assert check_spec(spec) is spec
    # each size is within the per-dimension cap (2^20); their product is not
    spec["kernel"] = [1 << 20, 256]
    spec["info"].update(n_features=1 << 20, n_outputs=256, single_output=False)
    with pytest.raises(ProtocolError, match=r"model the server described.*more than the limit"):
        check_spec(spec)
