"""Model files and records that used to give raw errors or silently wrong answers."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import hecrypt
from hecrypt import models
from hecrypt.exceptions import FeatureMismatchError, ModelFormatError
from hecrypt.models import fileformat


class Frame:
    """The part of a pandas DataFrame the client reads: ``columns``, ``shape``, ``__array__``."""

    def __init__(self, data: dict[str, list[float]]) -> None:
        self.columns = list(data)
        self._values = np.array([data[c] for c in self.columns], dtype=float).T
        self.shape = self._values.shape

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._values if dtype is None else self._values.astype(dtype)


def _file(**changes: Any) -> str:
    model = models.from_arrays(np.array([1.0, 2.0]), 0.5, classes=["a", "b"])
    obj = json.loads(model.to_json())
    obj.update(changes)
    return json.dumps(obj)


@pytest.mark.parametrize("dtype", [["int"], {"str": 1}, 3, None])
def test_classes_dtype_of_the_wrong_type_is_a_format_error(dtype: Any) -> None:
    with pytest.raises(ModelFormatError, match=r"classes\.dtype"):
        fileformat.loads(_file(classes={"dtype": dtype, "values": ["a", "b"]}))


def test_weights_beyond_the_float_range_are_a_format_error(tmp_path: Any) -> None:
    with pytest.raises(ModelFormatError, match="too large"):
        fileformat.loads(_file(coef=[[1e308, 1e308]]))
    with pytest.raises(ModelFormatError, match="too large"):
        fileformat.loads(_file(coef=[[1e308, 0.0]]))  # rounds up to 2^1024
    with pytest.raises(ModelFormatError, match="too large"):
        models.from_arrays([[1e308]])
    with pytest.raises(ValueError):  # ModelFormatError is a ValueError, as documented
        models.from_arrays([1e308, -1e308])
    (tmp_path / "big.json").write_text(_file(coef=[[1e308, 1e308]]))
    from hecrypt.__main__ import main

    assert main(["serve", str(tmp_path / "big.json")]) == 1


@pytest.fixture(scope="module")
def named() -> models.LinearModel:
    return models.from_arrays(np.array([1.0, -2.0, 0.5]), 0.25, feature_names=["a", "b", "c"])


def test_columns_in_another_order_are_reordered_by_name(named: models.LinearModel) -> None:
    X = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]])
    want = X @ [1.0, -2.0, 0.5] + 0.25
    shuffled = Frame({"c": list(X[:, 2]), "a": list(X[:, 0]), "b": list(X[:, 1])})
    np.testing.assert_allclose(named.decision_function_plaintext(shuffled), want)
    np.testing.assert_allclose(named.decision_function_plaintext(X), want)  # by position


def test_other_column_names_are_refused(named: models.LinearModel) -> None:
    renamed = Frame({"a": [1.0], "b": [2.0], "z": [3.0]})
    with pytest.raises(FeatureMismatchError, match=r"missing \['c'\].*unexpected \['z'\]"):
        named.predict_plaintext(renamed)
    with pytest.raises(FeatureMismatchError, match="repeated"):
        frame = Frame({"a": [1.0], "b": [2.0], "c": [3.0]})
        frame.columns = ["a", "a", "c"]
        named.predict_plaintext(frame)


def test_the_scoring_client_reorders_and_refuses_too(
    named: models.LinearModel, keypair_1024: tuple[Any, Any]
) -> None:
    pk, sk = keypair_1024
    client = hecrypt.ScoringClient(named, pk, sk)
    X = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0], [0.0, 0.0, 1.0]])
    shuffled = Frame({"b": list(X[:, 1]), "c": list(X[:, 2]), "a": list(X[:, 0])})
    np.testing.assert_allclose(client.predict(shuffled), X @ [1.0, -2.0, 0.5] + 0.25,
                               atol=1e-6)
    with pytest.raises(FeatureMismatchError):
        client.predict(Frame({"a": [1.0], "b": [2.0], "d": [3.0]}))
