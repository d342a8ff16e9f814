"""Convert fitted scikit-learn estimators and pipelines into :class:`LinearModel`.

scikit-learn is an optional dependency (``pip install "hecrypt[sklearn]"``):
it is imported when :func:`from_sklearn` is called, never when
:mod:`hecrypt.models` is imported.

Supported final estimators: anything linear that exposes ``coef_`` and
``intercept_`` -- ``LinearRegression``, ``Ridge``, ``Lasso``, ``ElasticNet``,
``SGDRegressor``, ``LogisticRegression``, ``SGDClassifier``,
``RidgeClassifier``, ``LinearSVC``, ... Class probabilities follow the
estimator: the softmax for multinomial logistic regression, sigmoids (binary,
or normalized one-vs-rest) for binary and one-vs-rest logistic models;
classifiers without ``predict_proba`` give labels and scores only.

Element-wise affine preprocessing in a ``Pipeline`` -- ``StandardScaler``,
``MinMaxScaler`` (without ``clip``), ``MaxAbsScaler``, ``"passthrough"`` --
is folded into the weights, so that the client sends raw features: for
``x' = a * x + c`` (element-wise) and scores ``W x' + b``, the folded model is
``W' = W * a`` (column-wise) and ``b' = b + W c``. For a ``StandardScaler``
that is ``w' = w / sigma`` and ``b' = b - sum(w * mu / sigma)``.

Every conversion is checked: the folded model scores random probe records
and must agree with the estimator's own ``decision_function`` / ``predict``
(and ``predict_proba``); an estimator that is not linear in its input (for
example a Poisson regressor, whose predictions are ``exp`` of the scores) is
refused with :class:`~hecrypt.exceptions.UnsupportedModelError` instead of
being scored wrongly.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from hecrypt.exceptions import UnsupportedModelError
from hecrypt.models.linear import LinearModel

__all__ = ["from_sklearn", "SUPPORTED_PREPROCESSING"]

#: Pipeline steps folded into the weights.
SUPPORTED_PREPROCESSING = ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "passthrough")

_PROBES = 16


def _require_sklearn() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise ImportError(
            'hecrypt.models.from_sklearn needs scikit-learn: pip install "hecrypt[sklearn]" '
            "(or build the model with hecrypt.models.from_arrays)"
        ) from None


def _steps(estimator: Any) -> list[Any]:
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        out: list[Any] = []
        for _, step in estimator.steps:
            out.extend(_steps(step))
        return out
    return [estimator]


def _name(obj: Any) -> str:
    return type(obj).__name__


def _affine(step: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(a, c)`` with ``step.transform(x) == a * x + c`` (``None``: 1 or 0)."""
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler

    if isinstance(step, StandardScaler):
        if not hasattr(step, "n_features_in_"):
            raise UnsupportedModelError("the StandardScaler is not fitted: fit the pipeline first")
        scale = None
        if step.with_std and step.scale_ is not None:
            scale = 1.0 / np.asarray(step.scale_, dtype=np.float64)
        shift = None
        if step.with_mean and step.mean_ is not None:  # mean_ exists without with_mean
            mean = np.asarray(step.mean_, dtype=np.float64)
            shift = -mean if scale is None else -mean * scale
        return scale, shift
    if isinstance(step, MinMaxScaler):
        if not hasattr(step, "n_features_in_"):
            raise UnsupportedModelError("the MinMaxScaler is not fitted: fit the pipeline first")
        if step.clip:
            raise UnsupportedModelError(
                "MinMaxScaler(clip=True) is not linear and cannot be folded into the weights"
            )
        return np.asarray(step.scale_, np.float64), np.asarray(step.min_, np.float64)
    if isinstance(step, MaxAbsScaler):
        if not hasattr(step, "n_features_in_"):
            raise UnsupportedModelError("the MaxAbsScaler is not fitted: fit the pipeline first")
        return 1.0 / np.asarray(step.scale_, np.float64), None
    raise UnsupportedModelError(
        f"pipeline step {_name(step)} cannot be folded into a linear model; supported "
        f"preprocessing: {', '.join(SUPPORTED_PREPROCESSING)}"
    )


def _proba(est: Any, n_classes: int) -> str | None:
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    if isinstance(est, LogisticRegression):  # also LogisticRegressionCV
        if n_classes == 2:
            return "sigmoid"
        # scikit-learn < 1.8: one-vs-rest when asked for, or by default with liblinear
        mc = getattr(est, "multi_class", "deprecated")
        if mc in ("ovr", "warn") or (
            mc in ("auto", "deprecated") and getattr(est, "solver", "") == "liblinear"
        ):
            return "sigmoid"
        return "softmax"
    if isinstance(est, SGDClassifier) and est.loss in ("log_loss", "log"):
        return "sigmoid"
    return None


def _dense(x: Any) -> np.ndarray:
    if hasattr(x, "toarray"):  # a sparsified coef_
        x = x.toarray()
    return np.asarray(x, dtype=np.float64)


def from_sklearn(estimator: Any, *, check: bool = True) -> LinearModel:
    """A :class:`LinearModel` from a fitted scikit-learn estimator or pipeline.

    Args:
        estimator: a fitted linear estimator (anything with ``coef_`` and
            ``intercept_``), or a ``Pipeline`` of supported preprocessing steps
            ending in one (see the module documentation).
        check: compare the converted model with the estimator on random probe
            records (default; conversion refuses estimators that are not
            linear in their input).

    Returns:
        The model, with the preprocessing folded into its weights: it scores
        raw features.

    Raises:
        ImportError: scikit-learn is not installed.
        UnsupportedModelError: an unfitted or non-linear estimator, an
            unsupported pipeline step, or a conversion that does not reproduce
            the estimator's predictions.
    """
    _require_sklearn()
    steps = [s for s in _steps(estimator) if s is not None and not (
        isinstance(s, str) and s == "passthrough")]
    if not steps:
        raise UnsupportedModelError("the pipeline has no final estimator")
    final, pre = steps[-1], steps[:-1]
    if isinstance(final, str):
        raise UnsupportedModelError(f"the pipeline ends in {final!r}, not an estimator")
    if not hasattr(final, "intercept_") or not hasattr(final, "coef_"):
        if hasattr(final, "fit") and not hasattr(final, "n_features_in_"):
            raise UnsupportedModelError(f"{_name(final)} is not fitted: fit it first")
        raise UnsupportedModelError(
            f"{_name(final)} is not a linear model: it has no coef_ and intercept_"
        )
    coef = _dense(final.coef_)
    intercept = _dense(final.intercept_)
    if coef.ndim not in (1, 2) or coef.size == 0:
        raise UnsupportedModelError(f"{_name(final)}.coef_ of shape {coef.shape} is not supported")
    w = coef.reshape(1, -1) if coef.ndim == 1 else coef
    b = np.broadcast_to(intercept.reshape(-1), (w.shape[0],)).copy() if intercept.size in (
        1, w.shape[0]) else None
    if b is None:
        raise UnsupportedModelError(
            f"{_name(final)}.intercept_ of shape {intercept.shape} does not match coef_ "
            f"of shape {coef.shape}"
        )

    # fold x' = a * x + c (applied first to last) into the weights
    for step in reversed(pre):
        a, c = _affine(step)
        for v in (a, c):
            if v is not None and v.shape != (w.shape[1],):
                raise UnsupportedModelError(
                    f"{_name(step)} transforms {v.shape[0]} features, but the estimator "
                    f"after it takes {w.shape[1]}"
                )
        if c is not None:
            b = b + w @ c
        if a is not None:
            w = w * a

    classes = getattr(final, "classes_", None)
    proba = None
    single = None
    if classes is not None:
        classes = np.asarray(classes)
        if classes.ndim != 1:
            raise UnsupportedModelError("multi-label classifiers are not supported")
        proba = _proba(final, len(classes))
    else:
        single = coef.ndim == 1
    names = getattr(estimator, "feature_names_in_", None)
    if names is None and pre:
        names = getattr(pre[0], "feature_names_in_", None)
    feature_names = None if names is None else [str(s) for s in names]
    desc = " -> ".join(_name(s) for s in steps)
    try:
        model = LinearModel(
            w, b, classes=classes, proba=proba, single_output=single,
            feature_names=feature_names, description=f"scikit-learn {desc}",
        )
    except ValueError as exc:
        raise UnsupportedModelError(f"cannot convert {desc}: {exc}") from None
    if check:
        _verify(estimator, model)
    return model


def _verify(estimator: Any, model: LinearModel) -> None:
    """Refuse a conversion whose plaintext scores differ from the estimator's."""
    rng = np.random.default_rng(20240601)
    probe = rng.normal(size=(_PROBES, model.n_features))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "X does not have valid feature names"
        try:
            if model.is_classifier and hasattr(estimator, "decision_function"):
                theirs = np.asarray(estimator.decision_function(probe), dtype=np.float64)
                ours = model.decision_function_plaintext(probe)
            elif model.is_classifier:
                theirs_labels = np.asarray(estimator.predict(probe))
                if not np.array_equal(theirs_labels, model.predict_plaintext(probe)):
                    raise UnsupportedModelError(_MISMATCH.format(_name(estimator)))
                return
            else:
                theirs = np.asarray(estimator.predict(probe), dtype=np.float64)
                ours = model.decision_function_plaintext(probe)
            theirs_p = None
            if model.info.proba is not None and hasattr(estimator, "predict_proba"):
                theirs_p = np.asarray(estimator.predict_proba(probe), dtype=np.float64)
        except UnsupportedModelError:
            raise
        except Exception as exc:
            raise UnsupportedModelError(
                f"cannot check the conversion of {_name(estimator)}: its predict failed ({exc})"
            ) from None
    if theirs.shape != ours.shape:
        raise UnsupportedModelError(
            f"{_name(estimator)} returns scores of shape {theirs.shape}, the converted model "
            f"{ours.shape}"
        )
    tol = 1e-9 * (1.0 + float(np.max(np.abs(theirs))))
    if not np.all(np.abs(theirs - ours) <= tol):
        raise UnsupportedModelError(_MISMATCH.format(_name(estimator)))
    if theirs_p is not None:
        ours_p = model.predict_proba_plaintext(probe)
        if theirs_p.shape != ours_p.shape or not np.allclose(theirs_p, ours_p, atol=1e-9):
            raise UnsupportedModelError(
                f"{_name(estimator)}'s class probabilities are not the sigmoid or softmax of "
                "its scores; convert with check=False only if you know they are"
            )


_MISMATCH = (
    "{} does not predict X @ coef_.T + intercept_ on its (folded) input: it is not a "
    "linear model that can be scored privately (a link function or a non-linear step?)"
)
