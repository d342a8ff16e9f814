"""HE-only techniques run as two counted parties: real bytes, rounds, accuracy check."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hecrypt.comparison import api, he_parties, results
from hecrypt.comparison.workloads import linear_workload, model_workload
from hecrypt.models import from_arrays

HE = ["he", "he-packed", "phe"]
SMALL = {"insecure_small_keys": True, "key_bits": 1024}


@pytest.fixture(scope="module")
def small_run() -> api.Comparison:
    return api.compare(linear_workload(6, 5, seed=2), techniques=HE, **SMALL)


def test_every_he_technique_is_correct_and_counted(small_run: api.Comparison) -> None:
    for tech in HE:
        r = small_run.result(tech)
        assert r.ok, (tech, r.reason, r.accuracy)
        assert r.accuracy["label_agreement"] == 1.0
        client, server = r.parties["client"], r.parties["server"]
        # one channel, counted on both ends
        assert client["bytes_sent"] == server["bytes_received"] > 0
        assert client["online_bytes_received"] == server["online_bytes_sent"] > 0
        # key + description offline (2 hops), request + response online (2 hops)
        assert client["offline_rounds"] == 2 and client["online_rounds"] == 2
        assert client["rounds"] == 4
        assert r.totals["bytes_sent"] == client["bytes_sent"] + server["bytes_sent"]


def test_the_request_holds_one_ciphertext_per_value_unless_packed(
        small_run: api.Comparison) -> None:
    he, packed = small_run.result("he"), small_run.result("he-packed")
    assert he.details["ciphertexts_sent"] == 6 * 5
    assert packed.details["ciphertexts_sent"] < he.details["ciphertexts_sent"]
    assert packed.parties["client"]["online_bytes_sent"] < he.parties["client"][
        "online_bytes_sent"]
    # a 1024-bit ciphertext is 256 bytes: the counted request cannot be smaller
    assert he.parties["client"]["online_bytes_sent"] > 30 * 256
    assert small_run.result("phe").parties["client"]["online_bytes_sent"] > 30 * 256


def test_bytes_grow_with_the_work() -> None:
    small = api.compare(linear_workload(4, 2), techniques=HE, **SMALL)
    wide = api.compare(linear_workload(12, 2), techniques=HE, **SMALL)
    tall = api.compare(linear_workload(4, 6), techniques=["he", "phe"], **SMALL)
    for tech in HE:
        assert (wide.result(tech).parties["client"]["online_bytes_sent"]
                > small.result(tech).parties["client"]["online_bytes_sent"])
    for tech in ("he", "phe"):
        # more records: a bigger request and a bigger response
        for key in ("online_bytes_sent", "online_bytes_received"):
            assert tall.result(tech).parties["client"][key] > \
                small.result(tech).parties["client"][key]


def test_a_wrong_server_fails_the_accuracy_check(monkeypatch) -> None:
    real = he_parties.programs

    def sabotaged(technique: str, *, model_json: str, **kw):
        model = json.loads(model_json)
        model["intercept"] = [v + 0.5 for v in model["intercept"]]  # a server off by 0.5
        return real(technique, model_json=json.dumps(model), **kw)

    monkeypatch.setattr(he_parties, "programs", sabotaged)
    with pytest.raises(results.AccuracyCheckError) as info:
        api.compare(linear_workload(4, 3), techniques=HE, **SMALL)
    cmp = info.value.comparison
    for tech in HE:
        assert cmp.result(tech).failed
        assert cmp.result(tech).accuracy["max_abs_error"] == pytest.approx(0.5, abs=1e-3)


def test_a_failing_party_is_an_error_not_a_result(monkeypatch) -> None:
    def broken_server(party, **kw):
        party.recv(he_parties.CLIENT)
        raise RuntimeError("server crashed")

    real = he_parties.programs

    def programs(technique, **kw):
        progs = real(technique, **kw)
        progs[he_parties.SERVER] = broken_server
        return progs

    monkeypatch.setattr(he_parties, "programs", programs)
    with pytest.raises(results.ComparisonError, match="server crashed"):
        api.compare(linear_workload(3, 2), techniques=["he"], timeout=20, **SMALL)


def test_users_multiclass_model() -> None:
    rng = np.random.default_rng(5)
    model = from_arrays(rng.normal(size=(3, 4)), [0.1, -0.2, 0.3], classes=["a", "b", "c"])
    X = rng.normal(size=(4, 4))
    cmp = api.compare(model_workload(model, X), techniques=["he-packed", "phe"], **SMALL)
    for tech in ("he-packed", "phe"):
        r = cmp.result(tech)
        assert r.ok and r.workload["outputs"] == 3


def test_he_and_he_packed_share_one_client_key_and_say_so(small_run: api.Comparison) -> None:
    he, packed, phe = (small_run.result(t) for t in HE)
    for r in (he, packed):
        note = r.details["client_key"]
        assert note["shared"] and not note["in_offline_figures"]
        assert note["key_bits"] == 1024 and note["first_used_by"] == "he"
        assert note["generated_s"] > 0
    assert he.details["client_key"]["generated_s"] == packed.details["client_key"]["generated_s"]
    assert phe.details["client_key"] == {"shared": False, "in_offline_figures": True}
    for text in (small_run.table(), small_run.markdown()):
        assert "client key: he, he-packed share one 1024-bit key pair" in text
        assert "not in their offline figures" in text


def test_without_a_shared_key_each_client_generates_its_own() -> None:
    from hecrypt.comparison import techniques

    w = linear_workload(3, 2, seed=4)
    run = techniques.run_technique("he", w, **SMALL)
    assert run.status == "ok" and run.details["client_key"]["in_offline_figures"]
    keys = techniques.ClientKeys(insecure_small_keys=True)
    first = techniques.run_technique("he", w, client_keys=keys, **SMALL)
    second = techniques.run_technique("he-packed", w, client_keys=keys, **SMALL)
    assert first.details["client_key"] == second.details["client_key"]
    for r in (first, second):
        np.testing.assert_allclose(r.scores, w.reference_scores(), atol=1e-6)


@pytest.mark.parametrize("packed", [False, True])
def test_the_server_serves_a_batch_split_into_several_requests(
        packed: bool, keypair_1024) -> None:
    """Under a body limit the client splits the batch; the server answers every part."""
    import functools

    from hecrypt.hybrid.runner import run_parties

    w = linear_workload(5, 40, seed=7)
    _, sk = keypair_1024
    progs = {
        he_parties.CLIENT: functools.partial(
            he_parties.hecrypt_client, X=w.X, key_bits=1024, packed=packed, value_bound=8.0,
            insecure_small_keys=True, private_key=sk,
            max_request_bytes=3_000 if packed else 30_000),
        he_parties.SERVER: functools.partial(
            he_parties.hecrypt_server, model_json=w.model.to_json(), insecure_small_keys=True),
    }
    reports: dict = {}
    out = run_parties(progs, timeout=60, reports=reports)
    client, server = out[he_parties.CLIENT], out[he_parties.SERVER]
    assert client["requests"] > 1 and server["requests"] == client["requests"]
    np.testing.assert_allclose(client["scores"], w.reference_scores(), atol=1e-6)
    # each request is one more round trip on the counters
    assert reports[he_parties.CLIENT]["online_rounds"] == 2 * client["requests"]


def test_the_worker_pool_is_started_once_outside_every_technique(
        small_run: api.Comparison) -> None:
    from hecrypt.paillier import parallel

    pool = small_run.machine["Worker pool"]
    if parallel._workers() >= 2:
        assert "started once before the techniques" in pool and "in no technique" in pool
    else:
        assert pool.startswith("none")
    assert f"worker pool: {pool}" in small_run.table()
