"""The linear model file: one JSON object, validated field by field on load.

Layout (version 1; the full description is in ``docs/formats.md``, section
"Linear model file")::

    {"format": "hecrypt.linear_model", "version": 1,
     "task": "regression" | "classification",
     "n_features": d, "n_outputs": k,
     "coef": [[w_11, ..., w_1d], ..., [w_k1, ..., w_kd]],
     "intercept": [b_1, ..., b_k],
     "classes": null | {"dtype": "int" | "float" | "str" | "bool", "values": [...]},
     "proba": null | "sigmoid" | "softmax",
     "single_output": true | false,
     "feature_names": null | ["name", ...],
     "description": "free text"}

Floats are written in Python's shortest round-trip decimal form, so a saved
model loads bit for bit. No pickle, no code: loading parses JSON and checks
numbers, shapes and labels. Every problem raises
:class:`~hecrypt.exceptions.ModelFormatError` naming the rule that was broken.
"""

from __future__ import annotations

import json
import math
import os
from os import PathLike
from typing import TYPE_CHECKING, Any

import numpy as np

from hecrypt.exceptions import ModelFormatError

if TYPE_CHECKING:
    from hecrypt.models.linear import LinearModel, ModelInfo

__all__ = ["FORMAT", "VERSION", "MAX_FILE_BYTES", "save", "load", "dumps", "loads"]

#: The ``"format"`` field of a linear model file.
FORMAT = "hecrypt.linear_model"
#: The version this code writes and reads.
VERSION = 1
#: Largest file :func:`load` reads (bounds work on hostile input).
MAX_FILE_BYTES = 512 * 1024 * 1024

_REQUIRED = ("format", "version", "task", "n_features", "n_outputs", "coef", "intercept")
_OPTIONAL = ("classes", "proba", "single_output", "feature_names", "description")
_INFO_FIELDS = ("task", "n_features", "n_outputs", "classes", "proba", "single_output",
                "feature_names", "weight_l1_bound")
_CLASS_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
}


def _dict(model: LinearModel) -> dict[str, Any]:
    out: dict[str, Any] = {"format": FORMAT, "version": VERSION}
    out.update(model.info.to_dict())
    del out["weight_l1_bound"]  # derived from the weights on loading
    out["coef"] = model.coef.tolist()
    out["intercept"] = model.intercept.tolist()
    out["description"] = model.description
    return out


def dumps(model: LinearModel) -> str:
    """The file's text for ``model`` (compact JSON, exact floats)."""
    return json.dumps(_dict(model), separators=(",", ":"), allow_nan=False)


def save(model: LinearModel, path: str | PathLike[str]) -> None:
    """Write ``model`` to ``path`` (UTF-8 JSON); an existing file is replaced."""
    text = dumps(model)
    tmp = f"{os.fspath(path)}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.write("\n")
    os.replace(tmp, path)


def load(path: str | PathLike[str]) -> LinearModel:
    """Read and validate a model file written by :func:`save`.

    Raises:
        ModelFormatError: the file is not a valid linear model file.
        OSError: the file cannot be read.
    """
    with open(path, "rb") as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ModelFormatError(f"a model file is at most {MAX_FILE_BYTES} bytes")
    return loads(data)


# ---------------------------------------------------------------- parsing
def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ModelFormatError(f"duplicate field {k!r}")
        out[k] = v
    return out


def _reject_constant(name: str) -> Any:
    raise ModelFormatError(f"{name} is not a number: weights must be finite")


def _parse(text: str | bytes) -> dict[str, Any]:
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise ModelFormatError("a model file must be UTF-8 text") from None
    if not isinstance(text, str):
        raise ModelFormatError(f"expected str or bytes, not {type(text).__name__}")
    try:
        obj = json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant
        )
    except ModelFormatError:
        raise
    except (ValueError, RecursionError) as exc:
        raise ModelFormatError(f"not a JSON document ({exc})") from None
    if not isinstance(obj, dict):
        raise ModelFormatError("a model file holds one JSON object")
    return obj


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelFormatError(f"{field!r} must be an integer")
    return value


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelFormatError(f"{field} must be a number")
    try:
        out = float(value)
    except OverflowError:
        out = math.inf
    if not math.isfinite(out):
        raise ModelFormatError(f"{field} must be finite")
    return out


def _vector(value: Any, length: int, field: str) -> list[float]:
    if not isinstance(value, list) or len(value) != length:
        raise ModelFormatError(f"{field} must be a list of {length} numbers")
    return [_number(v, f"{field}[{i}]") for i, v in enumerate(value)]


def _classes(value: Any) -> tuple[Any, ...] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"dtype", "values"}:
        raise ModelFormatError('"classes" must be null or {"dtype": ..., "values": [...]}')
    dtype, values = value["dtype"], value["values"]
    if not isinstance(dtype, str) or dtype not in _CLASS_TYPES:
        raise ModelFormatError(f'"classes.dtype" must be one of {sorted(_CLASS_TYPES)}')
    if not isinstance(values, list):
        raise ModelFormatError('"classes.values" must be a list')
    allowed = _CLASS_TYPES[dtype]
    for i, v in enumerate(values):
        if not isinstance(v, allowed) or (dtype != "bool" and isinstance(v, bool)):
            raise ModelFormatError(f'"classes.values[{i}]" is not of dtype {dtype}')
    if dtype == "float":
        return tuple(_number(v, f'"classes.values[{i}]"') for i, v in enumerate(values))
    if dtype == "int":
        bad = [v for v in values if not -(2**63) <= v < 2**63]
        if bad:
            raise ModelFormatError('"classes.values" must fit 64-bit integers')
    return tuple(values)


def info_from_dict(obj: dict[str, Any]) -> ModelInfo:
    """Validate the public fields of a model description (see :meth:`ModelInfo.to_dict`).

    Raises:
        ModelFormatError: a field is missing, unknown or invalid.
    """
    if not isinstance(obj, dict):
        raise ModelFormatError("a model description is a JSON object")
    unknown = set(obj) - set(_INFO_FIELDS)
    if unknown:
        raise ModelFormatError(f"unknown field(s) {sorted(unknown)}")
    return _info(obj)


def _info(obj: dict[str, Any]) -> ModelInfo:
    from hecrypt.models.linear import ModelInfo

    for field in ("task", "n_features", "n_outputs"):
        if field not in obj:
            raise ModelFormatError(f"missing field {field!r}")
    task = obj["task"]
    if not isinstance(task, str):
        raise ModelFormatError('"task" must be a string')
    n_features = _int(obj["n_features"], "n_features")
    n_outputs = _int(obj["n_outputs"], "n_outputs")
    proba = obj.get("proba")
    if proba is not None and not isinstance(proba, str):
        raise ModelFormatError('"proba" must be null or a string')
    single = obj.get("single_output", task == "regression" and n_outputs == 1)
    if not isinstance(single, bool):
        raise ModelFormatError('"single_output" must be true or false')
    l1 = obj.get("weight_l1_bound")
    if l1 is not None:
        l1 = _number(l1, '"weight_l1_bound"')
    names = obj.get("feature_names")
    if names is not None and (
        not isinstance(names, list) or not all(isinstance(s, str) for s in names)
    ):
        raise ModelFormatError('"feature_names" must be null or a list of strings')
    try:
        return ModelInfo(
            task, n_features, n_outputs, _classes(obj.get("classes")), proba, single,
            None if names is None else tuple(names), l1,
        )
    except ValueError as exc:
        if isinstance(exc, ModelFormatError):
            raise
        raise ModelFormatError(f"inconsistent model description: {exc}") from None


def loads(text: str | bytes) -> LinearModel:
    """Validate and load a model file's text.

    Raises:
        ModelFormatError: the text is not a valid linear model file.
    """
    from hecrypt.models.linear import LinearModel

    obj = _parse(text)
    if obj.get("format") != FORMAT:
        raise ModelFormatError(f'not a hecrypt linear model file ("format" must be "{FORMAT}")')
    version = _int(obj.get("version"), "version")
    if version != VERSION:
        raise ModelFormatError(
            f"model file version {version} is not supported (this hecrypt reads version "
            f"{VERSION})"
        )
    missing = [f for f in _REQUIRED if f not in obj]
    if missing:
        raise ModelFormatError(f"missing field(s) {missing}")
    unknown = set(obj) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise ModelFormatError(f"unknown field(s) {sorted(unknown)}")
    info = _info(obj)
    d, k = info.n_features, info.n_outputs
    if d > MAX_FILE_BYTES // 2 or k > MAX_FILE_BYTES // 2:
        raise ModelFormatError("n_features or n_outputs is larger than any valid file")
    coef = obj["coef"]
    if not isinstance(coef, list) or len(coef) != k:
        raise ModelFormatError(f'"coef" must be a list of n_outputs = {k} rows')
    rows = [_vector(row, d, f'"coef[{i}]"') for i, row in enumerate(coef)]
    intercept = _vector(obj["intercept"], k, '"intercept"')
    description = obj.get("description", "")
    if not isinstance(description, str):
        raise ModelFormatError('"description" must be a string')
    try:
        return LinearModel(
            np.array(rows, dtype=np.float64),
            np.array(intercept, dtype=np.float64),
            classes=None if info.classes is None else list(info.classes),
            proba=info.proba,
            single_output=info.single_output,
            feature_names=info.feature_names,
            description=description,
        )
    except ValueError as exc:  # e.g. weights whose L1 norm is beyond the float range
        raise ModelFormatError(f"inconsistent model file: {exc}") from None

