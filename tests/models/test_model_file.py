"""The linear model file: exact round trips, and a ModelFormatError (nothing
else) for every malformed, inconsistent or hostile file."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hecrypt import models
from hecrypt.exceptions import HecryptError, ModelFormatError
from hecrypt.models import LinearModel, ModelInfo, fileformat, from_arrays


def _models() -> list[LinearModel]:
    rng = np.random.default_rng(5)
    return [
        from_arrays(rng.normal(size=4) * 1e-3, 123.456789, feature_names=list("abcd")),
        from_arrays(rng.normal(size=(2, 3)), rng.normal(size=2)),
        from_arrays(rng.normal(size=(1, 3)), [0.1], classes=[0, 1]),
        from_arrays(rng.normal(size=(3, 2)), rng.normal(size=3), classes=["x", "y", "z"]),
        from_arrays(rng.normal(size=(1, 2)), 0.0, classes=[False, True], proba=None),
        from_arrays(rng.normal(size=(3, 2)), 0.0, classes=[0.5, 1.5, 2.5], proba="sigmoid"),
    ]


@pytest.mark.parametrize("index", range(6))
def test_round_trip_is_exact(tmp_path: Path, index: int) -> None:
    model = _models()[index]
    path = tmp_path / "model.json"
    model.save(path)
    loaded = models.load(path)
    assert loaded == model
    assert loaded.coef.tobytes() == model.coef.tobytes()
    assert loaded.info == model.info
    if model.classes is not None:
        assert loaded.classes is not None
        assert loaded.classes.dtype.kind == model.classes.dtype.kind
        assert loaded.classes.tolist() == model.classes.tolist()
    assert fileformat.loads(model.to_json()) == model


def test_file_is_documented_json(tmp_path: Path) -> None:
    model = _models()[3]
    path = tmp_path / "m.json"
    model.save(path)
    obj = json.loads(path.read_text("utf-8"))
    assert obj["format"] == "hecrypt.linear_model" and obj["version"] == 1
    assert obj["classes"] == {"dtype": "str", "values": ["x", "y", "z"]}
    assert set(obj) == {
        "format", "version", "task", "n_features", "n_outputs", "coef", "intercept",
        "classes", "proba", "single_output", "feature_names", "description",
    }
    assert not list(tmp_path.glob("*.tmp-*"))


def test_model_info_dict_round_trip() -> None:
    for model in _models():
        info = model.info
        assert ModelInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info
    with pytest.raises(ModelFormatError, match="unknown"):
        ModelInfo.from_dict({**_models()[0].info.to_dict(), "coef": [[1.0]]})


def _valid() -> dict[str, Any]:
    return json.loads(_models()[3].to_json())


def _edit(**changes: Any) -> str:
    obj = _valid()
    for k, v in changes.items():
        if v is _DELETE:
            del obj[k]
        else:
            obj[k] = v
    return json.dumps(obj)


_DELETE = object()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (b"\xff\xfe", "UTF-8"),
        ("{", "JSON"),
        ("[1, 2]", "one JSON object"),
        (_edit(format="other"), "not a hecrypt linear model"),
        (_edit(version=2), "version 2"),
        (_edit(version=True), "integer"),
        (_edit(coef=_DELETE), "missing"),
        (_edit(extra=1), "unknown"),
        (_edit(weight_l1_bound=4.0), "unknown"),
        ('{"format":"hecrypt.linear_model","format":"x"}', "duplicate"),
        (_edit(task="clustering"), "task"),
        (_edit(n_features=0), "positive"),
        (_edit(n_features="3"), "integer"),
        (_edit(coef=[[1.0, 2.0]] * 2), "3 rows"),
        (_edit(coef=[[1.0], [2.0], [3.0]]), "2 numbers"),
        (_edit(coef=[[1.0, True]] * 3), "number"),
        (_edit(coef=[[1.0, "2"]] * 3), "number"),
        (_edit(intercept=[1.0, 2.0]), "3 numbers"),
        (_edit(classes={"dtype": "str", "values": ["a", "b"]}), "classes"),
        (_edit(classes={"dtype": "str", "values": ["a", "a", "b"]}), "distinct"),
        (_edit(classes={"dtype": "int", "values": ["a", "b", "c"]}), "dtype int"),
        (_edit(classes={"dtype": "int", "values": [1, 2, 2**70]}), "64-bit"),
        (_edit(classes={"dtype": "complex", "values": [1, 2, 3]}), "dtype"),
        (_edit(classes=[1, 2, 3]), "classes"),
        (_edit(classes=None), "class labels"),
        (_edit(proba="tanh"), "proba"),
        (_edit(proba=1), "proba"),
        (_edit(single_output="yes"), "single_output"),
        (_edit(feature_names=[1, 2]), "feature_names"),
        (_edit(feature_names=["a"]), "feature_names"),
        (_edit(description=5), "description"),
    ],
)
def test_malformed_files_raise_model_format_error(text: str | bytes, match: str) -> None:
    with pytest.raises(ModelFormatError, match=match):
        fileformat.loads(text)


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "1e400", "1" + "0" * 400])
def test_non_finite_weights_are_refused(bad: str) -> None:
    text = _edit(intercept=[0.0, 0.0, 0.0]).replace("[0.0,", f"[{bad},", 1)
    with pytest.raises(ModelFormatError, match=r"finite|number"):
        fileformat.loads(text)


def test_huge_integer_literal_is_a_format_error() -> None:
    with pytest.raises(ModelFormatError):
        fileformat.loads('{"format": ' + "1" * 5000 + "}")


def test_oversized_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.json"
    _models()[0].save(path)
    monkeypatch.setattr(fileformat, "MAX_FILE_BYTES", 100)
    with pytest.raises(ModelFormatError, match="at most 100 bytes"):
        models.load(path)


def test_loads_refuses_non_text() -> None:
    with pytest.raises(ModelFormatError, match="str or bytes"):
        fileformat.loads(123)  # type: ignore[arg-type]


def test_fuzzed_files_raise_only_model_format_error() -> None:
    rnd = random.Random(11)
    base = _models()[3].to_json().encode()
    loaded = 0
    for _ in range(600):
        data = bytearray(base)
        for _ in range(rnd.randint(1, 4)):
            op = rnd.random()
            i = rnd.randrange(len(data))
            if op < 0.4:
                data[i] = rnd.randrange(256)
            elif op < 0.7:
                del data[i : i + rnd.randint(1, 8)]
            else:
                data[i:i] = bytes(rnd.choice(b'{}[],:"0123456789.eE-tfn') for _ in range(3))
        try:
            fileformat.loads(bytes(data))
            loaded += 1
        except ModelFormatError:
            pass
        except HecryptError as exc:  # pragma: no cover - would be a bug
            pytest.fail(f"wrong error class {type(exc).__name__}: {exc}")
    assert loaded < 600
