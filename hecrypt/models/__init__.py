"""Models scored on encrypted data.

Linear and logistic regression (:class:`LinearModel`): the server holds the
plaintext weights, the client's records arrive encrypted, the scores go back
encrypted (see :class:`hecrypt.ScoringClient` and docs/scoring.md)::

    from hecrypt import models
    model = models.from_sklearn(fitted_pipeline)   # StandardScaler folded in
    model.save("model.json")
    model = models.load("model.json")

Small networks (:class:`Sequential`, declared like Keras, channels-last)
with a plaintext reference forward pass and a validated file format; the
shipped digits classifier is :func:`load_digits_cnn` (docs/guide.md)::

    net = models.load_digits_cnn()
    logits = net.predict(images)           # (N, 8, 8) or (N, 64), values 0..16

Networks trained elsewhere come in through ONNX (:func:`from_onnx`, needs
``pip install "hecrypt[onnx]"``); :func:`calibrate` shows where their
activations run and what approximating them costs.

scikit-learn is optional: this package imports without it, and
:func:`from_sklearn` asks for it (``pip install "hecrypt[sklearn]"``).
"""

from __future__ import annotations

from os import PathLike

from hecrypt.models.calibration import (
    ActivationCalibration,
    CalibrationReport,
    calibrate,
    with_approximations,
)
from hecrypt.models.digits import digits_split, load_digits_cnn
from hecrypt.models.linear import (
    LinearModel,
    ModelInfo,
    from_arrays,
    scores_to_predictions,
    scores_to_proba,
)
from hecrypt.models.onnx_import import from_onnx, nchw_to_nhwc
from hecrypt.models.sequential import (
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    MaxPooling2D,
    NetworkError,
    Sequential,
    load_sequential,
)
from hecrypt.models.sklearn import from_sklearn

__all__ = [
    "Activation",
    "AveragePooling2D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "Layer",
    "MaxPooling2D",
    "NetworkError",
    "Sequential",
    "load_sequential",
    "from_onnx",
    "nchw_to_nhwc",
    "calibrate",
    "with_approximations",
    "ActivationCalibration",
    "CalibrationReport",
    "load_digits_cnn",
    "digits_split",
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
