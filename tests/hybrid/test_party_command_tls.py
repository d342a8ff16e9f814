"""`hecrypt party` with its TLS options: three roles over mutual TLS; a wrong certificate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trustme

from hecrypt.models import Activation, AveragePooling2D, Conv2D, Dense, Flatten, Sequential

ROLES = ("dealer", "server", "client")
CMD = [sys.executable, "-m", "hecrypt", "party", "--timeout", "20"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """TLS flags per role (certificates naming the role), and a rogue role from another CA."""
    root = tmp_path_factory.mktemp("pki")
    ca, rogue = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    flags = {}
    for name, issuer, identity in [*((r, ca, r) for r in ROLES), ("rogue", rogue, "client")]:
        path = str(root / f"{name}.pem")
        issuer.issue_cert("127.0.0.1", identity).private_key_and_cert_chain_pem.write_to_path(path)
        flags[name] = ["--tls-cert", path, "--tls-key", path, "--tls-ca", str(root / "ca.pem"),
                       "--tls-role-names"]
    return flags


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def _listen(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([*CMD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=_env(), text=True)
    line = proc.stderr.readline()  # type: ignore[union-attr]
    return proc, line.rsplit(":", 1)[1].strip()


def test_predict_on_three_roles_over_mutual_tls(tmp_path: Path,
                                                pki: dict[str, list[str]]) -> None:
    net = Sequential([Conv2D(2, 3, padding="same", input_shape=(4, 4, 1)), Activation("square"),
                      AveragePooling2D(2), Flatten(), Dense(3)], seed=4)
    net.save(tmp_path / "net.npz")
    X = np.random.default_rng(3).uniform(-1, 1, size=(4, 4, 4))
    np.save(tmp_path / "x.npy", X)
    job = ["--job", "predict"]
    procs = []
    try:
        dealer, dport = _listen([*job, "--role", "dealer", "--listen", "127.0.0.1:0", "--accept",
                                 "server", "--accept", "client", *pki["dealer"]])
        procs.append(dealer)
        server, sport = _listen([*job, "--role", "server", "--model", str(tmp_path / "net.npz"),
                                 "--listen", "127.0.0.1:0", "--accept", "client", "--connect",
                                 f"dealer=127.0.0.1:{dport}", *pki["server"]])
        procs.append(server)
        client = subprocess.run(
            [*CMD, *job, "--role", "client", "--input", str(tmp_path / "x.npy"), "--connect",
             f"dealer=127.0.0.1:{dport}", "--connect", f"server=127.0.0.1:{sport}",
             "--report", "json", *pki["client"]],
            capture_output=True, env=_env(), text=True, timeout=90)
        _, s_err = server.communicate(timeout=60)
        _, d_err = dealer.communicate(timeout=60)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert client.returncode == 0, client.stderr
    assert server.returncode == 0 and dealer.returncode == 0, (s_err, d_err)
    result = json.loads(client.stdout)["result"]
    logits = net.predict(X)
    assert np.max(np.abs(np.array(result["logits"]) - logits)) < 1e-2
    assert result["labels"] == logits.argmax(axis=1).tolist()


def test_a_certificate_from_another_ca_is_refused(pki: dict[str, list[str]]) -> None:
    job = ["--job", "ping", "--timeout", "3"]
    listener, port = _listen([*job, "--role", "dealer", "--listen", "127.0.0.1:0", "--accept",
                              "client", *pki["dealer"]])
    try:
        dialer = subprocess.run(
            [*CMD, *job, "--role", "client", "--connect", f"dealer=127.0.0.1:{port}",
             *pki["rogue"]], capture_output=True, env=_env(), text=True, timeout=60)
        _, l_err = listener.communicate(timeout=60)
    finally:
        if listener.poll() is None:
            listener.kill()
    assert dialer.returncode != 0 and listener.returncode != 0
    assert "refused this party's certificate" in dialer.stderr, dialer.stderr
    assert "certificate is refused" in l_err, l_err
