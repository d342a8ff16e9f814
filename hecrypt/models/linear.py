"""Linear and logistic regression scored on encrypted features with plaintext weights.

A :class:`LinearModel` holds a weight matrix ``coef`` of shape
``(n_outputs, n_features)`` and an ``intercept`` of shape ``(n_outputs,)``;
its scores are ``X @ coef.T + intercept``. Which outputs the scores stand for
is public information, kept in a :class:`ModelInfo`:

* regression: the scores are the predictions (one per target);
* binary classification: one score (the logit of ``classes[1]``), as
  scikit-learn's ``decision_function``; ``predict`` picks ``classes[1]`` when
  the score is ``> 0``, ``predict_proba`` is ``[1 - sigmoid(z), sigmoid(z)]``;
* multiclass classification: one score per class; ``predict`` is the arg max,
  ``predict_proba`` the softmax (multinomial logistic regression) or the
  normalized one-vs-rest sigmoids (``proba="sigmoid"``), as scikit-learn.

The server computes the scores on ciphertexts (:meth:`LinearModel.score_encrypted`):
one plaintext-weighted sum of ciphertexts per score, no decryption, no private
key. The client turns the decrypted scores into predictions with
:func:`scores_to_predictions` and :func:`scores_to_proba`, which need only the
:class:`ModelInfo` -- never the weights.

Precision: features are encoded with ``frac_bits`` fractional bits (32 by
default) and the weights and intercept with 32 and 64, so a decrypted score
differs from the float64 result by at most
``2**-33 * (sum_i |x_i| + sum_i |w_i|) + 2**-65`` plus float64 rounding.

Leaks: to the server, the shape of the encrypted batch and its public
encoding (scale, bound); to the client, the scores and the model's public
description (task, feature count, classes). A client that can query scores can
reconstruct a linear model's weights from ``n_features + 1`` queries: hiding
the weights from a querying client is not a goal of private scoring.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np

from hecrypt.exceptions import (
    EncodingOverflowError,
    FeatureMismatchError,
    InvalidFeatures,
    ModelFormatError,
    UnsupportedModelError,
)
from hecrypt.models.client_side import (
    _squeeze,
    _squeezes,
    check_features,
    scores_to_predictions,
    scores_to_proba,
    sigmoid,
    softmax,
)
from hecrypt.paillier.packed import PackedTensor
from hecrypt.paillier.tensor import EncryptedTensor

__all__ = [
    "TASKS",
    "PROBA_FUNCTIONS",
    "ModelInfo",
    "LinearModel",
    "from_arrays",
    "check_features",
    "scores_to_predictions",
    "scores_to_proba",
    "sigmoid",
    "softmax",
]

#: The tasks a :class:`ModelInfo` may describe.
TASKS = ("regression", "classification")
#: How class probabilities come from scores (``None``: no probabilities).
PROBA_FUNCTIONS = ("sigmoid", "softmax")

_CLASS_KINDS = {"b": "bool", "i": "int", "u": "int", "f": "float", "U": "str", "O": "str"}


def _class_kind(classes: np.ndarray) -> str:
    kind = _CLASS_KINDS.get(classes.dtype.kind)
    if kind is None:
        raise UnsupportedModelError(
            f"class labels of dtype {classes.dtype} are not supported (use ints, floats, "
            "strings or booleans)"
        )
    if kind == "str" and not all(isinstance(v, str) for v in classes.tolist()):
        raise UnsupportedModelError("object class labels must all be strings")
    return kind


def _classes_array(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    arr = np.asarray(list(values))
    if arr.dtype.kind == "O":
        arr = arr.astype(str)
    return arr


@dataclass(frozen=True)
class ModelInfo:
    """The public description of a model: what a client needs, and no weights.

    The server publishes it (in process: :attr:`LinearModel.info`; over a
    network: :meth:`to_dict` as JSON) so that the client can check its records
    and interpret the decrypted scores.

    Attributes:
        task: ``"regression"`` or ``"classification"``.
        n_features: features per record.
        n_outputs: scores per record (targets, 1 for a binary classifier, or
            the number of classes).
        classes: class labels in scikit-learn's ``classes_`` order
            (classification), else ``None``.
        proba: ``"sigmoid"``, ``"softmax"`` or ``None`` (no probabilities;
            always ``None`` for regression).
        single_output: regression only: ``predict`` returns a 1-D array
            (the estimator was fitted on a 1-D target).
        feature_names: names of the features in order, when known.
        weight_l1_bound: a public bound on ``sum_j |w_j| + |b|`` over every
            output, rounded up to a power of two (clients size packed slots
            with it; it reveals the order of magnitude of the weights), or
            ``None``.

    Raises:
        ValueError: inconsistent fields.
    """

    task: str
    n_features: int
    n_outputs: int
    classes: tuple[Any, ...] | None = None
    proba: str | None = None
    single_output: bool = True
    feature_names: tuple[str, ...] | None = None
    weight_l1_bound: float | None = None

    def __post_init__(self) -> None:
        if self.weight_l1_bound is not None:
            wb = self.weight_l1_bound
            if isinstance(wb, bool) or not isinstance(wb, numbers.Real) or not (
                math.isfinite(float(wb)) and float(wb) > 0
            ):
                raise ValueError("weight_l1_bound must be a positive finite number")
            object.__setattr__(self, "weight_l1_bound", float(wb))
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, not {self.task!r}")
        for name in ("n_features", "n_outputs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or int(v) < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")
            object.__setattr__(self, name, int(v))
        if self.feature_names is not None:
            names = tuple(self.feature_names)
            if len(names) != self.n_features or not all(isinstance(s, str) for s in names):
                raise ValueError("feature_names must be n_features strings")
            object.__setattr__(self, "feature_names", names)
        if self.task == "regression":
            if self.classes is not None or self.proba is not None:
                raise ValueError("a regression model has no classes and no probabilities")
            if self.single_output and self.n_outputs != 1:
                raise ValueError("single_output needs exactly one output")
            return
        if self.classes is None:
            raise ValueError("a classifier needs its class labels")
        labels = tuple(self.classes)
        object.__setattr__(self, "classes", labels)
        arr = _classes_array(labels)
        _class_kind(arr)
        if len(labels) < 2 or len(np.unique(arr)) != len(labels):
            raise ValueError("a classifier needs at least two distinct class labels")
        expected = 1 if len(labels) == 2 else len(labels)
        if self.n_outputs != expected:
            raise ValueError(
                f"a classifier with {len(labels)} classes has {expected} score(s) per record, "
                f"not {self.n_outputs}"
            )
        if self.proba is not None and self.proba not in PROBA_FUNCTIONS:
            raise ValueError(f"proba must be one of {PROBA_FUNCTIONS} or None, not {self.proba!r}")
        object.__setattr__(self, "single_output", False)

    @property
    def is_classifier(self) -> bool:
        """True for a classification model."""
        return self.task == "classification"

    @property
    def classes_array(self) -> np.ndarray | None:
        """The class labels as a numpy array (as scikit-learn's ``classes_``)."""
        return None if self.classes is None else _classes_array(self.classes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (used by the model file format and network services)."""
        classes = None
        if self.classes is not None:
            arr = _classes_array(self.classes)
            classes = {"dtype": _class_kind(arr), "values": arr.tolist()}
        return {
            "task": self.task,
            "n_features": self.n_features,
            "n_outputs": self.n_outputs,
            "classes": classes,
            "proba": self.proba,
            "single_output": self.single_output,
            "feature_names": None if self.feature_names is None else list(self.feature_names),
            "weight_l1_bound": self.weight_l1_bound,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        """Validate and load a dict written by :meth:`to_dict`.

        Raises:
            ModelFormatError: a field is missing, unknown or invalid.
        """
        from hecrypt.models import fileformat

        return fileformat.info_from_dict(data)


def _as_float_matrix(x: Any, what: str) -> np.ndarray:
    arr = np.array(x, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite (no NaN or infinity)")
    return arr


class LinearModel:
    """A linear model (regression, or logistic/linear classification) with plaintext weights.

    Build one with :func:`hecrypt.models.from_sklearn`, :func:`from_arrays` or
    :func:`hecrypt.models.load`; give it to a :class:`hecrypt.ScoringClient`
    (in process) or to a scoring service. The object is immutable.

    Args:
        coef: weights, shape ``(n_outputs, n_features)`` or ``(n_features,)``
            for one output.
        intercept: one per output (a scalar for one output); default 0.
        classes: class labels for a classifier (``None``: a regressor).
        proba: ``"sigmoid"``, ``"softmax"`` or ``None``; classifiers only.
        single_output: regression: ``predict`` returns 1-D (default: when
            ``coef`` is 1-D).
        feature_names: optional names of the features.
        description: free text kept in the saved file (e.g. the source estimator).

    Raises:
        ValueError: shapes that do not fit, or non-finite weights.
        ModelFormatError: weights too large to score (a ``ValueError`` too).
    """

    __slots__ = ("_coef", "_description", "_info", "_intercept")

    _coef: np.ndarray
    _intercept: np.ndarray
    _info: ModelInfo
    _description: str

    def __init__(
        self,
        coef: Any,
        intercept: Any = 0.0,
        *,
        classes: Sequence[Any] | np.ndarray | None = None,
        proba: str | None = None,
        single_output: bool | None = None,
        feature_names: Sequence[str] | None = None,
        description: str = "",
    ) -> None:
        w = _as_float_matrix(coef, "coef")
        if w.ndim == 1:
            w = w.reshape(1, -1)
            single = True if single_output is None else bool(single_output)
        elif w.ndim == 2:
            single = False if single_output is None else bool(single_output)
        else:
            raise ValueError(f"coef must be 1-D or 2-D, not of shape {w.shape}")
        if w.shape[0] < 1 or w.shape[1] < 1:
            raise ValueError(f"coef of shape {w.shape} has no weights")
        b = _as_float_matrix(intercept, "intercept")
        if b.ndim == 0:
            b = np.full(w.shape[0], float(b))
        b = b.reshape(-1)
        if b.shape != (w.shape[0],):
            raise ValueError(
                f"intercept of shape {b.shape} does not match {w.shape[0]} output(s) of coef"
            )
        names = None if feature_names is None else tuple(feature_names)
        l1 = _l1_bound(w, b)
        if classes is not None:
            labels = _classes_array(np.asarray(classes).reshape(-1)).tolist()
            info = ModelInfo(
                "classification", w.shape[1], w.shape[0], tuple(labels), proba, False, names, l1
            )
        else:
            info = ModelInfo("regression", w.shape[1], w.shape[0], None, proba, single, names, l1)
        w.flags.writeable = False
        b.flags.writeable = False
        object.__setattr__(self, "_coef", w)
        object.__setattr__(self, "_intercept", b)
        object.__setattr__(self, "_info", info)
        object.__setattr__(self, "_description", str(description))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("LinearModel is immutable")

    def __reduce__(self) -> Any:
        raise TypeError("pickle is not supported: use save() / hecrypt.models.load()")

    # ------------------------------------------------------------ properties
    @property
    def coef(self) -> np.ndarray:
        """Read-only weights, shape ``(n_outputs, n_features)``."""
        return self._coef

    @property
    def intercept(self) -> np.ndarray:
        """Read-only intercepts, shape ``(n_outputs,)``."""
        return self._intercept

    @property
    def info(self) -> ModelInfo:
        """The public description (no weights) that a client receives."""
        return self._info

    @property
    def description(self) -> str:
        """Free text about the model's origin."""
        return self._description

    @property
    def n_features(self) -> int:
        """Features per record."""
        return self._info.n_features

    @property
    def n_outputs(self) -> int:
        """Scores per record."""
        return self._info.n_outputs

    @property
    def classes(self) -> np.ndarray | None:
        """Class labels (classifiers), else ``None``."""
        return self._info.classes_array

    @property
    def is_classifier(self) -> bool:
        """True for a classifier."""
        return self._info.is_classifier

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, LinearModel)
            and other._info == self._info
            and np.array_equal(other._coef, self._coef)
            and np.array_equal(other._intercept, self._intercept)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        kind = self._info.task
        if self._info.classes is not None:
            kind += f", {len(self._info.classes)} classes"
        return f"<LinearModel {kind}, {self.n_features} features, {self.n_outputs} output(s)>"

    # ------------------------------------------------------------ server side
    def score_encrypted(self, batch: Any) -> Any:
        """Scores of encrypted records: ``batch @ coef.T + intercept`` on ciphertexts.

        This is the server's whole computation; it needs no private key.

        Args:
            batch: an :class:`~hecrypt.EncryptedTensor` of shape ``(n_features,)``
                (one record) or ``(n, n_features)``, or a
                :class:`~hecrypt.paillier.packed.PackedTensor` of records.

        Returns:
            Encrypted scores of shape ``(n_outputs,)`` for one record, else
            ``(n,)`` for a single-output model (a binary classifier or a
            regressor fitted on a 1-D target, as the plaintext model gives) or
            ``(n, n_outputs)`` (for a packed batch: packed scores). They are homomorphic results,
            not fresh: re-randomize before they leave the process (the scorers
            of :mod:`hecrypt.scoring` do).

        Raises:
            FeatureMismatchError: the records have another number of features.
            InvalidFeatures: a tensor of another rank.
            TypeError: not an encrypted batch.
            EncodingOverflowError: the scores could exceed the plaintext space.
        """
        if isinstance(batch, PackedTensor):
            if batch.ndim != 2:
                raise InvalidFeatures(
                    f"a packed batch is (records, n_features), not {batch.shape}"
                )
        elif not isinstance(batch, EncryptedTensor):
            raise TypeError(
                "expected an encrypted batch (EncryptedTensor or PackedTensor), not "
                f"{type(batch).__name__}"
            )
        elif batch.ndim not in (1, 2):
            raise InvalidFeatures(
                f"an encrypted batch is (n_features,) or (records, n_features), not {batch.shape}"
            )
        self._check_width(batch.shape[-1])
        if batch.ndim == 2 and _squeezes(self._info):
            # one score per record, shape (records,), as the plaintext model gives
            return batch @ self._coef[0] + self._intercept[0]
        return batch @ self._coef.T + self._intercept

    def score_for_client(self, batch: Any) -> Any:
        """The scores as they leave the server: :meth:`score_encrypted`, then hidden.

        Two steps hide everything about the weights beyond the scores themselves:

        1. the public bound of the scores (``value_bound * sum|w| + |b|``,
           exact) is widened to the next power of two (at most the plaintext or
           slot limit), so two requests with different bounds do not reveal
           ``sum|w|`` and ``|b|``;
        2. every ciphertext is re-randomized with an n-th residue ``r^n``, ``r``
           uniform in ``Z_n^*`` (:func:`hecrypt.paillier.rerandomize_for_key_holder`):
           statistically hiding for whatever key the client chose, and no
           fixed-base table is built or kept for the client's key.

        Leaks to the client: the scores and a power-of-two bound on them.

        Raises:
            as :meth:`score_encrypted`; ``EncodingOverflowError`` also when the
            scores' scale would exceed what a response can carry.
        """
        self._check_scale(batch)
        return _for_key_holder(self.score_encrypted(batch))

    def _check_scale(self, batch: Any) -> None:
        """Refuse before computing when the scores' scale exceeds the format's limit."""
        from hecrypt.encoding import bounds
        from hecrypt.paillier.serialization import MAX_SCALE

        if isinstance(batch, PackedTensor):
            ws = batch.weight_frac_bits  # float weights: encoded at the client's weight scale
        elif isinstance(batch, EncryptedTensor):
            ws = bounds.weights_scale(self._coef)
        else:
            return
        scale = batch.scale
        result = scale + ws
        if result > MAX_SCALE:
            raise EncodingOverflowError(
                f"the scores would carry {result} fractional bits (the batch's {scale} "
                f"plus the weights' {ws}), above the limit of {MAX_SCALE}: encode the "
                "features with fewer fractional bits"
            )

    def _check_width(self, width: int) -> None:
        if width != self.n_features:
            raise FeatureMismatchError(
                f"records have {width} features, but the model expects {self.n_features}"
            )

    # ------------------------------------------------------------ plaintext reference
    def decision_function_plaintext(self, X: Any) -> np.ndarray:
        """Scores of plaintext records, ``X @ coef.T + intercept`` in float64.

        The reference the encrypted path is checked against; shape ``(n,)``
        for one output, else ``(n, n_outputs)`` (as scikit-learn).

        Raises:
            InvalidFeatures: ``X`` is not a finite 2-D numeric array.
            FeatureMismatchError: wrong number of features.
        """
        x = check_features(X, self.n_features, self._info.feature_names)
        return _squeeze(self._info, x @ self._coef.T + self._intercept)

    def predict_plaintext(self, X: Any) -> np.ndarray:
        """Predictions for plaintext records (as scikit-learn's ``predict``)."""
        x = check_features(X, self.n_features, self._info.feature_names)
        return scores_to_predictions(self._info, x @ self._coef.T + self._intercept)

    def predict_proba_plaintext(self, X: Any) -> np.ndarray:
        """Class probabilities for plaintext records (as scikit-learn's ``predict_proba``)."""
        x = check_features(X, self.n_features, self._info.feature_names)
        return scores_to_proba(self._info, x @ self._coef.T + self._intercept)

    # ------------------------------------------------------------ files
    def save(self, path: str | PathLike[str]) -> None:
        """Write the model to ``path`` in the hecrypt linear model format (JSON).

        The format is documented in ``docs/formats.md`` ("Linear model file");
        floats are written in their shortest exact decimal form, so a loaded
        model scores exactly like this one.
        """
        from hecrypt.models import fileformat

        fileformat.save(self, path)

    def to_json(self) -> str:
        """The model file's text (see :meth:`save`)."""
        from hecrypt.models import fileformat

        return fileformat.dumps(self)


def _power_of_two_at_least(bound: int, limit: int) -> int:
    """The smallest power of two ``>= bound`` (at least 1), capped at ``limit``."""
    return min(1 << max(int(bound) - 1, 0).bit_length(), int(limit))


def _for_key_holder(scores: Any) -> Any:
    """Scores with a power-of-two public bound, re-randomized for the key holder."""
    if isinstance(scores, PackedTensor):
        spec = scores.spec
        wide = _power_of_two_at_least(spec.bound, spec.layout.slot_limit)
        if wide != spec.bound:
            scores = scores._like(scores.ciphertexts, type(spec)(spec.layout, spec.count, wide))
    else:
        enc = scores.encoding
        wide = _power_of_two_at_least(enc.bound, enc.max_int)
        if wide != enc.bound:
            scores = EncryptedTensor._make(
                scores.public_key, scores.ciphertexts, type(enc)(enc.scale, wide, enc.max_int),
                False,
            )
    return scores.rerandomized(circuit_private=True)


def _l1_bound(w: np.ndarray, b: np.ndarray) -> float:
    """``max_k (sum_j |w_kj| + |b_k|)`` with a margin for encoding, up to a power of two."""
    with np.errstate(over="ignore"):
        l1 = float(np.max(np.abs(w).sum(axis=1) + np.abs(b)))
        l1 = l1 * (1 + 2.0**-20) + w.shape[1] * 2.0**-32
    exponent = math.ceil(math.log2(max(l1, 2.0**-30))) if math.isfinite(l1) else 1024
    if exponent > 1023:
        raise ModelFormatError(
            "the weights are too large to score: sum |w| + |b| of an output, rounded up to "
            "a power of two, must be below 2^1024 (the float range)"
        )
    return float(2.0**exponent)


def from_arrays(
    coef: Any,
    intercept: Any = 0.0,
    *,
    classes: Sequence[Any] | np.ndarray | None = None,
    proba: str | None = "auto",
    feature_names: Sequence[str] | None = None,
    description: str = "",
) -> LinearModel:
    """A :class:`LinearModel` from numpy arrays.

    Args:
        coef: ``(n_features,)`` for one output or ``(n_outputs, n_features)``.
            A binary classifier has one row (the logit of ``classes[1]``); a
            multiclass classifier one row per class.
        intercept: scalar or one per output.
        classes: class labels for a classifier; ``None`` for a regressor.
        proba: classifiers: ``"auto"`` (default) is ``"sigmoid"`` for two
            classes and ``"softmax"`` (multinomial) for more; ``"sigmoid"``
            with more classes means normalized one-vs-rest; ``None`` disables
            probabilities.
        feature_names: optional names of the features.
        description: free text kept in the saved file.

    Raises:
        ValueError: inconsistent shapes, non-finite weights, or ``proba`` for a
            regressor.
    """
    if proba == "auto":
        if classes is None:
            proba = None
        else:
            proba = "sigmoid" if len(np.asarray(classes).reshape(-1)) == 2 else "softmax"
    return LinearModel(
        coef, intercept, classes=classes, proba=proba, feature_names=feature_names,
        description=description,
    )
