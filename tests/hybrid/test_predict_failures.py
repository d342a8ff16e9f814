"""Private inference stops with ProtocolError on every party when a message or a party fails.

The channels' own tests tamper with toy protocols; here the real client, server
and dealer programs run and one frame of one of their links is dropped,
truncated, corrupted or reordered, or one party dies, in the offline phase
(dealer links) and in the online phase (computing parties' links).
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hecrypt.hybrid.channels import Link, memory_parties
from hecrypt.hybrid.frames import KIND_DATA
from hecrypt.hybrid.parties import client_program, portable_model, server_program
from hecrypt.hybrid.polynomials import sigmoid_poly
from hecrypt.hybrid.runner import Outcome, PartyFailedError, run_parties, run_program
from hecrypt.hybrid.triples import dealer_program
from hecrypt.models import Activation, AveragePooling2D, Conv2D, Dense, Flatten, Sequential

sys.path.insert(0, str(Path(__file__).parent))  # spawned children import the programs too
import predict_failure_programs as dying

PARTIES = ("client", "server", "dealer")
TIMEOUT = 1.5
X = np.random.default_rng(5).uniform(0, 1, size=(3, 4, 4, 1))


def tiny_cnn() -> Sequential:
    return Sequential([
        Conv2D(2, 3, padding="same", input_shape=(4, 4, 1)),
        Activation("sigmoid", approx=sigmoid_poly()),
        AveragePooling2D(2),
        Flatten(),
        Dense(3),
    ], seed=2)


class TamperLink(Link):
    """Test-only: drop, truncate, corrupt or reorder the ``index``-th data frame of a link."""

    def __init__(self, inner: Link, mode: str, index: int) -> None:
        self.inner, self.mode, self.index = inner, mode, index
        self.count = 0
        self.held: bytes | None = None

    def write(self, data: bytes) -> None:
        if data[5] != KIND_DATA:
            self.inner.write(data)
            return
        i = self.count
        self.count += 1
        if i != self.index:
            self.inner.write(data)
            if self.held is not None:
                self.inner.write(self.held)
                self.held = None
        elif self.mode == "corrupted":
            self.inner.write(data[:-1] + bytes([data[-1] ^ 0x20]))
        elif self.mode == "truncated":
            self.inner.write(data[: len(data) // 2])
            self.inner.close()
        elif self.mode == "out of order":
            self.held = data  # the next data frame goes first
        elif self.mode != "dropped":
            raise AssertionError(self.mode)

    def close(self) -> None:
        self.inner.close()


def run_tampered(link: tuple[str, str], mode: str, index: int,
                 programs: dict[str, Any] | None = None) -> dict[str, Outcome]:
    parties = memory_parties(PARTIES, timeout=TIMEOUT)
    # The dealer idles between prepare messages while the others compute: a
    # longer wait keeps it from timing out first when a dropped frame leaves a
    # computing party waiting (that party must be the one that names the fault).
    parties["dealer"].timeout = 3 * TIMEOUT
    src, dst = link
    if mode != "died":
        parties[src]._links[dst] = TamperLink(parties[src]._links[dst], mode, index)
    programs = programs or {
        "client": functools.partial(client_program, X=X),
        "server": functools.partial(server_program, model=tiny_cnn()),
        "dealer": dealer_program,
    }
    out: dict[str, Outcome] = {}

    def body(name: str) -> None:
        out[name] = run_program(parties[name], programs[name])

    threads = [threading.Thread(target=body, args=(n,), daemon=True) for n in PARTIES]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
        assert not t.is_alive(), "a party hung"
    return out


# Data frames: dealer -> client/server: one per batch of triples (offline);
# server -> client: 0 the spec (offline), then the weight inputs and Beaver openings.
CASES = [
    (("server", "client"), 3, "dropped", "out of order"),
    (("server", "client"), 3, "truncated", "truncated"),
    (("server", "client"), 3, "corrupted", "checksum"),
    (("server", "client"), 3, "out of order", "out of order"),
    (("client", "server"), 2, "corrupted", "checksum"),
    (("client", "server"), 2, "out of order", "out of order"),
    (("dealer", "server"), 0, "dropped", "timed out"),
    (("dealer", "server"), 0, "truncated", "truncated"),
    (("dealer", "server"), 0, "corrupted", "checksum"),
    (("client", "dealer"), 0, "truncated", "truncated"),
    (("client", "dealer"), 0, "corrupted", "checksum"),
]


@pytest.mark.parametrize("link, index, mode, match", CASES)
def test_a_tampered_message_stops_every_party(link: tuple[str, str], index: int, mode: str,
                                              match: str) -> None:
    start = time.monotonic()
    out = run_tampered(link, mode, index)
    elapsed = time.monotonic() - start
    causes = {name: o.cause for name, o in out.items()}
    assert all(not out[name].ok for name in PARTIES), causes
    receiver = out[link[1]]
    assert "ProtocolError" in receiver.cause and match in receiver.cause, causes
    assert all("Error" in c for c in causes.values()), causes
    if mode != "truncated":  # there the sender's own link is cut: it fails on its next send
        others = [out[name] for name in PARTIES if name != link[1]]
        assert all(o.derived and o.origin == link[1] for o in others), causes
    assert elapsed < TIMEOUT + 3  # at once, or after one timeout: never a hang


def test_a_party_that_dies_in_memory_stops_the_others() -> None:
    out = run_tampered(("dealer", "server"), "died", 0, {
        "client": functools.partial(client_program, X=X),
        "server": functools.partial(dying.server_dies, model=tiny_cnn(), at=4, hard=False),
        "dealer": dealer_program,
    })
    assert not any(o.ok for o in out.values())
    assert "the party died" in out["server"].cause
    assert out["client"].origin == "server" and out["dealer"].origin == "server"


@pytest.mark.parametrize("who", ["dealer", "server"])
def test_a_process_that_dies_stops_every_party_over_tcp(who: str) -> None:
    served = portable_model(tiny_cnn())
    programs: dict[str, Any] = {
        "client": functools.partial(client_program, X=X),
        "server": functools.partial(server_program, model=served),
        "dealer": dealer_program,
    }
    if who == "dealer":
        programs["dealer"] = functools.partial(dying.dealer_dies, hard=True)
    else:  # in the online phase: after the spec and two of its inputs
        programs["server"] = functools.partial(dying.server_dies, model=served, at=3, hard=True)
    start = time.monotonic()
    with pytest.raises(PartyFailedError, match=rf"party '{who}' failed: the process died") as ei:
        run_parties(programs, transport="tcp", timeout=10)
    assert time.monotonic() - start < 25
    assert set(ei.value.errors) == set(PARTIES)
