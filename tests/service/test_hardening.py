"""The scoring service against hostile requests, in process (no socket, no subprocess).

The application is driven directly through its ASGI interface, so every test
sees the status the server would send and the exceptions it would log.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import struct
from typing import Any

import numpy as np
import pytest

import hecrypt
from hecrypt import models
from hecrypt.paillier import randomness
from hecrypt.service import wire
from hecrypt.service.server import create_app

Keys = tuple[hecrypt.PublicKey, hecrypt.PrivateKey]


def call(app: Any, path: str, body: bytes = b"", ctype: str = "application/octet-stream",
         method: str = "POST") -> tuple[int, bytes]:
    """One HTTP request through the ASGI app; an exception that escapes is a 500."""

    async def run() -> tuple[int, bytes]:
        sent = False
        status, out = 0, b""

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, out
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                out += message.get("body", b"")

        scope = {
            "type": "http", "method": method, "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "scheme": "http", "http_version": "1.1",
            "server": ("test", 80), "client": ("test", 1),
            "headers": [(b"content-type", ctype.encode()),
                        (b"content-length", str(len(body)).encode())],
        }
        try:
            await app(scope, receive, send)
        except Exception:
            return 500, out
        return status, out

    return asyncio.run(run())


def detail(out: bytes) -> str:
    return str(json.loads(out)["detail"])


@pytest.fixture(scope="module")
def model() -> models.LinearModel:
    return models.from_arrays(np.array([1.0, -2.0, 0.5]), 0.5)


@pytest.fixture(scope="module")
def app(model: models.LinearModel) -> Any:
    return create_app({"lin": model}, insecure_small_keys=True)


def test_json_integer_of_5000_digits_is_a_400(app: Any, keypair_1024: Keys) -> None:
    body = b'{"public_key": ' + b"1" * 5000 + b', "batch": "AA=="}'
    status, out = call(app, "/models/lin/score", body, "application/json")
    assert status == 400 and "number" in detail(out)


def test_a_json_response_with_a_huge_integer_is_a_protocol_error(keypair_1024: Keys) -> None:
    """The client side parses server responses with the same rules."""
    body = b'{"scores": ' + b"1" * 5000 + b', "kind": "tensor"}'
    with pytest.raises(hecrypt.ProtocolError, match="number"):
        wire.decode_scores_json(body, keypair_1024[0])


def test_json_structure_is_checked_before_parsing(app: Any) -> None:
    import tracemalloc

    body = b"[" + b"[]," * 300_000 + b"[]]"  # 900 kB; parsed, 300,000 lists (~20 MB)
    tracemalloc.start()
    try:
        with pytest.raises(hecrypt.ProtocolError, match="JSON"):
            wire.decode_request_json(body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(body)
    status, out = call(app, "/models/lin/score", body, "application/json")
    assert status == 400 and "JSON" in detail(out)


def test_json_bodies_have_a_lower_limit_than_binary(model: models.LinearModel) -> None:
    app = create_app({"lin": model}, insecure_small_keys=True, max_body_bytes=100_000)
    assert call(app, "/models/lin", method="GET")[0] == 200
    limits = json.loads(call(app, "/models/lin", method="GET")[1])
    assert limits["max_body_bytes"] == 100_000 and limits["max_json_body_bytes"] == 100_000
    small = create_app({"lin": model}, insecure_small_keys=True, max_json_body_bytes=50_000)
    body = json.dumps({"public_key": "A" * 60_000, "batch": ""}).encode()
    status, out = call(small, "/models/lin/score", body, "application/json")
    assert status == 413 and "JSON" in detail(out)
    # the same size in binary is within its (default) limit: refused for its content instead
    status, _ = call(small, "/models/lin/score", body, "application/octet-stream")
    assert status == 400


def test_tensor_frame_with_empty_shape_and_huge_dimensions_is_a_400(
    app: Any, keypair_1024: Keys
) -> None:
    pk, _ = keypair_1024
    good = pk.encrypt(np.zeros((0, 3))).to_bytes()
    dims = struct.pack(">II", 0, 3)
    at = good.rindex(b"\x02" + dims)
    evil = good[:at] + b"\x03" + struct.pack(">III", 0, 2**32 - 1, 2**32 - 1)
    key = pk.to_bytes()
    body = struct.pack(">4sBI", wire.REQUEST_MAGIC, 1, len(key)) + key + evil
    status, out = call(app, "/models/lin/score", body)
    assert status == 400 and "shape" in detail(out)


def test_scores_above_the_format_scale_are_a_422_before_any_work(keypair_1024: Keys) -> None:
    pk, _ = keypair_1024
    app = create_app({"lin": models.from_arrays(np.array([1.0, -2.0, 0.5]))},
                     insecure_small_keys=True)
    batch = pk.encrypt(np.zeros(3), frac_bits=8180)
    status, out = call(app, "/models/lin/score", wire.encode_request(pk, batch))
    assert status == 422 and "8192" in detail(out)


def test_client_keys_above_the_limit_are_refused_before_validation(
    model: models.LinearModel,
) -> None:
    # a 4,104-bit odd number: refused from its header, long before any primality test
    n = (1 << 4103) | 1
    key = b"HECR\x01\x01" + struct.pack(">H", 513) + n.to_bytes(513, "big")
    body = struct.pack(">4sBI", wire.REQUEST_MAGIC, 1, len(key)) + key + b"HECR"
    app = create_app({"lin": model})
    status, out = call(app, "/models/lin/score", body)
    assert status == 400 and "4104-bit" in detail(out) and "4096" in detail(out)
    listed = json.loads(call(app, "/models/lin", method="GET")[1])
    assert listed["max_key_bits"] == 4096
    lower = create_app({"lin": model}, insecure_small_keys=True, max_key_bits=1024)
    n2 = (1 << 1100) | 1
    key2 = b"HECR\x01\x01" + struct.pack(">H", 138) + n2.to_bytes(138, "big")
    body2 = struct.pack(">4sBI", wire.REQUEST_MAGIC, 1, len(key2)) + key2
    status, out = call(lower, "/models/lin/score", body2)
    assert status == 400 and "1024" in detail(out)
    with pytest.raises(ValueError, match="max_key_bits"):
        create_app({"lin": model}, max_key_bits=0)


def test_no_randomness_table_is_built_or_kept_for_a_client_key(app: Any) -> None:
    pk, sk = hecrypt.generate_keypair(1024, insecure_small_keys=True)  # seen only here
    X = np.random.default_rng(1).normal(size=(80, 3))
    batch = sk.encrypt(X)  # the client's own path keeps no state under n
    status, out = call(app, "/models/lin/score", wire.encode_request(pk, batch))
    assert status == 200
    scores = hecrypt.EncryptedTensor.from_bytes(out, pk)
    np.testing.assert_allclose(sk.decrypt(scores), X @ [1.0, -2.0, 0.5] + 0.5, atol=1e-6)
    cached = [k for k in randomness._cache if k[0] == "djn" and k[1] == pk.n]
    assert not cached, "the server kept randomness state for a client's key"


def test_scores_leave_through_circuit_private_rerandomization(
    app: Any, keypair_1024: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hecrypt.paillier import circuit

    pk, _ = keypair_1024
    calls: list[int] = []
    real = circuit.rerandomize_for_key_holder

    def counting(public_key: Any, cs: Any, **kw: Any) -> Any:
        calls.append(len(cs))
        return real(public_key, cs, **kw)

    monkeypatch.setattr(circuit, "rerandomize_for_key_holder", counting)
    X = np.ones((5, 3))
    for batch in (pk.encrypt(X), pk.encrypt_packed(X, value_bound=4.0)):
        status, _ = call(app, "/models/lin/score", wire.encode_request(pk, batch))
        assert status == 200
    assert calls == [5, 1]  # five scores; one packed ciphertext of five slots


def test_the_published_score_bound_is_a_power_of_two(
    model: models.LinearModel, keypair_1024: Keys
) -> None:
    pk, sk = keypair_1024
    seen = set()
    for vb in (3.0, 5.0, 7.0):
        for batch in (pk.encrypt(np.zeros((2, 3)), value_bound=vb),
                      pk.encrypt_packed(np.zeros((2, 3)), value_bound=vb)):
            scores = model.score_for_client(batch)
            exact = model.score_encrypted(batch).bound
            assert scores.bound >= exact and scores.bound & (scores.bound - 1) == 0
            assert scores.bound < 2 * exact
            np.testing.assert_allclose(sk.decrypt(scores), [0.5, 0.5])
            seen.add((type(batch).__name__, scores.bound))
    # 3|w|+|b| = 11, 5|w|+|b| = 18, 7|w|+|b| = 25 (times the scales): two share a bound
    assert len(seen) < 6


def test_binary_scores_have_the_plaintext_shape(keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    clf = models.from_arrays(np.array([[1.0, -1.0, 2.0]]), [0.25], classes=[0, 1])
    app = create_app({"clf": clf}, insecure_small_keys=True)
    X = np.random.default_rng(2).normal(size=(4, 3))
    want = clf.decision_function_plaintext(X)
    assert want.shape == (4,)
    for batch in (pk.encrypt(X), pk.encrypt_packed(X, value_bound=8.0, frac_bits=32)):
        status, out = call(app, "/models/clf/score", wire.encode_request(pk, batch))
        scores = wire.decode_batch(out, pk)
        assert status == 200 and scores.shape == (4,)
        np.testing.assert_allclose(sk.decrypt(scores), want, atol=1e-6)


def test_one_log_line_per_request_without_keys_or_ciphertexts(
    app: Any, keypair_1024: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    pk, _ = keypair_1024
    body = wire.encode_request_json(pk, pk.encrypt(np.ones(3))).encode()
    with caplog.at_level(logging.INFO, logger="hecrypt.service"):
        status, out = call(app, "/models/lin/score", body, "application/json")
        call(app, "/health", method="GET")
    assert status == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "hecrypt.service"]
    assert len(lines) == 2
    method, path, code, size_in, size_out, ms = lines[0].split()
    assert (method, path, code) == ("POST", "/models/lin/score", "200")
    assert size_in == f"in={len(body)}B" and size_out == f"out={len(out)}B"
    assert ms.endswith("ms") and float(ms[:-2]) >= 0
    assert lines[1].startswith("GET /health 200 ")
    key_text = base64.b64encode(pk.to_bytes()).decode()
    assert not any(key_text[:40] in line or str(pk.n)[:40] in line for line in lines)
