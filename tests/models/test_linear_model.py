"""LinearModel and ModelInfo: construction rules, the plaintext reference, the
output transforms (scikit-learn's conventions) and encrypted scoring."""

from __future__ import annotations

import pickle
from typing import Any, cast

import numpy as np
import pytest

from hecrypt.exceptions import FeatureMismatchError, InvalidFeatures, UnsupportedModelError
from hecrypt.models import LinearModel, ModelInfo, from_arrays
from hecrypt.models.linear import check_features, scores_to_proba, sigmoid, softmax
from hecrypt.paillier import PrivateKey, PublicKey

Keys = tuple[PublicKey, PrivateKey]


def test_regression_from_arrays_scores_like_numpy() -> None:
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=5), 0.75
    model = from_arrays(w, b)
    x = rng.normal(size=(7, 5))
    assert model.info.task == "regression" and model.info.single_output
    assert model.coef.shape == (1, 5) and model.intercept.shape == (1,)
    np.testing.assert_array_equal(model.predict_plaintext(x), x @ w + b)
    assert model.predict_plaintext(x).shape == (7,)
    with pytest.raises(UnsupportedModelError, match="regression"):
        model.predict_proba_plaintext(x)


def test_multi_target_regression_keeps_two_dimensions() -> None:
    w = np.arange(6.0).reshape(2, 3)
    model = from_arrays(w, [1.0, -1.0])
    x = np.ones((4, 3))
    assert model.predict_plaintext(x).shape == (4, 2)
    np.testing.assert_array_equal(model.predict_plaintext(x), x @ w.T + [1.0, -1.0])


def test_binary_classifier_follows_sklearn_conventions() -> None:
    model = from_arrays([[2.0, -1.0]], [0.5], classes=["no", "yes"])
    x = np.array([[1.0, 0.0], [0.0, 3.0], [0.0, 0.5]])  # scores 2.5, -2.5, 0.0
    np.testing.assert_array_equal(model.decision_function_plaintext(x), [2.5, -2.5, 0.0])
    # a score of exactly 0 is the first class, as scikit-learn (score > 0)
    assert model.predict_plaintext(x).tolist() == ["yes", "no", "no"]
    p = model.predict_proba_plaintext(x)
    assert p.shape == (3, 2)
    np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-np.array([2.5, -2.5, 0.0]))))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_multiclass_softmax_and_one_vs_rest() -> None:
    w = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    soft = from_arrays(w, 0.0, classes=[3, 5, 7])
    assert soft.info.proba == "softmax"
    x = np.array([[2.0, 1.0], [-3.0, -2.0]])
    z = x @ w.T
    np.testing.assert_allclose(
        soft.predict_proba_plaintext(x), np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    )
    assert soft.predict_plaintext(x).tolist() == [3, 7]
    ovr = from_arrays(w, 0.0, classes=[3, 5, 7], proba="sigmoid")
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(ovr.predict_proba_plaintext(x), s / s.sum(axis=1, keepdims=True))
    none = from_arrays(w, 0.0, classes=[3, 5, 7], proba=None)
    with pytest.raises(UnsupportedModelError, match="no probability"):
        none.predict_proba_plaintext(x)


def test_transforms_are_stable_at_extremes() -> None:
    z = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    with np.errstate(all="raise"):
        s = sigmoid(z)
        m = softmax(np.array([[1000.0, 0.0, -1000.0]]))
    assert s[0] == 0.0 and s[-1] == 1.0 and s[2] == 0.5
    np.testing.assert_allclose(m, [[1.0, 0.0, 0.0]])


def test_ovr_all_zero_probabilities_become_uniform() -> None:
    info = ModelInfo("classification", 1, 3, (0, 1, 2), "sigmoid")
    p = scores_to_proba(info, np.full((1, 3), -1e4))
    np.testing.assert_allclose(p, [[1 / 3] * 3])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"coef": [[1.0, np.nan]]}, "finite"),
        ({"coef": [[1.0, 2.0]], "intercept": [1.0, 2.0]}, "intercept"),
        ({"coef": np.ones((2, 2, 2))}, "1-D or 2-D"),
        ({"coef": np.ones((0, 3))}, "no weights"),
        ({"coef": [[1.0]], "classes": [1]}, "two distinct"),
        ({"coef": [[1.0]], "classes": [1, 1]}, "two distinct"),
        ({"coef": [[1.0], [2.0]], "classes": [0, 1]}, "1 score"),
        ({"coef": [[1.0]], "classes": [0, 1], "proba": "tanh"}, "proba"),
        ({"coef": [1.0], "proba": "sigmoid"}, "regression"),
        ({"coef": [1.0, 2.0], "feature_names": ["a"]}, "feature_names"),
    ],
)
def test_inconsistent_models_are_refused(kwargs: dict[str, Any], match: str) -> None:
    coef = kwargs.pop("coef")
    with pytest.raises(ValueError, match=match):
        LinearModel(coef, **kwargs)


def test_models_are_immutable_and_not_pickled() -> None:
    model = from_arrays([1.0, 2.0], 3.0)
    with pytest.raises(AttributeError):
        cast(Any, model).x = 1
    with pytest.raises(ValueError):
        model.coef[0, 0] = 5.0
    with pytest.raises(TypeError, match="pickle"):
        pickle.dumps(model)
    assert model == from_arrays([1.0, 2.0], 3.0)
    assert model != from_arrays([1.0, 2.0], 3.5)
    assert "regression" in repr(model)


def test_weight_l1_bound_is_a_power_of_two_above_the_weights() -> None:
    model = from_arrays([[3.0, -4.0], [0.5, 0.25]], [0.5, -2.0])
    assert model.info.weight_l1_bound == 8.0  # max(3 + 4 + 0.5, 0.75 + 2) = 7.5
    # an exact power of two gets the next one: the margin covers weight rounding
    assert from_arrays([[3.0, -4.0]], [1.0]).info.weight_l1_bound == 16.0
    assert from_arrays([0.0, 0.0]).info.weight_l1_bound is not None


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (np.ones(3), InvalidFeatures, "reshape"),
        (np.ones((2, 2, 3)), InvalidFeatures, "2-D"),
        (np.ones((2, 4)), FeatureMismatchError, "4 features"),
        (np.ones((0, 3)), InvalidFeatures, "no records"),
        (np.array([[1.0, np.nan, 0.0]]), InvalidFeatures, "NaN"),
        (np.array([[1.0, np.inf, 0.0]]), InvalidFeatures, "NaN or infinity"),
        (np.array([["a", "b", "c"]]), InvalidFeatures, "numeric"),
        ([[1, 2], [3]], InvalidFeatures, "2-D"),
    ],
)
def test_check_features_refuses_bad_records(x: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        check_features(x, 3)
    assert issubclass(error, ValueError)


def test_check_features_accepts_ints_bools_and_numeric_strings() -> None:
    out = check_features([[1, 0, "2.5"]], 3)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[1.0, 0.0, 2.5]])
    np.testing.assert_array_equal(check_features(np.array([[True, False, True]]), 3), [[1, 0, 1]])


def test_score_encrypted_matches_plaintext(keypair_1024: Keys) -> None:
    _, sk = keypair_1024
    rng = np.random.default_rng(3)
    model = from_arrays(rng.normal(size=(3, 4)), rng.normal(size=3), classes=["a", "b", "c"])
    x = rng.normal(size=(5, 4))
    out = model.score_encrypted(sk.encrypt(x))
    np.testing.assert_allclose(sk.decrypt(out), x @ model.coef.T + model.intercept, atol=1e-8)
    packed = sk.encrypt_packed(
        x, frac_bits=32, value_bound=8.0, weight_bound=cast(float, model.info.weight_l1_bound),
        weight_frac_bits=32, terms=1,
    )
    np.testing.assert_array_equal(sk.decrypt(model.score_encrypted(packed)), sk.decrypt(out))
    with pytest.raises(FeatureMismatchError, match="expects 4"):
        model.score_encrypted(sk.encrypt_packed(x[:, :3], value_bound=8.0))
    one = model.score_encrypted(sk.encrypt(x[0]))
    assert one.shape == (3,)
    with pytest.raises(FeatureMismatchError, match="expects 4"):
        model.score_encrypted(sk.encrypt(x[:, :3]))
    with pytest.raises(InvalidFeatures, match="records"):
        model.score_encrypted(sk.encrypt(np.ones((1, 1, 4))))
    with pytest.raises(TypeError, match="encrypted batch"):
        model.score_encrypted(cast(Any, x))
