"""Parties and the channels between them: every message serialized and counted.

A :class:`Party` is one participant's end of the protocol: it sends and
receives messages to and from named peers, and it knows nothing else. The
same party code runs over in-memory channels (each party a thread, see
:func:`memory_parties`) and over TCP (each party a process or a machine, see
:mod:`hecrypt.hybrid.tcp`); both carry exactly the same bytes, so the counters
agree across transports.

Counting is always on. Every message is encoded with
:func:`hecrypt.hybrid.wire.encode_message`, wrapped in a frame
(:mod:`hecrypt.hybrid.frames`) and the frame's full size is what is counted,
per peer, per direction and per phase (``"offline"`` / ``"online"``). Rounds
are the dependency depth of the protocol, measured with a Lamport clock per
phase: each frame carries its sender's clock ``c`` for the sender's current
phase, and on receipt the receiver's clock of its current phase becomes
``max(own, c + 1)``. Two parties that send to each other and then receive (an
:meth:`Party.exchange`) spend one round; a ping-pong of k messages spends k.
A party's rounds in a phase are its final clock of that phase, so the online
rounds do not include the depth of the offline phase; its total rounds are
the sum over phases (the phases run one after the other). Control frames
(hello, bye, abort) are not counted: they are not part of any protocol.

Failures: every receive has a timeout; a peer that closes or dies, sends a
malformed, truncated, corrupted, oversize or out-of-order frame, or reports
its own failure (an abort frame) makes :meth:`Party.recv` raise
:class:`~hecrypt.exceptions.ProtocolError` at once, whichever peer it was
waiting for. A failed party sends an abort frame to every peer, so the whole
protocol stops within the timeout. A party object is used by one thread;
:meth:`Party.abort` alone may be called from another.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid.frames import (
    DEFAULT_MAX_FRAME,
    KIND_ABORT,
    KIND_BYE,
    KIND_DATA,
    Frame,
    FrameParser,
    encode_frame,
)
from hecrypt.hybrid.wire import decode_message, encode_message

__all__ = [
    "DEFAULT_TIMEOUT",
    "PHASES",
    "Inbox",
    "Link",
    "Party",
    "PeerAbortedError",
    "PeerLostError",
    "memory_parties",
]

#: Seconds a receive waits by default.
DEFAULT_TIMEOUT = 60.0
#: The phases traffic and time are attributed to.
PHASES = ("offline", "online")
_COUNTERS = ("bytes_sent", "bytes_received", "messages_sent", "messages_received")


class PeerAbortedError(ProtocolError):
    """Another party failed and told this one so (an abort frame).

    Attributes:
        party: the party whose failure started the abort.
        cause: its error, as text.
    """

    def __init__(self, party: str, cause: str) -> None:
        super().__init__(f"party {party!r} failed: {cause}")
        self.party = party
        self.cause = cause


class PeerLostError(ProtocolError):
    """The connection to a peer ended before the peer said goodbye (it died or dropped).

    Attributes:
        party: the peer that was lost.
    """

    def __init__(self, party: str, message: str) -> None:
        super().__init__(message)
        self.party = party


class Inbox:
    """Frames received by one party, per peer, with the first fatal error.

    Transports feed raw bytes in (from any thread); the party takes frames
    out. A fatal error (a bad frame, an abort, a connection lost before the
    peer said goodbye) wakes every waiting receive, whichever peer it waits for.

    Args:
        owner: the receiving party's name.
        peers: the names it may receive from.
        max_frame: largest frame accepted.
    """

    def __init__(self, owner: str, peers: Iterable[str], max_frame: int = DEFAULT_MAX_FRAME):
        self.owner = owner
        self._cond = threading.Condition()
        self._parsers = {p: FrameParser(p, max_frame) for p in peers}
        self._frames: dict[str, deque[Frame]] = {p: deque() for p in self._parsers}
        self._bye: set[str] = set()
        self._ended: set[str] = set()
        self._fatal: ProtocolError | None = None

    def _set_fatal(self, error: ProtocolError) -> None:
        if self._fatal is None:
            self._fatal = error
        self._cond.notify_all()

    def feed(self, peer: str, data: bytes | bytearray | memoryview) -> None:
        """Bytes arrived from ``peer`` (any chunking)."""
        with self._cond:
            if self._fatal is not None or peer in self._ended:
                return
            try:
                frames = self._parsers[peer].feed(data)
            except ProtocolError as exc:
                self._set_fatal(exc)
                return
            for frame in frames:
                if frame.kind == KIND_DATA and peer not in self._bye:
                    self._frames[peer].append(frame)
                elif frame.kind == KIND_ABORT:
                    self._set_fatal(_abort_error(peer, frame.payload))
                elif frame.kind == KIND_BYE and peer not in self._bye:
                    self._bye.add(peer)
                else:
                    self._set_fatal(ProtocolError(
                        f"frame from {peer!r}: unexpected frame kind {frame.kind} "
                        f"({'after goodbye' if peer in self._bye else 'in a session'})"
                    ))
            self._cond.notify_all()

    def eof(self, peer: str, reason: str = "connection closed") -> None:
        """The byte stream from ``peer`` ended."""
        with self._cond:
            if peer in self._ended:
                return
            self._ended.add(peer)
            if self._fatal is not None:
                return
            try:
                self._parsers[peer].eof()
            except ProtocolError as exc:
                self._set_fatal(exc)
                return
            if peer not in self._bye:
                self._set_fatal(PeerLostError(
                    peer,
                    f"the channel from {peer!r} to {self.owner!r} ended before {peer!r} "
                    f"finished ({reason}): the peer disconnected or died"
                ))
            self._cond.notify_all()

    def fail(self, error: ProtocolError) -> None:
        """Make every current and later receive raise ``error`` (first error wins)."""
        with self._cond:
            self._set_fatal(error)

    @property
    def fatal(self) -> ProtocolError | None:
        """The first fatal error, if any."""
        return self._fatal

    def get(self, peer: str, deadline: float) -> Frame:
        """The next data frame from ``peer``, waiting until ``deadline`` (monotonic)."""
        with self._cond:
            while True:
                if self._fatal is not None:
                    raise self._fatal
                queue = self._frames[peer]
                if queue:
                    return queue.popleft()
                if peer in self._bye:
                    raise ProtocolError(
                        f"{peer!r} finished and closed its channel while {self.owner!r} "
                        "still waits for a message from it"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ProtocolError(f"{self.owner!r} timed out waiting for a message "
                                        f"from {peer!r}")
                self._cond.wait(remaining)

    def wait_goodbyes(self, deadline: float) -> None:
        """Wait until every peer said goodbye or ended, an error, or ``deadline``."""
        with self._cond:
            while self._fatal is None and not set(self._parsers) <= (self._bye | self._ended):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)


def _abort_error(peer: str, payload: bytes) -> ProtocolError:
    try:
        info = decode_message(payload)
        return PeerAbortedError(str(info["party"]), str(info["cause"]))
    except (ProtocolError, KeyError, TypeError):
        return PeerAbortedError(peer, "aborted (unreadable reason)")


class Link(ABC):
    """The sending half of a channel to one peer (bytes out, in order)."""

    #: Whether closing should first wait for the peer's goodbye (sockets: a
    #: close with unread data could reset the connection and lose frames).
    linger: bool = False

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Send ``data`` (one whole frame); raises ProtocolError if the link is down."""

    @abstractmethod
    def close(self) -> None:
        """End the stream (idempotent)."""


class _MemoryLink(Link):
    """Writes straight into the peer's inbox; the bytes are still whole frames."""

    def __init__(self, sender: str, inbox: Inbox) -> None:
        self._sender = sender
        self._inbox = inbox
        self._closed = False

    def write(self, data: bytes) -> None:
        if self._closed:
            raise ProtocolError(f"the channel from {self._sender!r} is closed")
        self._inbox.feed(self._sender, data)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._inbox.eof(self._sender)


class Party:
    """One party's end of a multi-party protocol.

    Build parties with :func:`memory_parties`, :func:`hecrypt.hybrid.tcp.connect`
    or :func:`hecrypt.hybrid.runner.run_parties`, not directly.

    Args:
        name: this party's name.
        links: sending links, by peer name.
        inbox: where frames from the peers arrive.
        timeout: seconds every receive waits at most.
        max_frame: largest frame sent or accepted, header included.

    Leaks: message sizes, timing and the communication pattern are visible to
    the transport (and to anyone on an unencrypted network); TLS hides contents,
    not sizes.
    """

    def __init__(
        self,
        name: str,
        links: Mapping[str, Link],
        inbox: Inbox,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> None:
        if timeout <= 0:
            raise ProtocolError(f"the timeout must be positive, got {timeout}")
        self.name = name
        self.peers: tuple[str, ...] = tuple(links)
        self.timeout = float(timeout)
        self.max_frame = max_frame
        self._links = dict(links)
        self._inbox = inbox
        self._send_seq = dict.fromkeys(self.peers, 0)
        self._recv_seq = dict.fromkeys(self.peers, 0)
        self._closed = False
        self._aborted = False
        self._lock = threading.Lock()
        self._stack: list[str] = []
        self._started: float | None = None
        self._seconds = dict.fromkeys(PHASES, 0.0)
        self._clocks = dict.fromkeys(PHASES, 0)  # one Lamport clock per phase
        self._counts = {(p, ph, c): 0 for p in self.peers for ph in PHASES for c in _COUNTERS}

    def __repr__(self) -> str:
        return f"Party({self.name!r}, peers={self.peers!r})"

    # -- phases ---------------------------------------------------------------

    @property
    def current_phase(self) -> str:
        """The phase traffic is attributed to now (``"online"`` outside any block)."""
        return self._stack[-1] if self._stack else "online"

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Attribute the bytes, rounds and wall time of the block to phase ``name``.

        Phases nest: an inner block pauses the outer one's clock. Time is
        counted only inside phase blocks (the runners wrap each program in
        ``phase("online")``).
        """
        if name not in PHASES:
            raise ProtocolError(f"unknown phase {name!r}: phases are {', '.join(PHASES)}")
        now = time.perf_counter()
        if self._stack and self._started is not None:
            self._seconds[self._stack[-1]] += now - self._started
        self._stack.append(name)
        self._started = now
        try:
            yield
        finally:
            now = time.perf_counter()
            self._seconds[self._stack.pop()] += now - (self._started or now)
            self._started = now if self._stack else None

    # -- messages -------------------------------------------------------------

    def _link(self, peer: str) -> Link:
        link = self._links.get(peer)
        if link is None:
            raise ProtocolError(f"{self.name!r} has no channel to {peer!r} "
                                f"(peers: {', '.join(self.peers)})")
        if self._aborted:
            raise self._inbox.fatal or ProtocolError(f"{self.name!r} has aborted")
        if self._closed:
            raise ProtocolError(f"{self.name!r} has closed its channels")
        if self._inbox.fatal is not None:
            raise self._inbox.fatal  # the protocol already failed: stop at once
        return link

    def _count(self, peer: str, counter: str, n: int) -> None:
        self._counts[(peer, self.current_phase, counter)] += n

    def send(self, to: str, obj: Any) -> None:
        """Serialize ``obj`` and send it to peer ``to`` (does not wait for it).

        Raises:
            ProtocolError: unknown peer, a value the codec cannot carry, a
                message above the maximum frame size, or a closed channel.
        """
        link = self._link(to)
        frame = encode_frame(KIND_DATA, self._send_seq[to], self._clocks[self.current_phase],
                             encode_message(obj), self.max_frame)
        link.write(frame)
        self._send_seq[to] += 1
        self._count(to, "bytes_sent", len(frame))
        self._count(to, "messages_sent", 1)

    def recv(self, frm: str, *, timeout: float | None = None) -> Any:
        """Receive the next message from peer ``frm``.

        Args:
            frm: the peer.
            timeout: seconds to wait (default: the party's timeout).

        Raises:
            ProtocolError: a timeout, a peer that closed or died, a malformed,
                corrupted, truncated, oversize or out-of-order frame from any
                peer, or an abort from any peer.
        """
        self._link(frm)
        wait = self.timeout if timeout is None else timeout
        try:
            frame = self._inbox.get(frm, time.monotonic() + wait)
            if frame.seq != self._recv_seq[frm]:
                raise ProtocolError(
                    f"frame from {frm!r} out of order: sequence number {frame.seq}, "
                    f"expected {self._recv_seq[frm]}"
                )
            obj = decode_message(frame.payload)
        except ProtocolError as exc:
            self._inbox.fail(exc)  # the channel cannot be trusted any more
            raise
        self._recv_seq[frm] += 1
        phase = self.current_phase
        self._clocks[phase] = max(self._clocks[phase], frame.clock + 1)
        self._count(frm, "bytes_received", frame.size)
        self._count(frm, "messages_received", 1)
        return obj

    def exchange(self, peer: str, obj: Any) -> Any:
        """Send ``obj`` to ``peer``, then receive its message (one round if both do it)."""
        self.send(peer, obj)
        return self.recv(peer)

    # -- ending ---------------------------------------------------------------

    def close(self) -> None:
        """Say goodbye to every peer and close the channels (idempotent).

        Over sockets this waits (up to the timeout) for the peers' goodbyes,
        so no frame still in flight is lost to a connection reset.
        """
        with self._lock:
            if self._closed or self._aborted:
                return
            self._closed = True
        for _peer, link in self._links.items():
            with suppress(ProtocolError):
                link.write(encode_frame(KIND_BYE, 0, 0, b"", self.max_frame))
        if any(link.linger for link in self._links.values()):
            self._inbox.wait_goodbyes(time.monotonic() + self.timeout)
        for link in self._links.values():
            link.close()

    def abort(self, cause: str, origin: str | None = None) -> None:
        """Tell every peer this protocol failed, then close (idempotent, any thread).

        Args:
            cause: what went wrong, as text (sent to the peers: no secrets).
            origin: the party whose failure this is (default: this party).
        """
        with self._lock:
            if self._aborted:
                return
            self._aborted = True
        payload = encode_message({"party": origin or self.name, "cause": cause})
        for link in self._links.values():
            with suppress(ProtocolError):
                link.write(encode_frame(KIND_ABORT, 0, 0, payload, self.max_frame))
            link.close()
        self._inbox.fail(PeerAbortedError(origin or self.name, cause))

    # -- counters -------------------------------------------------------------

    @property
    def clock(self) -> int:
        """Rounds so far: the sum over phases of each phase's Lamport clock."""
        return sum(self._clocks.values())

    def report(self) -> dict[str, Any]:
        """Bytes, messages, rounds and seconds, in total and per phase and peer.

        Keys: ``online_s``, ``offline_s``, ``bytes_sent``, ``bytes_received``,
        ``messages_sent``, ``messages_received``, ``rounds``, the same prefixed
        with ``offline_`` and ``online_``, and ``peers``: per peer the byte and
        message counters (total and per phase). Bytes are whole frames.
        """
        out: dict[str, Any] = {
            "online_s": self._seconds["online"],
            "offline_s": self._seconds["offline"],
        }
        for counter in _COUNTERS:
            out[counter] = sum(v for (_, _, c), v in self._counts.items() if c == counter)
        out["rounds"] = self.clock
        for ph in PHASES:
            for counter in _COUNTERS:
                out[f"{ph}_{counter}"] = sum(
                    v for (_, p, c), v in self._counts.items() if p == ph and c == counter
                )
            out[f"{ph}_rounds"] = self._clocks[ph]
        peers: dict[str, dict[str, int]] = {}
        for peer in self.peers:
            row: dict[str, int] = {}
            for counter in _COUNTERS:
                row[counter] = sum(self._counts[(peer, ph, counter)] for ph in PHASES)
                for ph in PHASES:
                    row[f"{ph}_{counter}"] = self._counts[(peer, ph, counter)]
            peers[peer] = row
        out["peers"] = peers
        return out


def memory_parties(
    names: Iterable[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_frame: int = DEFAULT_MAX_FRAME,
) -> dict[str, Party]:
    """Parties connected pairwise by in-memory channels (use one thread each).

    Every message is still encoded, framed, parsed and checked exactly as over
    TCP, so byte and round counts are those of a network run.

    Raises:
        ProtocolError: fewer than two names, or a name repeated.
    """
    names = list(names)
    if len(names) < 2 or len(set(names)) != len(names):
        raise ProtocolError(f"need at least two distinct party names, got {names!r}")
    inboxes = {n: Inbox(n, [p for p in names if p != n], max_frame) for n in names}
    return {
        n: Party(
            n,
            {p: _MemoryLink(n, inboxes[p]) for p in names if p != n},
            inboxes[n],
            timeout=timeout,
            max_frame=max_frame,
        )
        for n in names
    }
