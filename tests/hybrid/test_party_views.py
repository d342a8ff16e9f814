"""What each party of private inference receives: its own shares and masked values only.

Every message each party receives in a real run is recorded and checked: the
dealer gets only triple requests (kinds and shapes), the client gets the
model's public spec but no weight or bias, the server never gets the records
or the outputs.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from hecrypt.hybrid import ring
from hecrypt.hybrid.channels import memory_parties
from hecrypt.hybrid.inference import model_weights
from hecrypt.hybrid.parties import client_program, server_program
from hecrypt.hybrid.polynomials import sigmoid_poly
from hecrypt.hybrid.runner import Outcome, run_program
from hecrypt.hybrid.triples import dealer_program
from hecrypt.models import Activation, AveragePooling2D, Conv2D, Dense, Flatten, Sequential

PARTIES = ("client", "server", "dealer")


class Recorder:
    """A party that keeps every message it receives, with the sender's name."""

    def __init__(self, party: Any, log: list[tuple[str, Any]]) -> None:
        self._party = party
        self._log = log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._party, name)

    def recv(self, frm: str, **kw: Any) -> Any:
        obj = self._party.recv(frm, **kw)
        self._log.append((frm, obj))
        return obj

    def exchange(self, peer: str, obj: Any) -> Any:
        self._party.send(peer, obj)
        return self.recv(peer)


def _recorded(program: Any, log: list[tuple[str, Any]]) -> Any:
    return lambda party: program(Recorder(party, log))


def leaves(obj: Any) -> Iterator[Any]:
    if isinstance(obj, dict):
        for v in obj.values():
            yield from leaves(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from leaves(v)
    else:
        yield obj


def run_recorded(net: Sequential, X: np.ndarray) -> dict[str, list[tuple[str, Any]]]:
    logs: dict[str, list[tuple[str, Any]]] = {n: [] for n in PARTIES}
    programs = {
        "client": _recorded(functools.partial(client_program, X=X), logs["client"]),
        "server": _recorded(functools.partial(server_program, model=net), logs["server"]),
        "dealer": _recorded(dealer_program, logs["dealer"]),
    }
    parties = memory_parties(PARTIES, timeout=20)
    out: dict[str, Outcome] = {}
    threads = [threading.Thread(target=lambda n=n: out.__setitem__(
        n, run_program(parties[n], programs[n]))) for n in PARTIES]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(out[n].ok for n in PARTIES), {n: o.cause for n, o in out.items()}
    assert set(out["client"].result) >= {"labels", "logits"}
    assert out["server"].result == {"batch": len(X), "triples": 6}  # no output for the server
    return logs


def test_each_party_receives_only_what_the_protocol_allows() -> None:
    net = Sequential([
        Conv2D(2, 3, padding="same", input_shape=(4, 4, 1)),
        Activation("sigmoid", approx=sigmoid_poly()),
        AveragePooling2D(2), Flatten(), Dense(3),
    ], seed=6)
    rng = np.random.default_rng(9)
    for layer in (net.layers[0], net.layers[-1]):  # biases that are not zero
        assert isinstance(layer, (Conv2D, Dense))
        layer.set_weights(layer.kernel, rng.uniform(-1, 1, size=layer.bias.shape))
    X = np.random.default_rng(8).uniform(0, 1, size=(2, 4, 4, 1))
    logs = run_recorded(net, X)

    # the dealer: triple requests (kinds and shapes) and closing messages, nothing else
    assert logs["dealer"] and {frm for frm, _ in logs["dealer"]} == {"client", "server"}
    for _, msg in logs["dealer"]:
        assert isinstance(msg, dict) and set(msg) <= {"op", "requests"}, msg
        assert msg["op"] in ("prepare", "close")
        assert not any(isinstance(v, (np.ndarray, float, bytes)) for v in leaves(msg))

    # the client: the public spec, seeds and masked values; no weight, no bias
    weights = [w for pair in model_weights(net) for w in pair if w is not None]
    secret_floats = {float(v) for w in weights for v in np.ravel(w)}
    encoded = [ring.encode(w, ring.DEFAULT_FRAC_BITS) for w in weights]
    setup = logs["client"][0][1]
    assert set(setup) == {"spec", "frac_bits"}
    assert not secret_floats & {v for v in leaves(setup["spec"]) if isinstance(v, float)}
    for frm, msg in logs["client"]:
        for leaf in leaves(msg):
            assert not isinstance(leaf, np.ndarray) or leaf.dtype == np.uint64, (frm, leaf)
            if isinstance(leaf, np.ndarray):
                assert not any(leaf.shape == e.shape and np.array_equal(leaf, e)
                               for e in encoded)

    # the server: the batch size, seeds and masked values; never the records or outputs
    enc_x = ring.encode(X, ring.DEFAULT_FRAC_BITS)
    assert logs["server"][0] == ("client", {"batch": 2})
    for _, msg in logs["server"]:
        for leaf in leaves(msg):
            assert not isinstance(leaf, np.ndarray) or leaf.dtype == np.uint64
            if isinstance(leaf, np.ndarray) and leaf.shape == enc_x.shape:
                assert not np.array_equal(leaf, enc_x)
    # the server's last message to the client is its share of the logits; the client
    # sends no share of the outputs back
    assert logs["client"][-1][0] == "server"
    assert logs["client"][-1][1].shape == (2, 3)
