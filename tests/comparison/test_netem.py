"""The delaying proxy imposes latency and bandwidth on a real TCP connection."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from hecrypt.comparison.netem import DelayProxy
from hecrypt.comparison.projection import Network


def _echo_server() -> tuple[socket.socket, tuple[str, int]]:
    srv = socket.create_server(("127.0.0.1", 0))

    def echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:  # closed at the end of the test
                return
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[:2]


def _round_trip(address: tuple[str, int], size: int) -> float:
    with socket.create_connection(address) as sock:
        payload = b"x" * size
        t0 = time.perf_counter()
        sock.sendall(payload)
        got = 0
        while got < size:
            chunk = sock.recv(65536)
            assert chunk
            got += len(chunk)
        return time.perf_counter() - t0


def test_latency_and_bandwidth_are_imposed() -> None:
    srv, addr = _echo_server()
    net = Network("t", 2e6, 0.05)  # 2 Mbit/s, 50 ms one way
    with srv, DelayProxy(addr, net) as proxy:
        assert proxy.address is not None
        small = _round_trip(proxy.address, 10)
        big = _round_trip(proxy.address, 50_000)
    # there and back: two latencies, plus the bytes through each direction's link
    assert small >= 2 * 0.05
    assert small < 2 * 0.05 + 0.5
    assert big >= 2 * 0.05 + 2 * 50_000 * 8 / 2e6 * 0.9
    assert big < 2 * 0.05 + 2 * 50_000 * 8 / 2e6 + 1.0


def test_bytes_arrive_intact_and_in_order() -> None:
    srv, addr = _echo_server()
    data = bytes(range(256)) * 400
    with srv, DelayProxy(addr, Network("fast", 1e9, 0.001)) as proxy, \
            socket.create_connection(proxy.address) as sock:
        sock.sendall(data)
        got = b""
        while len(got) < len(data):
            got += sock.recv(65536)
    assert got == data


def test_projection_check_runs_the_same_protocol_over_tcp() -> None:
    from hecrypt.comparison import api
    from hecrypt.comparison.workloads import linear_workload

    net = Network("emu", 20e6, 0.03)
    check = api.check_projection(linear_workload(5, 4), "he-packed", net, key_bits=1024,
                                 insecure_small_keys=True, timeout=60)
    # the same messages: the counters agree between the in-memory and the TCP run
    assert check["tcp_bytes_sent"] == check["memory_bytes_sent"]
    assert check["tcp_rounds"] == check["memory_rounds"] == 4
    # four one-way hops of 30 ms cannot take less than 120 ms on the emulated network
    assert check["measured_s"] >= 4 * 0.03
    # per phase: max over parties of (W_p + R_p * latency + ...) >= max W_p + min R_p * latency;
    # online every party has at least one round (offline the client only sends its key, so
    # its offline figure may carry no latency when its own compute is the larger)
    assert check["projected_s"] >= check["memory_wall_s"] + 0.03
    assert check["ratio"] == pytest.approx(check["measured_s"] / check["projected_s"])


@pytest.mark.parametrize("mode", ["hybrid", "two-party"])
def test_projection_check_runs_the_secret_sharing_modes_over_tcp(mode: str) -> None:
    from hecrypt.comparison import api
    from hecrypt.comparison.workloads import linear_workload

    net = Network("emu", 50e6, 0.02)
    check = api.check_projection(linear_workload(3, 2), mode, net, key_bits=1024,
                                 insecure_small_keys=True, timeout=120)
    # the same protocol: identical counters in memory and over TCP
    assert check["tcp_bytes_sent"] == check["memory_bytes_sent"] > 0
    assert check["tcp_rounds"] == check["memory_rounds"] > 2
    # every round crosses the emulated latency at least once
    assert check["measured_s"] >= check["tcp_rounds"] * 0.02 * 0.5
    # the projection adds the network to the in-memory run (formula: test_projection.py)
    assert check["projected_s"] > check["memory_wall_s"] + 0.02
    assert check["ratio"] == pytest.approx(check["measured_s"] / check["projected_s"])


def test_projection_check_runs_the_dealer_over_three_delayed_links() -> None:
    from hecrypt.comparison import api
    from hecrypt.comparison.workloads import linear_workload

    net = Network("emu", 50e6, 0.02)
    check = api.check_projection(linear_workload(3, 2), "dealer", net, timeout=60)
    assert set(check["tcp_parties"]) == {"client", "server", "dealer"}
    assert check["tcp_bytes_sent"] == check["memory_bytes_sent"] > 0
    assert check["tcp_rounds"] == check["memory_rounds"] > 2
    # the dealer's links are delayed too: its offline rounds cross the proxy
    assert check["measured_s"] >= check["tcp_rounds"] * 0.02 * 0.5
    with pytest.raises(ValueError, match="not 'garbled'"):
        api.check_projection(linear_workload(3, 2), "garbled", net)
