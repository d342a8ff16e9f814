"""Parties over in-memory channels: exact counts, rounds, phases and every failure."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid.channels import Link, Party, PeerAbortedError, memory_parties
from hecrypt.hybrid.frames import FRAME_HEADER_SIZE, KIND_DATA, encode_frame
from hecrypt.hybrid.jobs import ping_program
from hecrypt.hybrid.runner import PartyFailedError, run_parties
from hecrypt.hybrid.wire import encode_message

H = FRAME_HEADER_SIZE  # 18 bytes of framing per message (docs/formats.md)


def test_frame_header_is_18_bytes() -> None:
    frame = encode_frame(KIND_DATA, 7, 3, b"xyz", 1 << 20)
    assert H == 18 and len(frame) == 21
    assert frame[:4] == (17).to_bytes(4, "big")  # length of what follows
    assert frame[4:6] == b"\x01\x01"  # version 1, kind data
    assert frame[6:14] == (7).to_bytes(4, "big") + (3).to_bytes(4, "big")


def run_pair(a: Callable[[Party], object], b: Callable[[Party], object], **kw: object
             ) -> tuple[dict[str, object], dict[str, dict]]:
    reports: dict[str, dict] = {}
    out = run_parties({"a": a, "b": b}, reports=reports, **kw)  # type: ignore[arg-type]
    return out, reports


def test_exact_bytes_one_message_each_way() -> None:
    x = np.arange(6, dtype=np.uint64).reshape(2, 3)

    def a(p: Party) -> object:
        p.send("b", x)
        return p.recv("b")

    def b(p: Party) -> object:
        got = p.recv("a")
        p.send("a", None)
        return got

    out, rep = run_pair(a, b)
    assert out["a"] is None and np.array_equal(out["b"], x)  # type: ignore[arg-type]
    array_msg = H + 3 + 2 * 4 + 6 * 8  # 18 + 59 = 77
    none_msg = H + 1  # 19
    assert rep["a"]["bytes_sent"] == array_msg == 77
    assert rep["a"]["bytes_received"] == none_msg == 19
    assert rep["b"]["bytes_sent"] == 19 and rep["b"]["bytes_received"] == 77
    assert rep["a"]["messages_sent"] == rep["a"]["messages_received"] == 1
    assert rep["a"]["peers"]["b"]["bytes_sent"] == 77
    # ping-pong: a -> b -> a is two rounds of dependency for a, one for b
    assert rep["a"]["rounds"] == 2 and rep["b"]["rounds"] == 1


def test_exchange_is_one_round_and_pingpong_counts_each_leg() -> None:
    def par(p: Party) -> int:
        peer = p.peers[0]
        for i in range(5):
            assert p.exchange(peer, i) == i
        return p.clock

    def ping(p: Party) -> int:
        for i in range(5):
            p.send("b", i)
            assert p.recv("b") == i + 1
        return p.clock

    def pong(p: Party) -> int:
        for _ in range(5):
            p.send("a", p.recv("a") + 1)
        return p.clock

    out, rep = run_pair(par, par)
    assert out == {"a": 5, "b": 5}
    assert rep["a"]["bytes_sent"] == 5 * (H + 9) == 135
    out, rep = run_pair(ping, pong)
    assert out == {"a": 10, "b": 9}  # 10 sequential legs; b's last receive was leg 9


def test_parallel_sends_to_many_peers_are_one_round() -> None:
    def hub(p: Party) -> int:
        for peer in p.peers:
            p.send(peer, b"x" * 10)
        return p.clock

    def leaf(p: Party) -> int:
        p.recv("hub")
        return p.clock

    reports: dict[str, dict] = {}
    out = run_parties({"hub": hub, "l1": leaf, "l2": leaf, "l3": leaf}, reports=reports)
    assert out == {"hub": 0, "l1": 1, "l2": 1, "l3": 1}
    assert reports["hub"]["bytes_sent"] == 3 * (H + 1 + 4 + 10)
    assert reports["l2"]["peers"]["hub"]["bytes_received"] == H + 15


def test_phases_split_bytes_rounds_and_time() -> None:
    def a(p: Party) -> None:
        with p.phase("offline"):
            p.send("b", np.zeros(100, dtype=np.uint64))
            time.sleep(0.05)
        p.exchange("b", 1)
        p.exchange("b", 2)

    def b(p: Party) -> None:
        with p.phase("offline"):
            p.recv("a")
        p.exchange("a", 1)
        p.exchange("a", 2)

    _, rep = run_pair(a, b)
    ra, rb = rep["a"], rep["b"]
    assert ra["offline_bytes_sent"] == H + 3 + 4 + 800
    assert ra["online_bytes_sent"] == 2 * (H + 9)
    assert ra["bytes_sent"] == ra["offline_bytes_sent"] + ra["online_bytes_sent"]
    assert rb["offline_bytes_received"] == H + 807 and rb["offline_rounds"] == 1
    assert ra["offline_rounds"] == 0 and ra["online_rounds"] == 2  # two exchanges, one each
    assert rb["online_rounds"] == 2 and rb["rounds"] == 3
    assert ra["offline_s"] >= 0.05 and ra["online_s"] >= 0
    party = memory_parties(["x", "y"])["x"]
    with pytest.raises(ProtocolError, match="unknown phase"), party.phase("setup"):
        pass


def test_counts_are_the_same_for_ping_job_on_three_parties() -> None:
    reports: dict[str, dict] = {}
    out = run_parties({n: functools.partial(ping_program, rounds=2) for n in "abc"},
                      reports=reports)
    msg = len(encode_message({"from": "a", "to": "b", "i": 0})) + H  # 63
    assert msg == 63
    for name in "abc":
        assert out[name]["rounds"] == 2
        assert reports[name]["bytes_sent"] == 2 * 2 * msg


# -- failures -----------------------------------------------------------------


class FaultyLink(Link):
    """Test-only: tamper with the n-th frame written on a link."""

    def __init__(self, inner: Link, mode: str, index: int = 0) -> None:
        self.inner, self.mode, self.index = inner, mode, index
        self.count = 0
        self.held: bytes | None = None

    def write(self, data: bytes) -> None:
        i = self.count
        self.count += 1
        if i != self.index or data[5] != KIND_DATA:
            self.inner.write(data)
            if self.held is not None:
                self.inner.write(self.held)
                self.held = None
            return
        if self.mode == "corrupt":
            self.inner.write(data[:-1] + bytes([data[-1] ^ 0x01]))
        elif self.mode == "truncate":
            self.inner.write(data[:-3])
            self.inner.close()
        elif self.mode == "drop":
            pass
        elif self.mode == "reorder":
            self.held = data  # the next frame goes first, then this one
        elif self.mode == "oversize":
            self.inner.write((1 << 31).to_bytes(4, "big") + data[4:])
        elif self.mode == "badpayload":
            self.inner.write(encode_frame(KIND_DATA, data[9], 0, b"\xee", 1 << 20))
        elif self.mode == "duplicate":
            self.inner.write(data)
            self.inner.write(data)
        else:
            raise AssertionError(self.mode)

    def close(self) -> None:
        self.inner.close()


def faulty_parties(mode: str, index: int = 0, timeout: float = 5.0) -> dict[str, Party]:
    parties = memory_parties(["a", "b"], timeout=timeout, max_frame=1 << 20)
    links = parties["a"]._links  # test-only access to the sending link
    links["b"] = FaultyLink(links["b"], mode, index)
    return parties


def sender(p: Party) -> None:
    for i in range(3):
        p.send("b", np.full(4, i, dtype=np.uint64))
    p.recv("b", timeout=10)  # waits for an answer that a failed receiver never sends


def receiver(p: Party) -> list[int]:
    got = [int(p.recv("a")[0]) for _ in range(3)]
    p.send("a", "done")
    return got


def run_threads(parties: dict[str, Party], programs: dict[str, Callable[[Party], object]]
                ) -> dict[str, BaseException | object]:
    from hecrypt.hybrid.runner import run_program

    out: dict[str, BaseException | object] = {}

    def body(name: str) -> None:
        outcome = run_program(parties[name], programs[name])
        out[name] = outcome

    threads = [threading.Thread(target=body, args=(n,)) for n in programs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
        assert not t.is_alive(), "a party hung"
    return out


@pytest.mark.parametrize(
    "mode, index, match",
    [
        ("corrupt", 1, "checksum"),
        ("truncate", 1, "truncated"),
        ("drop", 1, "out of order"),
        ("reorder", 0, "out of order"),
        ("duplicate", 0, "out of order"),
        ("oversize", 2, "maximum frame size"),
        ("badpayload", 1, "unknown tag"),
    ],
)
def test_tampered_frames_stop_both_parties(mode: str, index: int, match: str) -> None:
    parties = faulty_parties(mode, index)
    start = time.monotonic()
    out = run_threads(parties, {"a": sender, "b": receiver})
    assert time.monotonic() - start < 4  # detected at once, not by the 5 s timeout
    b, a = out["b"], out["a"]
    assert not b.ok and match in b.cause  # type: ignore[attr-defined]
    assert not a.ok  # type: ignore[attr-defined]
    if mode != "truncate":  # there a's own link is cut: a fails on its next send
        assert a.derived and a.origin == "b"  # type: ignore[attr-defined]


def test_dropped_last_frame_is_a_timeout_on_every_party() -> None:
    parties = faulty_parties("drop", 2, timeout=0.5)
    start = time.monotonic()
    out = run_threads(parties, {"a": sender, "b": receiver})
    assert time.monotonic() - start < 3
    assert "timed out waiting for a message from 'a'" in out["b"].cause  # type: ignore[attr-defined]
    assert out["a"].origin == "b"  # type: ignore[attr-defined]


def test_run_parties_names_the_failed_party_and_cause() -> None:
    def boom(p: Party) -> None:
        p.recv("b")
        raise ValueError("bad share")

    def talk(p: Party) -> None:
        p.send("a", 1)
        p.recv("a")

    def bystander(p: Party) -> None:
        p.recv("b")  # waits on a party that never sends: woken by the abort

    start = time.monotonic()
    with pytest.raises(PartyFailedError, match="party 'a' failed: ValueError: bad share") as ei:
        run_parties({"a": boom, "b": talk, "c": bystander}, timeout=20)
    assert time.monotonic() - start < 5
    assert ei.value.party == "a" and set(ei.value.errors) == {"a", "b", "c"}


def test_peer_that_finished_cannot_be_waited_for() -> None:
    def quits(p: Party) -> None:
        return None

    def waits(p: Party) -> None:
        p.recv("a")

    with pytest.raises(PartyFailedError, match="finished and closed its channel"):
        run_parties({"a": quits, "b": waits}, timeout=20)


def test_timeout_is_a_protocol_error() -> None:
    parties = memory_parties(["a", "b"], timeout=0.2)
    start = time.monotonic()
    with pytest.raises(ProtocolError, match="timed out"):
        parties["a"].recv("b")
    assert 0.2 <= time.monotonic() - start < 2
    with pytest.raises(ProtocolError, match="timed out"):  # the channel stays failed
        parties["a"].recv("b", timeout=0.01)


def test_misuse() -> None:
    p = memory_parties(["a", "b"], max_frame=100)["a"]
    with pytest.raises(ProtocolError, match="no channel"):
        p.send("c", 1)
    with pytest.raises(ProtocolError, match="maximum frame size"):
        p.send("b", b"x" * 100)
    with pytest.raises(ProtocolError, match="cannot send"):
        p.send("b", {1, 2})
    with pytest.raises(ProtocolError, match="distinct"):
        memory_parties(["a", "a"])
    with pytest.raises(ProtocolError, match="unknown transport"):
        run_parties({"a": print, "b": print}, transport="udp")


def test_abort_reaches_a_receiver_blocked_on_another_peer() -> None:
    parties = memory_parties(["a", "b", "c"], timeout=20)
    caught: list[BaseException] = []

    def wait() -> None:
        try:
            parties["a"].recv("b")
        except ProtocolError as exc:
            caught.append(exc)

    t = threading.Thread(target=wait)
    t.start()
    parties["c"].abort("RuntimeError: disk full")
    t.join(5)
    assert not t.is_alive()
    assert isinstance(caught[0], PeerAbortedError)
    assert caught[0].party == "c" and "disk full" in str(caught[0])


# -- frames over any chunking, the report table, the job registry --------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hecrypt.hybrid.frames import FrameParser  # noqa: E402
from hecrypt.hybrid.report import format_report, total_report  # noqa: E402
from hecrypt.hybrid.runner import get_job, register_job  # noqa: E402


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=5), st.data())
def test_parser_accepts_any_chunking(payloads: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(encode_frame(KIND_DATA, i, 2 * i, p, 1 << 10)
                      for i, p in enumerate(payloads))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    parser = FrameParser("x", 1 << 10)
    frames = []
    for lo, hi in zip([0, *cuts], [*cuts, len(stream)]):
        frames += parser.feed(stream[lo:hi])
    parser.eof()
    assert [(f.seq, f.clock, f.payload) for f in frames] == [
        (i, 2 * i, p) for i, p in enumerate(payloads)]


def test_format_report_totals() -> None:
    reports: dict[str, dict] = {}

    def a(p: Party) -> None:
        with p.phase("offline"):
            p.send("b", b"12345")
        p.exchange("b", 1)

    def b(p: Party) -> None:
        with p.phase("offline"):
            p.recv("a")
        p.exchange("a", 2)

    run_parties({"a": a, "b": b}, reports=reports)
    total = total_report({**reports, "total": {"bytes_sent": 10**9}})
    assert total["bytes_sent"] == reports["a"]["bytes_sent"] + reports["b"]["bytes_sent"]
    assert total["bytes_sent"] == (H + 10) + 2 * (H + 9)
    assert total["offline_bytes_sent"] == H + 10 and total["online_rounds"] == 1
    assert reports["a"]["rounds"] == 1 and reports["b"]["rounds"] == 2  # b: offline 1 + online 1
    assert total["rounds"] == 2 and total["offline_rounds"] == 1
    text = format_report(reports)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["party", "phase", "sent"]
    assert any(line.split()[:2] == ["a", "offline"] and line.split()[2] == "28"
               for line in lines)
    assert any(line.split()[:2] == ["total", "offline"] for line in lines)
    assert lines[-1] == f"global data sent: {total['bytes_sent']} bytes (0.000 MB)"


def test_job_registry() -> None:
    def factory(role: str, options: object) -> Callable[[Party], object]:
        return lambda p: (role, p.name)

    register_job("test-echo-role", factory)
    register_job("test-echo-role", factory)  # the same factory again is fine
    with pytest.raises(ProtocolError, match="already registered"):
        register_job("test-echo-role", lambda role, options: print)
    assert get_job("test-echo-role") is factory
    assert get_job("ping") is not None
    with pytest.raises(ProtocolError, match="unknown job 'nope'"):
        get_job("nope")
    out = run_parties({r: get_job("test-echo-role")(r, {}) for r in ("x", "y")})
    assert out == {"x": ("x", "x"), "y": ("y", "y")}
