"""Party programs for the failure tests of private inference (spawned children import them)."""

from __future__ import annotations

import os
from typing import Any

from hecrypt.hybrid.parties import server_program
from hecrypt.hybrid.triples import dealer_program


class DiesAtSend:
    """A party that dies (the whole process, or with an error in memory) at its n-th send."""

    def __init__(self, party: Any, at: int, hard: bool) -> None:
        self._party = party
        self._left = at
        self._hard = hard

    def __getattr__(self, name: str) -> Any:
        return getattr(self._party, name)

    def send(self, to: str, obj: Any) -> None:
        if self._left == 0:
            if self._hard:
                os._exit(7)
            raise RuntimeError("the party died")
        self._left -= 1
        self._party.send(to, obj)

    def exchange(self, peer: str, obj: Any) -> Any:
        self.send(peer, obj)
        return self._party.recv(peer)


def server_dies(party: Any, model: Any, at: int, hard: bool) -> Any:
    """The server's program, dying at its ``at``-th message."""
    return server_program(DiesAtSend(party, at, hard), model)


def dealer_dies(party: Any, hard: bool) -> Any:
    """The dealer, dying instead of sending its first triples."""
    return dealer_program(DiesAtSend(party, 0, hard))
