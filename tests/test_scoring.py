"""Private scoring end to end on scikit-learn's bundled data sets: the client
encrypts the whole test split, the server scores it, the client decrypts, and
the predictions equal scikit-learn's."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

import hecrypt
from hecrypt import models
from hecrypt.exceptions import (
    FeatureMismatchError,
    InvalidFeatures,
    InvalidKey,
    KeyMismatchError,
    ProtocolError,
    UnsupportedModelError,
)
from hecrypt.models import LinearModel, ModelInfo
from hecrypt.paillier import EncryptedTensor, PrivateKey, PublicKey
from hecrypt.scoring import InProcessScorer, Scorer, ScoringClient

Keys = tuple[PublicKey, PrivateKey]
Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

BATCH_PATH = "packed"


def _split(loader: Any) -> Split:
    X, y = loader(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    return Xtr, Xte, ytr, yte


@pytest.fixture(scope="module")
def diabetes() -> Split:
    return _split(load_diabetes)


@pytest.fixture(scope="module")
def cancer() -> Split:
    return _split(load_breast_cancer)


@pytest.fixture(scope="module")
def iris() -> Split:
    return _split(load_iris)


@pytest.fixture(scope="module")
def cancer_model(cancer: Split) -> Any:
    Xtr, _, ytr, _ = cancer
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(Xtr, ytr)


def _client(target: Any, keys: Keys, **kwargs: Any) -> ScoringClient:
    pk, sk = keys
    return hecrypt.ScoringClient(target, pk, sk, **kwargs)


# ---------------------------------------------------------------- real data
@pytest.mark.parametrize(
    "estimator",
    [LinearRegression(), make_pipeline(StandardScaler(), Ridge(alpha=1.0)), Lasso(alpha=0.01)],
    ids=["linear", "scaled-ridge", "lasso"],
)
def test_diabetes_regression_matches_sklearn(
    diabetes: Split, keypair_1024: Keys, estimator: Any
) -> None:
    Xtr, Xte, ytr, _ = diabetes
    estimator.fit(Xtr, ytr)
    client = _client(models.from_sklearn(estimator), keypair_1024)
    got = client.predict(Xte)
    want = estimator.predict(Xte)
    assert got.shape == want.shape == (len(Xte),)
    rel = np.abs(got - want) / np.abs(want)
    assert rel.max() < 1e-6
    report = client.last_report
    assert report is not None and report.records == len(Xte) and report.path == BATCH_PATH


def test_breast_cancer_labels_identical(
    cancer: Split, cancer_model: Any, keypair_1024: Keys
) -> None:
    _, Xte, _, yte = cancer
    client = _client(models.from_sklearn(cancer_model), keypair_1024)
    labels = client.predict(Xte)
    np.testing.assert_array_equal(labels, cancer_model.predict(Xte))
    assert labels.dtype == cancer_model.classes_.dtype
    proba = client.predict_proba(Xte)
    np.testing.assert_allclose(proba, cancer_model.predict_proba(Xte), atol=1e-6)
    np.testing.assert_allclose(
        client.decision_function(Xte), cancer_model.decision_function(Xte), atol=1e-6
    )
    np.testing.assert_array_equal(client.classes_, cancer_model.classes_)
    assert np.mean(labels == yte) > 0.9


def test_iris_multiclass_labels_identical(iris: Split, keypair_1024: Keys) -> None:
    Xtr, Xte, ytr, _ = iris
    names = np.array(["setosa", "versicolor", "virginica"])
    est = make_pipeline(StandardScaler(), LogisticRegression()).fit(Xtr, names[ytr])
    client = _client(models.from_sklearn(est), keypair_1024)
    np.testing.assert_array_equal(client.predict(Xte), est.predict(Xte))
    np.testing.assert_allclose(client.predict_proba(Xte), est.predict_proba(Xte), atol=1e-6)
    assert client.predict_proba(Xte).shape == (len(Xte), 3)
    assert client.decision_function(Xte).shape == (len(Xte), 3)


def test_classifier_without_probabilities(iris: Split, keypair_1024: Keys) -> None:
    Xtr, Xte, ytr, _ = iris
    est = make_pipeline(StandardScaler(), LinearSVC()).fit(Xtr, ytr)
    client = _client(models.from_sklearn(est), keypair_1024)
    np.testing.assert_array_equal(client.predict(Xte), est.predict(Xte))
    with pytest.raises(UnsupportedModelError, match="no probability"):
        client.predict_proba(Xte)


def test_regression_has_no_predict_proba(diabetes: Split, keypair_1024: Keys) -> None:
    Xtr, Xte, ytr, _ = diabetes
    client = _client(models.from_sklearn(Ridge().fit(Xtr, ytr)), keypair_1024)
    with pytest.raises(UnsupportedModelError, match="regression"):
        client.predict_proba(Xte)
    assert client.last_report is None  # refused before anything was encrypted


@pytest.mark.slow
def test_breast_cancer_at_2048_bits(cancer: Split, cancer_model: Any, keypair_2048: Keys) -> None:
    _, Xte, _, _ = cancer
    client = _client(models.from_sklearn(cancer_model), keypair_2048)
    np.testing.assert_array_equal(client.predict(Xte), cancer_model.predict(Xte))
    np.testing.assert_allclose(
        client.predict_proba(Xte), cancer_model.predict_proba(Xte), atol=1e-6
    )
    assert client.public_key.n_bits == 2048


# ---------------------------------------------------------------- paths
def test_single_record_and_batch_paths_give_identical_scores(
    cancer: Split, cancer_model: Any, keypair_1024: Keys
) -> None:
    _, Xte, _, _ = cancer
    client = _client(models.from_sklearn(cancer_model), keypair_1024)
    rows = Xte[:6]
    batch = client.decision_function(rows)
    assert client.last_report is not None and client.last_report.path == BATCH_PATH
    singles = []
    for row in rows:
        singles.append(client.decision_function(row.reshape(1, -1))[0])
        assert client.last_report.path == "single"
    np.testing.assert_array_equal(np.array(singles), batch)  # bit for bit
    unpacked = _client(models.from_sklearn(cancer_model), keypair_1024, packing=False)
    np.testing.assert_array_equal(unpacked.decision_function(rows), batch)
    assert unpacked.last_report is not None and unpacked.last_report.path == "tensor"


def test_model_file_scores_like_the_model(
    tmp_path: Path, cancer: Split, cancer_model: Any, keypair_1024: Keys
) -> None:
    _, Xte, _, _ = cancer
    model = models.from_sklearn(cancer_model)
    path = tmp_path / "cancer.json"
    model.save(path)
    by_path = _client(str(path), keypair_1024)
    by_pathlib = _client(path, keypair_1024)
    want = _client(model, keypair_1024).decision_function(Xte[:20])
    np.testing.assert_array_equal(by_path.decision_function(Xte[:20]), want)
    np.testing.assert_array_equal(by_pathlib.decision_function(Xte[:20]), want)


def test_report_counts_real_bytes(cancer: Split, cancer_model: Any, keypair_1024: Keys) -> None:
    pk, _ = keypair_1024
    _, Xte, _, _ = cancer
    client = _client(models.from_sklearn(cancer_model), keypair_1024)
    client.predict(Xte[:1])
    first = client.last_report
    assert first is not None and first.path == "single"
    # one record: a tensor of 30 ciphertexts, plus the public key the first time
    width = 2 * ((pk.n_bits + 7) // 8)
    assert first.ciphertexts_sent == 30 and first.ciphertexts_received == 1
    assert first.bytes_sent > 30 * width + len(pk.to_bytes()) - 1
    assert first.bytes_received >= width
    client.predict(Xte[:1])
    second = client.last_report
    assert second is not None
    assert second.bytes_sent == first.bytes_sent - len(pk.to_bytes())  # key sent once
    client.predict(Xte)
    batch = client.last_report
    assert batch is not None and batch.records == len(Xte)
    assert batch.bytes_sent >= batch.ciphertexts_sent * width
    assert batch.bytes_received >= batch.ciphertexts_received * width
    assert batch.ciphertexts_sent < len(Xte) * 30 / 4  # several records per ciphertext
    assert batch.seconds_per_record > 0


def test_scores_leave_the_server_rerandomized(keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    model = models.from_arrays([1.0, 2.0, 3.0], 0.5)
    scorer = InProcessScorer(model, wire=False)
    batch = sk.encrypt(np.array([1.0, 2.0, 3.0]))
    a = scorer.score(pk, batch)
    b = scorer.score(pk, batch)
    assert a.is_fresh and b.is_fresh
    assert a.ciphertexts.tolist() != b.ciphertexts.tolist()
    assert sk.decrypt(a).tolist() == sk.decrypt(b).tolist() == [14.5]


def test_scorer_never_takes_a_private_key(keypair_1024: Keys, other_keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    scorer = InProcessScorer(models.from_arrays([1.0], 0.0))
    batch = sk.encrypt(np.array([1.0]))
    with pytest.raises(TypeError, match="private key never leaves"):
        scorer.score(cast(Any, sk), batch)
    with pytest.raises(KeyMismatchError):
        scorer.score(other_keypair_1024[0], batch)
    with pytest.raises(TypeError, match="encrypted batch"):
        scorer.score(pk, cast(Any, np.array([1.0])))
    assert not any(isinstance(v, PrivateKey) for v in vars(scorer).values())
    assert isinstance(scorer, Scorer)


# ---------------------------------------------------------------- validation
@pytest.fixture(scope="module")
def small_client(keypair_1024: Keys) -> ScoringClient:
    return _client(models.from_arrays(np.ones((1, 3)), 0.0, classes=[0, 1]), keypair_1024,
                   value_bound=100.0)


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (np.ones((2, 4)), FeatureMismatchError, "expects 3"),
        (np.ones(3), InvalidFeatures, "2-D"),
        (np.ones((1, 1, 3)), InvalidFeatures, "2-D"),
        (np.array([[1.0, np.nan, 2.0]]), InvalidFeatures, "NaN"),
        (np.array([[1.0, 200.0, 2.0]]), InvalidFeatures, "value_bound"),
        (np.ones((0, 3)), InvalidFeatures, "no records"),
    ],
)
def test_bad_records_are_refused_before_encryption(
    small_client: ScoringClient, x: np.ndarray, error: type, match: str
) -> None:
    for method in (small_client.predict, small_client.predict_proba,
                   small_client.decision_function):
        with pytest.raises(error, match=match):
            method(x)
    assert small_client.last_report is None


def test_records_at_the_value_bound_are_scored_the_next_float_refused(
    keypair_1024: Keys,
) -> None:
    client = _client(models.from_arrays([1.0, -2.0], 0.5), keypair_1024, value_bound=3.0)
    one = np.array([[3.0, -3.0]])
    many = np.array([[3.0, -3.0], [-3.0, 3.0], [0.0, 3.0]])  # the packed path
    assert client.predict(one).tolist() == [9.5]
    np.testing.assert_allclose(client.predict(many), [9.5, -8.5, -5.5], atol=1e-6)
    above = math.nextafter(3.0, math.inf)
    for x in ([[above, 0.0]], [[0.0, -above]], [[3.0, 0.0], [0.0, above]]):
        with pytest.raises(InvalidFeatures, match="value_bound"):
            client.predict(np.array(x))


def test_keys(keypair_1024: Keys, other_keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    model = models.from_arrays([1.0], 0.0)
    with pytest.raises(InvalidKey, match="private key"):
        ScoringClient(model, public_key=pk)
    with pytest.raises(KeyMismatchError):
        ScoringClient(model, other_keypair_1024[0], sk)
    assert ScoringClient(model, private_key=sk).public_key == pk
    fresh = ScoringClient(model, key_bits=1024, insecure_small_keys=True)
    assert fresh.public_key.n_bits == 1024 and fresh.public_key != pk
    assert fresh.predict(np.array([[2.5]])).tolist() == [2.5]
    with pytest.raises(InvalidKey):
        ScoringClient(model, key_bits=1024)
    with pytest.raises(ValueError, match="value_bound"):
        ScoringClient(model, pk, sk, value_bound=float("nan"))


def test_default_client_generates_a_2048_bit_pair() -> None:
    client = hecrypt.ScoringClient(models.from_arrays([1.0, -1.0], 0.25))
    assert client.public_key.n_bits == 2048
    assert client.predict(np.array([[3.0, 1.0]])).tolist() == [2.25]


def test_targets(keypair_1024: Keys) -> None:
    with pytest.raises(hecrypt.ProtocolError, match="cannot reach"):
        _client("http://127.0.0.1:9/models/m", keypair_1024)  # nothing listens there
    with pytest.raises(TypeError, match="LinearModel"):
        _client(42, keypair_1024)
    with pytest.raises(FileNotFoundError):
        _client("/nonexistent/model.json", keypair_1024)


class _Relay:
    """A scorer in front of another one (a stand-in for a network scorer)."""

    def __init__(self, inner: InProcessScorer, tamper: str = "") -> None:
        self.inner = inner
        self.tamper = tamper

    @property
    def info(self) -> ModelInfo:
        return self.inner.info

    def score(self, public_key: PublicKey, encrypted_batch: Any) -> Any:
        out = self.inner.score(public_key, encrypted_batch)
        if self.tamper == "shape":
            return out.reshape(1, -1)
        if self.tamper == "type":
            return [out]
        return out


def test_any_scorer_object_plugs_in(keypair_1024: Keys) -> None:
    model: LinearModel = models.from_arrays([[1.0, 2.0]], [0.0], classes=["a", "b"])
    relay = _Relay(InProcessScorer(model))
    client = _client(relay, keypair_1024)
    assert client.scorer is relay
    x = np.array([[1.0, 1.0], [-1.0, -1.0], [0.0, -1.0]])
    assert client.predict(x).tolist() == ["b", "a", "a"]
    for tamper in ("shape", "type"):
        bad = _client(_Relay(InProcessScorer(model), tamper), keypair_1024)
        with pytest.raises(ProtocolError):
            bad.predict(np.array([[1.0, 1.0]]))


def test_encrypted_tensor_request_is_validated_on_the_wire(keypair_1024: Keys) -> None:
    pk, sk = keypair_1024
    scorer = InProcessScorer(models.from_arrays([1.0, 1.0], 0.0))
    out = scorer.score(pk, sk.encrypt(np.array([1.0, 2.0])))
    assert isinstance(out, EncryptedTensor) and not out.is_fresh  # loaded from bytes
    assert scorer.traffic.requests == 1 and scorer.traffic.bytes_sent > 0
