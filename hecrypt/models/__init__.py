"""Models scored on encrypted data.

Linear and logistic regression (:class:`LinearModel`): the server holds the
plaintext weights, the client's records arrive encrypted, the scores go back
encrypted (see :class:`hecrypt.ScoringClient` and docs/scoring.md)::

    from hecrypt import models
    model = models.from_sklearn(fitted_pipeline)   # StandardScaler folded in
    model.save("model.json")
    model = models.load("model.json")

scikit-learn is optional: this package imports without it, and
:func:`from_sklearn` asks for it (``pip install "hecrypt[sklearn]"``).
"""

from __future__ import annotations

from os import PathLike

from hecrypt.models.linear import (
    LinearModel,
    ModelInfo,
    from_arrays,
    scores_to_predictions,
    scores_to_proba,
)
from hecrypt.models.sklearn import from_sklearn

__all__ = [
    "LinearModel",
    "ModelInfo",
    "from_arrays",
    "from_sklearn",
    "load",
    "scores_to_predictions",
    "scores_to_proba",
]


def load(path: str | PathLike[str]) -> LinearModel:
    """Load and validate a model saved with :meth:`LinearModel.save`.

    Raises:
        ModelFormatError: the file is not a valid hecrypt linear model file.
        OSError: the file cannot be read.
    """
    from hecrypt.models import fileformat

    return fileformat.load(path)
