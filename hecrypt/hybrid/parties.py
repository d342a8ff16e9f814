"""Private inference with a dealer: the client, server and dealer programs, and private_predict.

Three programs, each run by its own party (a thread in memory, a process or a
machine over TCP), each seeing only its own data and the messages it receives:

* :func:`client_program` holds the records ``X``;
* :func:`server_program` holds the model (weights);
* :func:`~hecrypt.hybrid.triples.dealer_program` holds nothing but randomness.

Protocol (semi-honest parties, non-colluding dealer; docs/security.md):

Offline phase
    1. server -> client: the model's public spec (architecture, shapes,
       polynomials, task; :func:`hecrypt.hybrid.inference.model_spec`) and
       the number of fractional bits.
    2. client -> server: the batch size ``N``.
    3. both compute the triple plan (:func:`hecrypt.hybrid.inference.plan`)
       and get every triple from the dealer
       (:class:`~hecrypt.hybrid.triples.DealerTripleSource`).
Online phase
    4. client shares ``X``, server shares every kernel (one round, seeds only).
    5. layer by layer (:func:`hecrypt.hybrid.inference.evaluate`): Beaver
       products, local truncation, polynomial activations; the server adds
       its biases to its own shares.
    6. the server sends its shares of the outputs to the client, who
       reconstructs the logits (and, for binary logistic regression, the
       probability computed in shares) and derives labels, softmax
       probabilities or regression values itself.

:func:`private_predict` runs the three programs and returns a
:class:`PredictionResult` with the client's outputs and every party's report.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hecrypt.exceptions import HecryptError, ProtocolError, UnsupportedModelError
from hecrypt.hybrid import ring
from hecrypt.hybrid.inference import (
    CLIENT,
    SERVER,
    check_spec,
    evaluate,
    model_spec,
    model_weights,
    plan,
    spec_input_shape,
    weight_shapes,
)
from hecrypt.hybrid.protocols import SecretSharing
from hecrypt.hybrid.triples import DealerTripleSource, dealer_program

__all__ = [
    "PredictionResult",
    "UnsupportedModeError",
    "client_program",
    "server_program",
    "private_predict",
    "register_mode",
    "MODES",
    "format_report",
    "MAX_BATCH",
    "load_records",
    "load_model_file",
]

DEALER = "dealer"
#: The largest batch a server accepts from a client (larger ones are split by the caller).
MAX_BATCH = 1 << 20
_REPORT_KEYS = ("online_s", "offline_s", "bytes_sent", "bytes_received", "rounds")


class UnsupportedModeError(HecryptError, ValueError):
    """A private inference mode that does not exist (or is not available in this install)."""


@dataclass
class PredictionResult:
    """What the client obtains from a private inference, and what it cost.

    Attributes:
        labels: ``(N,)`` predicted labels (classifiers), else ``None``.
        logits: ``(N, k)`` the values revealed before softmax (classifiers).
        values: ``(N, k)`` predictions (regression), else ``None``.
        proba: ``(N, k)`` class probabilities where the model defines them
            (softmax applied by the client; for binary logistic regression the
            polynomial sigmoid computed in shares), else ``None``.
        report: per party (``"client"``, ``"server"``, ``"dealer"``) the
            channel report (``online_s``, ``offline_s``, ``bytes_sent``,
            ``bytes_received``, ``rounds`` and per-phase counters), and
            ``"total"`` (:func:`hecrypt.hybrid.report.total_report`): seconds
            and rounds are the maximum over parties, bytes the sum.
    """

    labels: np.ndarray | None
    logits: np.ndarray | None
    values: np.ndarray | None
    proba: np.ndarray | None
    report: dict[str, dict[str, Any]] = field(default_factory=dict)

    def report_table(self) -> str:
        """The report as a readable table (per party and global, offline and online apart)."""
        return format_report(self.report)


def format_report(report: Mapping[str, Mapping[str, Any]]) -> str:
    """The cost table of :mod:`hecrypt.hybrid.report` (per party and global, per phase)."""
    from hecrypt.hybrid.report import format_report as _format

    return _format(report)


# ----------------------------------------------------------------------- programs
def _load_model(model: Any) -> Any:
    """A model object from itself or from ``("linear", json)`` / ``("sequential", bytes)``."""
    if isinstance(model, tuple) and len(model) == 2 and isinstance(model[0], str):
        kind, data = model
        if kind == "linear":
            from hecrypt.models import fileformat

            return fileformat.loads(data)
        if kind == "sequential":
            from hecrypt.models import netfile

            return netfile.loads(data)
        raise UnsupportedModelError(f"unknown serialized model kind {kind!r}")
    return model


def portable_model(model: Any) -> tuple[str, Any]:
    """A picklable form of a model for another process (``("linear", json)`` or
    ``("sequential", npz bytes)``)."""
    from hecrypt.models.linear import LinearModel

    if isinstance(model, LinearModel):
        return ("linear", model.to_json())
    from hecrypt.models import netfile

    return ("sequential", netfile.dumps(model))


def server_program(
    party: Any,
    model: Any,
    *,
    frac_bits: int = ring.DEFAULT_FRAC_BITS,
    sigmoid: Any = None,
    reveal_logits: bool = True,
    max_batch: int = MAX_BATCH,
) -> dict[str, Any]:
    """The server's program: share the weights, evaluate, send the output shares to the client.

    Args:
        party: the server's party.
        model: a Sequential or LinearModel, or :func:`portable_model`'s form.
        frac_bits: fractional bits of the fixed point (public, told to the client).
        sigmoid, reveal_logits: see :func:`hecrypt.hybrid.inference.model_spec`.
        max_batch: refuse larger batches from the client.

    Returns:
        ``{"batch": N, "triples": count}``.

    Leaks: to the client, the spec (architecture, shapes, polynomials, task,
    class labels) and the outputs; to the dealer, the triple shapes.
    """
    net = _load_model(model)
    spec = model_spec(net, sigmoid=sigmoid, reveal_logits=reveal_logits)
    weights = model_weights(net)
    with party.phase("offline"):
        party.send(CLIENT, {"spec": spec, "frac_bits": int(frac_bits)})
        msg = party.recv(CLIENT)
        n = msg.get("batch") if isinstance(msg, dict) else None
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= max_batch:
            raise ProtocolError(f"the client asked for a batch of {n!r} (1..{max_batch})")
        shape = (n, *spec_input_shape(spec))
        requests = plan(spec, shape)
        src = DealerTripleSource(party, CLIENT, dealer=DEALER)
        src.prepare(requests)
    ss = SecretSharing(party, CLIENT, src, frac_bits)
    shared = ss.inputs([(None, CLIENT, shape)] + [(k, SERVER, k.shape) for k, _ in weights])
    outputs = evaluate(ss, spec, shared[0], [(k, b) for k, (_, b) in zip(shared[1:], weights)])
    for value in outputs.values():
        ss.reveal(value, CLIENT)
    src.close()
    return {"batch": n, "triples": len(requests)}


def _client_outputs(spec: dict[str, Any], revealed: dict[str, np.ndarray]) -> dict[str, Any]:
    logits = revealed.get("logits")
    proba = revealed.get("proba")
    labels = None
    if spec["model"] == "linear":
        from hecrypt.models.linear import ModelInfo, scores_to_predictions, scores_to_proba

        info = ModelInfo.from_dict(spec["info"])
        if not info.is_classifier:
            return {"labels": None, "logits": None, "values": logits, "proba": None}
        classes = info.classes_array
        if logits is not None:
            labels = scores_to_predictions(info, logits)
            if proba is None and info.proba is not None:
                proba = scores_to_proba(info, logits)
        elif proba is not None and classes is not None:
            labels = classes[(proba[:, 0] > 0.5).astype(np.intp)]
        if proba is not None and proba.shape[1] == 1:
            proba = np.hstack([1.0 - proba, proba])
        return {"labels": labels, "logits": logits, "values": None, "proba": proba}
    if logits is None:  # pragma: no cover - evaluate always reveals logits for networks
        raise ProtocolError("no logits were revealed")
    flat = logits.reshape(logits.shape[0], -1)
    labels = flat.argmax(axis=1) if flat.shape[1] > 1 else (flat[:, 0] > 0).astype(np.int64)
    if spec["layers"] and spec["layers"][-1]["type"] == "softmax":
        shifted = np.exp(flat - flat.max(axis=1, keepdims=True))
        proba = shifted / shifted.sum(axis=1, keepdims=True)
    return {"labels": labels, "logits": logits, "values": None, "proba": proba}


def prepare_records(spec: dict[str, Any], X: Any) -> np.ndarray:
    """The client's records as ``(N, *input_shape)`` float64 (validated, encodable).

    Raises:
        InvalidFeatures: not finite, not numeric, or of the wrong size.
        EncodingOverflowError: values the ring cannot carry.
    """
    from hecrypt.exceptions import InvalidFeatures
    from hecrypt.models.linear import check_features

    in_shape = spec_input_shape(spec)
    if spec["model"] == "linear":
        x = check_features(X, in_shape[0])
    else:
        try:
            arr = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidFeatures("records must be a numeric array") from None
        if arr.ndim < 2 or arr.shape[0] < 1 or math.prod(arr.shape[1:]) != math.prod(in_shape):
            raise InvalidFeatures(
                f"records must have shape (N, *{in_shape}) or (N, {math.prod(in_shape)}), "
                f"got {arr.shape}"
            )
        if not np.all(np.isfinite(arr)):
            raise InvalidFeatures("records must be finite (no NaN or infinity)")
        x = arr.reshape((arr.shape[0], *in_shape))
    return x


def client_program(party: Any, X: Any) -> dict[str, Any]:
    """The client's program: share ``X``, evaluate, receive the outputs.

    Returns:
        ``{"labels", "logits", "values", "proba"}`` as numpy arrays or ``None``.

    Raises:
        ProtocolError: a malformed spec, or any channel failure.

    Leaks: to the server, the batch size; to the dealer, nothing but the
    triple shapes (which follow from the batch size and the architecture).
    """
    with party.phase("offline"):
        msg = party.recv(SERVER)
        if not isinstance(msg, dict) or not isinstance(msg.get("frac_bits"), int):
            raise ProtocolError("malformed setup message from the server")
        spec = check_spec(msg.get("spec"))
        frac_bits = int(msg["frac_bits"])
        ring.encode_max(frac_bits)
        x = prepare_records(spec, X)
        ring.encode(x, frac_bits)  # refuse values the ring cannot carry before sending anything
        party.send(SERVER, {"batch": int(x.shape[0])})
        src = DealerTripleSource(party, SERVER, dealer=DEALER)
        src.prepare(plan(spec, x.shape))
    ss = SecretSharing(party, SERVER, src, frac_bits)
    shared = ss.inputs([(x, CLIENT, x.shape)] + [(None, SERVER, s) for s in weight_shapes(spec)])
    outputs = evaluate(ss, spec, shared[0], [(k, None) for k in shared[1:]])
    revealed = {name: ss.reveal(value, CLIENT) for name, value in outputs.items()}
    src.close()
    return _client_outputs(spec, {k: v for k, v in revealed.items() if v is not None})


# ----------------------------------------------------------------------- private_predict
ModeRunner = Callable[..., PredictionResult]
#: Inference modes besides "dealer": name -> runner(model, X, *, transport, key_bits, **opts).
MODES: dict[str, ModeRunner] = {}


def register_mode(name: str, runner: ModeRunner) -> None:
    """Add a mode to :func:`private_predict` (e.g. the Paillier-based two-party modes)."""
    if name == "dealer" or (name in MODES and MODES[name] is not runner):
        raise ValueError(f"a private inference mode named {name!r} exists")
    MODES[name] = runner


def private_predict(
    model: Any,
    X: Any,
    mode: str = "dealer",
    transport: str = "memory",
    key_bits: int = 2048,
    **opts: Any,
) -> PredictionResult:
    """Private inference: the client's ``X`` and the server's model stay secret.

    ``mode="dealer"``: two computing parties (client, server) and a dealer
    that makes Beaver triples (module docstring; docs/security.md).

    Args:
        model: a :class:`hecrypt.models.Sequential` (channels-last;
            sigmoids as explicit polynomials, ReLU exact or as a polynomial)
            or :class:`hecrypt.models.LinearModel`.
        X: the records: ``(N, *input_shape)`` or ``(N, prod(input_shape))``
            for a network (digits: ``(N, 8, 8)`` or ``(N, 64)``),
            ``(N, n_features)`` for a linear model.
        mode: ``"dealer"`` (or a mode added with :func:`register_mode`).
        transport: ``"memory"`` (parties as threads) or ``"tcp"`` (parties as
            OS processes on loopback).
        key_bits: Paillier key size (modes that use Paillier only).
        **opts: ``frac_bits`` (default 16), ``timeout`` (seconds per receive,
            default 60), ``tls`` (per-party TLS configs, tcp only),
            ``sigmoid`` (binary logistic regression: the polynomial),
            ``reveal_logits`` (binary logistic regression, default True).

    Returns:
        A :class:`PredictionResult`.

    Raises:
        UnsupportedModelError: a model or layer that cannot run in shares
            (e.g. a sigmoid without ``approx``, softmax before the last
            layer; exact ReLU and max pooling in a mode other than
            ``"dealer"``).
        UnsupportedModeError: an unknown mode.
        InvalidFeatures: malformed records.
        EncodingOverflowError: records the ring cannot carry.
        ProtocolError: a party failed (names the party and the cause).
    """
    if mode != "dealer":
        from hecrypt.hybrid import hybrid  # noqa: F401  (registers "hybrid" and "two-party")
        from hecrypt.hybrid.comparison import refuse_without_dealer

        if mode in MODES:
            # exact ReLU and max pooling need binary triples, which only the dealer makes
            refuse_without_dealer(getattr(model, "layers", ()), mode)
        runner = MODES.get(mode)
        if runner is None:
            known = ", ".join(["dealer", *MODES])
            raise UnsupportedModeError(f"unknown private inference mode {mode!r} (available: "
                                       f"{known})")
        return runner(model, X, transport=transport, key_bits=key_bits, **opts)
    frac_bits = int(opts.pop("frac_bits", ring.DEFAULT_FRAC_BITS))
    timeout = float(opts.pop("timeout", 60.0))
    tls = opts.pop("tls", None)
    sigmoid = opts.pop("sigmoid", None)
    reveal_logits = bool(opts.pop("reveal_logits", True))
    if opts:
        raise TypeError(f"unknown option(s) for the dealer mode: {', '.join(sorted(opts))}")
    spec = model_spec(model, sigmoid=sigmoid, reveal_logits=reveal_logits)
    x = prepare_records(spec, X)
    ring.encode(x, frac_bits)
    served: Any = portable_model(model) if transport == "tcp" else model
    programs: dict[str, Callable[[Any], dict[str, Any]]] = {
        CLIENT: functools.partial(client_program, X=x),
        SERVER: functools.partial(server_program, model=served, frac_bits=frac_bits,
                                  sigmoid=sigmoid, reveal_logits=reveal_logits),
        DEALER: dealer_program,
    }
    from hecrypt.hybrid.runner import run_parties

    reports: dict[str, dict[str, Any]] = {}
    results: dict[str, dict[str, Any]] = run_parties(
        programs, transport=transport, timeout=timeout, tls=tls, reports=reports
    )
    report: dict[str, dict[str, Any]] = {name: dict(reports[name]) for name in programs}
    from hecrypt.hybrid.report import total_report

    report["total"] = total_report(report)
    out = results[CLIENT]
    return PredictionResult(out["labels"], out["logits"], out["values"], out["proba"], report)


# ----------------------------------------------------------------------- hecrypt party job
def load_records(path: str) -> np.ndarray:
    """Records from a ``.npy`` file (no pickles) or a CSV file of numbers (no header).

    Raises:
        InvalidFeatures: the file holds no numeric 2-D (or image) array.
        OSError: the file cannot be read.
    """
    from hecrypt.exceptions import InvalidFeatures

    if path.endswith(".npy"):
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise InvalidFeatures(f"{path}: not a numeric .npy array ({exc})") from None
    else:
        try:
            arr = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
        except ValueError as exc:
            raise InvalidFeatures(f"{path}: not a CSV file of numbers ({exc})") from None
    return np.asarray(arr)


def load_model_file(path: str) -> Any:
    """A model from a linear model file (JSON) or a network file (npz).

    Raises:
        ModelFormatError: the file is not a valid model file.
    """
    if path.endswith(".npz"):
        from hecrypt.models import netfile

        return netfile.load(path)
    from hecrypt.models import fileformat

    return fileformat.load(path)


def _job_client(party: Any, path: str, output: str | None) -> dict[str, Any]:
    out = client_program(party, load_records(path))
    if output:
        np.savez(output, **{k: v for k, v in out.items() if v is not None})
    return out


def _predict_factory(role: str, options: Mapping[str, Any]) -> Callable[[Any], Any]:
    """``hecrypt party --job predict``: dealer-mode private inference, one role per machine.

    Roles: ``client`` (``--input records.npy|.csv``, optional ``--output
    result.npz``), ``server`` (``--model model.json|.npz``, optional
    ``--option frac_bits=16``), ``dealer`` (no options).
    """
    if role == CLIENT:
        path = options.get("input")
        if not path:
            raise ProtocolError("the predict job's client needs --input (records .npy or .csv)")
        return functools.partial(_job_client, path=str(path), output=options.get("output"))
    if role == SERVER:
        path = options.get("model")
        if not path:
            raise ProtocolError("the predict job's server needs --model (.json or .npz)")
        try:
            frac_bits = int(options.get("frac_bits", ring.DEFAULT_FRAC_BITS))
        except ValueError:
            raise ProtocolError("frac_bits must be an integer") from None
        model = load_model_file(str(path))
        return functools.partial(server_program, model=portable_model(model),
                                 frac_bits=frac_bits)
    if role == DEALER:
        return dealer_program
    raise ProtocolError(f"the predict job has roles client, server and dealer, not {role!r}")


def _register_job() -> None:
    from hecrypt.hybrid.runner import register_job

    register_job("predict", _predict_factory)


_register_job()
