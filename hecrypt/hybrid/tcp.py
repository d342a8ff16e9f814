"""Parties over TCP, optionally with mutual TLS.

Each party runs an :class:`TcpEndpoint`: it may listen on one address for the
peers that connect to it and dials the others. A new connection starts with a
hello frame each way (``{"from": name, "to": name, "version": 1}``) so both
ends know which role is at the other end; after that the connection carries
exactly the frames of the in-memory channels (docs/formats.md, "Party
channels"), and the same counters apply. Hello frames are not counted.

Networking runs on an asyncio event loop in one background thread per
endpoint: it reads every connection continuously (so two parties sending
large messages to each other at once never deadlock), writes in order, and
does TLS through :mod:`ssl` without sharing an ``SSLSocket`` between threads.

TLS (:class:`TLSConfig`): both sides present a certificate and verify the
other's against the configured CA (mutual authentication); the dialing side
also checks that the listener's certificate names the host it dialed, and with
``role_in_certificate`` each side checks that the peer's certificate names the
role the peer claims in its hello. Without TLS, nothing is authenticated or
encrypted: use it on loopback or a trusted network only.

Timeouts: connecting (including every peer's hello) must finish within the
timeout; each receive waits at most the timeout (see
:class:`~hecrypt.hybrid.channels.Party`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid.channels import DEFAULT_TIMEOUT, Inbox, Link, Party
from hecrypt.hybrid.frames import DEFAULT_MAX_FRAME, KIND_HELLO, FrameParser, encode_frame
from hecrypt.hybrid.wire import decode_message, encode_message

__all__ = ["TLSConfig", "TcpEndpoint", "connect", "parse_address"]

_HELLO_MAX = 4096
_PROTOCOL_VERSION = 1


def parse_address(text: str) -> tuple[str, int]:
    """``"host:port"`` (``"[::1]:port"`` for IPv6) to ``(host, port)``.

    Raises:
        ProtocolError: not of that form, or a port outside 0..65535.
    """
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ProtocolError(f"address {text!r} is not of the form HOST:PORT")
    return host, int(port)


@dataclass(frozen=True)
class TLSConfig:
    """Mutual TLS settings of one party (file paths, so they can cross processes).

    Attributes:
        cert: PEM file with this party's certificate (chain).
        key: PEM file with its private key.
        ca: PEM file with the CA certificate(s) the peers' certificates must
            chain to. Use a CA of your own for the deployment: any certificate
            it signed is accepted as a peer.
        check_hostname: the dialing side checks that the listener's
            certificate names the host dialed (default on).
        role_in_certificate: each side checks that the peer's certificate
            names (as a DNS subject alternative name) the role it claims.
    """

    cert: str
    key: str
    ca: str
    check_hostname: bool = True
    role_in_certificate: bool = False

    def _context(self, purpose: ssl.Purpose) -> ssl.SSLContext:
        try:
            ctx = ssl.create_default_context(purpose, cafile=self.ca)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as exc:
            raise ProtocolError(f"cannot load the TLS certificate, key or CA: {exc}") from exc
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def server_context(self) -> ssl.SSLContext:
        """Context for the listening side: requires a client certificate."""
        return self._context(ssl.Purpose.CLIENT_AUTH)

    def client_context(self) -> ssl.SSLContext:
        """Context for the dialing side: presents a certificate, checks the server's."""
        ctx = self._context(ssl.Purpose.SERVER_AUTH)
        ctx.check_hostname = self.check_hostname
        return ctx


def _certificate_names(writer: asyncio.StreamWriter) -> set[str]:
    cert = writer.get_extra_info("peercert") or {}
    names = {value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"}
    for rdn in cert.get("subject", ()):
        names.update(value for key, value in rdn if key == "commonName")
    return names


class _TcpLink(Link):
    """Sends frames on one connection through the endpoint's event loop."""

    linger = True

    def __init__(self, endpoint: TcpEndpoint, peer: str, writer: asyncio.StreamWriter) -> None:
        self._endpoint = endpoint
        self.peer = peer
        self._writer = writer
        self._closed = False

    def write(self, data: bytes) -> None:
        if self._closed:
            raise ProtocolError(f"the connection to {self.peer!r} is closed")
        self._endpoint.loop.call_soon_threadsafe(self._writer.write, data)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close(), self._endpoint.loop).result(
                self._endpoint.timeout + 1
            )
        self._endpoint.link_closed()

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.drain(), self._endpoint.timeout)
        self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), 2.0)


class TcpEndpoint:
    """One party's network presence: an optional listening socket and an event loop.

    Binding happens at construction (so a port chosen by the system, port 0,
    is known at once: :attr:`address`); connections are made by
    :meth:`connect`. An endpoint serves one :class:`Party`; it shuts down when
    the party has closed every channel.

    Args:
        name: this party's role name.
        listen: ``(host, port)`` to listen on, or None if every peer is dialed.
        tls: mutual TLS settings, or None for plain TCP.
        timeout: seconds for connecting and for every receive.
        max_frame: largest frame accepted, header included.
    """

    def __init__(
        self,
        name: str,
        listen: tuple[str, int] | None = None,
        *,
        tls: TLSConfig | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> None:
        self.name = name
        self.tls = tls
        self.timeout = float(timeout)
        self.max_frame = max_frame
        self._sock: socket.socket | None = None
        self.address: tuple[str, int] | None = None
        if listen is not None:
            try:
                self._sock = socket.create_server(listen)
            except OSError as exc:
                raise ProtocolError(f"{name!r} cannot listen on {listen[0]}:{listen[1]}: "
                                    f"{exc}") from exc
            host, port = self._sock.getsockname()[:2]
            self.address = (host, port)
        self._server_ctx = tls.server_context() if tls is not None else None
        self._client_ctx = tls.client_context() if tls is not None else None
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._loop_error)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                        name=f"hecrypt-net-{name}")
        self._thread.start()
        self._open_links = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._rejected: list[str] = []
        self._lock = threading.Lock()
        self._stopped = False

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Errors asyncio reports on its own (a refused TLS handshake): kept for messages."""
        exc = context.get("exception")
        message = str(context.get("message", "error"))
        self._rejected.append(f"{message}: {_describe(exc)}" if exc else message)

    # -- setup ----------------------------------------------------------------

    def connect(
        self,
        accept: Iterable[str] = (),
        dial: Mapping[str, tuple[str, int]] | None = None,
        *,
        order: Sequence[str] | None = None,
    ) -> Party:
        """Connect to every peer and return this role's party.

        Args:
            accept: names of the peers that connect to this endpoint's
                listening address.
            dial: name -> ``(host, port)`` of the peers this party connects to
                (retried until the timeout while the peer is not listening yet).
            order: the order of :attr:`Party.peers` (default: dialed, then accepted).

        Raises:
            ProtocolError: a peer did not connect or answer within the
                timeout, a TLS handshake failed, a hello was malformed or named
                the wrong role, or the arguments are inconsistent.
        """
        accept = list(accept)
        dial = dict(dial or {})
        peers = list(dial) + accept
        if not peers or len(set(peers)) != len(peers) or self.name in peers:
            raise ProtocolError(f"{self.name!r}: peers must be distinct other roles, "
                                f"got {peers!r}")
        if accept and self._sock is None:
            raise ProtocolError(f"{self.name!r} accepts {accept!r} but listens nowhere")
        order = list(order) if order is not None else peers
        if sorted(order) != sorted(peers):
            raise ProtocolError(f"order {order!r} does not list the peers {peers!r}")
        inbox = Inbox(self.name, peers, self.max_frame)
        future = asyncio.run_coroutine_threadsafe(self._establish(accept, dial, inbox), self.loop)
        try:
            streams = future.result(self.timeout + 5)
        except BaseException:
            future.cancel()
            self.shutdown()
            raise
        links = {}
        for peer in order:
            reader, writer = streams[peer]
            link = _TcpLink(self, peer, writer)
            links[peer] = link
            self._tasks.append(asyncio.run_coroutine_threadsafe(
                self._start_pump(peer, reader, inbox, link), self.loop
            ).result())
        self._open_links = len(links)
        return Party(self.name, links, inbox, timeout=self.timeout, max_frame=self.max_frame)

    async def _start_pump(self, peer: str, reader: asyncio.StreamReader, inbox: Inbox,
                          link: _TcpLink) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self._pump(peer, reader, inbox, link))

    async def _establish(
        self, accept: list[str], dial: dict[str, tuple[str, int]], inbox: Inbox
    ) -> dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        accepted: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        all_in = asyncio.Event()
        if not accept:
            all_in.set()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                waiting = [p for p in accept if p not in accepted]
                peer = await asyncio.wait_for(self._hello_in(reader, writer, waiting),
                                              max(0.0, deadline - loop.time()))
            except Exception as exc:  # a stranger or a broken peer: keep waiting for the right one
                self._rejected.append(_describe(exc))
                writer.close()
                return
            accepted[peer] = (reader, writer)
            if len(accepted) == len(accept):
                all_in.set()

        server = None
        if accept:
            if self._sock is None:  # connect() checked this
                raise ProtocolError(f"{self.name!r} has no listening socket")
            server = await asyncio.start_server(
                handler, sock=self._sock, ssl=self._server_ctx,
                ssl_handshake_timeout=self.timeout if self._server_ctx else None,
            )
        dials = {peer: loop.create_task(self._dial(peer, addr, deadline))
                 for peer, addr in dial.items()}
        try:
            waiters: list[asyncio.Future[Any]] = [*dials.values(),
                                                  loop.create_task(all_in.wait())]
            done, pending = await asyncio.wait(
                waiters, timeout=max(0.0, deadline - loop.time()),
                return_when=asyncio.FIRST_EXCEPTION,
            )
            for task in done:
                if task.exception() is not None:
                    raise task.exception()
            if pending:
                missing = [p for p in accept if p not in accepted]
                missing += [p for p, t in dials.items() if not t.done()]
                detail = f"; refused: {'; '.join(self._rejected)}" if self._rejected else ""
                if self.tls is not None:
                    detail += " (with TLS, a peer whose certificate is refused never says hello)"
                raise ProtocolError(
                    f"{self.name!r} timed out after {self.timeout:g} s connecting: no hello "
                    f"from {', '.join(missing)}{detail}"
                )
        except BaseException:
            for task in dials.values():
                task.cancel()
            for _, writer in accepted.values():
                writer.close()
            for task in dials.values():
                if task.done() and not task.cancelled() and task.exception() is None:
                    task.result()[1].close()
            raise
        finally:
            if server is not None:
                server.close()  # no more connections; the accepted ones stay open
        streams = dict(accepted)
        streams.update({peer: task.result() for peer, task in dials.items()})
        return streams

    async def _dial(self, peer: str, addr: tuple[str, int], deadline: float
                    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        loop = asyncio.get_running_loop()
        pause = 0.02
        while True:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(
                    addr[0], addr[1], ssl=self._client_ctx,
                    server_hostname=addr[0] if self._client_ctx else None,
                    ssl_handshake_timeout=self.timeout if self._client_ctx else None,
                ), max(0.0, deadline - loop.time()))
                break
            except ssl.SSLError as exc:
                raise ProtocolError(f"TLS handshake with {peer!r} at {addr[0]}:{addr[1]} "
                                    f"failed: {exc}") from exc
            except OSError:  # not listening yet: retry until the deadline
                if loop.time() + pause >= deadline:
                    raise ProtocolError(f"{self.name!r} could not connect to {peer!r} at "
                                        f"{addr[0]}:{addr[1]} within {self.timeout:g} s") from None
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.5)
        try:
            self._check_role(peer, writer)
            writer.write(self._hello(peer))
            await writer.drain()
            await self._read_hello(reader, writer, [peer])
        except BaseException as exc:
            writer.close()
            if isinstance(exc, (ssl.SSLError, OSError, asyncio.IncompleteReadError)):
                raise ProtocolError(
                    f"{self.name!r}: the connection to {peer!r} failed during the hello "
                    f"({_describe(exc)}); with TLS, the peer may have refused this party's "
                    "certificate"
                ) from exc
            raise
        return reader, writer

    def _hello(self, peer: str) -> bytes:
        payload = encode_message({"from": self.name, "to": peer, "version": _PROTOCOL_VERSION})
        return encode_frame(KIND_HELLO, 0, 0, payload, _HELLO_MAX)

    async def _read_hello(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                          expected: list[str]) -> str:
        parser = FrameParser("a connecting peer", _HELLO_MAX)
        head = await reader.readexactly(4)
        parser.feed(head)  # refuses a length above _HELLO_MAX before reading on
        frames = parser.feed(await reader.readexactly(int.from_bytes(head, "big")))
        if len(frames) != 1 or frames[0].kind != KIND_HELLO:
            raise ProtocolError("the first frame on a connection must be a single hello")
        info = decode_message(frames[0].payload)
        if not isinstance(info, dict) or info.get("version") != _PROTOCOL_VERSION:
            raise ProtocolError(f"hello of an unknown version: {info!r}")
        peer, to = info.get("from"), info.get("to")
        if to != self.name or peer not in expected:
            raise ProtocolError(f"hello from {peer!r} to {to!r}: {self.name!r} expects one of "
                                f"{expected!r}")
        return str(peer)

    async def _hello_in(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        expected: list[str]) -> str:
        peer = await self._read_hello(reader, writer, expected)
        self._check_role(peer, writer)
        writer.write(self._hello(peer))
        await writer.drain()
        return peer

    def _check_role(self, peer: str, writer: asyncio.StreamWriter) -> None:
        if self.tls is not None and self.tls.role_in_certificate:
            names = _certificate_names(writer)
            if peer not in names:
                raise ProtocolError(f"the certificate of the peer claiming to be {peer!r} "
                                    f"names {sorted(names)!r}, not {peer!r}")

    # -- running --------------------------------------------------------------

    async def _pump(self, peer: str, reader: asyncio.StreamReader, inbox: Inbox,
                    link: _TcpLink) -> None:
        reason = "connection closed"
        try:
            while inbox.fatal is None:
                data = await reader.read(1 << 16)
                if not data:
                    break
                inbox.feed(peer, data)
        except asyncio.CancelledError:
            reason = "the endpoint shut down"
        except Exception as exc:
            reason = _describe(exc)
        finally:
            inbox.eof(peer, reason)  # sending stays possible (an abort frame, a goodbye)

    def link_closed(self) -> None:
        """A party link closed; the last one shuts the endpoint down."""
        with self._lock:
            self._open_links -= 1
            last = self._open_links <= 0
        if last:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop the event loop and close the listening socket (idempotent)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True

        async def stop() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if threading.current_thread() is not self._thread:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self.loop.close()
        if self._sock is not None:
            self._sock.close()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def connect(
    name: str,
    *,
    listen: tuple[str, int] | None = None,
    accept: Iterable[str] = (),
    dial: Mapping[str, tuple[str, int]] | None = None,
    tls: TLSConfig | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_frame: int = DEFAULT_MAX_FRAME,
) -> Party:
    """Listen and/or dial, and return this role's party once every peer is connected.

    Example (three machines: the dealer listens, the server listens and dials
    the dealer, the client dials both)::

        party = connect("client", dial={"server": ("10.0.0.2", 7000),
                                        "dealer": ("10.0.0.3", 7000)}, tls=tls)

    Raises:
        ProtocolError: see :meth:`TcpEndpoint.connect`.
    """
    endpoint = TcpEndpoint(name, listen, tls=tls, timeout=timeout, max_frame=max_frame)
    return endpoint.connect(accept, dial)
