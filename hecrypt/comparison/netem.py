"""A real TCP run over an emulated network, to check the projection against.

The projection (:mod:`hecrypt.comparison.projection`) is a formula; this
module measures the thing it predicts. The client and the server run as two
OS processes connected by the counting TCP channels
(:mod:`hecrypt.hybrid.tcp`), and every byte between them passes through a
user-space *delaying proxy* on loopback that imposes the network:

* each direction is a link of ``bandwidth_bps``: a chunk read at time ``t``
  leaves the link at ``max(t, link_free) + bytes * 8 / bandwidth``;
* then it is delivered ``latency_s`` later (chunks keep their order).

Why a proxy and not the kernel: ``tc qdisc ... netem`` is the usual way, but
it needs the ``sch_netem`` kernel module and root on the host. On the
machine these figures come from, ``ip netns`` works but ``tc qdisc add dev
lo root netem delay 1ms`` fails with "Specified qdisc kind is unknown" (the
kernel has no netem), and shaping ``lo`` would also slow every other program
on the machine. The proxy needs neither, and applies to one connection only.
Where netem exists, the same check can be made by running ``hecrypt compare
--transport tcp`` inside a network namespace whose interface has a netem
qdisc.

What the proxy does not emulate: TCP's own congestion control over the
slow link (the loopback connection is never the bottleneck), and packet loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from hecrypt.comparison.projection import Network
from hecrypt.exceptions import ProtocolError

__all__ = ["DelayProxy", "run_parties_over", "run_two_parties_over"]

_CHUNK = 1 << 16


class DelayProxy:
    """Forward TCP connections to ``target`` through an emulated network.

    Runs an asyncio loop in a background thread. Use as a context manager;
    :attr:`address` is where to connect.

    Args:
        target: ``(host, port)`` to forward to.
        network: bandwidth (each direction) and one-way latency to impose.
    """

    def __init__(self, target: tuple[str, int], network: Network) -> None:
        self.target = target
        self.network = network
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                        name="hecrypt-delay-proxy")
        self._server: asyncio.base_events.Server | None = None
        self.address: tuple[str, int] | None = None

    def __enter__(self) -> DelayProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self.loop)
        self.address = future.result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def _start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    def close(self) -> None:
        """Stop forwarding and the loop."""
        if not self._thread.is_alive():
            return

        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                             return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One direction: a link of the network's bandwidth, then its latency."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        bw, latency = self.network.bandwidth_bps, self.network.latency_s

        async def deliver() -> None:
            while True:
                when, data = await queue.get()
                if not data:
                    break
                delay = when - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
            with contextlib.suppress(Exception):
                writer.close()

        task = loop.create_task(deliver())
        link_free = 0.0
        try:
            while True:
                data = await reader.read(_CHUNK)
                now = loop.time()
                if not data:
                    break
                link_free = max(now, link_free) + len(data) * 8.0 / bw
                queue.put_nowait((link_free + latency, data))
        finally:
            queue.put_nowait((0.0, b""))
            await task


def _child(name: str, program: Callable[[Any], Any], timeout: float, results: Any,
           control: Any) -> None:
    from hecrypt.hybrid.processes import lead_process_group
    from hecrypt.hybrid.runner import run_program
    from hecrypt.hybrid.tcp import TcpEndpoint

    lead_process_group()  # the parent ends this party's worker pool with it
    try:
        endpoint = TcpEndpoint(name, ("127.0.0.1", 0), timeout=timeout)
        results.put(("addr", name, endpoint.address))
        accept, dial, order = control.get(timeout=timeout)
        party = endpoint.connect(accept=accept, dial={k: tuple(v) for k, v in dial.items()},
                                 order=order)
        outcome = run_program(party, program)
        results.put(("done", name, pickle.dumps((outcome.ok, outcome.result, outcome.report,
                                                 outcome.cause))))
    except BaseException as exc:  # report, never hang the parent
        results.put(("done", name, pickle.dumps((False, None, None, repr(exc)))))


def run_parties_over(
    programs: Mapping[str, Callable[[Any], Any]],
    network: Network,
    *,
    timeout: float = 120.0,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], float]:
    """Run party programs as processes over TCP, every link through a :class:`DelayProxy`.

    1. every party starts in its own process, listens on a loopback port and
       reports it;
    2. for each pair, the later party (in the order of ``programs``) dials
       the earlier one through a proxy of its own that imposes ``network``
       on that link (both directions);
    3. each party runs its program; the parent collects results and counters.

    Args:
        programs: two or more party programs (picklable, as for ``run_parties``).
        network: what every link's proxy imposes.
        timeout: per-message timeout and overall bound.

    Returns:
        ``(results, reports, wall_s)``: each program's result, each party's
        counters (:meth:`Party.report`), and the wall time from the moment
        all were connected to the end of the last program, as measured by
        the parties (max over parties of offline + online seconds).

    Raises:
        ProtocolError: a party failed, or did not finish within the timeout.
    """
    import multiprocessing

    from hecrypt.hybrid.processes import stop_processes

    names = list(programs)
    if len(names) < 2:
        raise ProtocolError(f"need at least two parties, got {names!r}")
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    controls = {n: ctx.Queue() for n in names}
    # Its own launcher, not run_parties: every link must pass through a proxy.
    # Not daemonic, as in run_parties: a party may start hecrypt's worker pool.
    procs = {
        n: ctx.Process(target=_child, args=(n, programs[n], timeout, results, controls[n]),
                       daemon=False)
        for n in names
    }
    done: dict[str, Any] = {}
    addresses: dict[str, tuple[str, int]] = {}
    deadline = time.monotonic() + timeout * 2 + 30
    with contextlib.ExitStack() as stack:
        try:
            for p in procs.values():
                p.start()
            while len(addresses) < len(names):
                kind, name, payload = results.get(timeout=max(deadline - time.monotonic(), 0.1))
                if kind != "addr":
                    raise ProtocolError(f"{name!r} did not start: {pickle.loads(payload)[3]}")
                addresses[name] = tuple(payload)
            for i, n in enumerate(names):
                dial = {}
                for peer in names[:i]:
                    proxy = stack.enter_context(DelayProxy(addresses[peer], network))
                    dial[peer] = proxy.address
                controls[n].put((names[i + 1:], dial, [m for m in names if m != n]))
            while len(done) < len(names):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ProtocolError("the emulated-network run did not finish in time")
                kind, name, payload = results.get(timeout=left)
                if kind == "done":
                    done[name] = pickle.loads(payload)
        finally:
            stop_processes(list(procs.values()))
            for q in [results, *controls.values()]:
                q.close()
                q.join_thread()
    failed = {n: d[3] for n, d in done.items() if not d[0]}
    if failed:
        raise ProtocolError(f"emulated-network run failed: {failed}")
    reports = {n: done[n][2] for n in names}
    wall = max(float(r["offline_s"]) + float(r["online_s"]) for r in reports.values())
    return {n: done[n][1] for n in names}, reports, wall


def run_two_parties_over(
    programs: Mapping[str, Callable[[Any], Any]],
    network: Network,
    *,
    listener: str = "server",
    timeout: float = 120.0,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], float]:
    """:func:`run_parties_over` for two parties, ``listener`` being the one dialed.

    Raises:
        ProtocolError: not two parties including ``listener``, or as
            :func:`run_parties_over`.
    """
    names = list(programs)
    if len(names) != 2 or listener not in names:
        raise ProtocolError(f"need two parties one of which is {listener!r}, got {names!r}")
    ordered = {listener: programs[listener]}
    ordered.update({n: programs[n] for n in names if n != listener})
    return run_parties_over(ordered, network, timeout=timeout)
