"""Sequential networks: shapes, forward pass against independent computations, the file format."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import correlate2d

from hecrypt.exceptions import HecryptError, InvalidFeatures, ModelFormatError
from hecrypt.hybrid.polynomials import relu_poly, sigmoid_poly
from hecrypt.models import (
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPooling2D,
    NetworkError,
    Sequential,
    load_sequential,
    netfile,
)

RNG = np.random.default_rng(1234)


def _net() -> Sequential:
    return Sequential([
        Conv2D(3, 3, padding="same", input_shape=(6, 7, 2)),
        Activation("sigmoid", approx=sigmoid_poly()),
        Conv2D(4, (2, 3), strides=(2, 1), padding="valid"),
        Activation("relu", approx=relu_poly()),
        AveragePooling2D(2),
        MaxPooling2D(1),
        Flatten(),
        Dense(5),
        Dropout(0.5),
        Activation("square"),
        Dense(3),
        Activation("softmax"),
    ], seed=7, description="test network")


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("size", "k", "s", "padding", "expected"),
    [(8, 3, 1, "same", 8), (8, 3, 1, "valid", 6), (8, 3, 2, "same", 4), (8, 3, 2, "valid", 3),
     (7, 2, 3, "same", 3), (7, 2, 3, "valid", 2), (5, 5, 1, "valid", 1), (4, 5, 1, "same", 4)],
)
def test_conv_output_shapes(size: int, k: int, s: int, padding: str, expected: int) -> None:
    layer = Conv2D(2, k, strides=s, padding=padding)
    assert layer.output_shape((size, size, 3)) == (expected, expected, 2)


def test_network_shape_inference() -> None:
    net = _net()
    assert net.input_shape == (6, 7, 2)
    assert net.shapes == ((6, 7, 2), (6, 7, 3), (6, 7, 3), (3, 5, 4), (3, 5, 4), (1, 2, 4),
                          (1, 2, 4), (8,), (5,), (5,), (5,), (3,), (3,))
    assert net.output_shape == (3,)
    assert net.layers[0].kernel.shape == (3, 3, 2, 3)
    assert net.layers[2].kernel.shape == (2, 3, 3, 4) and net.layers[2].bias.shape == (4,)
    assert net.layers[7].kernel.shape == (8, 5)
    assert net.predict(RNG.normal(size=(4, 6, 7, 2))).shape == (4, 3)
    assert "Conv2D" in net.summary()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Sequential([Dense(3)]), "input_shape"),
        (lambda: Sequential([]), "at least one layer"),
        (lambda: Sequential([Dense(3, input_shape=(4, 4))]), "Flatten"),
        (lambda: Sequential([Conv2D(2, 3, input_shape=(8,))]), "images"),
        (lambda: Sequential([Conv2D(2, 5, input_shape=(4, 4, 1))]), "does not fit"),
        (lambda: Sequential([AveragePooling2D(3, input_shape=(2, 2, 1))]), "does not fit"),
        (lambda: Sequential([Flatten(input_shape=(2, 2)), Dense(2, input_shape=(4,))]),
         "only the first"),
        (lambda: Sequential([Dense(2, input_shape=(3,), kernel=np.ones((4, 2)))]), "shape"),
        (lambda: Sequential([Dense(2, input_shape=(3,), bias=[np.nan, 0])]), "finite"),
        (lambda: Sequential(["dense"]), "not a hecrypt Layer"),  # type: ignore[list-item]
        (lambda: Dense(2).set_weights(np.ones((3, 2)), np.ones(2)), "in a Sequential"),
        (lambda: Conv2D(0, 3), "positive"),
        (lambda: Conv2D(2, (3, 3, 3)), "pair"),
        (lambda: Conv2D(2, 3, padding="full"), "padding"),
        (lambda: Conv2D(True, 3), "positive integer"),
        (lambda: AveragePooling2D(2, padding="same"), "valid"),
        (lambda: Dropout(1.0), "rate"),
        (lambda: Activation("tanh"), "one of"),
        (lambda: Activation("relu", approx=sigmoid_poly()), "polynomial of 'sigmoid'"),
        (lambda: Activation("softmax", approx=sigmoid_poly()), "no polynomial"),
        (lambda: Activation("sigmoid", approx=lambda x: x), "Polynomial"),  # type: ignore[arg-type]
    ],
)
def test_bad_configurations_raise(build: Callable[[], object], message: str) -> None:
    with pytest.raises(NetworkError, match=message) as info:
        build()
    assert isinstance(info.value, HecryptError) and isinstance(info.value, ValueError)


def test_predict_input_handling() -> None:
    net = Sequential([Flatten(input_shape=(8, 8, 1)), Dense(3)])
    images = RNG.integers(0, 17, size=(5, 8, 8))
    want = net.predict(images.reshape(5, 8, 8, 1).astype(float))
    assert np.array_equal(net.predict(images), want)
    assert np.array_equal(net.predict(images.reshape(5, 64)), want)
    for bad in (np.zeros(64), np.zeros((5, 63)), np.array([["a"] * 64]), np.full((1, 64), np.inf),
                np.zeros((2, 64), dtype=complex)):
        with pytest.raises(InvalidFeatures):
            net.predict(bad)


# ------------------------------------------------------- forward vs independent computations


def _conv_loops(x: np.ndarray, k: np.ndarray, b: np.ndarray, strides: tuple[int, int],
                pads: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    kh, kw, _, f = k.shape
    ho = (xp.shape[1] - kh) // strides[0] + 1
    wo = (xp.shape[2] - kw) // strides[1] + 1
    out = np.zeros((x.shape[0], ho, wo, f))
    for n in range(x.shape[0]):
        for i in range(ho):
            for j in range(wo):
                r, c = i * strides[0], j * strides[1]
                patch = xp[n, r:r + kh, c:c + kw]
                for o in range(f):
                    out[n, i, j, o] = np.sum(patch * k[..., o]) + b[o]
    return out


@pytest.mark.parametrize(
    ("shape", "ksize", "strides", "padding", "pads"),
    [((6, 7, 2), (3, 3), (1, 1), "same", ((1, 1), (1, 1))),
     ((6, 7, 2), (2, 2), (1, 1), "same", ((0, 1), (0, 1))),
     ((7, 7, 3), (3, 2), (2, 3), "same", ((1, 1), (0, 1))),
     ((7, 6, 1), (3, 3), (2, 2), "valid", ((0, 0), (0, 0)))],
)
def test_conv_matches_explicit_loops(shape: tuple[int, int, int], ksize: tuple[int, int],
                                     strides: tuple[int, int], padding: str,
                                     pads: tuple[tuple[int, int], tuple[int, int]]) -> None:
    layer = Conv2D(4, ksize, strides=strides, padding=padding)
    Sequential([layer], input_shape=shape, seed=3)
    assert layer.padding_amounts(shape) == pads
    layer.set_weights(layer.kernel, RNG.normal(size=4))
    x = RNG.normal(size=(2, *shape))
    want = _conv_loops(x, layer.kernel, layer.bias, strides, pads)
    assert np.allclose(layer.forward(x), want, atol=1e-12)


def test_conv_same_matches_scipy() -> None:
    layer = Conv2D(3, 3, padding="same")
    Sequential([layer], input_shape=(8, 8, 2), seed=5)
    layer.set_weights(layer.kernel, np.array([0.5, -1.0, 2.0]))
    x = RNG.normal(size=(3, 8, 8, 2))
    got = layer.forward(x)
    for n in range(3):
        for o in range(3):
            want = sum(correlate2d(x[n, :, :, c], layer.kernel[:, :, c, o], mode="same")
                       for c in range(2)) + layer.bias[o]
            assert np.allclose(got[n, :, :, o], want, atol=1e-12)


def test_pooling_dense_flatten_against_loops() -> None:
    x = RNG.normal(size=(2, 6, 5, 3))
    avg = AveragePooling2D((2, 2), strides=(2, 1)).forward(x)
    mx = MaxPooling2D(3, strides=2).forward(x)
    assert avg.shape == (2, 3, 4, 3) and mx.shape == (2, 2, 2, 3)
    for n in range(2):
        for c in range(3):
            for i in range(3):
                for j in range(4):
                    assert np.isclose(avg[n, i, j, c], x[n, 2 * i:2 * i + 2, j:j + 2, c].mean())
            for i in range(2):
                for j in range(2):
                    assert mx[n, i, j, c] == x[n, 2 * i:2 * i + 3, 2 * j:2 * j + 3, c].max()
    flat = Flatten().forward(x)
    assert flat[1, (2 * 5 + 3) * 3 + 1] == x[1, 2, 3, 1]  # channels fastest, as Keras
    dense = Dense(4)
    Sequential([dense], input_shape=(90,), seed=2)
    want = np.array([[sum(flat[n, i] * dense.kernel[i, o] for i in range(90)) + dense.bias[o]
                      for o in range(4)] for n in range(2)])
    assert np.allclose(dense.forward(flat), want)


def test_activations_use_the_polynomial_when_given() -> None:
    x = np.linspace(-8, 8, 101).reshape(1, 101)
    p = sigmoid_poly()
    assert np.array_equal(Activation("sigmoid", approx=p).forward(x), p(x))
    exact = Activation("sigmoid").forward(x)
    assert np.allclose(exact, 1 / (1 + np.exp(-x)))
    assert np.max(np.abs(exact - p(x))) <= p.max_error + 1e-12
    assert np.array_equal(Activation("relu").forward(x), np.maximum(x, 0))
    assert np.array_equal(Activation("square").forward(x), x * x)
    sm = Activation("softmax").forward(np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, 0.0]]))
    assert np.allclose(sm[0], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())
    assert np.allclose(sm[1], [1, 0, 0])
    assert np.array_equal(Dropout(0.3).forward(x), x)


def test_predict_is_the_composition_of_the_layers() -> None:
    net = _net()
    x = RNG.normal(size=(3, 6, 7, 2))
    values = net.activations(x)
    assert len(values) == len(net.layers) + 1
    for layer, before, after in zip(net.layers, values, values[1:]):
        assert np.array_equal(layer.forward(before), after)
    assert np.array_equal(values[-1], net.predict(x))
    ranges = net.polynomial_input_ranges(x)
    assert [r[0] for r in ranges] == [1, 3]
    assert ranges[0][1] == values[1].min() and ranges[0][2] == values[1].max()


# ------------------------------------------------------------------------------ file format


def test_save_load_round_trip(tmp_path: Path) -> None:
    net = _net()
    path = tmp_path / "net.npz"
    net.save(path)
    back = load_sequential(path)
    assert back.shapes == net.shapes and back.description == "test network"
    assert [type(a) for a in back.layers] == [type(b) for b in net.layers]
    for a, b in zip(back.layers, net.layers):
        assert a.config() == b.config()
        for name, w in b.get_weights().items():
            assert np.array_equal(a.get_weights()[name], w)
    x = RNG.normal(size=(4, 6, 7, 2))
    assert np.array_equal(back.predict(x), net.predict(x))
    assert back.layers[1].approx == net.layers[1].approx
    assert netfile.dumps(back) == path.read_bytes()  # deterministic bytes
    # numpy reads it too, without pickle
    with np.load(path, allow_pickle=False) as z:
        header = json.loads(z["header"].tobytes())
        assert header["format"] == "hecrypt.sequential" and header["version"] == 1
        assert np.array_equal(z["layer0.kernel"], net.layers[0].kernel)


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _archive(members: dict[str, bytes] | list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    items = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(buf, "w") as zf:
        for name, body in items:
            zf.writestr(name, body)
    return buf.getvalue()


def _npy(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def _with_header(data: bytes, edit: Callable[[dict], object]) -> bytes:
    members = _members(data)
    header = json.loads(np.lib.format.read_array(io.BytesIO(members["header.npy"])).tobytes())
    edit(header)
    text = json.dumps(header).encode()
    members["header.npy"] = _npy(np.frombuffer(text, dtype=np.uint8))
    return _archive(members)


def _with_member(data: bytes, name: str, body: bytes | None) -> bytes:
    members = _members(data)
    if body is None:
        del members[name]
    else:
        members[name] = body
    return _archive(members)


GOOD = netfile.dumps(_net())


def _set_layer(i: int, key: str, value: object) -> Callable[[dict], object]:
    return lambda h: h["layers"][i]["config"].__setitem__(key, value)


MALFORMED: dict[str, Callable[[], bytes]] = {
    "empty": lambda: b"",
    "not a zip": lambda: b"PK\x03\x04 garbage" * 10,
    "truncated": lambda: GOOD[: len(GOOD) // 2],
    "truncated member": lambda: _with_member(GOOD, "layer0.kernel.npy",
                                             _members(GOOD)["layer0.kernel.npy"][:-8]),
    "no header": lambda: _with_member(GOOD, "header.npy", None),
    "wrong version": lambda: _with_header(GOOD, lambda h: h.__setitem__("version", 2)),
    "wrong format": lambda: _with_header(GOOD, lambda h: h.__setitem__("format", "keras")),
    "extra field": lambda: _with_header(GOOD, lambda h: h.__setitem__("x", 1)),
    "unknown layer": lambda: _with_header(GOOD, lambda h: h["layers"][5].__setitem__("type",
                                                                                    "Lambda")),
    "bool filters": lambda: _with_header(GOOD, _set_layer(0, "filters", True)),
    "float units": lambda: _with_header(GOOD, _set_layer(7, "units", 5.0)),
    "units disagree with weights": lambda: _with_header(GOOD, _set_layer(7, "units", 6)),
    "bad padding": lambda: _with_header(GOOD, _set_layer(0, "padding", "full")),
    "bad polynomial": lambda: _with_header(
        GOOD, lambda h: h["layers"][1]["config"]["approx"].__setitem__("coeffs", [])),
    "window too big": lambda: _with_header(GOOD, _set_layer(4, "pool_size", [9, 9])),
    "bad input shape": lambda: _with_header(GOOD, lambda h: h.__setitem__("input_shape", [6, 0])),
    "header NaN": lambda: _with_member(GOOD, "header.npy", _npy(np.frombuffer(
        b'{"format": NaN}', dtype=np.uint8))),
    "header not utf-8": lambda: _with_member(GOOD, "header.npy", _npy(np.frombuffer(
        b"\xff\xfe", dtype=np.uint8))),
    "header 2-D": lambda: _with_member(GOOD, "header.npy", _npy(np.zeros((2, 2), np.uint8))),
    "wrong kernel shape": lambda: _with_member(GOOD, "layer0.kernel.npy",
                                               _npy(np.zeros((3, 3, 2, 4)))),
    "wrong dtype": lambda: _with_member(GOOD, "layer0.bias.npy",
                                        _npy(np.zeros(3, dtype=np.float32))),
    "fortran order": lambda: _with_member(GOOD, "layer0.kernel.npy",
                                          _npy(np.asfortranarray(np.zeros((3, 3, 2, 3))))),
    "NaN weight": lambda: _with_member(GOOD, "layer7.bias.npy",
                                       _npy(np.array([0.0, np.nan, 0, 0, 0]))),
    "infinite weight": lambda: _with_member(GOOD, "layer10.kernel.npy",
                                            _npy(np.full((5, 3), np.inf))),
    "pickle payload": lambda: _with_member(GOOD, "layer7.bias.npy",
                                           _npy(np.array([0, 1, 2, 3, {"x": 1}], dtype=object),
                                                allow_pickle=True)),
    "missing weight": lambda: _with_member(GOOD, "layer2.bias.npy", None),
    "extra member": lambda: _with_member(GOOD, "evil.npy", _npy(np.zeros(1))),
    "duplicate member": lambda: _archive([*_members(GOOD).items(),
                                          ("layer0.bias.npy", _npy(np.ones(3)))]),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_raise_model_format_error(case: str, tmp_path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        data = MALFORMED[case]()
    path = tmp_path / "bad.npz"
    path.write_bytes(data)
    with pytest.raises(ModelFormatError):
        load_sequential(path)


def test_pickle_payload_is_never_unpickled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("unpickling attempted")

    data = MALFORMED["pickle payload"]()
    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    with pytest.raises(ModelFormatError, match="pickle"):
        netfile.loads(data)


def test_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "net.npz"
    _net().save(path)
    monkeypatch.setattr(netfile, "MAX_FILE_BYTES", 100)
    with pytest.raises(ModelFormatError, match="limit"):
        load_sequential(path)


# ---------------------------------------------------------------------------- interval bounds


def test_interval_bounds_contain_every_value() -> None:
    net = _net()
    lo = RNG.normal(size=net.input_shape) * 0.3
    hi = lo + RNG.uniform(0.0, 0.4, size=net.input_shape)
    bounds = net.interval_bounds(lo, hi)
    assert len(bounds) == len(net.layers) + 1
    x = lo + (hi - lo) * RNG.uniform(size=(200, *net.input_shape))
    x[0], x[1] = lo, hi  # the corners too
    for (low, high), values in zip(bounds, net.activations(x)):
        assert low.shape == high.shape == values.shape[1:]
        assert np.all(values >= low - 1e-9) and np.all(values <= high + 1e-9)
    # a degenerate box gives the value itself
    point = net.interval_bounds(lo, lo)
    assert np.allclose(point[-1][0], net.predict(lo[None])[0])
    assert np.allclose(point[-1][1], net.predict(lo[None])[0])
    with pytest.raises(InvalidFeatures):
        net.interval_bounds(hi, lo)


def test_exact_activation_bounds() -> None:
    lo = np.array([[-2.0, 1.0, -3.0]])
    hi = np.array([[1.0, 2.0, -1.0]])
    low, high = Activation("square").bounds(lo, hi)
    assert np.array_equal(low, [[0.0, 1.0, 1.0]]) and np.array_equal(high, [[4.0, 4.0, 9.0]])
    low, high = Activation("softmax").bounds(lo, hi)
    x = lo + (hi - lo) * RNG.uniform(size=(500, 3))
    sm = Activation("softmax").forward(x)
    assert np.all(sm >= low - 1e-12) and np.all(sm <= high + 1e-12)


def test_user_fitted_polynomial_survives_the_file(tmp_path: Path) -> None:
    from hecrypt.hybrid.polynomials import fit

    def soft(x: np.ndarray) -> np.ndarray:
        return np.log1p(np.exp(x)) / 4

    p = fit(soft, 4, (-3.0, 3.0), method="lstsq", name="softplus4")
    net = Sequential([Dense(3, input_shape=(2,)), Activation("relu", approx=p)], seed=1)
    net.save(tmp_path / "n.npz")
    back = load_sequential(tmp_path / "n.npz")
    assert back.layers[1].approx == p and back.layers[1].approx.target is None  # type: ignore[attr-defined]
    x = RNG.normal(size=(5, 2))
    assert np.array_equal(back.predict(x), p(net.layers[0].forward(x)))
