"""Jobs the library registers for ``hecrypt party`` (see :func:`runner.register_job`).

``predict``: dealer-mode private inference (:mod:`hecrypt.hybrid.parties`).

``ping``: every role exchanges ``rounds`` messages with every peer and checks
what comes back; a connectivity and TLS check for a deployment before a real
job runs. Its result is this role's view: peers, rounds and bytes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid.channels import Party
from hecrypt.hybrid.runner import Program, register_job

__all__ = ["ping_program"]


def ping_program(party: Party, rounds: int = 3) -> dict[str, Any]:
    """Exchange ``rounds`` numbered messages with every peer (one round each).

    Raises:
        ProtocolError: a peer answered with something else than expected.
    """
    for i in range(rounds):
        for peer in party.peers:
            party.send(peer, {"from": party.name, "to": peer, "i": i})
        for peer in party.peers:
            msg = party.recv(peer)
            if msg != {"from": peer, "to": party.name, "i": i}:
                raise ProtocolError(f"ping: unexpected message from {peer!r}: {msg!r}")
    report = party.report()
    return {
        "role": party.name,
        "peers": sorted(party.peers),
        "rounds": party.clock,
        "bytes_sent": report["bytes_sent"],
        "bytes_received": report["bytes_received"],
    }


def _ping_factory(role: str, options: Mapping[str, Any]) -> Program:
    try:
        rounds = int(options.get("rounds", 3))
    except ValueError as exc:
        raise ProtocolError(f"ping: rounds must be an integer, got {options['rounds']!r}") from exc
    if rounds < 0:
        raise ProtocolError(f"ping: rounds must be >= 0, got {rounds}")
    return functools.partial(ping_program, rounds=rounds)


register_job("ping", _ping_factory)


from hecrypt.hybrid import parties as _parties  # noqa: E402,F401  (registers "predict")
