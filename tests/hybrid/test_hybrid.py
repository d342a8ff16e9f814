"""Two-party private inference without a dealer: hybrid and two-party modes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid import hybrid, private_predict
from hecrypt.hybrid import paillier_cross as pc
from hecrypt.hybrid.frames import FRAME_HEADER_SIZE
from hecrypt.hybrid.polynomials import sigmoid_poly
from hecrypt.hybrid.wire import encode_message
from hecrypt.models import Activation, AveragePooling2D, Conv2D, Dense, Flatten, Sequential

SMALL = {"key_bits": 1024, "insecure_small_keys": True}


def _net(seed: int) -> Sequential:
    rng = np.random.default_rng(seed)
    poly = sigmoid_poly()
    net = Sequential([
        Conv2D(2, 3, padding="same", input_shape=(6, 6, 1)), Activation("sigmoid", approx=poly),
        AveragePooling2D(2), Flatten(), Dense(5), Activation("sigmoid", approx=poly), Dense(3),
    ])
    for layer in net.layers:
        if getattr(layer, "kernel", None) is not None:
            layer.kernel = rng.normal(0, 0.5, layer.kernel.shape)
            layer.bias = rng.normal(0, 0.5, layer.bias.shape)
    return net


@pytest.mark.parametrize("mode", ["hybrid", "two-party"])
def test_small_cnn_matches_the_plaintext_network(mode: str) -> None:
    net = _net(1)
    X = np.random.default_rng(2).uniform(0, 2, (2, 6, 6, 1))
    res = private_predict(net, X, mode=mode, **SMALL)
    ref = net.predict(X)
    # fixed point with 16 fractional bits: a few units of 2^-16 per layer
    np.testing.assert_allclose(res.logits, ref, atol=2e-3)
    np.testing.assert_array_equal(res.labels, ref.argmax(axis=1))
    rep = res.report
    for party in ("client", "server"):
        assert rep[party]["offline_s"] > 0 and rep[party]["online_s"] > 0
        assert rep[party]["offline_bytes_sent"] > 0
    assert rep["total"]["bytes_sent"] == rep["client"]["bytes_sent"] + rep["server"]["bytes_sent"]


@pytest.mark.parametrize("mode", ["hybrid", "two-party"])
def test_logistic_regression_labels_equal_plaintext(mode: str) -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from hecrypt.models import from_sklearn

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = from_sklearn(LogisticRegression(max_iter=500, C=0.05).fit(X[:400], y[:400]))
    sample = X[400:440]
    res = private_predict(model, sample, mode=mode, **SMALL)
    np.testing.assert_array_equal(res.labels, model.predict_plaintext(sample))
    assert res.proba is not None and np.all((res.proba >= -0.01) & (res.proba <= 1.01))


@pytest.mark.parametrize("mode", ["hybrid", "two-party"])
def test_linear_regression_values_and_multiclass_labels(mode: str) -> None:
    from sklearn.datasets import load_diabetes, load_iris
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from hecrypt.models import from_sklearn

    X, y = load_diabetes(return_X_y=True)
    reg = from_sklearn(make_pipeline(StandardScaler(), LinearRegression()).fit(X, y))
    res = private_predict(reg, X[:6], mode=mode, **SMALL)
    assert res.labels is None
    # the scaler folded into the weights makes them large (|w| ~ 10^3): fixed point with
    # 16 fractional bits leaves errors of a few 10^-2 on values around 150
    np.testing.assert_allclose(res.values.ravel(), reg.predict_plaintext(X[:6]).ravel(),
                               rtol=1e-3)
    Xi, yi = load_iris(return_X_y=True)
    clf = from_sklearn(make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
                       .fit(Xi, yi))
    res = private_predict(clf, Xi[::15], mode=mode, **SMALL)
    np.testing.assert_array_equal(res.labels, clf.predict_plaintext(Xi[::15]))


def test_exact_bytes_and_rounds_of_one_dense_layer() -> None:
    net = Sequential([Dense(2, input_shape=(3,))])
    net.layers[0].kernel = np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]])
    net.layers[0].bias = np.array([0.125, -2.0])
    X = np.array([[1.0, -2.0, 3.0]])
    reports: dict[str, Any] = {}
    progs = hybrid.programs(net, X, "hybrid", **SMALL)
    from hecrypt.hybrid.runner import run_parties

    out = run_parties(progs, reports=reports)
    np.testing.assert_allclose(out["client"]["logits"], net.predict(X), atol=1e-9)

    def frame(obj: Any) -> int:
        return FRAME_HEADER_SIZE + len(encode_message(obj))

    from hecrypt.hybrid.inference import model_spec

    spec = model_spec(net)
    _, bits = hybrid.encode_weights([(net.layers[0].kernel, net.layers[0].bias)], 16)
    job = hybrid._job(hybrid._linear_layers(spec)[0], (1, 3), False, bits[0])
    plan = pc.job_layout(job, 1024)
    assert (plan.inputs, plan.outputs) == (3, 1)  # one row: both outputs in one ciphertext
    c, s = reports["client"], reports["server"]
    key_msg = frame({"paillier_n": (1 << 1023) + 1, "sigma": 40})
    assert s["offline_bytes_sent"] == frame({"spec": spec, "frac_bits": 16, "mode": "hybrid",
                                             "weight_bits": bits}) + frame("ready")
    ready = frame("ready")
    assert c["offline_bytes_sent"] == frame({"batch": 1}) + key_msg + ready
    cross_in = frame({"cross": 3, "cts": bytes(3 * 256)})
    cross_out = frame({"cross": 1, "cts": bytes(256)})
    reveal = frame(np.zeros((1, 2), dtype=np.uint64))
    assert c["online_bytes_sent"] == cross_in + frame({"done": True})
    assert s["online_bytes_sent"] == cross_out + reveal
    assert c["online_bytes_received"] == cross_out + reveal
    # rounds are counted per phase. Offline: the spec reaches the client (depth 1), the
    # batch size and then the key reach the server (depth 2, no answer in between), the
    # end-of-phase exchange adds one (client 3, server 2). Online: the encrypted rows
    # reach the server (1); the masked answer and the server's output share reach the
    # client (2); its confirmation the server (3).
    assert (c["offline_rounds"], s["offline_rounds"]) == (3, 2)
    assert (c["online_rounds"], s["online_rounds"]) == (2, 3)


@pytest.mark.parametrize("fault", ["corrupt", "drop"])
def test_tcp_fault_is_a_protocol_error_on_both_sides(fault: str) -> None:
    import functools
    import pathlib
    import sys

    from hecrypt.hybrid.runner import PartyFailedError, run_parties

    sys.path.insert(0, str(pathlib.Path(__file__).parent))  # the spawned parties import it
    import hybrid_paillier_programs as progs

    with pytest.raises(PartyFailedError) as info:
        run_parties({"client": progs.client,
                     "server": functools.partial(progs.server, fault=fault)},
                    transport="tcp", timeout=8)
    errors = info.value.errors
    assert info.value.party == "client"
    want = "corrupted" if fault == "corrupt" else "ProtocolError"
    assert want in errors["client"]
    # the server learns of it through the client's abort and fails with the same error
    assert errors["server"].startswith("ProtocolError"), errors
    assert errors["server"] == errors["client"], errors


@pytest.mark.parametrize("mode,images", [("hybrid", 2), ("two-party", 1)])
def test_shipped_digits_cnn_labels_equal_plaintext_on_a_sample(mode: str, images: int) -> None:
    # the whole test split runs in scripts/bench_hybrid.py --accuracy 0 (docs/performance.md)
    from hecrypt.models import digits_split, load_digits_cnn

    net = load_digits_cnn()
    _, X_test, _, _ = digits_split()
    X = X_test[10 : 10 + images]
    res = private_predict(net, X, mode=mode, **SMALL, timeout=120)
    np.testing.assert_array_equal(res.labels, net.predict(X).argmax(axis=1))
    np.testing.assert_allclose(res.logits, net.predict(X), atol=5e-3)


def test_party_command_runs_the_hybrid_job_on_two_processes(tmp_path: Any) -> None:
    import json
    import os
    import subprocess
    import sys

    from hecrypt.hybrid.runner import get_job

    net = _net(3)
    net.save(tmp_path / "net.npz")
    X = np.random.default_rng(4).uniform(0, 2, (2, 6, 6))
    np.savetxt(tmp_path / "x.csv", X.reshape(2, -1), delimiter=",")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "hecrypt", "party", "--job", "predict-hybrid", "--timeout",
           "60", "--option", "insecure_small_keys=1"]
    server = subprocess.Popen(
        [*cmd, "--role", "server", "--model", str(tmp_path / "net.npz"), "--listen",
         "127.0.0.1:0", "--accept", "client"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=env, text=True)
    try:
        port = server.stderr.readline().rsplit(":", 1)[1].strip()  # type: ignore[union-attr]
        client = subprocess.run(
            [*cmd, "--role", "client", "--input", str(tmp_path / "x.csv"), "--option",
             "key_bits=1024", "--connect", f"server=127.0.0.1:{port}"],
            capture_output=True, env=env, text=True, timeout=120)
        s_out, s_err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    assert client.returncode == 0, client.stderr
    assert server.returncode == 0, s_err
    result = json.loads(client.stdout)["result"]
    ref = net.predict(X.reshape(2, 6, 6, 1))
    assert result["labels"] == ref.argmax(axis=1).tolist()
    np.testing.assert_allclose(result["logits"], ref, atol=2e-3)
    assert json.loads(s_out)["result"]["batch"] == 2
    with pytest.raises(ProtocolError, match="--input"):
        get_job("predict-two-party")("client", {})
    with pytest.raises(ProtocolError, match="roles client and server"):
        get_job("predict-hybrid")("dealer", {"model": "x"})


def test_tcp_gives_the_memory_result_and_byte_counts() -> None:
    import pathlib
    import sys

    from hecrypt.hybrid.runner import run_parties

    sys.path.insert(0, str(pathlib.Path(__file__).parent))  # the spawned parties import it
    import hybrid_paillier_programs as progs

    runs = []
    for transport in ("memory", "tcp"):
        reports: dict[str, Any] = {}
        out = run_parties({"client": progs.client, "server": progs.server_ok},
                          transport=transport, timeout=30, reports=reports)
        runs.append((out["client"], reports))
    (mem, rm), (tcp, rt) = runs
    np.testing.assert_allclose(tcp["logits"], mem["logits"], atol=1e-9)
    for party in ("client", "server"):
        for key in ("bytes_sent", "bytes_received", "offline_rounds", "online_rounds"):
            assert rt[party][key] == rm[party][key], (party, key)


def test_the_client_can_bring_its_key_pair(keypair_1024: Any) -> None:
    net = Sequential([Dense(2, input_shape=(3,))])
    net.layers[0].kernel = np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]])
    net.layers[0].bias = np.array([0.125, -2.0])
    X = np.array([[1.0, -2.0, 3.0]])
    # key_bits=512 is refused by the key policy: the run succeeds only if no key is made
    res = private_predict(net, X, mode="hybrid", private_key=keypair_1024[1], key_bits=512,
                          insecure_small_keys=True)
    np.testing.assert_allclose(res.logits, net.predict(X), atol=1e-9)


def test_the_client_key_is_2048_bits_by_default() -> None:
    from hecrypt.hybrid.runner import run_parties

    net = Sequential([Dense(2, input_shape=(3,))])
    net.layers[0].kernel = np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]])
    net.layers[0].bias = np.array([0.125, -2.0])
    X = np.array([[1.0, -2.0, 3.0]])
    reports: dict[str, Any] = {}
    out = run_parties(hybrid.programs(net, X, "hybrid"), reports=reports)  # no key_bits given
    np.testing.assert_allclose(out["client"]["logits"], net.predict(X), atol=1e-9)

    def frame(obj: Any) -> int:
        return FRAME_HEADER_SIZE + len(encode_message(obj))

    # three input ciphertexts of 2 * 256 bytes each: the modulus has 2048 bits
    c = reports["client"]
    assert c["online_bytes_sent"] == (frame({"cross": 3, "cts": bytes(3 * 512)})
                                      + frame({"done": True}))
    key = frame({"paillier_n": (1 << 2047) + 1, "sigma": 40})
    assert c["offline_bytes_sent"] == frame({"batch": 1}) + key + frame("ready")


def test_key_generation_is_counted_in_the_offline_phase(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from hecrypt.hybrid import paillier_triples

    made = paillier_triples.generate_keypair

    def slow_keygen(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.6)  # a key generation that cannot hide in the noise
        return made(*args, **kwargs)

    monkeypatch.setattr(paillier_triples, "generate_keypair", slow_keygen)
    net = Sequential([Dense(2, input_shape=(3,))])
    X = np.array([[1.0, -2.0, 3.0]])
    res = private_predict(net, X, mode="two-party", **SMALL)
    client = res.report["client"]
    assert client["offline_s"] >= 0.6 > client["online_s"]
