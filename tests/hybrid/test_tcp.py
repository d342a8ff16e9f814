"""Parties over TCP: same counts as in memory, every failure from a raw socket peer,
mutual TLS, and parties as processes and as ``hecrypt party`` commands."""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trustme

from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid.channels import Party
from hecrypt.hybrid.frames import (
    FRAME_HEADER_SIZE,
    KIND_ABORT,
    KIND_DATA,
    KIND_HELLO,
    encode_frame,
)
from hecrypt.hybrid.jobs import ping_program
from hecrypt.hybrid.runner import Outcome, PartyFailedError, run_parties, run_program
from hecrypt.hybrid.tcp import TcpEndpoint, TLSConfig, connect, parse_address
from hecrypt.hybrid.wire import decode_message, encode_message

sys.path.insert(0, str(Path(__file__).parent))  # spawned children import the programs too
import hybrid_party_programs as programs

LOCAL = ("127.0.0.1", 0)


def run_threads_tcp(
    roles: dict[str, tuple[list[str], list[str]]],
    program: Callable[[Party], Any],
    *,
    tls: dict[str, TLSConfig] | None = None,
    timeout: float = 10.0,
) -> dict[str, Outcome | BaseException]:
    """Each role (accept list, dial list) on its own endpoint, in threads."""
    eps = {n: TcpEndpoint(n, LOCAL, tls=(tls or {}).get(n), timeout=timeout) for n in roles}
    out: dict[str, Outcome | BaseException] = {}

    def go(name: str) -> None:
        accept, dial = roles[name]
        try:
            party = eps[name].connect(accept, {d: eps[d].address for d in dial})  # type: ignore[misc]
        except BaseException as exc:
            out[name] = exc
            return
        out[name] = run_program(party, program)

    threads = [threading.Thread(target=go, args=(n,)) for n in roles]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 10)
        assert not t.is_alive(), "a party hung"
    return out


THREE = {"a": (["b", "c"], []), "b": (["c"], ["a"]), "c": ([], ["a", "b"])}


def test_tcp_counts_equal_memory_counts() -> None:
    prog = functools.partial(ping_program, rounds=3)
    out = run_threads_tcp(THREE, prog)
    mem: dict[str, dict] = {}
    run_parties({n: prog for n in "abc"}, reports=mem)
    for n in "abc":
        o = out[n]
        assert isinstance(o, Outcome) and o.ok, o
        assert o.result["rounds"] == 3
        for key in ("bytes_sent", "bytes_received", "rounds", "messages_sent"):
            assert o.report[key] == mem[n][key]  # type: ignore[index]
        assert o.report["bytes_sent"] == 2 * 3 * 63  # type: ignore[index]


def test_large_simultaneous_exchange_does_not_deadlock() -> None:
    big = np.arange(2_000_000, dtype=np.uint64)  # 16 MB each way at once

    def both(p: Party) -> bool:
        got = p.exchange(p.peers[0], big)
        return bool(np.array_equal(got, big))

    out = run_threads_tcp({"a": (["b"], []), "b": ([], ["a"])}, both)
    for n in "ab":
        o = out[n]
        assert isinstance(o, Outcome) and o.ok and o.result is True
        assert o.report["bytes_sent"] == FRAME_HEADER_SIZE + 3 + 4 + 16_000_000  # type: ignore[index]
        assert o.report["rounds"] == 1  # type: ignore[index]


def test_parse_address() -> None:
    assert parse_address("10.0.0.1:7000") == ("10.0.0.1", 7000)
    assert parse_address("[::1]:80") == ("::1", 80)
    for bad in ("nohost", ":80", "h:x", "h:70000"):
        with pytest.raises(ProtocolError, match="HOST:PORT"):
            parse_address(bad)


# -- a raw socket peer ----------------------------------------------------------


class RawPeer:
    """Plays role 'b' against a real party 'a' with hand-made bytes."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=10)
        hello = encode_message({"from": "b", "to": "a", "version": 1})
        self.sock.sendall(encode_frame(KIND_HELLO, 0, 0, hello, 4096))
        kind, payload = self.read_frame()
        assert kind == KIND_HELLO and decode_message(payload)["from"] == "a"

    def read_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def read_frame(self) -> tuple[int, bytes]:
        head = self.read_exact(4)
        rest = self.read_exact(int.from_bytes(head, "big"))
        return rest[1], rest[FRAME_HEADER_SIZE - 4 :]

    def data(self, seq: int, obj: Any = None, payload: bytes | None = None) -> bytes:
        body = encode_message(obj) if payload is None else payload
        return encode_frame(KIND_DATA, seq, 0, body, 1 << 20)


def receiver_a(p: Party) -> list[Any]:
    return [p.recv("b") for _ in range(2)]


def corrupt(frame: bytes) -> bytes:
    return frame[:-1] + bytes([frame[-1] ^ 0x40])


CASES: dict[str, tuple[Callable[[RawPeer], None], str]] = {
    "corrupted": (lambda r: r.sock.sendall(r.data(0, 1) + corrupt(r.data(1, 2))), "checksum"),
    "truncated": (lambda r: (r.sock.sendall(r.data(0, 1) + r.data(1, 2)[:-4]),
                             r.sock.shutdown(socket.SHUT_WR)), "truncated"),
    "out of order": (lambda r: r.sock.sendall(r.data(1, 1)), "out of order"),
    "replayed": (lambda r: r.sock.sendall(r.data(0, 1) + r.data(0, 1)), "out of order"),
    "oversize": (lambda r: r.sock.sendall((1 << 30).to_bytes(4, "big") + b"\x01" * 14),
                 "maximum frame size"),
    "malformed": (lambda r: r.sock.sendall(r.data(0, payload=b"\x09\x00\x00\x00\x05")),
                  "malformed message"),
    "unknown dtype": (lambda r: r.sock.sendall(r.data(0, payload=b"\x0c\x42\x00")),
                      "unknown array dtype"),
    "disconnect": (lambda r: (r.sock.sendall(r.data(0, 1)), r.sock.shutdown(socket.SHUT_WR)),
                   "disconnected or died"),
    "silence": (lambda r: r.sock.sendall(r.data(0, 1)), "timed out"),
    "bad version": (lambda r: r.sock.sendall(b"\x00\x00\x00\x0e\x07" + b"\x00" * 13),
                    "version 7"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_raw_peer_faults(case: str) -> None:
    act, match = CASES[case]
    endpoint = TcpEndpoint("a", LOCAL, timeout=1.5, max_frame=1 << 20)
    out: dict[str, Outcome] = {}

    def run() -> None:
        out["a"] = run_program(endpoint.connect(["b"]), receiver_a)

    t = threading.Thread(target=run)
    t.start()
    raw = RawPeer(endpoint.address)  # type: ignore[arg-type]
    start = time.monotonic()
    act(raw)
    t.join(10)
    assert not t.is_alive()
    elapsed = time.monotonic() - start
    outcome = out["a"]
    assert not outcome.ok and match in outcome.cause, outcome.cause
    assert elapsed < (3.0 if case == "silence" else 1.4)  # immediate unless it is a timeout
    if case not in ("disconnect", "truncated"):  # 'a' tells the peer why it stops
        kinds = []
        with pytest.raises((EOFError, OSError)):
            while True:
                kinds.append(raw.read_frame()[0])
        assert KIND_ABORT in kinds
    raw.sock.close()


def test_stranger_hello_is_refused_and_the_real_peer_still_connects() -> None:
    endpoint = TcpEndpoint("a", LOCAL, timeout=5)
    result: dict[str, Any] = {}
    t = threading.Thread(target=lambda: result.setdefault("a", endpoint.connect(["b"])))
    t.start()
    s = socket.create_connection(endpoint.address)  # type: ignore[arg-type]
    s.sendall(encode_frame(KIND_HELLO, 0, 0, encode_message({"from": "eve", "to": "a",
                                                             "version": 1}), 4096))
    assert s.recv(100) == b""  # closed without a hello
    b = connect("b", dial={"a": endpoint.address}, timeout=5)  # type: ignore[dict-item]
    t.join(5)
    a = result["a"]
    b.send("a", "hi")
    assert a.recv("b") == "hi"
    closer = threading.Thread(target=a.close)  # close waits for the peer's goodbye
    closer.start()
    b.close()
    closer.join(5)


def test_missing_peer_is_a_timeout_naming_it() -> None:
    endpoint = TcpEndpoint("a", LOCAL, timeout=0.5)
    with pytest.raises(ProtocolError, match=r"timed out after 0\.5 s connecting: no hello from b"):
        endpoint.connect(["b"])
    with pytest.raises(ProtocolError, match="could not connect"):
        connect("b", dial={"a": ("127.0.0.1", 1)}, timeout=0.3)


# -- TLS ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TLSConfig]:
    root = tmp_path_factory.mktemp("pki")
    ca, rogue = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    configs = {}
    for name, issuer, identity in [("a", ca, "a"), ("b", ca, "b"), ("c", ca, "c"),
                                   ("rogue", rogue, "b"), ("mallory", ca, "mallory")]:
        cert = issuer.issue_cert("127.0.0.1", "localhost", identity)
        path = root / f"{name}.pem"
        cert.private_key_and_cert_chain_pem.write_to_path(str(path))
        configs[name] = TLSConfig(str(path), str(path), str(root / "ca.pem"))
    return configs


def test_mutual_tls_ping(pki: dict[str, TLSConfig]) -> None:
    out = run_threads_tcp(THREE, ping_program, tls={n: pki[n] for n in "abc"})
    for n in "abc":
        o = out[n]
        assert isinstance(o, Outcome) and o.ok, o
        assert o.report["bytes_sent"] == 2 * 3 * 63  # type: ignore[index]  # TLS adds nothing


def test_tls_refuses_a_client_certificate_from_another_ca(pki: dict[str, TLSConfig]) -> None:
    out = run_threads_tcp({"a": (["b"], []), "b": ([], ["a"])}, ping_program,
                          tls={"a": pki["a"], "b": pki["rogue"]}, timeout=1.5)
    assert isinstance(out["b"], ProtocolError)  # the dialer learns it was refused
    assert "refused this party's certificate" in str(out["b"])
    assert isinstance(out["a"], ProtocolError)
    assert "no hello from b" in str(out["a"]) and "certificate is refused" in str(out["a"])


def test_tls_refuses_a_server_from_another_ca(pki: dict[str, TLSConfig]) -> None:
    out = run_threads_tcp({"a": (["b"], []), "b": ([], ["a"])}, ping_program,
                          tls={"a": pki["rogue"], "b": pki["b"]}, timeout=1.5)
    assert isinstance(out["b"], ProtocolError) and "TLS handshake" in str(out["b"])
    assert isinstance(out["a"], ProtocolError)


def test_tls_role_names(pki: dict[str, TLSConfig]) -> None:
    import dataclasses

    strict = {n: dataclasses.replace(pki[n], role_in_certificate=True)
              for n in ("a", "b", "mallory")}
    out = run_threads_tcp({"a": (["b"], []), "b": ([], ["a"])}, ping_program,
                          tls={"a": strict["a"], "b": strict["b"]})
    assert all(isinstance(o, Outcome) and o.ok for o in out.values())
    # mallory's certificate is valid (same CA) but does not name role b
    out = run_threads_tcp({"a": (["b"], []), "b": ([], ["a"])}, ping_program,
                          tls={"a": strict["a"], "b": strict["mallory"]}, timeout=1.5)
    assert isinstance(out["a"], ProtocolError) and "names ['" in str(out["a"])


def test_plain_client_cannot_talk_to_a_tls_party(pki: dict[str, TLSConfig]) -> None:
    out = run_threads_tcp({"a": (["b"], []), "b": ([], ["a"])}, ping_program,
                          tls={"a": pki["a"]}, timeout=1.5)
    assert isinstance(out["a"], ProtocolError) and isinstance(out["b"], ProtocolError)


# -- processes ------------------------------------------------------------------


def test_processes_over_tcp_with_tls(pki: dict[str, TLSConfig]) -> None:
    reports: dict[str, dict] = {}
    prog = functools.partial(ping_program, rounds=2)
    out = run_parties({n: prog for n in "abc"}, transport="tcp", timeout=20,
                      tls={n: pki[n] for n in "abc"}, reports=reports)
    assert {n: out[n]["rounds"] for n in "abc"} == {"a": 2, "b": 2, "c": 2}
    assert {n: out[n]["peers"] for n in "abc"} == {"a": ["b", "c"], "b": ["a", "c"],
                                                   "c": ["a", "b"]}
    assert reports["a"]["bytes_sent"] == 2 * 2 * 63


def test_process_that_dies_is_named() -> None:
    start = time.monotonic()
    with pytest.raises(PartyFailedError, match=r"party 'a' failed: the process died \(exit code 3")\
            as ei:
        run_parties({"a": programs.dies_after_one, "b": programs.talks_to_a,
                     "c": programs.waits_for_a}, transport="tcp", timeout=20)
    assert time.monotonic() - start < 15
    assert "disconnected or died" in ei.value.errors["b"]


def test_process_that_raises_stops_the_others() -> None:
    start = time.monotonic()
    with pytest.raises(PartyFailedError, match="party 'a' failed: ValueError: bad input") as ei:
        run_parties({"a": programs.raises, "b": programs.talks_to_a,
                     "c": programs.waits_for_a}, transport="tcp", timeout=20)
    assert time.monotonic() - start < 15
    assert set(ei.value.errors) == {"a", "b", "c"}


# -- the hecrypt party command --------------------------------------------------


def test_party_command_three_processes(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "hecrypt", "party", "--job", "ping", "--option", "rounds=2",
           "--timeout", "20"]
    dealer = subprocess.Popen(
        [*cmd, "--role", "dealer", "--listen", "127.0.0.1:0", "--accept", "server",
         "--accept", "client"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        line = dealer.stderr.readline()  # type: ignore[union-attr]
        assert "dealer listening on 127.0.0.1:" in line, line
        dport = line.rsplit(":", 1)[1].strip()
        server = subprocess.Popen(
            [*cmd, "--role", "server", "--listen", "127.0.0.1:0", "--accept", "client",
             "--connect", f"dealer=127.0.0.1:{dport}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        line = server.stderr.readline()  # type: ignore[union-attr]
        sport = line.rsplit(":", 1)[1].strip()
        client = subprocess.run(
            [*cmd, "--role", "client", "--connect", f"dealer=127.0.0.1:{dport}",
             "--connect", f"server=127.0.0.1:{sport}", "--report", "json"],
            capture_output=True, env=env, text=True, timeout=60)
        s_out, s_err = server.communicate(timeout=60)
        d_out, d_err = dealer.communicate(timeout=60)
    finally:
        for proc in (dealer, locals().get("server")):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert client.returncode == 0, client.stderr
    assert server.returncode == 0 and dealer.returncode == 0, (s_err, d_err)
    result = json.loads(client.stdout)
    assert result == {"role": "client", "result": {"role": "client", "peers": ["dealer", "server"],
                      "rounds": 2, "bytes_sent": 4 * 73, "bytes_received": 4 * 73}}
    # {"from": "client", "to": "dealer", "i": 0}: 55 bytes + 18 of header, 4 messages
    assert json.loads(client.stderr)["bytes_sent"] == 4 * 73
    assert "global data sent" in s_err and json.loads(d_out)["result"]["rounds"] == 2


def test_party_command_reports_failures() -> None:
    from hecrypt.__main__ import main

    assert main(["party", "--job", "nope", "--role", "a", "--connect", "b=127.0.0.1:1"]) == 1
    assert main(["party", "--job", "ping", "--role", "a", "--listen", "127.0.0.1:0"]) == 2
    assert main(["party", "--job", "ping", "--role", "a", "--tls-cert", "x"]) == 2
    assert main(["party", "--job", "ping", "--role", "a", "--timeout", "0.3",
                 "--connect", "b=127.0.0.1:1"]) == 1


# -- parties with worker processes of their own ----------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie still answers: read its state where /proc exists
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            return stat.read_text().split(") ", 1)[1][0] != "Z"
        except (OSError, IndexError):
            return False
    return True


def _gone(pids: list[int], within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(_alive(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


def test_party_processes_may_use_a_process_pool() -> None:
    """A party's batch of MIN_PARALLEL_ITEMS encryptions runs on its own worker pool."""
    out = run_parties({"a": programs.encrypts_with_the_pool, "b": programs.encrypts_with_the_pool},
                      transport="tcp", timeout=60)
    expected = float(sum(range(64)))
    for name in "ab":
        assert out[name]["total"] == out[name]["peer_total"] == expected
        workers = out[name]["workers"]
        assert workers and os.getpid() not in workers
    # each party had its own pool, and none of it outlives run_parties
    assert not set(out["a"]["workers"]) & set(out["b"]["workers"])
    assert _gone(out["a"]["workers"] + out["b"]["workers"])


def test_a_stuck_party_is_ended_with_its_workers(tmp_path: Path) -> None:
    """A party that ignores the abort is terminated after the grace time, its pool too."""
    record = tmp_path / "pids"
    with pytest.raises(PartyFailedError, match="party 'b' failed: ValueError: failed on purpose"):
        run_parties({"a": programs.pool_then_hangs,
                     "b": functools.partial(programs.records_pids_then_raises, path=str(record))},
                    transport="tcp", timeout=5)
    pids = [int(v) for v in record.read_text().split()]
    assert pids
    assert _gone(pids), f"worker processes {pids} of the ended party are still running"
