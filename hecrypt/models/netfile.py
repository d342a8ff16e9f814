"""The network file: an npz archive with a JSON header, validated on load.

Layout (version 1; described for users in ``docs/formats.md``, section
"Network file")::

    a ZIP archive (what numpy.savez writes) whose members are .npy arrays:
      header.npy          uint8, 1-D: UTF-8 JSON, below
      layer{i}.kernel.npy float64 little-endian, C order, for each Conv2D/Dense i
      layer{i}.bias.npy   float64 little-endian, C order

    header = {"format": "hecrypt.sequential", "version": 1,
              "input_shape": [8, 8, 1], "description": "...",
              "layers": [{"type": "Conv2D", "config": {"filters": 4,
                            "kernel_size": [3, 3], "strides": [1, 1],
                            "padding": "same"}},   # or [[top, bottom], [left, right]]
                         {"type": "Activation", "config": {"name": "sigmoid",
                            "approx": {polynomial, see Polynomial.to_dict}}},
                         ...]}

Loading never unpickles and never trusts a size it has not checked: the
archive's member list must be exactly the header plus the weights the layers
need; each array's .npy header (dtype, order, shape) is read and compared with
the shape inferred from the layer list before its data are read; the data
must be finite. ``numpy.load(path, allow_pickle=False)`` reads the same files.
Every problem raises :class:`~hecrypt.exceptions.ModelFormatError` naming
the rule that was broken.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Mapping
from os import PathLike
from typing import IO, Any

import numpy as np

from hecrypt.exceptions import ModelFormatError
from hecrypt.hybrid.polynomials import Polynomial
from hecrypt.models.layers import (
    LAYER_TYPES,
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    MaxPooling2D,
    NetworkError,
    Shape,
)
from hecrypt.models.sequential import Sequential

__all__ = ["FORMAT", "VERSION", "MAX_FILE_BYTES", "save", "load", "dumps", "loads"]

#: The ``"format"`` field of the header.
FORMAT = "hecrypt.sequential"
#: The version this code writes and reads.
VERSION = 1
#: Largest file (and largest total of uncompressed members) :func:`load` accepts.
MAX_FILE_BYTES = 256 * 1024 * 1024
_MAX_HEADER_BYTES = 1024 * 1024
_MAX_LAYERS = 1000
_HEADER = "header.npy"
_CONFIG_FIELDS: dict[str, set[str]] = {
    "Conv2D": {"filters", "kernel_size", "strides", "padding"},
    "Dense": {"units"},
    "AveragePooling2D": {"pool_size", "strides"},
    "MaxPooling2D": {"pool_size", "strides"},
    "Flatten": set(),
    "Dropout": {"rate"},
    "Activation": {"name", "approx"},
}


def _member(i: int, name: str) -> str:
    return f"layer{i}.{name}.npy"


def _header(net: Sequential) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "input_shape": list(net.input_shape),
        "description": net.description,
        "layers": [{"type": layer.kind, "config": layer.config()} for layer in net.layers],
    }


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def dumps(net: Sequential) -> bytes:
    """The file's bytes for ``net`` (deterministic: fixed member order and dates)."""
    text = json.dumps(_header(net), separators=(",", ":"), allow_nan=False)
    members = [(_HEADER, np.frombuffer(text.encode("utf-8"), dtype=np.uint8))]
    for i, layer in enumerate(net.layers):
        for name, w in layer.get_weights().items():
            members.append((_member(i, name), np.asarray(w, dtype="<f8")))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, _npy_bytes(arr))
    return buf.getvalue()


def save(net: Sequential, path: str | PathLike[str]) -> None:
    """Write ``net`` to ``path``; an existing file is replaced atomically."""
    data = dumps(net)
    tmp = f"{os.fspath(path)}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load(path: str | PathLike[str]) -> Sequential:
    """Read and validate a network file (see the module docstring).

    Raises:
        ModelFormatError: anything malformed, inconsistent or too large.
        OSError: the file cannot be read.
    """
    size = os.stat(path).st_size
    if size > MAX_FILE_BYTES:
        raise ModelFormatError(f"network file is {size} bytes, above the {MAX_FILE_BYTES} limit")
    with open(path, "rb") as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    return loads(data)


def loads(data: bytes) -> Sequential:
    """Validate and rebuild a network from the bytes of a network file."""
    if len(data) > MAX_FILE_BYTES:
        raise ModelFormatError(f"network file above the {MAX_FILE_BYTES}-byte limit")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return _read(zf)
    except ModelFormatError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
            KeyError, NotImplementedError, RuntimeError) as exc:
        raise ModelFormatError(f"not a readable network file (npz archive): {exc}") from exc


def _read(zf: zipfile.ZipFile) -> Sequential:
    infos = zf.infolist()
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise ModelFormatError("network file has duplicate archive members")
    if sum(info.file_size for info in infos) > MAX_FILE_BYTES:
        raise ModelFormatError("network file members exceed the size limit when uncompressed")
    if _HEADER not in names:
        raise ModelFormatError("network file has no header.npy member (not a network file)")
    with zf.open(_HEADER) as fh:
        raw = _read_npy(fh, np.dtype(np.uint8), None, _HEADER, _MAX_HEADER_BYTES)
    header = _parse_header(raw.tobytes())
    input_shape = _int_list(header["input_shape"], "input_shape")
    layer_specs = header["layers"]
    if not isinstance(layer_specs, list) or not 1 <= len(layer_specs) <= _MAX_LAYERS:
        raise ModelFormatError(f"'layers' must be a list of 1 to {_MAX_LAYERS} layers")

    expected = {_HEADER}
    layers: list[Layer] = []
    shape: Shape = input_shape
    for i, spec in enumerate(layer_specs):
        layer = _layer_from_spec(i, spec)
        try:
            out = layer.output_shape(shape)
            weight_shapes = layer.weight_shapes(shape)
        except NetworkError as exc:
            raise ModelFormatError(f"layer {i} ({layer.kind}) does not fit its input: {exc}") \
                from exc
        if weight_shapes:
            arrays = {}
            for name, wshape in weight_shapes.items():
                member = _member(i, name)
                expected.add(member)
                if member not in names:
                    raise ModelFormatError(f"network file lacks {member}")
                with zf.open(member) as fh:
                    arrays[name] = _read_npy(fh, np.dtype("<f8"), wshape, member, None)
            layer = _layer_from_spec(i, spec, arrays)
        layers.append(layer)
        shape = out
    extra = sorted(set(names) - expected)
    if extra:
        raise ModelFormatError(f"network file has unexpected members {extra}")
    try:
        return Sequential(layers, input_shape=input_shape, description=header["description"])
    except NetworkError as exc:
        raise ModelFormatError(f"inconsistent network: {exc}") from exc


def _read_npy(fh: IO[bytes], dtype: np.dtype, shape: Shape | None, member: str,
              max_bytes: int | None) -> np.ndarray:
    """Read one .npy stream after checking its header against what is expected."""
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        got_shape, fortran, got_dtype = np.lib.format.read_array_header_1_0(fh)
    elif version == (2, 0):
        got_shape, fortran, got_dtype = np.lib.format.read_array_header_2_0(fh)
    else:
        raise ModelFormatError(f"{member}: unsupported .npy version {version}")
    if got_dtype.hasobject or got_dtype != dtype:
        raise ModelFormatError(f"{member}: dtype must be {dtype.str}, got {got_dtype.str} "
                               "(object arrays and pickles are refused)")
    if fortran:
        raise ModelFormatError(f"{member}: arrays must be stored in C order")
    if shape is None:
        if len(got_shape) != 1:
            raise ModelFormatError(f"{member}: must be a 1-D array, got shape {got_shape}")
    elif tuple(got_shape) != tuple(shape):
        raise ModelFormatError(f"{member}: shape must be {tuple(shape)}, got {tuple(got_shape)}")
    count = int(np.prod(got_shape, dtype=np.int64))
    nbytes = count * dtype.itemsize
    if max_bytes is not None and nbytes > max_bytes:
        raise ModelFormatError(f"{member}: {nbytes} bytes, above the {max_bytes}-byte limit")
    if nbytes > MAX_FILE_BYTES:
        raise ModelFormatError(f"{member}: larger than the file size limit")
    body = fh.read(nbytes + 1)
    if len(body) != nbytes:
        raise ModelFormatError(f"{member}: holds {len(body)} data bytes, expected {nbytes}")
    arr = np.frombuffer(body, dtype=dtype).reshape(got_shape)
    if dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ModelFormatError(f"{member}: weights must be finite (NaN or infinity found)")
    return arr


def _reject_constant(name: str) -> None:
    raise ModelFormatError(f"header: {name} is not a valid JSON number")


def _parse_header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelFormatError(f"header is not UTF-8 JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise ModelFormatError("header must be a JSON object")
    if header.get("format") != FORMAT:
        raise ModelFormatError(f"header 'format' must be {FORMAT!r}, got {header.get('format')!r}")
    version = header.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version != VERSION:
        raise ModelFormatError(f"unsupported network file version {version!r} "
                               f"(this library reads version {VERSION})")
    fields = {"format", "version", "input_shape", "description", "layers"}
    if set(header) != fields:
        raise ModelFormatError(f"header has exactly the fields {sorted(fields)}, "
                               f"got {sorted(header)}")
    if not isinstance(header["description"], str):
        raise ModelFormatError("header 'description' must be a string")
    return header


def _int_list(value: object, what: str) -> Shape:
    if (not isinstance(value, list) or not value or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)):
        raise ModelFormatError(f"'{what}' must be a non-empty list of positive integers")
    return tuple(value)


def _layer_from_spec(i: int, spec: object,
                     weights: Mapping[str, np.ndarray] | None = None) -> Layer:
    if not isinstance(spec, dict) or set(spec) != {"type", "config"}:
        raise ModelFormatError(f"layer {i} must be an object with exactly 'type' and 'config'")
    kind, config = spec["type"], spec["config"]
    if kind not in LAYER_TYPES:
        raise ModelFormatError(f"layer {i}: unknown type {kind!r}; known: {sorted(LAYER_TYPES)}")
    if not isinstance(config, dict) or set(config) != _CONFIG_FIELDS[kind]:
        raise ModelFormatError(f"layer {i} ({kind}): config has exactly the fields "
                               f"{sorted(_CONFIG_FIELDS[kind])}")
    w = dict(weights or {})
    try:
        if kind == "Conv2D":
            return Conv2D(config["filters"], config["kernel_size"], config["strides"],
                          config["padding"], kernel=w.get("kernel"), bias=w.get("bias"))
        if kind == "Dense":
            return Dense(config["units"], kernel=w.get("kernel"), bias=w.get("bias"))
        if kind == "AveragePooling2D":
            return AveragePooling2D(config["pool_size"], config["strides"])
        if kind == "MaxPooling2D":
            return MaxPooling2D(config["pool_size"], config["strides"])
        if kind == "Flatten":
            return Flatten()
        if kind == "Dropout":
            return Dropout(config["rate"])
        approx = config["approx"]
        poly = None if approx is None else Polynomial.from_dict(approx)
        return Activation(config["name"], approx=poly)
    except NetworkError as exc:
        raise ModelFormatError(f"layer {i} ({kind}): {exc}") from exc
