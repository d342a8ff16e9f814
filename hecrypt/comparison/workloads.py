"""What is compared: a model, the records it scores, and the plaintext reference.

A :class:`Workload` holds a model (a :class:`~hecrypt.models.LinearModel` or
a ``Sequential`` network), the client's records and what the plaintext model
computes on them, so every technique's outputs can be checked against the
same reference. Builders:

* :func:`linear_workload`: synthetic linear or logistic regression with a
  chosen number of features and batch size;
* :func:`model_workload`: the user's model (a :class:`LinearModel`, a model
  file, a fitted scikit-learn estimator or a ``Sequential``) and data;
* :func:`digits_workload`: the shipped digits CNN on images of
  scikit-learn's bundled digits.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hecrypt.exceptions import UnsupportedModelError
from hecrypt.models.linear import LinearModel, from_arrays

__all__ = [
    "Workload",
    "linear_workload",
    "model_workload",
    "digits_workload",
    "is_sequential",
]


def is_sequential(model: Any) -> bool:
    """Whether ``model`` is a ``hecrypt.models.Sequential`` network."""
    try:
        from hecrypt.models import Sequential
    except ImportError:
        return False
    return isinstance(model, Sequential)


@dataclass(frozen=True)
class Workload:
    """A model, the client's records, and the plaintext reference outputs.

    Attributes:
        name: short label used in every output (e.g. ``"logistic-10x8"``).
        model: a :class:`LinearModel` or a ``Sequential`` network.
        X: the client's records (2-D for a linear model; images for a network).
        params: public description (features, batch, outputs, task, ...).
    """

    name: str
    model: Any
    X: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def is_linear(self) -> bool:
        """A linear model (the HE-only techniques apply)."""
        return isinstance(self.model, LinearModel)

    @property
    def is_classifier(self) -> bool:
        """Outputs are class scores whose labels can be compared."""
        if self.is_linear:
            return bool(self.model.is_classifier)
        return int(self.reference_scores().shape[1]) > 1

    @property
    def batch(self) -> int:
        """Number of records (or images)."""
        return int(self.X.shape[0])

    def reference_scores(self) -> np.ndarray:
        """Plaintext scores, shape ``(batch, outputs)``: logits or regression values."""
        if self.is_linear:
            m = self.model
            return np.asarray(self.X @ m.coef.T + m.intercept, dtype=np.float64)
        out = np.asarray(self.model.predict(self.X), dtype=np.float64)
        return out.reshape(out.shape[0], -1)

    def labels(self, scores: np.ndarray) -> np.ndarray | None:
        """Class indices implied by scores (``None`` for a regressor)."""
        if not self.is_classifier:
            return None
        s = np.asarray(scores, dtype=np.float64).reshape(self.batch, -1)
        if s.shape[1] == 1:
            return (s[:, 0] > 0).astype(np.int64)
        return np.argmax(s, axis=1).astype(np.int64)

    def margins(self) -> np.ndarray | None:
        """How far each reference label is from changing: ``|z|`` or top-1 minus top-2."""
        if not self.is_classifier:
            return None
        s = self.reference_scores()
        if s.shape[1] == 1:
            return np.abs(s[:, 0])
        top = np.sort(s, axis=1)
        return top[:, -1] - top[:, -2]

    def describe(self) -> dict[str, Any]:
        """JSON form (no weights, no records)."""
        return {"name": self.name, "batch": self.batch, **self.params}


def _check_positive(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, not {value!r}")
    return int(value)


def linear_workload(
    features: int = 10, batch: int = 8, *, task: str = "logistic", seed: int = 0
) -> Workload:
    """Synthetic linear (``task="linear"``) or binary logistic regression.

    Records and weights are drawn from N(0, 1) (weights scaled by
    ``1/sqrt(features)`` so scores stay O(1)); the draw is for data, not secrets.

    Raises:
        ValueError: a non-positive size or an unknown task.
    """
    features = _check_positive(features, "features")
    batch = _check_positive(batch, "batch")
    if task not in ("linear", "logistic"):
        raise ValueError(f"task must be 'linear' or 'logistic', not {task!r}")
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(batch, features))
    w = rng.normal(size=features) / math.sqrt(features)
    b = float(rng.normal()) * 0.1
    if task == "logistic":
        model = from_arrays(w, b, classes=[0, 1], description="synthetic logistic regression")
    else:
        model = from_arrays(w, b, description="synthetic linear regression")
    return Workload(f"{task}-{features}x{batch}", model, X,
                    {"task": task, "features": features, "outputs": 1, "synthetic": True})


def _load_model_file(path: str | os.PathLike[str]) -> Any:
    from hecrypt import models
    from hecrypt.exceptions import ModelFormatError

    try:
        return models.load(path)
    except ModelFormatError as linear_error:
        loader = getattr(models, "load_sequential", None)
        if loader is None:
            raise
        try:
            return loader(path)
        except ModelFormatError:
            raise linear_error from None


def model_workload(model: Any, X: Any, *, name: str | None = None) -> Workload:
    """The user's model and records.

    Args:
        model: a :class:`LinearModel`, the path of a model file (linear model
            or ``Sequential``), a fitted scikit-learn linear estimator or
            pipeline (converted by :func:`hecrypt.models.from_sklearn`), or a
            ``Sequential`` network.
        X: records (2-D) or images, as the model takes them.
        name: label in the outputs (default: derived from the model).

    Raises:
        UnsupportedModelError: a model none of the techniques can run.
        FeatureMismatchError, InvalidFeatures: records that do not fit.
    """
    if isinstance(model, (str, os.PathLike)):
        label = name or os.path.splitext(os.path.basename(os.fspath(model)))[0]
        model = _load_model_file(model)
    else:
        label = name or ""
    if not isinstance(model, LinearModel) and not is_sequential(model):
        if hasattr(model, "fit") and hasattr(model, "get_params"):
            from hecrypt.models import from_sklearn

            model = from_sklearn(model)
        else:
            raise UnsupportedModelError(
                "compare takes a hecrypt LinearModel, a Sequential network, a model file or "
                f"a fitted scikit-learn linear estimator, not {type(model).__name__}"
            )
    if isinstance(model, LinearModel):
        from hecrypt.models.linear import check_features

        x = check_features(X, model.n_features)
        task = "classification" if model.is_classifier else "regression"
        params = {"task": task, "features": model.n_features, "outputs": model.n_outputs}
        return Workload(label or f"model-{model.n_features}x{x.shape[0]}", model, x, params)
    x = np.asarray(X, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"records for a network need a batch axis, got shape {x.shape}")
    params = {"task": "network", "input_shape": list(x.shape[1:]),
              "layers": len(getattr(model, "layers", ()))}
    return Workload(label or f"sequential-{x.shape[0]}", model, x, params)


def digits_workload(images: int = 1, *, offset: int = 0) -> Workload:
    """The shipped digits CNN on ``images`` images of its documented test split.

    The images are ``hecrypt.models.digits_split()[1][offset:offset + images]``:
    scikit-learn's bundled digits split by a stratified, shuffled
    ``train_test_split`` (450 test images, none of them seen in training).

    Raises:
        UnsupportedModelError: the shipped network is not available in this build.
        ValueError: more images than the test split holds.
    """
    images = _check_positive(images, "images")
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or offset < 0:
        raise ValueError(f"offset must be a non-negative integer, not {offset!r}")
    from hecrypt import models

    loader = getattr(models, "load_digits_cnn", None)
    splitter = getattr(models, "digits_split", None)
    if loader is None or splitter is None:
        raise UnsupportedModelError("the shipped digits CNN is not available in this build")
    _, x_test, _, _ = splitter()
    data = np.asarray(x_test, dtype=np.float64)
    if offset + images > data.shape[0]:
        raise ValueError(f"the digits test split has {data.shape[0]} images; asked for "
                         f"{images} from image {int(offset)}")
    X = data[offset:offset + images]
    params = {"task": "network", "input_shape": [8, 8], "model": "digits CNN",
              "split": "digits_split() test", "offset": int(offset)}
    return Workload(f"digits-cnn-{images}", loader(), X, params)
