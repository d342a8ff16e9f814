"""Run party programs together: threads in memory, processes over TCP.

A *program* is a callable taking its :class:`~hecrypt.hybrid.channels.Party`
and returning a result. :func:`run_parties` runs one program per party and
returns their results; if any party fails, every other party is told (an
abort frame, and the runner wakes it directly), and :func:`run_parties`
raises :class:`PartyFailedError` naming the party where the failure started
and its cause. Nothing waits longer than the timeout once a failure is known.

Jobs: a *job* is a named factory that builds a program for one role from
command-line style options; ``hecrypt party --job NAME`` runs one. Register
jobs with :func:`register_job`.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid.channels import (
    DEFAULT_TIMEOUT,
    Party,
    PeerAbortedError,
    PeerLostError,
    memory_parties,
)
from hecrypt.hybrid.frames import DEFAULT_MAX_FRAME

__all__ = [
    "JOBS",
    "PartyFailedError",
    "get_job",
    "register_job",
    "run_parties",
    "run_program",
]

T = TypeVar("T")
Program = Callable[[Party], Any]


class PartyFailedError(ProtocolError):
    """A multi-party run failed.

    Attributes:
        party: the party where the failure started.
        cause: its error, as text (``"TypeName: message"``).
        errors: every party's error, by party name.
    """

    def __init__(self, party: str, cause: str, errors: Mapping[str, str]) -> None:
        super().__init__(f"party {party!r} failed: {cause}")
        self.party = party
        self.cause = cause
        self.errors = dict(errors)


@dataclass(frozen=True)
class Outcome:
    """What one party's run gave: a result and report, or an error."""

    party: str
    ok: bool
    result: Any = None
    report: dict[str, Any] | None = None
    cause: str = ""
    origin: str | None = None  # for errors caused by another party's abort
    derived: bool = False  # the error is a consequence of another party's failure
    at: float = 0.0


def describe(exc: BaseException) -> str:
    """``"TypeName: message"`` for an error (what is sent to the other parties)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_program(party: Party, program: Program) -> Outcome:
    """Run one program on its party: phase ``"online"`` by default, close or abort after.

    Never raises (except ``KeyboardInterrupt``/``SystemExit`` after aborting);
    the outcome says what happened.
    """
    try:
        with party.phase("online"):
            result = program(party)
        party.close()
        return Outcome(party.name, True, result=result, report=party.report(), at=time.time())
    except Exception as exc:
        if isinstance(exc, PeerAbortedError):
            party.abort(exc.cause, origin=exc.party)
            return Outcome(party.name, False, cause=exc.cause, origin=exc.party, derived=True,
                           at=time.time())
        if isinstance(exc, PeerLostError):
            party.abort(describe(exc), origin=exc.party)
            return Outcome(party.name, False, cause=describe(exc), origin=exc.party,
                           derived=True, at=time.time())
        cause = describe(exc)
        party.abort(cause)
        if not isinstance(exc, ProtocolError):
            cause += "\n" + "".join(traceback.format_exception(exc)).rstrip()
        return Outcome(party.name, False, cause=cause, at=time.time())
    except BaseException as exc:
        party.abort(describe(exc))
        raise


def root_failure(outcomes: Mapping[str, Outcome]) -> PartyFailedError:
    """The error :func:`run_parties` raises: the first failure that was not a consequence.

    A consequence is an abort received from another party, or a connection
    that another party dropped (then that party is the one named).
    """
    errors = {name: o.cause for name, o in outcomes.items() if not o.ok}
    failed = sorted((o for o in outcomes.values() if not o.ok), key=lambda o: o.at)
    roots = [o for o in failed if not o.derived]
    if roots:
        first = roots[0]
        return PartyFailedError(first.party, first.cause.split("\n", 1)[0], errors)
    first = failed[0]
    origin = first.origin or first.party
    cause = outcomes[origin].cause if origin in errors else first.cause
    return PartyFailedError(origin, cause.split("\n", 1)[0], errors)


def run_parties(
    programs: Mapping[str, Callable[[Party], T]],
    *,
    transport: str = "memory",
    timeout: float = DEFAULT_TIMEOUT,
    tls: Any = None,
    max_frame: int = DEFAULT_MAX_FRAME,
    reports: dict[str, dict[str, Any]] | None = None,
) -> dict[str, T]:
    """Run one program per party and return their results, by party name.

    Args:
        programs: party name -> program (a callable taking the party). Over TCP
            programs must be picklable (top-level functions or
            ``functools.partial`` of them) and so must their results.
        transport: ``"memory"`` (threads in this process) or ``"tcp"`` (one
            OS process per party, connected over loopback TCP).
        timeout: seconds any receive waits; also the grace period given to the
            other parties once one has failed.
        tls: a :class:`hecrypt.hybrid.tcp.TLSConfig` per party (a mapping from
            party name) for mutual TLS over TCP; ``None`` for plain TCP.
        max_frame: largest frame (message plus 18-byte header) accepted.
        reports: if given, filled with each party's
            :meth:`~hecrypt.hybrid.channels.Party.report`.

    Returns:
        Each party's result.

    Raises:
        PartyFailedError: a party failed, died or timed out; names the party
            where it started and the cause.
        ProtocolError: invalid arguments (unknown transport, fewer than two
            parties).
    """
    if transport == "memory":
        if tls is not None:
            raise ProtocolError("TLS applies to the tcp transport only")
        outcomes = _run_threads(programs, timeout=timeout, max_frame=max_frame)
    elif transport == "tcp":
        from hecrypt.hybrid.processes import run_processes

        outcomes = run_processes(programs, timeout=timeout, tls=tls, max_frame=max_frame)
    else:
        raise ProtocolError(f"unknown transport {transport!r}: use 'memory' or 'tcp'")
    if not all(o.ok for o in outcomes.values()):
        raise root_failure(outcomes)
    if reports is not None:
        reports.update({name: o.report or {} for name, o in outcomes.items()})
    return {name: outcomes[name].result for name in programs}


def _run_threads(programs: Mapping[str, Program], *, timeout: float, max_frame: int
                 ) -> dict[str, Outcome]:
    parties = memory_parties(programs, timeout=timeout, max_frame=max_frame)
    done: queue.Queue[Outcome] = queue.Queue()

    def body(name: str) -> None:
        try:
            done.put(run_program(parties[name], programs[name]))
        except BaseException as exc:  # KeyboardInterrupt/SystemExit inside a program
            done.put(Outcome(name, False, cause=describe(exc), at=time.time()))

    threads = [threading.Thread(target=body, args=(name,), name=f"party-{name}", daemon=True)
               for name in programs]
    for t in threads:
        t.start()
    outcomes: dict[str, Outcome] = {}
    deadline: float | None = None
    while len(outcomes) < len(threads):
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            outcome = done.get(timeout=wait)
        except queue.Empty:
            break  # stragglers ignore the abort (busy computing): stop waiting for them
        outcomes[outcome.party] = outcome
        if not outcome.ok and deadline is None:
            deadline = time.monotonic() + timeout
            origin = outcome.origin or outcome.party
            cause = outcome.cause.split("\n", 1)[0]
            for party in parties.values():
                party.abort(cause, origin=origin)
    for name in programs:
        if name not in outcomes:
            outcomes[name] = Outcome(name, False, cause="did not stop within the timeout "
                                     "after another party failed", derived=True,
                                     at=time.time())
    return outcomes


# -- jobs ---------------------------------------------------------------------

#: Registered jobs: name -> factory(role, options) -> program.
JOBS: dict[str, Callable[[str, Mapping[str, Any]], Program]] = {}


def register_job(name: str, factory: Callable[[str, Mapping[str, Any]], Program]) -> None:
    """Make a job runnable by ``hecrypt party --job NAME``.

    Args:
        name: the job's name.
        factory: called as ``factory(role, options)`` with this process's role
            and the job options (``--option KEY=VALUE`` pairs and the named
            options of ``hecrypt party``, as strings); returns the program the
            role runs. Its result is printed as JSON when JSON can carry it.

    Raises:
        ProtocolError: ``name`` is already registered to another factory.
    """
    current = JOBS.get(name)
    if current is not None and current is not factory:
        raise ProtocolError(f"a job named {name!r} is already registered")
    JOBS[name] = factory


def get_job(name: str) -> Callable[[str, Mapping[str, Any]], Program]:
    """The factory of a registered job.

    Raises:
        ProtocolError: no job of that name.
    """
    _load_builtin_jobs()
    factory = JOBS.get(name)
    if factory is None:
        known = ", ".join(sorted(JOBS)) or "none"
        raise ProtocolError(f"unknown job {name!r} (registered: {known})")
    return factory


def _load_builtin_jobs() -> None:
    """Import the modules that register the library's own jobs."""
    from hecrypt.hybrid import hybrid, jobs  # noqa: F401  (register on import)
