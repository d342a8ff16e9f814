"""Frames: the unit every party channel carries, in memory and over TCP alike.

One frame is an 18-byte header followed by a payload (layout in docs/formats.md,
"Party channels")::

    u32 length   bytes after this field (14 + payload length)
    u8  version  1
    u8  kind     1 data, 2 abort, 3 hello, 4 bye
    u32 seq      per direction, 0, 1, 2, ... (data frames only; 0 otherwise)
    u32 clock    the sender's Lamport clock when it sent the frame
    u32 crc      CRC-32 of version..clock and the payload

The CRC catches accidental corruption (a flipped bit, a misaligned stream); it
does not stop a deliberate forger, who can recompute it: use TLS for that.

:class:`FrameParser` reads a byte stream incrementally and checks each header
(length within the configured maximum *before* any payload is buffered,
version, kind, CRC). Sequence numbers and clocks are checked by the party.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from hecrypt.exceptions import ProtocolError

__all__ = [
    "DEFAULT_MAX_FRAME",
    "FRAME_HEADER_SIZE",
    "KIND_ABORT",
    "KIND_BYE",
    "KIND_DATA",
    "KIND_HELLO",
    "VERSION",
    "Frame",
    "FrameParser",
    "encode_frame",
]

VERSION = 1
KIND_DATA = 1
KIND_ABORT = 2
KIND_HELLO = 3
KIND_BYE = 4
_KINDS = {KIND_DATA: "data", KIND_ABORT: "abort", KIND_HELLO: "hello", KIND_BYE: "bye"}

_HEADER = struct.Struct(">IBBIII")
#: Bytes of framing around every payload.
FRAME_HEADER_SIZE = _HEADER.size  # 18
_LENGTH_SIZE = 4
_U32_MAX = 0xFFFFFFFF
#: Default largest frame (header included) a party accepts: 1 GiB.
DEFAULT_MAX_FRAME = 1 << 30


@dataclass(frozen=True)
class Frame:
    """One parsed frame.

    Attributes:
        kind: ``KIND_DATA``, ``KIND_ABORT``, ``KIND_HELLO`` or ``KIND_BYE``.
        seq: the sequence number (data frames).
        clock: the sender's Lamport clock at sending.
        payload: the bytes after the header.
        size: the frame's size on the wire, header included.
    """

    kind: int
    seq: int
    clock: int
    payload: bytes

    @property
    def size(self) -> int:
        return FRAME_HEADER_SIZE + len(self.payload)


def _crc(version: int, kind: int, seq: int, clock: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(struct.pack(">BBII", version, kind, seq, clock)))


def encode_frame(kind: int, seq: int, clock: int, payload: bytes, max_frame: int) -> bytes:
    """Build the bytes of one frame.

    Raises:
        ProtocolError: the frame would exceed ``max_frame`` bytes, or ``seq``
            or ``clock`` does not fit 32 bits.
    """
    size = FRAME_HEADER_SIZE + len(payload)
    if size > max_frame:
        raise ProtocolError(
            f"a message of {size} bytes exceeds the maximum frame size of {max_frame} bytes"
        )
    if not (0 <= seq <= _U32_MAX and 0 <= clock <= _U32_MAX):
        raise ProtocolError("a sequence number or clock exceeds 2^32 - 1")
    crc = _crc(VERSION, kind, seq, clock, payload)
    return _HEADER.pack(size - _LENGTH_SIZE, VERSION, kind, seq, clock, crc) + payload


class FrameParser:
    """Cut a byte stream into checked frames.

    Feed it bytes as they arrive; it returns every complete frame. It never
    buffers more than one header and one payload, and it rejects a frame whose
    announced length is above ``max_frame`` as soon as the length is known.
    After an error the parser is dead: every later call raises again.

    Args:
        peer: name of the party at the other end (for error messages).
        max_frame: largest frame accepted, header included.
    """

    def __init__(self, peer: str, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.peer = peer
        self.max_frame = max_frame
        self._buf = bytearray()
        self._need: int | None = None  # total size of the frame being read, once known
        self._error: ProtocolError | None = None

    def _fail(self, message: str) -> ProtocolError:
        self._error = ProtocolError(f"frame from {self.peer!r}: {message}")
        self._buf = bytearray()
        return self._error

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add received bytes; returns the frames they complete (maybe none).

        Raises:
            ProtocolError: an oversize, undersize, corrupted (CRC), unknown-kind
                or wrong-version frame.
        """
        if self._error is not None:
            raise self._error
        self._buf += data
        return list(self._frames())

    def _frames(self) -> Iterator[Frame]:
        while True:
            if self._need is None:
                if len(self._buf) < _LENGTH_SIZE:
                    return
                (rest,) = struct.unpack_from(">I", self._buf)
                size = rest + _LENGTH_SIZE
                if size > self.max_frame:
                    raise self._fail(
                        f"announced {size} bytes, above the maximum frame size of "
                        f"{self.max_frame} bytes"
                    )
                if size < FRAME_HEADER_SIZE:
                    raise self._fail(f"announced {size} bytes, less than the 18-byte header")
                self._need = size
            if len(self._buf) < self._need:
                return
            raw = bytes(self._buf[: self._need])
            del self._buf[: self._need]
            self._need = None
            _, version, kind, seq, clock, crc = _HEADER.unpack_from(raw)
            payload = raw[FRAME_HEADER_SIZE:]
            if version != VERSION:
                raise self._fail(f"version {version}, expected {VERSION}")
            if kind not in _KINDS:
                raise self._fail(f"unknown kind {kind}")
            if crc != _crc(version, kind, seq, clock, payload):
                raise self._fail("checksum mismatch (the frame was corrupted)")
            yield Frame(kind, seq, clock, payload)

    def eof(self) -> None:
        """The stream ended; raises if it ended inside a frame."""
        if self._error is not None:
            raise self._error
        if self._buf:
            raise self._fail(
                f"stream ended inside a frame ({len(self._buf)} bytes of a truncated frame)"
            )
