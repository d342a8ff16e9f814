"""Exact comparison, ReLU and max pooling in shares (dealer triples), with exact costs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hecrypt.exceptions import UnsupportedModelError
from hecrypt.hybrid import comparison, ring
from hecrypt.hybrid.frames import FRAME_HEADER_SIZE
from hecrypt.hybrid.protocols import SecretSharing
from hecrypt.hybrid.runner import run_parties
from hecrypt.hybrid.shares import SharedTensor
from hecrypt.hybrid.triples import DealerTripleSource, TripleRequest, dealer_program
from hecrypt.hybrid.wire import encode_message
from hecrypt.models import Activation, AveragePooling2D, Dense, MaxPooling2D

F = ring.DEFAULT_FRAC_BITS
Body = Callable[[SecretSharing], Any]
EDGES = [0, 1, 2**63 - 1, 2**63, 2**63 + 1, 2**64 - 1, 2**62, 3 * 2**62, 2**32, 2**64 - 2**32]


def _program(party: Any, body: Body, plan: list[TripleRequest]) -> Any:
    peer = "server" if party.name == "client" else "client"
    src = DealerTripleSource(party, peer)
    with party.phase("offline"):
        src.prepare(plan)
    out = body(SecretSharing(party, peer, src))
    if src.pending:
        raise AssertionError(f"{src.pending} prepared triples were not used")
    src.close()
    return out


def run(body: Body, plan: list[TripleRequest],
        reports: dict[str, Any] | None = None) -> dict[str, Any]:
    prog = functools.partial(_program, body=body, plan=plan)
    return run_parties({"client": prog, "server": prog, "dealer": dealer_program},
                       reports=reports, timeout=30)


def _split(ss: SecretSharing, u: np.ndarray) -> SharedTensor:
    # the client draws the server's share and sends it (test helper: any split works)
    if ss.name == "client":
        r = ring.random_ring(u.shape)
        ss.party.send("server", r)
        return SharedTensor(u - r, 0, ss.index)
    return SharedTensor(ss.party.recv("client"), 0, ss.index)


ring_words = st.one_of(st.sampled_from(EDGES), st.integers(0, 2**64 - 1))


@settings(max_examples=10, deadline=None)
@given(st.lists(ring_words, min_size=1, max_size=40))
def test_sign_of_every_ring_element(words: list[int]) -> None:
    u = np.array(words, dtype=np.uint64)

    def body(ss: SecretSharing) -> Any:
        return ss.open_ring(comparison.nonnegative(ss, _split(ss, u)))

    res = run(body, comparison.sign_requests(u.shape))
    expected = (u < np.uint64(2**63)).astype(np.uint64)  # signed value >= 0
    np.testing.assert_array_equal(res["client"], expected)
    np.testing.assert_array_equal(res["server"], expected)


big = float(np.nextafter(ring.encode_max(F), 0))  # the largest encodable magnitude
HALF = float(np.nextafter(2.0 ** (62 - F), 0))  # the largest input magnitude of maximum()
values = st.one_of(st.sampled_from([0.0, -0.0, 2.0**-F, -(2.0**-F), big, -big, 1.0, -1.0]),
                   st.floats(-big, big, allow_nan=False))


@settings(max_examples=10, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 6)), elements=values))
def test_relu_is_exact_on_encoded_values(x: np.ndarray) -> None:
    enc = ring.encode(x, F)

    def body(ss: SecretSharing) -> Any:
        sx = _split(ss, enc)
        sx = SharedTensor(sx.share, F, ss.index)
        return ss.open_ring(comparison.relu(ss, sx))

    res = run(body, comparison.relu_requests(x.shape))
    expected = np.where(enc < np.uint64(2**63), enc, np.uint64(0))
    np.testing.assert_array_equal(res["client"], expected)
    np.testing.assert_array_equal(ring.decode(res["client"], F), np.maximum(ring.decode(enc, F), 0))


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 2), st.integers(2, 7), st.integers(2, 7), st.integers(1, 3),
       st.sampled_from([(2, 2), (3, 3), (2, 3), (1, 2)]), st.sampled_from([None, 1, 2]),
       st.integers(0, 2**32 - 1))
def test_max_pool_matches_numpy(n: int, h: int, w: int, c: int, pool: tuple[int, int],
                                stride: int | None, seed: int) -> None:
    if h < pool[0] or w < pool[1]:
        return
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(size=(n, h, w, c)) * 100, 3)
    x[0, 0, 0, 0] = 0.0
    # the largest magnitudes maximum() is exact for (its docstring): just below 2^(62 - F)
    x.flat[-1] = -HALF
    if x.size > 2:
        x.flat[1] = HALF
    enc = ring.encode(x, F)
    strides = pool if stride is None else (stride, stride)

    def body(ss: SecretSharing) -> Any:
        sx = SharedTensor(_split(ss, enc).share, F, ss.index)
        return ss.open(comparison.max_pool2d(ss, sx, pool, strides))

    res = run(body, comparison.max_pool_requests(x.shape, pool, strides))
    win = np.lib.stride_tricks.sliding_window_view(ring.decode(enc, F), pool, axis=(1, 2))
    expected = win[:, ::strides[0], ::strides[1]].max(axis=(4, 5))
    np.testing.assert_array_equal(res["client"], expected)
    np.testing.assert_array_equal(res["server"], expected)


half_words = st.one_of(st.sampled_from([0, 1, -1, 2**62 - 1, -(2**62 - 1), 2**61, -(2**61)]),
                       st.integers(-(2**62 - 1), 2**62 - 1))


@settings(max_examples=10, deadline=None)
@given(st.lists(st.tuples(half_words, half_words), min_size=1, max_size=30))
def test_maximum_is_exact_on_its_whole_domain(pairs: list[tuple[int, int]]) -> None:
    """max(x, y) for every pair of ring integers with |x|, |y| < 2^62 (the stated domain)."""
    x = np.array([p[0] for p in pairs], dtype=np.int64)
    y = np.array([p[1] for p in pairs], dtype=np.int64)

    def body(ss: SecretSharing) -> Any:
        sx, sy = _split(ss, x.view(np.uint64)), _split(ss, y.view(np.uint64))
        return ss.open_ring(comparison.maximum(ss, sx, sy))

    res = run(body, comparison.relu_requests(x.shape))
    np.testing.assert_array_equal(res["client"].view(np.int64), np.maximum(x, y))
    np.testing.assert_array_equal(res["server"].view(np.int64), np.maximum(x, y))


def test_exact_rounds_and_bytes_per_element() -> None:
    shape = (3, 5)
    enc = ring.encode(np.linspace(-3, 3, 15).reshape(shape), F)

    def body(ss: SecretSharing) -> Any:
        sx = SharedTensor(_split(ss, enc).share, F, ss.index)
        before = ss.party.report()
        out = comparison.relu(ss, sx)
        after = ss.party.report()
        cost = {k: after[k] - before[k] for k in ("online_bytes_sent",)}
        return ss.open(out), cost

    reports: dict[str, Any] = {}
    res = run(body, comparison.relu_requests(shape), reports)
    np.testing.assert_array_equal(res["client"][0], np.maximum(ring.decode(enc, F), 0))
    arr = np.zeros(shape, dtype=np.uint64)
    two = np.zeros((2, *shape), dtype=np.uint64)

    def frame(obj: Any) -> int:
        return FRAME_HEADER_SIZE + len(encode_message(obj))

    expected = 2 * frame([arr, arr]) + 5 * frame([two, two]) + 2 * frame([arr, arr])
    for name in ("client", "server"):
        assert res[name][1]["online_bytes_sent"] == expected
    # the whole run: the split (1 round), the ReLU, the opening (1 round)
    depth = max(reports[name]["online_rounds"] for name in ("client", "server"))
    assert depth == 1 + comparison.RELU_ROUNDS + 1 and comparison.RELU_ROUNDS == 9
    overhead = expected - 8 * 15 * 2 * (1 + 2 * 5 + 1 + 1 + 1)
    assert 0 < overhead < 9 * 64  # 224 payload bytes per element, plus framing per round
    # the dealer's share of the offline work: c for party 1 only (13 + 1 words per element)
    words = sum(int(np.prod(r.shape_c)) for r in comparison.relu_requests(shape))
    assert words == 14 * 15


def test_two_party_modes_refuse_exact_comparisons() -> None:
    layers = [Dense(4, input_shape=(3,)), Activation("relu")]
    comparison.refuse_without_dealer(layers, "dealer")
    with pytest.raises(UnsupportedModelError, match=r"dealer.*relu_poly"):
        comparison.refuse_without_dealer(layers, "two-party")
    with pytest.raises(UnsupportedModelError, match=r"max pooling.*AveragePooling2D"):
        comparison.refuse_without_dealer([MaxPooling2D(2, input_shape=(4, 4, 1))], "hybrid")
    comparison.refuse_without_dealer([AveragePooling2D(2, input_shape=(4, 4, 1))], "hybrid")


def test_dealer_binary_triples_are_xor_shared_ands() -> None:
    req = TripleRequest("and", (4, 50), (4, 50))

    def body(ss: SecretSharing) -> Any:
        return ss.triples.take(req)

    res = run(body, [req])
    t0, t1 = res["client"], res["server"]
    a, b, c = t0.a ^ t1.a, t0.b ^ t1.b, t0.c ^ t1.c
    np.testing.assert_array_equal(c, a & b)
    assert len(np.unique(a)) > 150  # uniform words, not a constant
