"""The scoring service under hostile or unusual input, and its optional parts.

A second real ``hecrypt serve`` process, started with ``--insecure-small-keys``
so that 1024-bit client keys keep these tests fast; the size policy itself is
checked at 2048 bits in test_server.py.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hecrypt
from hecrypt import models
from hecrypt.__main__ import main
from hecrypt.service import wire
from hecrypt.service.client import HTTPScorer
from hecrypt.service.process import start_service, stop_service

COEF3 = np.array([[1.0, -2.0, 0.5, 3.0], [0.0, 1.0, -1.0, 2.0], [-1.5, 0.25, 2.0, -0.5]])
INTERCEPT3 = np.array([0.5, -0.25, 1.0])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("robust")
    models.from_arrays(np.array([1.0, -2.0, 0.5]), 0.5).save(d / "lin.json")
    models.from_arrays(COEF3, INTERCEPT3, classes=["a", "b", "c"]).save(d / "three.json")
    return d


@pytest.fixture(scope="module")
def url(files: Path) -> Iterator[str]:
    proc, base = start_service(
        [files / "lin.json", files / "three.json"],
        options=["--insecure-small-keys"],
        output=subprocess.PIPE,
    )
    try:
        yield base
    finally:
        stop_service(proc)


@pytest.fixture(scope="module")
def keys() -> tuple[hecrypt.PublicKey, hecrypt.PrivateKey]:
    return hecrypt.generate_keypair(1024, insecure_small_keys=True)


def _post(url: str, path: str, body: bytes, ctype: str) -> tuple[int, Any]:
    port = int(url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", path, body=body, headers={"Content-Type": ctype})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(data)
    except ValueError:
        return resp.status, data


def _get(url: str, path: str) -> Any:
    with urllib.request.urlopen(url + path, timeout=10) as r:
        return json.loads(r.read())


def test_model_kinds_are_published(url: str) -> None:
    listed = {m["name"]: m for m in _get(url, "/models")["models"]}
    assert listed["lin"]["kind"] == "regression"
    assert listed["three"]["kind"] == "multiclass"
    assert listed["three"]["classes"]["values"] == ["a", "b", "c"]
    assert listed["three"]["n_features"] == 4 and listed["three"]["n_outputs"] == 3


def test_openapi_schemas_match_what_the_server_sends(url: str) -> None:
    from hecrypt.service.server import Health, ModelDescription, ModelList

    spec = _get(url, "/openapi.json")
    assert spec["paths"]["/models"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"] == {"$ref": "#/components/schemas/ModelList"}
    assert {"ModelDescription", "ErrorDetail", "Health"} <= set(spec["components"]["schemas"])
    listed = ModelList.model_validate(_get(url, "/models"))
    assert {m.kind for m in listed.models} == {"regression", "multiclass"}
    ModelDescription.model_validate(_get(url, "/models/three"))
    Health.model_validate(_get(url, "/health"))


def test_insecure_flag_admits_small_keys_and_scores_correctly(url: str, keys: Any) -> None:
    pk, sk = keys
    rng = np.random.default_rng(7)
    X = rng.normal(size=(9, 4))
    client = hecrypt.ScoringClient(url + "/models/three", pk, sk)
    z = X @ COEF3.T + INTERCEPT3
    labels = np.array(["a", "b", "c"])[np.argmax(z, axis=1)]
    assert client.predict(X).tolist() == labels.tolist()
    e = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(client.predict_proba(X), e / e.sum(axis=1, keepdims=True),
                               atol=1e-6)
    assert client.last_report is not None and client.last_report.path == "packed"
    one = hecrypt.ScoringClient(HTTPScorer(url + "/models/three", format="json"), pk, sk)
    np.testing.assert_allclose(one.decision_function(X[:1]), z[:1], atol=1e-6)


def test_json_nested_too_deeply_is_a_400(url: str) -> None:
    body = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    status, detail = _post(url, "/models/lin/score", body, "application/json")
    assert status == 400 and "JSON" in detail["detail"]
    assert _get(url, "/health")["status"] == "ok"


def test_private_key_in_the_key_slot_is_refused(url: str, keys: Any) -> None:
    pk, sk = keys
    key = sk.to_bytes()
    batch = pk.encrypt(np.array([1.0, 2.0, 3.0])).to_bytes()
    body = struct.pack(">4sBI", wire.REQUEST_MAGIC, 1, len(key)) + key + batch
    status, detail = _post(url, "/models/lin/score", body, "application/octet-stream")
    assert status == 400 and "public key" in detail["detail"]


def test_a_huge_claimed_shape_is_refused_without_allocating(url: str, keys: Any) -> None:
    pk, _ = keys
    good = wire.encode_request(pk, pk.encrypt(np.array([1.0, 2.0, 3.0])))
    dims = struct.pack(">I", 3)
    at = good.rindex(b"\x01" + dims)  # ndim 1, dim 3, just before the ciphertexts
    evil = good[:at] + b"\x02" + struct.pack(">II", 2**32 - 1, 2**32 - 1) + good[at + 5 :]
    t0 = time.perf_counter()
    status, detail = _post(url, "/models/lin/score", evil, "application/octet-stream")
    assert status == 400 and "bytes follow" in detail["detail"]
    assert time.perf_counter() - t0 < 5


def test_garbled_requests_never_crash_the_server(url: str, keys: Any) -> None:
    pk, _ = keys
    good = wire.encode_request(pk, pk.encrypt(np.array([1.0, 2.0, 3.0])))
    rng = np.random.default_rng(3)
    statuses = set()
    for i in range(60):
        b = bytearray(good)
        for j in rng.integers(0, len(b), size=int(rng.integers(1, 4))):
            b[int(j)] = int(rng.integers(0, 256))
        if i % 5 == 0:
            b = b[: int(rng.integers(0, len(b)))]
        statuses.add(_post(url, "/models/lin/score", bytes(b), "application/octet-stream")[0])
    assert statuses <= {200, 400, 422}, statuses
    assert _get(url, "/health")["status"] == "ok"


def test_concurrent_small_key_clients_in_binary_and_json(url: str) -> None:
    X = np.random.default_rng(11).normal(size=(6, 3))
    want = X @ np.array([1.0, -2.0, 0.5]) + 0.5
    out: dict[int, Any] = {}
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            pk, sk = hecrypt.generate_keypair(1024, insecure_small_keys=True)
            fmt = "json" if i % 2 else "binary"
            client = hecrypt.ScoringClient(HTTPScorer(url + "/models/lin", format=fmt), pk, sk)
            out[i] = [client.predict(X[: 1 + i % 4]) for _ in range(3)]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for i in range(6):
        for got in out[i]:
            np.testing.assert_allclose(got, want[: 1 + i % 4], rtol=1e-9, atol=1e-6)


def test_create_app_takes_files_and_describes_the_binary_body(files: Path) -> None:
    from hecrypt.service.server import create_app

    app = create_app([files / "lin.json", str(files / "three.json")])
    spec = app.openapi()
    body = spec["paths"]["/models/{name}/score"]["post"]["requestBody"]["content"]
    assert body["application/octet-stream"]["schema"]["format"] == "binary"
    assert set(body["application/json"]["schema"]["required"]) == {"public_key", "batch"}
    with pytest.raises(ValueError, match="two models named"):
        create_app([files / "lin.json", files / "lin.json"])
    with pytest.raises(ValueError, match="at least one"):
        create_app({})
    with pytest.raises(TypeError, match="LinearModel"):
        create_app({"x": 42})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="positive"):
        create_app([files / "lin.json"], max_body_bytes=0)


def test_importing_hecrypt_does_not_import_the_web_stack() -> None:
    code = (
        "import sys, hecrypt, hecrypt.service, hecrypt.service.client, hecrypt.scoring; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'starlette', 'uvicorn', 'pydantic', 'httpx')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_serve_refuses_bad_model_files(files: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "lin.json"
    other.write_text((files / "lin.json").read_text())
    assert main(["serve", str(files / "lin.json"), str(other)]) == 1
    assert "two models named 'lin'" in capsys.readouterr().err
    assert main(["serve", str(tmp_path / "missing.json")]) == 1
    assert "missing.json" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{}")
    assert main(["serve", str(tmp_path / "bad.json")]) == 1
    assert "hecrypt serve:" in capsys.readouterr().err


def test_score_cli_reports_refusals(url: str, keys: Any, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    small_pk, _ = keys
    pk, _ = hecrypt.generate_keypair(2048)
    args = ["score", str(tmp_path / "x.hec"), "--public-key", str(tmp_path / "k.pub"),
            "--server", url + "/models/lin", "-o", str(tmp_path / "s.hec")]
    # the command line holds to the key size policy itself
    (tmp_path / "k.pub").write_bytes(small_pk.to_bytes())
    (tmp_path / "x.hec").write_bytes(small_pk.encrypt(np.ones((2, 3))).to_bytes())
    assert main(args) == 1
    assert "2048" in capsys.readouterr().err
    # the service's refusal (wrong number of features) comes back as exit 1 and its reason
    (tmp_path / "k.pub").write_bytes(pk.to_bytes())
    (tmp_path / "x.hec").write_bytes(pk.encrypt(np.ones((2, 5))).to_bytes())
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "422" in err and "features" in err
    assert not (tmp_path / "s.hec").exists()


def test_serve_on_a_busy_port_exits_1(files: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "hecrypt", "serve", str(files / "lin.json"),
             "--host", "127.0.0.1", "--port", str(port)],
            capture_output=True, text=True, timeout=60,
        )
    assert out.returncode == 1
    assert f"could not serve on 127.0.0.1:{port}" in out.stderr


def test_validated_keys_are_remembered_per_policy(keys: Any) -> None:
    small_pk, _ = keys
    data = small_pk.to_bytes()
    with pytest.raises(hecrypt.InvalidKey, match="2048"):
        wire.load_public_key(data)
    first = wire.load_public_key(data, True)
    assert first == small_pk and wire.load_public_key(data, True) is first
    with pytest.raises(hecrypt.InvalidKey, match="2048"):  # still refused without the flag
        wire.load_public_key(data)


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_terminated_server_leaves_no_pool_processes(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    models.from_arrays(rng.normal(size=30), 0.5).save(tmp_path / "wide.json")
    proc, base = start_service([tmp_path / "wide.json"], options=["--insecure-small-keys"])
    try:
        pk, sk = hecrypt.generate_keypair(1024, insecure_small_keys=True)
        X = rng.normal(size=(1500, 30))
        client = hecrypt.ScoringClient(base + "/models/wide", pk, sk)
        client.predict(X)  # big enough that the server scores on its process pool
        pool = _children(proc.pid)
        assert pool, "the server did not start its process pool; use a larger batch"
    finally:
        stop_service(proc, timeout=30)
    deadline = time.monotonic() + 15
    while {p for p in pool if Path(f"/proc/{p}").exists()} and time.monotonic() < deadline:
        time.sleep(0.2)
    left = {p for p in pool if Path(f"/proc/{p}").exists()}
    assert not left, f"pool processes outlived the server: {left}"


def test_clients_read_the_published_limits_in_their_format(url: str) -> None:
    from hecrypt.service.server import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_JSON_BODY_BYTES

    assert HTTPScorer(url + "/models/lin").max_request_bytes == DEFAULT_MAX_BODY_BYTES
    # JSON carries the binary form in base64: 3 bytes in 4 characters
    as_json = HTTPScorer(url + "/models/lin", format="json").max_request_bytes
    assert as_json == DEFAULT_MAX_JSON_BODY_BYTES * 3 // 4 - 64
