"""Private inference with a dealer: linear models and networks, errors, reports."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hecrypt.exceptions import InvalidFeatures, ProtocolError, UnsupportedModelError
from hecrypt.hybrid.errorbound import statistical_error_bound
from hecrypt.hybrid.inference import (
    linear_error_bound,
    model_spec,
    network_error_bound,
    plan,
)
from hecrypt.hybrid.parties import (
    UnsupportedModeError,
    client_program,
    private_predict,
    server_program,
)
from hecrypt.hybrid.polynomials import relu_poly, sigmoid_poly
from hecrypt.hybrid.runner import run_parties
from hecrypt.hybrid.triples import dealer_program
from hecrypt.models import (
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPooling2D,
    Sequential,
    from_sklearn,
)

PARTIES = ("client", "server", "dealer")


def _check_report(report: dict[str, Any]) -> None:
    for name in (*PARTIES, "total"):
        for key in ("online_s", "offline_s", "bytes_sent", "bytes_received", "rounds"):
            assert key in report[name], (name, key)
    total = report["total"]
    assert total["bytes_sent"] == total["bytes_received"] == sum(
        report[p]["bytes_sent"] for p in PARTIES)
    assert report["dealer"]["online_bytes_sent"] == 0
    assert report["client"]["offline_bytes_received"] > 0


@pytest.fixture(scope="module")
def cancer() -> tuple[Any, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, _ = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(Xtr, ytr)
    return from_sklearn(clf), Xte


def test_logistic_regression_labels_identical_on_the_breast_cancer_test_split(
        cancer: tuple[Any, np.ndarray]) -> None:
    model, Xte = cancer
    res = private_predict(model, Xte)
    assert np.array_equal(res.labels, model.predict_plaintext(Xte))
    z = model.decision_function_plaintext(Xte)
    bound = linear_error_bound(Xte, model.coef.T, model.intercept)
    assert np.max(np.abs(res.logits[:, 0] - z)) <= bound
    # the probability is the polynomial sigmoid computed in shares
    poly = sigmoid_poly()
    inside = np.abs(z) <= 8
    # the logit's error (bound above) times the polynomial's slope (< 0.3), plus its own
    assert np.max(np.abs(res.proba[inside, 1] - poly(z[inside]))) <= 0.3 * bound + 2e-3
    assert res.proba.shape == (len(Xte), 2) and res.values is None
    _check_report(res.report)
    assert "client" in res.report_table() and "total" in res.report_table()


def test_logistic_regression_revealing_only_the_probability(
        cancer: tuple[Any, np.ndarray]) -> None:
    model, Xte = cancer
    z = model.decision_function_plaintext(Xte)
    keep = np.abs(z) < 6  # inside the polynomial's interval its sign is the logit's
    res = private_predict(model, Xte[keep], reveal_logits=False)
    assert res.logits is None
    assert np.array_equal(res.labels, model.predict_plaintext(Xte[keep]))


def test_multiclass_logits_and_regression_values() -> None:
    d = load_digits()
    Xtr, Xte, ytr, _ = train_test_split(d.data, d.target, test_size=0.25, random_state=0)
    clf = from_sklearn(make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
                       .fit(Xtr, ytr))
    res = private_predict(clf, Xte[:60])
    scores = clf.decision_function_plaintext(Xte[:60])
    assert np.max(np.abs(res.logits - scores)) <= linear_error_bound(
        Xte[:60], clf.coef.T, clf.intercept)
    assert np.array_equal(res.labels, clf.predict_plaintext(Xte[:60]))
    assert np.allclose(res.proba.sum(axis=1), 1.0)  # softmax applied by the client
    reg = from_sklearn(LinearRegression().fit(Xtr, ytr.astype(float)))
    out = private_predict(reg, Xte[:40])
    assert out.labels is None and out.logits is None
    bound = linear_error_bound(Xte[:40], reg.coef.T, reg.intercept)
    assert np.max(np.abs(out.values.reshape(-1) - reg.predict_plaintext(Xte[:40]))) <= bound


def small_cnn() -> Sequential:
    return Sequential([
        Conv2D(3, 3, padding="same", input_shape=(6, 6, 1)),
        Activation("sigmoid", approx=sigmoid_poly()),
        AveragePooling2D(2),
        Conv2D(4, 2, strides=1, padding="valid"),
        Activation("relu", approx=relu_poly()),
        Flatten(),
        Dropout(0.5),
        Dense(5),
        Activation("square"),
        Dense(3),
        Activation("softmax"),
    ], seed=3)


def test_network_logits_within_the_documented_bound() -> None:
    net = small_cnn()
    X = np.random.default_rng(1).uniform(-1, 1, size=(12, 36))
    res = private_predict(net, X)
    logits = net.activations(X.reshape(12, 6, 6, 1))[-2]
    err = np.abs(res.logits - logits)
    tight = statistical_error_bound(net, X)
    assert np.all(err <= tight)
    assert np.max(tight) <= network_error_bound(net, X.reshape(12, 6, 6, 1))
    assert np.array_equal(res.labels, logits.argmax(axis=1))
    assert np.allclose(res.proba, net.predict(X), atol=1e-3)  # softmax on the client
    _check_report(res.report)
    # online rounds: inputs 1, conv 1, sigmoid 3, conv 1, relu 2, dense 1, square 1,
    # dense 1, reveal 1
    assert res.report["client"]["online_rounds"] == 12


def test_plan_lists_every_triple() -> None:
    net = small_cnn()
    kinds = [r.kind for r in plan(net, (7, 6, 6, 1))]
    assert kinds == ["conv2d", "square", "square", "mul", "mul", "conv2d",
                     "square", "square", "matmul", "square", "matmul"]
    assert plan(net, 7)[0].shape_a == (7, 6, 6, 1)
    from hecrypt.hybrid import protocols

    assert protocols.plan(net, (7, 36)) == plan(net, (7, 6, 6, 1))


def test_unsupported_models_name_the_alternative() -> None:
    relu = Sequential([Dense(3, input_shape=(4,)), Activation("relu"), Dense(2)])
    with pytest.raises(UnsupportedModelError, match=r"mode=\"dealer\".*relu_poly"):
        private_predict(relu, np.ones((1, 4)), mode="two-party")
    sig = Sequential([Dense(3, input_shape=(4,)), Activation("sigmoid"), Dense(2)])
    with pytest.raises(UnsupportedModelError, match="sigmoid_poly"):
        model_spec(sig)
    maxpool = Sequential([Conv2D(2, 2, input_shape=(4, 4, 1)), MaxPooling2D(2), Flatten(),
                          Dense(2)])
    with pytest.raises(UnsupportedModelError, match=r"dealer.*AveragePooling2D"):
        private_predict(maxpool, np.ones((1, 4, 4)), mode="hybrid")
    soft = Sequential([Dense(3, input_shape=(4,)), Activation("softmax"), Dense(2)])
    with pytest.raises(UnsupportedModelError, match="last layer"):
        private_predict(soft, np.ones((1, 4)))
    with pytest.raises(UnsupportedModelError, match="Sequential or LinearModel"):
        private_predict(object(), np.ones((1, 4)))


def test_bad_inputs_and_modes() -> None:
    net = small_cnn()
    with pytest.raises(InvalidFeatures, match="shape"):
        private_predict(net, np.ones((2, 35)))
    with pytest.raises(InvalidFeatures, match="finite"):
        private_predict(net, np.full((1, 36), np.nan))
    with pytest.raises(UnsupportedModeError, match="unknown private inference mode"):
        private_predict(net, np.ones((1, 36)), mode="magic")
    with pytest.raises(TypeError, match="unknown option"):
        private_predict(net, np.ones((1, 36)), colour="blue")


def _lying_server(party: Any) -> None:
    with party.phase("offline"):
        party.send("client", {"spec": {"model": "sequential", "input_shape": [6, 6, 1],
                                       "layers": [{"type": "dense", "kernel": [5, "x"]}]},
                              "frac_bits": 16})
        party.recv("client")


def test_a_malformed_spec_or_a_failed_party_stops_everyone() -> None:
    with pytest.raises(ProtocolError, match="malformed model description"):
        run_parties({"client": functools.partial(client_program, X=np.ones((1, 36))),
                     "server": _lying_server, "dealer": dealer_program}, timeout=10)
    with pytest.raises(ProtocolError, match="client"):
        run_parties({"client": functools.partial(client_program, X=np.full((1, 36), 1e30)),
                     "server": functools.partial(server_program, model=small_cnn()),
                     "dealer": dealer_program}, timeout=10)


def test_tcp_transport_gives_the_memory_result_and_counts(cancer: tuple[Any, np.ndarray]) -> None:
    model, Xte = cancer
    mem = private_predict(model, Xte[:30])
    tcp = private_predict(model, Xte[:30], transport="tcp", timeout=30)
    assert np.array_equal(tcp.labels, mem.labels)
    assert np.max(np.abs(tcp.logits - mem.logits)) <= 2 * linear_error_bound(
        Xte[:30], model.coef.T, model.intercept)
    for name in PARTIES:  # the same messages: the same bytes and rounds
        for key in ("bytes_sent", "bytes_received", "online_rounds", "offline_rounds"):
            assert tcp.report[name][key] == mem.report[name][key], (name, key)


def test_party_command_runs_predict_on_three_processes(tmp_path: Path) -> None:
    net = small_cnn()
    net.save(tmp_path / "net.npz")
    X = np.random.default_rng(2).uniform(-1, 1, size=(5, 6, 6))
    np.save(tmp_path / "x.npy", X)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "hecrypt", "party", "--job", "predict", "--timeout", "30"]
    procs: list[subprocess.Popen[str]] = []
    try:
        dealer = subprocess.Popen(
            [*cmd, "--role", "dealer", "--listen", "127.0.0.1:0", "--accept", "server",
             "--accept", "client"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            text=True)
        procs.append(dealer)
        dport = dealer.stderr.readline().rsplit(":", 1)[1].strip()  # type: ignore[union-attr]
        server = subprocess.Popen(
            [*cmd, "--role", "server", "--model", str(tmp_path / "net.npz"), "--listen",
             "127.0.0.1:0", "--accept", "client", "--connect", f"dealer=127.0.0.1:{dport}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        procs.append(server)
        sport = server.stderr.readline().rsplit(":", 1)[1].strip()  # type: ignore[union-attr]
        client = subprocess.run(
            [*cmd, "--role", "client", "--input", str(tmp_path / "x.npy"), "--output",
             str(tmp_path / "out.npz"), "--connect", f"dealer=127.0.0.1:{dport}",
             "--connect", f"server=127.0.0.1:{sport}"],
            capture_output=True, env=env, text=True, timeout=90)
        s_out, s_err = server.communicate(timeout=60)
        d_out, d_err = dealer.communicate(timeout=60)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert client.returncode == 0, client.stderr
    assert server.returncode == 0 and dealer.returncode == 0, (s_err, d_err)
    result = json.loads(client.stdout)["result"]
    logits = net.activations(X.reshape(5, 6, 6, 1))[-2]
    assert result["labels"] == logits.argmax(axis=1).tolist()
    assert np.max(np.abs(np.array(result["logits"]) - logits)) <= network_error_bound(
        net, X.reshape(5, 6, 6, 1))
    assert np.array_equal(np.load(tmp_path / "out.npz")["labels"], result["labels"])
    assert json.loads(s_out)["result"] == {"batch": 5, "triples": 11}
    assert json.loads(d_out)["result"]["triples"] == 11


def test_predict_job_options() -> None:
    from hecrypt.hybrid.runner import get_job

    factory = get_job("predict")
    with pytest.raises(ProtocolError, match="--input"):
        factory("client", {})
    with pytest.raises(ProtocolError, match="--model"):
        factory("server", {})
    with pytest.raises(ProtocolError, match="roles client, server and dealer"):
        factory("auditor", {})
    assert factory("dealer", {}) is dealer_program


def test_shipped_digits_cnn_matches_the_plaintext_network_on_the_test_split() -> None:
    # the whole documented test split (450 images, about a second); timings are in the
    # benchmark (python -m hecrypt.bench_ss)
    from hecrypt.models import load_digits_cnn
    from hecrypt.models.digits import digits_split

    net = load_digits_cnn()
    _, X, _, _ = digits_split()
    assert len(X) == 450
    res = private_predict(net, X)
    ref = net.predict(X)
    assert np.mean(res.labels == ref.argmax(axis=1)) >= 0.99
    err = np.abs(res.logits - ref)
    assert np.all(err <= statistical_error_bound(net, X))  # about 0.01; measured about 0.003
    assert np.max(err) <= network_error_bound(net, X.reshape(-1, 8, 8, 1))
    # activations stay where truncation fails with probability <= 2^-28 per product
    acts = net.activations(X.reshape(-1, 8, 8, 1))
    assert max(float(np.max(np.abs(a))) for a in acts[1:-1]) < 8


def test_predict_job_with_a_linear_model_file_and_csv_records(
        cancer: tuple[Any, np.ndarray], tmp_path: Path) -> None:
    from hecrypt.hybrid.runner import get_job

    model, Xte = cancer
    model.save(tmp_path / "model.json")
    np.savetxt(tmp_path / "x.csv", Xte[:20], delimiter=",")
    factory = get_job("predict")
    res = run_parties({
        "client": factory("client", {"input": str(tmp_path / "x.csv"),
                                     "output": str(tmp_path / "out.npz")}),
        "server": factory("server", {"model": str(tmp_path / "model.json"), "frac_bits": "18"}),
        "dealer": factory("dealer", {}),
    }, timeout=20)
    assert np.array_equal(res["client"]["labels"], model.predict_plaintext(Xte[:20]))
    assert np.array_equal(np.load(tmp_path / "out.npz")["labels"], res["client"]["labels"])
    with pytest.raises(ProtocolError, match="frac_bits must be an integer"):
        factory("server", {"model": str(tmp_path / "model.json"), "frac_bits": "x"})


def test_error_bound_with_exact_relu_max_pooling_and_another_polynomial() -> None:
    from hecrypt.hybrid.polynomials import fit

    net = Sequential([
        Conv2D(4, 3, strides=2, padding="same", input_shape=(8, 8, 1)), Activation("relu"),
        MaxPooling2D(2), Flatten(), Dense(6),
        Activation("sigmoid", approx=fit("sigmoid", 5, (-6, 6), name="s5")), Dense(4),
    ], seed=5)
    X = np.random.default_rng(4).uniform(-3, 3, size=(30, 64))
    bound = statistical_error_bound(net, X)
    res = private_predict(net, X)
    assert np.all(np.abs(res.logits - net.predict(X)) <= bound)
    assert np.max(bound) < 1e-3
    with pytest.raises(ValueError, match="delta"):
        statistical_error_bound(net, X, delta=0.0)
