"""The shipped digits classifier and the data split it was measured on.

:func:`load_digits_cnn` returns a small CNN for scikit-learn's bundled 8x8
digits, in the shape of the classic secret-shared network: Conv2D 3x3 same
+ sigmoid, Conv2D 3x3 same + sigmoid, average pooling 2x2, flatten, Dense +
sigmoid, Dense to 10 logits. Every sigmoid is the degree-7 polynomial
:func:`hecrypt.hybrid.polynomials.sigmoid_poly` (``[-8, 8]``), which is also
what the network was trained with, so the plaintext reference and a private
evaluation compute the same function.

Inputs are raw pixel values 0..16 as :func:`sklearn.datasets.load_digits`
gives them, shaped ``(N, 8, 8)`` or ``(N, 64)``: the 1/16 scaling used in
training is folded into the first kernel. Outputs are logits ``(N, 10)``;
softmax, when wanted, is applied by whoever receives the logits.

The weights (``hecrypt/models/data/digits_cnn.npz``) were produced by
``scripts/train_digits_cnn.py``; accuracy and the ranges of the activation
inputs on :func:`digits_split` are in docs/guide.md and checked by the tests.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from hecrypt.models import netfile
from hecrypt.models.sequential import Sequential

__all__ = ["load_digits_cnn", "digits_split", "DIGITS_CNN_RESOURCE", "SPLIT"]

#: Where the weights live inside the package.
DIGITS_CNN_RESOURCE = "data/digits_cnn.npz"
#: The train/test split the shipped network was trained and measured on.
SPLIT: dict[str, Any] = {"test_size": 0.25, "random_state": 0, "stratify": "y"}


def load_digits_cnn() -> Sequential:
    """The shipped digits CNN (a new, independent object on every call).

    Raises:
        ModelFormatError: the packaged file is damaged.
    """
    data = resources.files("hecrypt.models").joinpath(DIGITS_CNN_RESOURCE).read_bytes()
    return netfile.loads(data)


def digits_split() -> tuple[Any, Any, Any, Any]:
    """``(X_train, X_test, y_train, y_test)`` of the documented split.

    scikit-learn's ``load_digits()`` images (``(N, 8, 8)``, values 0..16)
    split by ``train_test_split(images, target, test_size=0.25,
    random_state=0, stratify=target)``: 1347 training and 450 test images.
    Needs scikit-learn (``pip install "hecrypt[sklearn]"``).
    """
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('digits_split needs scikit-learn: pip install "hecrypt[sklearn]"') \
            from exc
    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.images, digits.target, test_size=SPLIT["test_size"],
        random_state=SPLIT["random_state"], stratify=digits.target)
    return X_train, X_test, y_train, y_test
