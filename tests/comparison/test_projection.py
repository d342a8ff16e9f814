"""The projection follows its documented formula, per phase and party."""

from __future__ import annotations

import pytest

from hecrypt.comparison.projection import (
    PRESETS,
    Network,
    parse_network,
    project,
    project_phase,
)


def _party(off_s: float, on_s: float, off: tuple[int, int, int], on: tuple[int, int, int]) -> dict:
    return {
        "offline_s": off_s, "online_s": on_s,
        "offline_bytes_sent": off[0], "offline_bytes_received": off[1], "offline_rounds": off[2],
        "online_bytes_sent": on[0], "online_bytes_received": on[1], "online_rounds": on[2],
        "bytes_sent": off[0] + on[0], "bytes_received": off[1] + on[1],
        "rounds": off[2] + on[2],
    }


def test_presets_are_the_documented_networks() -> None:
    assert PRESETS["lan"] == Network("lan", 1e9, 0.2e-3)
    assert PRESETS["wan"] == Network("wan", 100e6, 40e-3)


def test_formula_by_hand() -> None:
    parties = {
        "client": _party(0.5, 2.0, (1000, 0, 1), (80_000, 5_000, 2)),
        "server": _party(0.4, 1.9, (0, 1000, 1), (5_000, 80_000, 2)),
    }
    net = Network("x", 8e6, 0.01)  # 1 MB/s each way, 10 ms
    off = project_phase(parties, "offline", net)
    # client: 0.5 + 1 * 0.01 + max(1000, 0) * 8 / 8e6 = 0.511
    assert off["per_party"]["client"] == pytest.approx(0.511)
    assert off["per_party"]["server"] == pytest.approx(0.4 + 0.01 + 0.001)
    assert off["seconds"] == pytest.approx(0.511)
    assert off["critical_party"] == "client"
    on = project_phase(parties, "online", net)
    assert on["per_party"]["client"] == pytest.approx(2.0 + 2 * 0.01 + 0.08)
    assert on["sequential_seconds"] == pytest.approx(2.0 + 0.02 + 0.085)
    total = project(parties, net)
    assert total["seconds"] == pytest.approx(0.511 + 2.1)
    assert total["offline_s"] + total["online_s"] == pytest.approx(total["seconds"])


def test_more_bytes_or_rounds_cost_more_on_a_slower_network() -> None:
    small = {"a": _party(0.0, 1.0, (0, 0, 0), (1_000, 1_000, 2))}
    big = {"a": _party(0.0, 1.0, (0, 0, 0), (10**6, 1_000, 2))}
    deep = {"a": _party(0.0, 1.0, (0, 0, 0), (1_000, 1_000, 20))}
    for net in PRESETS.values():
        assert project(big, net)["seconds"] > project(small, net)["seconds"]
        assert project(deep, net)["seconds"] - project(small, net)["seconds"] == pytest.approx(
            18 * net.latency_s)
    assert project(small, PRESETS["wan"])["seconds"] > project(small, PRESETS["lan"])["seconds"]


def test_parse_network() -> None:
    assert parse_network("LAN") is PRESETS["lan"]
    n = parse_network("4g=20Mbit,60ms")
    assert (n.name, n.bandwidth_bps, n.latency_s) == ("4g", 20e6, 0.06)
    n = parse_network("dc=10Gbit/s,50us")
    assert (n.bandwidth_bps, n.latency_s) == (10e9, pytest.approx(50e-6))
    assert parse_network("x=1e6,0.5").latency_s == 0.5
    for bad in ("mars", "x=fast,1ms", "x=1Mbit", "=1Mbit,1ms", "x=0Mbit,1ms", "x=1Mbit,-1ms"):
        with pytest.raises(ValueError):
            parse_network(bad)


def test_missing_phase_figures_are_an_error() -> None:
    with pytest.raises(KeyError):
        project({"a": {"online_s": 1.0}}, PRESETS["lan"])
