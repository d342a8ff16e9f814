"""Paillier-made Beaver triples: c = a * b for every kind, and the key exchange."""

from __future__ import annotations

import importlib.util
import pathlib
from typing import Any

import numpy as np
import pytest

from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid.paillier_triples import PaillierTripleSource
from hecrypt.hybrid.triples import TripleRequest, triple_product
from hecrypt.paillier import SerialExecutor

_spec = importlib.util.spec_from_file_location(
    "_cross_helpers", pathlib.Path(__file__).with_name("test_paillier_cross.py"))
assert _spec is not None and _spec.loader is not None
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
run_two = _helpers.run_two

REQUESTS = [
    TripleRequest("mul", (3, 5), (3, 5)),
    TripleRequest("square", (17,)),
    TripleRequest("matmul", (4, 6), (6, 3)),
    TripleRequest("matmul", (1, 30), (30, 2)),
    TripleRequest("conv2d", (1, 5, 5, 2), (3, 3, 2, 3), ((1, 1), "same")),
    TripleRequest("conv2d", (2, 6, 5, 1), (2, 3, 1, 2), ((2, 1), "valid")),
]


def _sources(keypair: Any, **kw: Any) -> tuple[Any, Any]:
    ex = SerialExecutor()

    def client(p: Any) -> Any:
        src = PaillierTripleSource(p, "server", private_key=keypair[1], executor=ex,
                                   insecure_small_keys=True, **kw)
        src.prepare(REQUESTS)
        return [src.take(r) for r in REQUESTS]

    def server(p: Any) -> Any:
        src = PaillierTripleSource(p, "client", executor=ex, insecure_small_keys=True, **kw)
        src.prepare(REQUESTS)
        return [src.take(r) for r in REQUESTS]

    return run_two(client, server)


def test_every_kind_reconstructs_to_a_product(keypair_1024: Any) -> None:
    mine, theirs = _sources(keypair_1024)
    for req, t0, t1 in zip(REQUESTS, mine, theirs):
        a = t0.a + t1.a
        b = None if t0.b is None else t0.b + t1.b
        assert t0.c.shape == req.shape_c and t0.c.dtype == np.uint64
        np.testing.assert_array_equal(t0.c + t1.c, triple_product(req, a, b))
        assert not np.array_equal(t0.a, t1.a)  # independent shares


def test_take_checks_order_and_generates_a_key(keypair_1024: Any) -> None:
    ex = SerialExecutor()
    req = TripleRequest("square", (2,))

    def client(p: Any) -> Any:
        src = PaillierTripleSource(p, "server", key_bits=1024, executor=ex,
                                   insecure_small_keys=True)
        src.prepare([req])
        with pytest.raises(ProtocolError, match="was asked"):
            src.take(TripleRequest("square", (3,)))
        with pytest.raises(ProtocolError, match="plan did not include"):
            src.take(req)
        return src.public_key.n_bits

    def server(p: Any) -> Any:
        src = PaillierTripleSource(p, "client", executor=ex, insecure_small_keys=True)
        src.prepare([req])
        return src.public_key.n_bits

    assert run_two(client, server) == (1024, 1024)


def test_server_refuses_small_key_and_other_sigma(keypair_1024: Any) -> None:
    ex = SerialExecutor()

    def client(p: Any) -> Any:
        PaillierTripleSource(p, "server", private_key=keypair_1024[1], executor=ex,
                             insecure_small_keys=True).setup()

    def server_strict(p: Any) -> Any:
        with pytest.raises(ProtocolError, match="refused"):
            PaillierTripleSource(p, "client", executor=ex).setup()

    def server_sigma(p: Any) -> Any:
        with pytest.raises(ProtocolError, match="statistical parameter"):
            PaillierTripleSource(p, "client", executor=ex, sigma=48,
                                 insecure_small_keys=True).setup()

    run_two(client, server_strict)
    run_two(client, server_sigma)
    with pytest.raises(ValueError, match="at least 40"):
        PaillierTripleSource(type("P", (), {"name": "client"})(), "server", sigma=32)
