"""Run party programs as OS processes connected over loopback TCP.

Used by :func:`hecrypt.hybrid.runner.run_parties` with ``transport="tcp"``.
Each party is a fresh interpreter (multiprocessing's ``spawn`` context: no
inherited state, no copied randomness pools). The parent only coordinates:

1. every child binds a loopback port of the system's choosing and reports it;
2. the parent sends every child the address table; the k-th party dials the
   parties before it and accepts the parties after it;
3. each child runs its program and reports its outcome (result and counters,
   or its error);
4. on the first failure the parent tells every child to abort (they also learn
   it from the abort frame and from the closed connections), gives them the
   timeout to finish, then terminates whatever is left. A child that dies
   without reporting is named as the failed party.

The children are *not* daemonic: a party program may start worker processes
of its own (hecrypt's process pool, used for any Paillier batch of
:data:`~hecrypt.paillier.parallel.MIN_PARALLEL_ITEMS` values or more), which
a daemonic process may not. So that nothing outlives :func:`run_processes`,
each child leads its own process group (POSIX) and the parent ends the
whole group when the child is done or stopped: a party terminated while its
workers run takes them with it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid.runner import Outcome, describe, run_program

__all__ = ["run_processes", "lead_process_group", "stop_processes"]

_POLL = 0.05


def _child(
    name: str,
    index: int,
    names: list[str],
    program: Callable[[Any], Any],
    tls: Any,
    timeout: float,
    max_frame: int,
    results: Any,
    control: Any,
) -> None:
    from hecrypt.hybrid.tcp import TcpEndpoint

    lead_process_group()

    def report(outcome: Outcome) -> None:
        try:
            data = pickle.dumps(outcome)
        except Exception as exc:
            data = pickle.dumps(Outcome(name, False, cause=f"the result of {name!r} cannot be "
                                        f"sent to the parent: {describe(exc)}", at=time.time()))
        results.put(("done", name, data))

    try:
        endpoint = TcpEndpoint(name, ("127.0.0.1", 0), tls=tls, timeout=timeout,
                               max_frame=max_frame)
        results.put(("addr", name, endpoint.address))
        message = control.get(timeout=timeout)
        if message[0] != "addresses":
            return  # aborted before starting
        table: dict[str, tuple[str, int]] = message[1]
        party = endpoint.connect(
            accept=names[index + 1 :],
            dial={peer: table[peer] for peer in names[:index]},
            order=[n for n in names if n != name],
        )
    except BaseException as exc:
        report(Outcome(name, False, cause=f"setup failed: {describe(exc)}", at=time.time()))
        return

    def watch() -> None:
        while True:
            message = control.get()
            if message[0] == "abort":
                party.abort(message[2], origin=message[1])
            if message[0] in ("abort", "stop"):
                return

    threading.Thread(target=watch, daemon=True).start()
    report(run_program(party, program))


def lead_process_group() -> None:
    """Make the calling child lead its own process group (POSIX; else nothing).

    Its workers inherit the group, so :func:`stop_processes` ends them with it.
    """
    if hasattr(os, "setpgid"):
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)


def run_processes(
    programs: Mapping[str, Callable[[Any], Any]],
    *,
    timeout: float,
    tls: Any,
    max_frame: int,
) -> dict[str, Outcome]:
    """Run each program in its own process; returns every party's outcome.

    A party that died without reporting, or that was still running when the
    runner gave up after a failure, gets a failed outcome saying so.

    Raises:
        ProtocolError: fewer than two parties, or a TLS setting for a party
            that does not exist.
    """
    import multiprocessing

    names = list(programs)
    if len(names) < 2:
        raise ProtocolError(f"need at least two parties, got {names!r}")
    if tls is None or not isinstance(tls, Mapping):
        tls_of = dict.fromkeys(names, tls)
    else:
        unknown = set(tls) - set(names)
        if unknown or set(tls) != set(names):
            raise ProtocolError(f"TLS settings must name every party exactly: {sorted(tls)!r}")
        tls_of = dict(tls)
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    controls = {n: ctx.Queue() for n in names}
    procs = {
        n: ctx.Process(
            target=_child,
            args=(n, i, names, programs[n], tls_of[n], timeout, max_frame, results, controls[n]),
            name=f"hecrypt-party-{n}",
            daemon=False,  # a party may start worker processes (see the module docstring)
        )
        for i, n in enumerate(names)
    }
    outcomes: dict[str, Outcome] = {}
    addresses: dict[str, tuple[str, int]] = {}
    try:
        for p in procs.values():
            p.start()
        _collect(procs, results, outcomes, addresses, controls, timeout)
    finally:
        for n, q in controls.items():
            with contextlib.suppress(Exception):
                q.put(("stop",))
            if n not in outcomes:
                outcomes[n] = Outcome(n, False, cause="did not stop within the timeout after "
                                      "another party failed", derived=True, at=time.time())
        stop_processes(list(procs.values()))
        for q in [results, *controls.values()]:
            q.close()
            q.join_thread()
    return outcomes


def _signal_group(pid: int | None, sig: int) -> None:
    """Send ``sig`` to the process group a child leads (its workers), if any is left."""
    if pid is None or not hasattr(os, "killpg"):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def stop_processes(procs: list[Any]) -> None:
    """Wait briefly for every child, then end it and its process group.

    A child that has exited normally has shut its worker pool down; its
    group is still signalled in case a worker was left behind. Linux does
    not reuse a number that is still some group's id, so the group
    signalled is the child's own. A process that was never started (another
    one failed to start first) is skipped, so the start error is the one raised.
    """
    procs = [p for p in procs if p.pid is not None]
    for p in procs:
        p.join(timeout=2.0)
        if p.is_alive():
            _signal_group(p.pid, signal.SIGTERM)
            p.terminate()
            p.join(timeout=2.0)
        if p.is_alive():
            p.kill()
            p.join()
    for p in procs:
        _signal_group(p.pid, getattr(signal, "SIGKILL", signal.SIGTERM))


def _collect(
    procs: Mapping[str, Any],
    results: Any,
    outcomes: dict[str, Outcome],
    addresses: dict[str, tuple[str, int]],
    controls: Mapping[str, Any],
    timeout: float,
) -> None:
    """Gather addresses then outcomes; handle failures and deaths (see module doc)."""
    names = list(procs)
    started = time.monotonic()
    grace: float | None = None  # deadline once something failed
    sent_addresses = False
    exited_at: dict[str, float] = {}

    def fail(origin: str, cause: str) -> None:
        nonlocal grace
        if grace is None:
            grace = time.monotonic() + timeout
            for q in controls.values():
                with contextlib.suppress(Exception):
                    q.put(("abort", origin, cause))

    while len(outcomes) < len(names):
        try:
            kind, name, payload = results.get(timeout=_POLL)
        except queue.Empty:
            kind = ""
        if kind == "addr":
            addresses[name] = tuple(payload)
        elif kind == "done":
            outcome = pickle.loads(payload)
            outcomes[name] = outcome
            if not outcome.ok:
                fail(outcome.origin or name, outcome.cause.split("\n", 1)[0])
        if not sent_addresses and len(addresses) == len(names):
            sent_addresses = True
            for n in names:
                controls[n].put(("addresses", dict(addresses)))
        now = time.monotonic()
        if not sent_addresses and grace is None and now - started > timeout + 30:
            fail("runner", "the parties did not start in time")
        for n, p in procs.items():
            if n in outcomes or p.exitcode is None:
                continue
            # an exited child's last report may still be in the pipe: wait a moment
            first = exited_at.setdefault(n, now)
            if now - first > 1.0:
                cause = f"the process died (exit code {p.exitcode}) without a result"
                outcomes[n] = Outcome(n, False, cause=cause, at=first)
                fail(n, cause)
        if grace is not None and now > grace:
            return
