"""Secret-sharing techniques through private_predict: measured, checked, counted."""

from __future__ import annotations

import json

import pytest

from hecrypt.comparison import api, results, techniques
from hecrypt.comparison.workloads import linear_workload
from hecrypt.models import fileformat

SS = ["dealer", "two-party", "hybrid"]
SMALL = {"insecure_small_keys": True, "key_bits": 1024}


@pytest.fixture(scope="module")
def ss_run() -> api.Comparison:
    return api.compare(linear_workload(4, 3, seed=7), techniques=SS, **SMALL)


def test_every_mode_runs_correct_and_counted(ss_run: api.Comparison) -> None:
    for tech in SS:
        r = ss_run.result(tech)
        assert r.ok, (tech, r.reason, r.accuracy)
        assert set(r.parties) == ({"client", "server", "dealer"} if tech == "dealer"
                                  else {"client", "server"})
        sent = sum(p["bytes_sent"] for p in r.parties.values())
        received = sum(p["bytes_received"] for p in r.parties.values())
        assert sent == received == r.totals["bytes_sent"] > 0
        assert r.totals["rounds"] >= 2
        assert set(r.projected_s) == {"lan", "wan"}


def test_dealer_triples_are_offline(ss_run: api.Comparison) -> None:
    dealer = ss_run.result("dealer").parties["dealer"]
    assert dealer["offline_bytes_sent"] > 0 and dealer["online_bytes_sent"] == 0


def test_bytes_grow_with_the_batch() -> None:
    small = api.compare(linear_workload(4, 2), techniques=["dealer"], **SMALL)
    big = api.compare(linear_workload(4, 12), techniques=["dealer"], **SMALL)
    assert big.result("dealer").totals["bytes_sent"] > small.result("dealer").totals["bytes_sent"]


def test_a_wrong_server_model_fails_the_check(monkeypatch) -> None:
    real = techniques._private_predict()

    def sabotaged(model, X, **kw):
        data = json.loads(model.to_json())
        data["intercept"] = [v - 0.75 for v in data["intercept"]]
        return real(fileformat.loads(json.dumps(data)), X, **kw)

    monkeypatch.setattr(techniques, "_private_predict", lambda: sabotaged)
    with pytest.raises(results.AccuracyCheckError) as info:
        api.compare(linear_workload(4, 3), techniques=SS, **SMALL)
    for tech in SS:
        r = info.value.comparison.result(tech)
        assert r.failed and r.accuracy["max_abs_error"] == pytest.approx(0.75, abs=0.01)


def test_an_unknown_mode_is_not_available(monkeypatch) -> None:
    from hecrypt.hybrid import parties

    monkeypatch.delitem(parties.MODES, "two-party")
    status, reason = techniques.availability("two-party", linear_workload(2, 1))
    assert status == "not available" and "two-party" in reason
