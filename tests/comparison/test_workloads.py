"""The digits workload takes its images from the shipped network's documented test split."""

from __future__ import annotations

import numpy as np
import pytest

from hecrypt.comparison.workloads import digits_workload
from hecrypt.models import digits_split


def test_digit_images_come_from_the_documented_test_split() -> None:
    X_train, X_test, _, _ = digits_split()
    w = digits_workload(3, offset=2)
    np.testing.assert_array_equal(w.X, np.asarray(X_test[2:5], dtype=np.float64))
    assert w.params["split"] == "digits_split() test" and w.params["offset"] == 2
    # not training images: none of them appears in the training split
    train = {img.tobytes() for img in np.asarray(X_train, dtype=np.float64)}
    assert not any(img.tobytes() in train for img in w.X)
    assert w.reference_scores().shape == (3, 10)


def test_digits_workload_refuses_more_images_than_the_split_holds() -> None:
    n_test = digits_split()[1].shape[0]
    assert digits_workload(1, offset=n_test - 1).batch == 1
    with pytest.raises(ValueError, match="test split has"):
        digits_workload(2, offset=n_test - 1)
    with pytest.raises(ValueError, match="offset"):
        digits_workload(1, offset=-1)
