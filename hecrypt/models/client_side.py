"""The client's side of linear scoring: checking records, reading decrypted scores.

A client holds its records and the private key; the server publishes only a
:class:`~hecrypt.models.linear.ModelInfo`. This module is everything the
client does with that public description and no weights: it validates (and,
for a data frame, reorders by name) the records before they are encrypted
(:func:`check_features`) and turns decrypted scores into predictions and
class probabilities as scikit-learn would (:func:`scores_to_predictions`,
:func:`scores_to_proba`, with :func:`sigmoid` and :func:`softmax`).

The names are also importable from :mod:`hecrypt.models.linear`, where they
were first defined.

Leaks: nothing; these functions run on the client, on plaintext.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hecrypt.exceptions import FeatureMismatchError, InvalidFeatures, UnsupportedModelError

if TYPE_CHECKING:
    from hecrypt.models.linear import ModelInfo

__all__ = [
    "check_features",
    "scores_to_predictions",
    "scores_to_proba",
    "sigmoid",
    "softmax",
]


def _column_names(X: Any) -> list[str] | None:
    """The column names of a data frame (anything with ``columns`` and ``shape``), else None."""
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "shape") or isinstance(X, np.ndarray):
        return None
    try:
        return [str(c) for c in list(columns)]
    except TypeError:
        return None


def _feature_order(found: list[str], expected: Sequence[str]) -> list[int] | None:
    """Column indices that put ``found`` in the ``expected`` order (None: already in order).

    Raises:
        FeatureMismatchError: the names differ (missing, unexpected or repeated).
    """
    if found == list(expected):
        return None
    if len(set(found)) != len(found):
        repeated = sorted({c for c in found if found.count(c) > 1})
        raise FeatureMismatchError(f"X has repeated column names {repeated[:5]}")
    missing = [c for c in expected if c not in set(found)]
    unexpected = [c for c in found if c not in set(expected)]
    if missing or unexpected:
        raise FeatureMismatchError(
            "the column names of X do not match the names the model was fitted with: "
            f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''} "
            "(rename the columns, or pass X.to_numpy() to score by position)"
        )
    position = {c: i for i, c in enumerate(found)}
    return [position[c] for c in expected]


def check_features(
    X: Any, n_features: int, feature_names: Sequence[str] | None = None
) -> np.ndarray:
    """Validate records: a finite 2-D numeric array with ``n_features`` columns.

    A data frame (an object with ``columns``) whose column names are those the
    model was fitted with (``feature_names``) in another order is reordered by
    name; other names are refused, as scikit-learn does. Plain arrays are
    taken by position.

    Returns:
        ``X`` as float64, shape ``(n, n_features)`` with ``n >= 1``.

    Raises:
        InvalidFeatures: not 2-D, no records, not numeric, NaN or infinity.
        FeatureMismatchError: another number of features, or column names that
            are not the model's.
    """
    order = None
    if feature_names is not None:
        names = _column_names(X)
        if names is not None:
            order = _feature_order(names, feature_names)
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise InvalidFeatures(f"records must form a numeric 2-D array ({exc})") from None
    if arr.ndim != 2:
        hint = " (for one record use X.reshape(1, -1))" if arr.ndim == 1 else ""
        raise InvalidFeatures(
            f"records must be a 2-D array (records x features), got {arr.ndim}-D "
            f"shape {arr.shape}{hint}"
        )
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise InvalidFeatures(
                f"records must be numeric, not of dtype {arr.dtype}"
            ) from None
    if arr.shape[1] != n_features:
        raise FeatureMismatchError(
            f"X has {arr.shape[1]} features per record, but the model expects {n_features}"
        )
    if arr.shape[0] == 0:
        raise InvalidFeatures("X has no records (shape (0, n_features))")
    if order is not None:
        arr = arr[:, order]
    x = arr.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise InvalidFeatures(
            "X contains NaN or infinity: impute or drop missing values before scoring"
        )
    return x


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow warnings for large ``|z|``."""
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):  # exp(-z) = inf gives exactly 0
        return 1.0 / (1.0 + np.exp(-z))


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a 2-D array (max-shifted, as scikit-learn)."""
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(under="ignore"):
        e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _scores_2d(info: ModelInfo, scores: Any) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 1 and info.n_outputs == 1:
        s = s.reshape(-1, 1)
    if s.ndim != 2 or s.shape[1] != info.n_outputs:
        raise ValueError(
            f"scores of shape {s.shape} do not match {info.n_outputs} output(s) per record"
        )
    return s


def _squeezes(info: ModelInfo) -> bool:
    """True when the model gives one score per record as a 1-D array."""
    return info.n_outputs == 1 and (info.single_output or info.is_classifier)


def _squeeze(info: ModelInfo, scores: np.ndarray) -> np.ndarray:
    if _squeezes(info):
        return scores.reshape(-1)
    return scores


def scores_to_predictions(info: ModelInfo, scores: Any) -> np.ndarray:
    """Predictions from decrypted scores, as scikit-learn's ``predict``.

    Regression: the scores (1-D for a single-output model). Classification:
    ``classes[score > 0]`` for a binary model, ``classes[argmax]`` otherwise.
    """
    s = _scores_2d(info, scores)
    if not info.is_classifier:
        return _squeeze(info, s)
    classes = info.classes_array
    if classes is None:  # pragma: no cover - ModelInfo guarantees classes
        raise UnsupportedModelError("a classifier without classes")
    if s.shape[1] == 1:
        idx = (s[:, 0] > 0).astype(np.intp)
    else:
        idx = s.argmax(axis=1)
    return classes[idx]


def scores_to_proba(info: ModelInfo, scores: Any) -> np.ndarray:
    """Class probabilities from decrypted scores, as scikit-learn's ``predict_proba``.

    ``sigmoid``: ``[1 - p, p]`` for a binary model, normalized one-vs-rest
    sigmoids for more classes. ``softmax``: the row-wise softmax.

    Raises:
        UnsupportedModelError: a regressor, or a classifier without probabilities.
    """
    if not info.is_classifier:
        raise UnsupportedModelError(
            "a regression model has no class probabilities: use predict()"
        )
    if info.proba is None:
        raise UnsupportedModelError(
            "this classifier has no probability model (only decision scores and labels)"
        )
    s = _scores_2d(info, scores)
    if info.proba == "softmax":
        return softmax(s)
    p = sigmoid(s)
    if p.shape[1] == 1:
        return np.hstack([1.0 - p, p])
    total = p.sum(axis=1, keepdims=True)
    zero = total[:, 0] == 0
    if np.any(zero):
        p[zero, :] = 1.0
        total[zero] = p.shape[1]
    return p / total
