"""from_sklearn: fitted estimators and pipelines become LinearModels that score
raw features exactly like scikit-learn; anything that is not linear is refused."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
    RidgeClassifier,
    SGDClassifier,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    PolynomialFeatures,
    StandardScaler,
)
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from hecrypt.exceptions import UnsupportedModelError
from hecrypt.models import from_sklearn


def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    loader = {"diabetes": load_diabetes, "cancer": load_breast_cancer, "iris": load_iris}[name]
    X, y = loader(return_X_y=True)
    return X, y


REGRESSORS: list[Any] = [
    LinearRegression(),
    Ridge(alpha=0.5),
    Lasso(alpha=0.05),
    ElasticNet(alpha=0.01),
    make_pipeline(StandardScaler(), Ridge()),
    make_pipeline(MinMaxScaler(), LinearRegression()),
    make_pipeline(MaxAbsScaler(), StandardScaler(), Lasso(alpha=0.1)),
    make_pipeline(StandardScaler(with_mean=False), LinearRegression()),
    make_pipeline(StandardScaler(with_std=False), LinearRegression()),
    Pipeline([("skip", "passthrough"), ("inner", make_pipeline(StandardScaler())),
              ("model", Ridge())]),
]


@pytest.mark.parametrize("estimator", REGRESSORS, ids=lambda e: str(e).replace("\n", ""))
def test_regressors_and_pipelines_fold_exactly(estimator: Any) -> None:
    X, y = _data("diabetes")
    X = X * 100 + 5  # raw features far from standardized, so folding matters
    estimator.fit(X, y)
    model = from_sklearn(estimator)
    np.testing.assert_allclose(model.predict_plaintext(X), estimator.predict(X), rtol=1e-12)
    assert model.info.single_output
    assert model.description.startswith("scikit-learn")


def test_multi_target_regression() -> None:
    X, y = _data("diabetes")
    Y = np.column_stack([y, -2 * y + 1])
    est = make_pipeline(StandardScaler(), LinearRegression()).fit(X, Y)
    model = from_sklearn(est)
    assert model.n_outputs == 2 and not model.info.single_output
    np.testing.assert_allclose(model.predict_plaintext(X), est.predict(X), rtol=1e-12)


CLASSIFIERS: list[tuple[str, Any, str | None]] = [
    ("cancer", make_pipeline(StandardScaler(), LogisticRegression()), "sigmoid"),
    ("iris", make_pipeline(StandardScaler(), LogisticRegression()), "softmax"),
    ("iris", make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss", random_state=0)),
     "sigmoid"),
    ("cancer", make_pipeline(MinMaxScaler(), RidgeClassifier()), None),
    ("iris", make_pipeline(StandardScaler(), LinearSVC()), None),
]


@pytest.mark.parametrize(("data", "estimator", "proba"), CLASSIFIERS)
def test_classifiers_match_sklearn(data: str, estimator: Any, proba: str | None) -> None:
    X, y = _data(data)
    estimator.fit(X, y)
    model = from_sklearn(estimator)
    assert model.info.proba == proba
    np.testing.assert_array_equal(model.classes, estimator.classes_)
    np.testing.assert_array_equal(model.predict_plaintext(X), estimator.predict(X))
    np.testing.assert_allclose(
        model.decision_function_plaintext(X), estimator.decision_function(X), rtol=1e-9,
        atol=1e-9,
    )
    if proba is None:
        with pytest.raises(UnsupportedModelError, match="no probability"):
            model.predict_proba_plaintext(X)
    else:
        np.testing.assert_allclose(
            model.predict_proba_plaintext(X), estimator.predict_proba(X), atol=1e-12
        )


def test_string_labels_and_feature_names() -> None:
    data = load_breast_cancer()
    X = data.data
    y = np.where(data.target == 1, "benign", "malignant")
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    np.testing.assert_array_equal(from_sklearn(est).predict_plaintext(X), est.predict(X))
    # what fitting on a DataFrame records (pandas is not a dependency of the tests)
    est[0].feature_names_in_ = np.asarray(data.feature_names, dtype=object)
    model = from_sklearn(est)
    assert model.classes is not None and model.classes.tolist() == ["benign", "malignant"]
    assert model.info.feature_names == tuple(data.feature_names)


@pytest.mark.parametrize(
    ("estimator", "match"),
    [
        (make_pipeline(PolynomialFeatures(), LinearRegression()), "PolynomialFeatures"),
        (make_pipeline(MinMaxScaler(clip=True), LinearRegression()), "clip"),
        (PoissonRegressor(), "not a linear model that can be scored"),
        (DecisionTreeClassifier(), "no coef_"),
    ],
)
def test_non_linear_estimators_are_refused(estimator: Any, match: str) -> None:
    X, y = _data("diabetes")
    estimator.fit(X, y if not isinstance(estimator, DecisionTreeClassifier) else y > 140)
    with pytest.raises(UnsupportedModelError, match=match):
        from_sklearn(estimator)


def test_unfitted_estimators_are_refused() -> None:
    with pytest.raises(UnsupportedModelError, match="not fitted"):
        from_sklearn(LinearRegression())
    X, y = _data("diabetes")
    pipe = make_pipeline(StandardScaler(), Ridge())
    pipe.steps[1][1].fit(X, y)  # the scaler stays unfitted
    with pytest.raises(UnsupportedModelError, match="not fitted"):
        from_sklearn(pipe)


def test_a_wrong_probability_model_is_caught_by_the_check() -> None:
    X, y = _data("iris")
    est = LogisticRegression(max_iter=500).fit(X, y)

    class Relabelled(LogisticRegression):  # one-vs-rest probabilities, softmax scores
        def predict_proba(self, X: Any) -> Any:
            p = 1 / (1 + np.exp(-self.decision_function(X)))
            return p / p.sum(axis=1, keepdims=True)

    fake = Relabelled(max_iter=500).fit(X, y)
    assert from_sklearn(est).info.proba == "softmax"
    with pytest.raises(UnsupportedModelError, match="probabilities"):
        from_sklearn(fake)
    assert from_sklearn(fake, check=False).info.proba == "softmax"


def test_models_import_without_sklearn() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["sklearn"] = None  # as if scikit-learn were not installed
        import hecrypt, hecrypt.models as m
        model = m.from_arrays([1.0, 2.0], 0.5)
        assert model.predict_plaintext([[1.0, 1.0]]).tolist() == [3.5]
        try:
            m.from_sklearn(object())
        except ImportError as exc:
            assert "hecrypt[sklearn]" in str(exc), exc
            print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
