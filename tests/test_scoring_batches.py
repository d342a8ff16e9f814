"""ScoringClient with a body limit on the scorer's side, and its progress reports."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import hecrypt
from hecrypt import models, scoring
from hecrypt.paillier import PrivateKey, PublicKey
from hecrypt.scoring import InProcessScorer
from hecrypt.service.client import ServiceError

Keys = tuple[PublicKey, PrivateKey]
COEF = np.array([[1.0, -2.0, 0.5, 0.25], [0.5, 0.5, -1.0, 2.0]])
INTERCEPT = np.array([0.5, -1.0])


class LimitedScorer(InProcessScorer):
    """An in-process scorer that answers 413 above ``limit`` request bytes, as the service."""

    def __init__(self, model: Any, limit: int, publish: bool) -> None:
        super().__init__(model)
        self.limit = limit
        self.sizes: list[int] = []
        if publish:
            self.max_request_bytes = limit

    def score(self, public_key: PublicKey, encrypted_batch: Any) -> Any:
        size = len(public_key.to_bytes()) + len(encrypted_batch.to_bytes()) + 9
        self.sizes.append(size)
        if size > self.limit:
            raise ServiceError(413, f"binary body of {size} bytes is over the limit")
        return super().score(public_key, encrypted_batch)


@pytest.fixture(scope="module")
def model() -> models.LinearModel:
    return models.from_arrays(COEF, INTERCEPT)


@pytest.mark.parametrize("publish", [True, False])
@pytest.mark.parametrize("packing", [True, False])
def test_batches_over_the_body_limit_are_split(
    model: models.LinearModel, keypair_1024: Keys, publish: bool, packing: bool
) -> None:
    pk, sk = keypair_1024
    X = np.random.default_rng(3).normal(size=(150, 4))
    limit = 5_000 if packing else 40_000  # a few packed chunks, or ~35 unpacked records
    scorer = LimitedScorer(model, limit, publish)
    client = hecrypt.ScoringClient(scorer, pk, sk, value_bound=8.0, packing=packing)
    got = client.predict(X)
    np.testing.assert_allclose(got, X @ COEF.T + INTERCEPT, atol=1e-6)
    report = client.last_report
    assert report is not None and report.records == 150 and report.requests > 1
    accepted = [s for s in scorer.sizes if s <= limit]
    assert len(accepted) == report.requests
    if publish:  # planned from the published limit: nothing refused
        assert len(scorer.sizes) == report.requests


def test_one_record_over_the_limit_is_still_refused(
    model: models.LinearModel, keypair_1024: Keys
) -> None:
    pk, sk = keypair_1024
    client = hecrypt.ScoringClient(LimitedScorer(model, 100, False), pk, sk)
    with pytest.raises(ServiceError) as exc:
        client.predict(np.ones((3, 4)))
    assert exc.value.status == 413


def test_progress_callback_counts_records(
    model: models.LinearModel, keypair_1024: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    pk, sk = keypair_1024
    calls: list[tuple[int, int]] = []
    scorer = LimitedScorer(model, 5_000, True)
    client = hecrypt.ScoringClient(scorer, pk, sk, value_bound=8.0,
                                   progress=lambda done, total: calls.append((done, total)))
    client.predict(np.ones((100, 4)))
    assert len(calls) == client.last_report.requests > 1  # type: ignore[union-attr]
    assert [t for _, t in calls] == [100] * len(calls)
    assert calls[-1][0] == 100 and all(a[0] < b[0] for a, b in itertools.pairwise(calls))
    # "auto" draws nothing when stderr is not a terminal
    hecrypt.ScoringClient(scorer, pk, sk, value_bound=8.0).predict(np.ones((100, 4)))
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="progress"):
        hecrypt.ScoringClient(scorer, pk, sk, progress="yes")


def test_auto_progress_draws_a_bar_on_a_terminal(
    model: models.LinearModel, keypair_1024: Keys, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sys

    pk, sk = keypair_1024
    monkeypatch.setattr(scoring, "PROGRESS_MIN_RECORDS", 50)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    client = hecrypt.ScoringClient(model, pk, sk, value_bound=8.0)
    X = np.random.default_rng(5).normal(size=(120, 4))
    np.testing.assert_allclose(client.predict(X), X @ COEF.T + INTERCEPT, atol=1e-6)
    err = capsys.readouterr().err
    assert "scoring [" in err and "120/120" in err and err.endswith("\n")
    assert err.count("\n") == 1  # the bar ends its line once, at the end
    # the bar follows the encryption: it was drawn before the whole batch was scored
    assert err.count("\r") > 1
    # ... and it does not change what is sent: one request, as without a bar
    assert client.last_report is not None and client.last_report.requests == 1


class CountingScorer(InProcessScorer):
    """Records how many records each request carried."""

    def __init__(self, model: Any, limit: int | None = None) -> None:
        super().__init__(model)
        self.records: list[int] = []
        if limit is not None:
            self.max_request_bytes = limit

    def score(self, public_key: PublicKey, encrypted_batch: Any) -> Any:
        self.records.append(int(encrypted_batch.shape[0]))
        return super().score(public_key, encrypted_batch)


@pytest.mark.parametrize("tty", [False, True])
@pytest.mark.parametrize("limit", [None, 5_000])
def test_progress_never_splits_a_batch(
    model: models.LinearModel, keypair_1024: Keys, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], tty: bool, limit: int | None,
) -> None:
    """Only the scorer's body limit splits a batch; the progress setting never does."""
    import sys

    pk, sk = keypair_1024
    monkeypatch.setattr(scoring, "PROGRESS_MIN_RECORDS", 50)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    X = np.random.default_rng(6).normal(size=(120, 4))
    seen: dict[str, list[int]] = {}
    for name, progress in (("none", None), ("auto", "auto"),
                           ("callable", lambda done, total: None)):
        scorer = CountingScorer(model, limit)
        client = hecrypt.ScoringClient(scorer, pk, sk, value_bound=8.0, progress=progress)
        np.testing.assert_allclose(client.predict(X), X @ COEF.T + INTERCEPT, atol=1e-6)
        assert client.last_report is not None
        assert client.last_report.requests == len(scorer.records)
        seen[name] = scorer.records
    capsys.readouterr()
    assert seen["auto"] == seen["none"] == seen["callable"]
    if limit is None:
        assert seen["none"] == [120]  # nothing to respect: one request
    else:
        assert len(seen["none"]) > 1 and sum(seen["none"]) == 120
