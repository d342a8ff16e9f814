"""The user's own model and data: scikit-learn estimators, model files, Sequential networks."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hecrypt
from hecrypt.__main__ import main
from hecrypt.comparison import cli
from hecrypt.comparison.techniques import TECHNIQUES
from hecrypt.hybrid.polynomials import sigmoid_poly
from hecrypt.models import Activation, Dense, Sequential, from_arrays

SMALL: dict[str, Any] = {"insecure_small_keys": True, "key_bits": 1024}


def test_a_fitted_sklearn_logistic_regression_through_the_python_api() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(11)
    X = rng.normal(size=(60, 5))
    est = LogisticRegression().fit(X, (X @ rng.normal(size=5) > 0).astype(int))
    cmp = hecrypt.compare(model=est, X=X[:3], **SMALL)
    data = cmp.to_dict()
    assert [r["technique"] for r in data["results"]] == list(TECHNIQUES)
    for r in data["results"]:
        assert r["status"] == "ok", (r["technique"], r["reason"])
        assert r["workload_params"]["features"] == 5 and r["workload_params"]["batch"] == 3
        assert r["label_agreement"] == 1.0 and r["max_abs_error"] < 1e-3
        for party in r["parties"].values():
            assert {"online_s", "offline_s", "bytes_sent", "bytes_received",
                    "rounds"} <= set(party)
        assert set(r["projected_s"]) == {"lan", "wan"}


def _saved_linear_model(tmp_path: Path) -> tuple[Any, Path, np.ndarray]:
    rng = np.random.default_rng(12)
    model = from_arrays(rng.normal(size=4), 0.25, description="user regression")
    path = tmp_path / "model.json"
    model.save(path)
    X = rng.normal(size=(3, 4))
    return model, path, X


@pytest.mark.parametrize("suffix", [".csv", ".npy"])
def test_cli_scores_a_saved_linear_model_on_a_data_file(
        suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, path, X = _saved_linear_model(tmp_path)
    data = tmp_path / f"X{suffix}"
    if suffix == ".csv":
        np.savetxt(data, X, delimiter=",")
    else:
        np.save(data, X)
    code = main(["compare", "--model", str(path), "--data", str(data),
                 "--techniques", "he-packed,dealer", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["technique"] for r in out["results"]] == ["he-packed", "dealer"]
    for r in out["results"]:
        assert r["status"] == "ok" and r["workload_params"]["task"] == "regression"
        assert r["workload_params"]["features"] == 4 and r["workload_params"]["batch"] == 3
        assert r["label_agreement"] is None  # a regressor has no labels
        assert r["max_abs_error"] < 1e-3


def test_cli_refuses_data_that_does_not_fit_the_model(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, path, X = _saved_linear_model(tmp_path)
    data = tmp_path / "X.npy"
    np.save(data, X[:, :3])  # one feature short
    assert main(["compare", "--model", str(path), "--data", str(data),
                 "--techniques", "dealer"]) == 1
    assert "hecrypt compare:" in capsys.readouterr().err


def _network(sigmoids: int) -> Sequential:
    layers: list = [Dense(4, input_shape=(5,))]
    for _ in range(sigmoids):
        layers += [Activation("sigmoid", approx=sigmoid_poly()), Dense(4)]
    return Sequential([*layers, Dense(3)])


def test_a_users_sequential_every_technique_named_rounds_follow_the_depth() -> None:
    X = np.random.default_rng(13).normal(size=(2, 5))
    shallow = hecrypt.compare(model=_network(1), X=X, **SMALL)
    deep = hecrypt.compare(model=_network(2), X=X, techniques=["dealer"], **SMALL)
    assert [r.technique for r in shallow.results] == list(TECHNIQUES)
    for tech in ("he", "he-packed", "phe"):
        assert shallow.result(tech).status == "not applicable"
    for tech in ("dealer", "two-party", "hybrid"):
        r = shallow.result(tech)
        assert r.ok, (tech, r.reason)
        assert r.accuracy["label_agreement"] == 1.0
    # one more sigmoid layer: more online rounds and more online bytes, from the counters
    a, b = shallow.result("dealer").totals, deep.result("dealer").totals
    assert b["online_rounds"] > a["online_rounds"]
    assert b["online_bytes_sent"] > a["online_bytes_sent"]


def test_the_progress_bar_goes_to_stderr_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Tty()
    monkeypatch.setattr(cli.sys, "stderr", err)
    update = cli._progress()
    assert update is not None
    update(0, 2, "he on logistic-3x2")
    update(2, 2, "done")
    text = err.getvalue()
    assert "[" + "." * 30 + "] 0/2 he on logistic-3x2" in text
    assert "[" + "#" * 30 + "] 2/2" in text and text.endswith("\n")
    monkeypatch.setattr(cli.sys, "stderr", io.StringIO())  # not a terminal: no bar
    assert cli._progress() is None
