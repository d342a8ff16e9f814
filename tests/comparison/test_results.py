"""Accuracy check, totals, and the output formats, on hand-made runs."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from hecrypt.comparison import api, results, techniques
from hecrypt.comparison.projection import PRESETS, project
from hecrypt.comparison.techniques import Run
from hecrypt.comparison.workloads import linear_workload, model_workload
from hecrypt.models import from_arrays


def _party(sent: int, received: int, rounds: int, on_s: float = 0.25) -> dict:
    return {
        "offline_s": 0.5, "online_s": on_s, "bytes_sent": sent + 10,
        "bytes_received": received + 10, "rounds": rounds + 1,
        "offline_bytes_sent": 10, "offline_bytes_received": 10, "offline_rounds": 1,
        "online_bytes_sent": sent, "online_bytes_received": received, "online_rounds": rounds,
    }


PARTIES = {"client": _party(4000, 300, 2), "server": _party(300, 4000, 2, 0.2)}


def test_accuracy_passes_on_the_plaintext_scores_and_fails_when_wrong() -> None:
    w = linear_workload(20, 50, seed=3)
    ref = w.reference_scores()
    tol = results.tolerance("he", w)
    ok = results.accuracy(w, ref + tol / 2, tol)
    assert ok["ok"] and ok["label_agreement"] == 1.0
    assert ok["max_abs_error"] == pytest.approx(tol / 2)
    wrong = results.accuracy(w, ref + 3 * tol, tol)
    assert not wrong["ok"] and "exceeds the tolerance" in wrong["problem"]
    flipped = results.accuracy(w, -ref, tol)
    assert not flipped["ok"] and "clear plaintext label" in flipped["problem"]
    assert flipped["label_agreement"] < 0.5
    bad_shape = results.accuracy(w, ref[:3], tol)
    assert not bad_shape["ok"] and math.isinf(bad_shape["max_abs_error"])
    nan = results.accuracy(w, ref * np.nan, tol)
    assert not nan["ok"]


def test_a_label_may_differ_only_near_a_tie() -> None:
    model = from_arrays([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], classes=[0, 1, 2])
    X = np.array([[1.0, 1.0 + 1e-9], [3.0, 0.0]])
    w = model_workload(model, X)
    got = w.reference_scores().copy()
    got[0, [0, 1]] = got[0, [1, 0]]  # swap the near-tie of record 0
    acc = results.accuracy(w, got, 1e-6)
    assert acc["ok"] and acc["label_agreement"] == 0.5


def test_tolerances_follow_their_bounds() -> None:
    w = linear_workload(100, 4, seed=1)
    x_l1 = float(np.max(np.abs(w.X).sum(axis=1)))
    w_l1 = float(np.abs(w.model.coef).sum())
    assert results.tolerance("he-packed", w) == pytest.approx(2 * (x_l1 + w_l1 + 1) * 2.0**-20)
    assert results.tolerance("dealer", w) == pytest.approx((x_l1 + w_l1 + 4) * 2.0**-14)


def test_totals_sum_bytes_and_take_the_slowest_party() -> None:
    t = results.totals(PARTIES)
    assert t["bytes_sent"] == t["bytes_received"] == 4000 + 300 + 20
    assert t["online_s"] == 0.25 and t["rounds"] == 3
    assert t["online_bytes_sent"] == 4300


def _comparison(run_scores_offset: float = 0.0) -> api.Comparison:
    w = linear_workload(5, 3)
    nets = list(PRESETS.values())
    runs = [
        Run("he", "ok", parties=PARTIES, scores=w.reference_scores() + run_scores_offset,
            wall_s=1.0, details={"path": "tensor"}),
        Run("dealer", "not available", "secret sharing is not in this build"),
        Run("hybrid", "error", "ProtocolError: the peer died"),
    ]
    res = [results.make_result(r, w, nets, key_bits=2048, transport="memory") for r in runs]
    return api.Comparison({"CPU": "test", "Cores": "2"}, nets, res)


def test_make_result_projects_and_checks() -> None:
    cmp = _comparison()
    he = cmp.result("he")
    assert he.ok
    assert he.projected_s["wan"] == pytest.approx(project(PARTIES, PRESETS["wan"])["seconds"])
    assert cmp.result("dealer").status == "not available" and not cmp.result("dealer").parties
    assert [r.technique for r in cmp.failures()] == ["hybrid"]
    assert _comparison(1.0).result("he").failed


def test_json_shape() -> None:
    data = json.loads(_comparison().to_json())
    assert set(data) >= {"machine", "results", "networks"}
    he = data["results"][0]
    assert he["technique"] == "he" and he["workload"] == "logistic-5x3"
    for party in ("client", "server"):
        assert set(he["parties"][party]) >= set(techniques.PARTY_KEYS)
    assert set(he["projected_s"]) == {"lan", "wan"}
    assert he["max_abs_error"] == 0.0 and he["label_agreement"] == 1.0
    assert data["results"][1]["status"] == "not available"
    assert data["results"][1]["parties"] == {}


def test_csv_has_a_row_per_party_and_a_total() -> None:
    rows = list(csv.DictReader(io.StringIO(_comparison().to_csv())))
    he = [r for r in rows if r["technique"] == "he"]
    assert [r["party"] for r in he] == ["client", "server", "total"]
    assert int(he[2]["bytes_sent"]) == 4320
    assert float(he[2]["projected_lan_s"]) > 0
    assert [r["status"] for r in rows if r["technique"] != "he"] == ["not available", "error"]


def test_table_names_every_technique_and_failure() -> None:
    text = _comparison().table()
    assert "not available: secret sharing is not in this build" in text
    assert "FAILED hybrid" in text
    assert "4.3 kB" in text  # bytes as counted


def test_plot_writes_a_png(tmp_path) -> None:
    path = _comparison().plot(tmp_path / "bars.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_strict_compare_raises_on_wrong_outputs(monkeypatch) -> None:
    def wrong(tech, workload, **kw):
        return Run(tech, "ok", parties=PARTIES, scores=workload.reference_scores() + 1.0)

    monkeypatch.setattr(api, "run_technique", wrong)
    with pytest.raises(results.AccuracyCheckError) as info:
        api.compare(linear_workload(4, 2), techniques=["he"])
    assert info.value.comparison.result("he").failed
    cmp = api.compare(linear_workload(4, 2), techniques=["he"], strict=False)
    assert cmp.failures()


def test_unavailable_secret_sharing_is_reported_not_faked(monkeypatch) -> None:
    def missing():
        raise ImportError("hecrypt.hybrid.private_predict is not in this build")

    monkeypatch.setattr(techniques, "_private_predict", missing)
    for tech in techniques.SS_TECHNIQUES:
        run = techniques.run_technique(tech, linear_workload(3, 2))
        assert run.status == "not available" and run.scores is None and not run.parties


def test_he_is_not_applicable_to_a_network() -> None:
    class Net:  # anything that is not a linear model
        pass

    w = linear_workload(3, 2)
    other = type(w)("net", Net(), w.X, {})
    for tech in techniques.HE_TECHNIQUES:
        assert techniques.availability(tech, other)[0] == "not applicable"


def test_json_round_trip_and_markdown() -> None:
    cmp = _comparison()
    again = api.Comparison.from_dict(json.loads(cmp.to_json()))
    assert again.to_dict() == json.loads(cmp.to_json())
    md = again.markdown()
    assert "| he | 2 |" in md and "not available" in md
    with pytest.raises(ValueError):
        api.Comparison.from_dict({"results": []})
