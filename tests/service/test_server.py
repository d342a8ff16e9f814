"""The scoring service as a real process on loopback, spoken to over HTTP."""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import hecrypt
from hecrypt import models
from hecrypt.__main__ import main
from hecrypt.exceptions import InvalidFeatures
from hecrypt.service import wire
from hecrypt.service.client import HTTPScorer, ServiceError
from hecrypt.service.process import start_service, stop_service

MAX_BODY = 400_000


class Service:
    def __init__(self, url: str, port: int, ridge: Any, logit: Any, X_reg: Any, X_clf: Any):
        self.url, self.port = url, port
        self.ridge, self.logit, self.X_reg, self.X_clf = ridge, logit, X_reg, X_clf


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    d = tmp_path_factory.mktemp("models")
    Xr, yr = load_diabetes(return_X_y=True)
    ridge = make_pipeline(StandardScaler(), Ridge()).fit(Xr, yr)
    Xc, yc = load_breast_cancer(return_X_y=True)
    logit = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(Xc, yc)
    models.from_sklearn(ridge).save(d / "diabetes.json")
    models.from_sklearn(logit).save(d / "cancer.json")
    proc, url = start_service(
        [d / "diabetes.json", d / "cancer.json"],
        options=["--max-body-bytes", str(MAX_BODY)],
        output=subprocess.PIPE,
    )
    try:
        yield Service(url, int(url.rsplit(":", 1)[1]), ridge, logit, Xr, Xc)
    finally:
        stop_service(proc)


@pytest.fixture(scope="module")
def keys() -> tuple[hecrypt.PublicKey, hecrypt.PrivateKey]:
    return hecrypt.generate_keypair(2048)


def _post(service: Service, path: str, body: bytes, ctype: str) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=60)
    conn.request("POST", path, body=body, headers={"Content-Type": ctype})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(data)
    except ValueError:
        return resp.status, data


def _health(service: Service) -> bool:
    with urllib.request.urlopen(service.url + "/health", timeout=5) as r:
        return bool(json.loads(r.read())["status"] == "ok")


def test_lists_models_and_schemas(service: Service) -> None:
    with urllib.request.urlopen(service.url + "/models", timeout=5) as r:
        listed = json.loads(r.read())["models"]
    by_name = {m["name"]: m for m in listed}
    assert set(by_name) == {"diabetes", "cancer"}
    assert by_name["diabetes"]["n_features"] == 10
    assert by_name["diabetes"]["task"] == "regression"
    assert by_name["cancer"]["n_features"] == 30
    assert by_name["cancer"]["classes"]["values"] == [0, 1]
    assert "application/octet-stream" in by_name["cancer"]["formats"]
    with urllib.request.urlopen(service.url + "/models/cancer", timeout=5) as r:
        assert json.loads(r.read())["score_url"] == "/models/cancer/score"


def test_openapi_describes_the_binary_endpoint(service: Service) -> None:
    with urllib.request.urlopen(service.url + "/openapi.json", timeout=5) as r:
        spec = json.loads(r.read())
    op = spec["paths"]["/models/{name}/score"]["post"]
    assert set(op["requestBody"]["content"]) == {"application/octet-stream", "application/json"}
    assert "/health" in spec["paths"] and "/models" in spec["paths"]


@pytest.mark.parametrize("fmt", ["binary", "json"])
def test_predictions_over_http_equal_in_process_and_sklearn(
    service: Service, keys: Any, fmt: str
) -> None:
    pk, sk = keys
    X = service.X_reg[:40]
    remote = hecrypt.ScoringClient(HTTPScorer(service.url + "/models/diabetes", format=fmt), pk, sk)
    local = hecrypt.ScoringClient(models.from_sklearn(service.ridge), pk, sk)
    got = remote.predict(X)
    np.testing.assert_array_equal(got, local.predict(X))
    np.testing.assert_allclose(got, service.ridge.predict(X), rtol=1e-6)
    assert remote.last_report is not None and remote.last_report.bytes_sent > 0
    one = remote.predict(X[:1])  # the single-record (unpacked) path
    np.testing.assert_allclose(one, service.ridge.predict(X[:1]), rtol=1e-6)


def test_classifier_over_http_by_url(service: Service, keys: Any) -> None:
    pk, sk = keys
    X = service.X_clf[:60]
    client = hecrypt.ScoringClient(service.url + "/models/cancer", pk, sk)
    assert client.predict(X).tolist() == service.logit.predict(X).tolist()
    np.testing.assert_allclose(client.predict_proba(X), service.logit.predict_proba(X), atol=1e-6)


def test_root_url_with_two_models_asks_for_a_name(service: Service) -> None:
    with pytest.raises(ValueError, match="name one"):
        HTTPScorer(service.url)


def _request(pk: Any, X: Any) -> bytes:
    return wire.encode_request(pk, pk.encrypt(np.asarray(X, dtype=np.float64)))


def test_bad_requests_get_4xx_and_the_server_keeps_serving(service: Service, keys: Any) -> None:
    pk, _ = keys
    path = "/models/diabetes/score"
    good = _request(pk, service.X_reg[0])
    # malformed framing and garbage
    status, body = _post(service, path, b"not a request", "application/octet-stream")
    assert status == 400 and "score request" in body["detail"]
    # a ciphertext out of range (all 0xff bytes)
    bad = bytearray(good)
    bad[-512:] = b"\xff" * 512
    status, body = _post(service, path, bytes(bad), "application/octet-stream")
    assert status == 400 and "n^2" in body["detail"]
    # a batch under another key than the one sent
    other_pk, _ = hecrypt.generate_keypair(2048)
    mixed = wire.encode_request(other_pk, pk.encrypt(np.asarray(service.X_reg[0])))
    status, body = _post(service, path, mixed, "application/octet-stream")
    assert status == 400 and "key" in body["detail"]
    # a key below the size policy
    small_pk, _ = hecrypt.generate_keypair(1024, insecure_small_keys=True)
    status, body = _post(service, path, _request(small_pk, service.X_reg[0]),
                         "application/octet-stream")
    assert status == 400 and "2048" in body["detail"]
    # wrong number of features
    status, body = _post(service, path, _request(pk, service.X_reg[0][:7]),
                         "application/octet-stream")
    assert status == 422 and "feature" in body["detail"]
    # unknown model, unsupported content type, bad JSON
    assert _post(service, "/models/nope/score", good, "application/octet-stream")[0] == 404
    assert _post(service, path, good, "text/plain")[0] == 415
    status, body = _post(service, path, b"{not json", "application/json")
    assert status == 400 and "JSON" in body["detail"]
    assert _health(service)


def test_oversize_bodies_are_refused_while_reading(service: Service) -> None:
    path = "/models/diabetes/score"
    status, body = _post(service, path, b"\0" * (MAX_BODY + 1), "application/octet-stream")
    assert status == 413 and "limit" in body["detail"]
    # no Content-Length: chunked upload, cut off by the running count
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=60)
    conn.putrequest("POST", path)
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = b"\0" * 65536
    try:
        for _ in range(MAX_BODY // len(chunk) + 2):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
    except OSError:
        pass  # the server may close the connection once it refused
    assert conn.getresponse().status == 413
    conn.close()
    assert _health(service)


def test_concurrent_clients_with_different_keys(service: Service) -> None:
    X = service.X_reg[:12]
    expected = service.ridge.predict(X)
    results: dict[int, Any] = {}
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            pk, sk = hecrypt.generate_keypair(2048)
            client = hecrypt.ScoringClient(service.url + "/models/diabetes", pk, sk)
            results[i] = client.predict(X[i % 3 :])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for i in range(4):
        np.testing.assert_allclose(results[i], expected[i % 3 :], rtol=1e-6)


def test_cli_encrypt_score_decrypt_over_the_server(service: Service, tmp_path: Path) -> None:
    X = service.X_reg[:25]
    np.save(tmp_path / "x.npy", X)
    assert main(["keygen", "-o", str(tmp_path / "k")]) == 0
    assert main(["encrypt", str(tmp_path / "x.npy"), "--public-key", str(tmp_path / "k.pub"),
                 "-o", str(tmp_path / "x.hec")]) == 0
    assert main(["score", str(tmp_path / "x.hec"), "--public-key", str(tmp_path / "k.pub"),
                 "--server", service.url + "/models/diabetes", "-o", str(tmp_path / "s.hec")]) == 0
    assert main(["decrypt", str(tmp_path / "s.hec"), "--private-key", str(tmp_path / "k.key"),
                 "-o", str(tmp_path / "s.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "s.npy").ravel(), service.ridge.predict(X),
                               rtol=1e-6)
    # the same with the local model file gives the same predictions
    models.from_sklearn(service.ridge).save(tmp_path / "m.json")
    assert main(["score", str(tmp_path / "x.hec"), "--public-key", str(tmp_path / "k.pub"),
                 "--model", str(tmp_path / "m.json"), "-o", str(tmp_path / "s2.hec")]) == 0
    assert main(["decrypt", str(tmp_path / "s2.hec"), "--private-key", str(tmp_path / "k.key"),
                 "-o", str(tmp_path / "s2.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "s2.npy"), np.load(tmp_path / "s.npy"),
                               rtol=1e-12)


def test_service_error_carries_status(service: Service, keys: Any) -> None:
    pk, sk = keys
    client = hecrypt.ScoringClient(service.url + "/models/diabetes", pk, sk)
    with pytest.raises(InvalidFeatures):
        client.predict(service.X_reg[:2, :5])  # checked on the client before sending
    scorer = HTTPScorer(service.url + "/models/diabetes")
    batch = pk.encrypt(np.asarray(service.X_reg[0][:4]))
    with pytest.raises(ServiceError) as exc:
        scorer.score(pk, batch)
    assert exc.value.status == 422


def test_a_batch_over_the_body_limit_is_split_into_requests(service: Service, keys: Any) -> None:
    pk, sk = keys
    client = hecrypt.ScoringClient(service.url + "/models/cancer", pk, sk)
    assert client.scorer.max_request_bytes == MAX_BODY
    X = service.X_clf  # 569 records x 30 features: one packed request would be ~490 kB
    np.testing.assert_allclose(client.decision_function(X),
                               service.logit.decision_function(X), atol=1e-6)
    report = client.last_report
    assert report is not None and report.requests >= 2 and report.records == len(X)


def test_serve_logs_one_line_per_request(tmp_path: Path) -> None:
    models.from_arrays(np.array([1.0, 2.0]), 0.5).save(tmp_path / "tiny.json")
    proc, url = start_service([tmp_path / "tiny.json"], output=subprocess.PIPE)
    try:
        with urllib.request.urlopen(url + "/models/tiny", timeout=10) as r:
            size = len(r.read())
        status, _ = _post(Service(url, int(url.rsplit(":", 1)[1]), None, None, None, None),
                          "/models/tiny/score", b"HSRQ", "application/octet-stream")
        assert status == 400
    finally:
        stop_service(proc)
    assert proc.stdout is not None
    lines = proc.stdout.read().decode().splitlines()
    mine = [ln for ln in lines if " in=" in ln]
    assert any(f"GET /models/tiny 200 in=0B out={size}B" in ln for ln in mine), lines
    assert any("POST /models/tiny/score 400 in=4B" in ln for ln in mine), lines
    assert sum("/health" in ln for ln in mine) >= 1  # start_service polls it
