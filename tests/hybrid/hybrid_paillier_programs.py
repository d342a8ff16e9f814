"""Two-party programs that misbehave once, for the TCP tests (a plain module: spawned
children import it)."""

from __future__ import annotations

from typing import Any

import numpy as np

from hecrypt.hybrid import hybrid
from hecrypt.models import Dense, Sequential


def small_model() -> Sequential:
    net = Sequential([Dense(2, input_shape=(3,))])
    net.layers[0].kernel = np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]])
    net.layers[0].bias = np.array([0.125, -2.0])
    return net


class _Faulty:
    """A party that corrupts or drops its first ciphertext answer, otherwise forwards."""

    def __init__(self, party: Any, fault: str) -> None:
        self._party = party
        self._fault = fault
        self._done = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._party, name)

    def send(self, to: str, obj: Any) -> None:
        if not self._done and isinstance(obj, dict) and "cts" in obj:
            self._done = True
            if self._fault == "drop":
                return
            blob = bytearray(obj["cts"])
            blob[len(blob) // 3] ^= 0x10
            obj = {**obj, "cts": bytes(blob)}
        self._party.send(to, obj)


def server(party: Any, fault: str) -> Any:
    return hybrid.server_program(_Faulty(party, fault), small_model(), mode="hybrid",
                                 insecure_small_keys=True)


def client(party: Any) -> Any:
    return hybrid.client_program(party, np.array([[1.0, -2.0, 3.0]]), key_bits=1024,
                                 insecure_small_keys=True)


def server_ok(party: Any) -> Any:
    return hybrid.server_program(party, small_model(), mode="hybrid", insecure_small_keys=True)
