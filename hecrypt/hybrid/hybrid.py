"""Two-party private inference without a dealer: ``"hybrid"`` and ``"two-party"`` modes.

The client holds the records and a Paillier key pair (made in the offline
phase); the server holds the model. No third party.

``mode="hybrid"``
    Linear layers (Conv2D, Dense, a linear model's scores) run under
    Paillier on the *lifted* shares of their input, one round trip each
    (:class:`~hecrypt.hybrid.paillier_cross.MatmulJob` with ``lifted=True``):

    1. The client encrypts its share ``x_0`` (im2col columns for a
       convolution), packed several rows per ciphertext, with randomness
       precomputed offline.
    2. The server multiplies in its share ``x_1`` as a plaintext
       (``Enc(x_0 + x_1)``, congruent to ``x`` mod 2^64), then its weights
       ``round(W * 2^f)`` as exponents (one multi-exponentiation per
       output ciphertext).
    3. It masks every slot with ``2^(b-1) + r``, ``r`` uniform in
       ``[0, 2^(b + sigma))``, re-randomizes with a uniform ``s^n``
       (precomputed offline) and returns the ciphertexts; it keeps
       ``-(2^(b-1) + r) + round(bias * 2^2f)``.
    4. The client decrypts and keeps each slot mod 2^64. Both truncate by
       ``f`` bits locally (SecureML, Mohassel and Zhang 2017, Theorem 1).

    The first layer skips the lifting (the client owns its input). Activations
    (polynomials, squares) and average pooling run in additive shares with
    :class:`~hecrypt.hybrid.protocols.SecretSharing`, whose Beaver triples come
    from :class:`~hecrypt.hybrid.paillier_triples.PaillierTripleSource`,
    prepared in the offline phase. The last linear layer's result is opened to
    the client at ``2f`` fractional bits (no truncation error).

``mode="two-party"``
    Every layer in shares (the server shares its weights), every product a
    Beaver product with a triple from the Paillier source.

What each party learns (semi-honest model): the client learns the network's
architecture (layer kinds and shapes, the activation polynomials, a
power-of-two bound on each layer's largest encoded weight), the outputs, and
timing; the server learns the input shape and timing. Everything else each
party sees is an IND-CPA ciphertext (server), a value statistically masked
with parameter ``sigma`` in a circuit-private ciphertext (client), or a
uniformly random opening (Beaver products). See docs/security.md.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np

from hecrypt.exceptions import EncodingOverflowError, ProtocolError, UnsupportedModelError
from hecrypt.hybrid import paillier_cross as pc
from hecrypt.hybrid import ring
from hecrypt.hybrid.paillier_triples import PaillierTripleSource
from hecrypt.hybrid.protocols import SecretSharing, polynomial_requests
from hecrypt.hybrid.shares import SharedTensor
from hecrypt.hybrid.triples import TripleRequest
from hecrypt.paillier.circuit import precompute_circuit_private
from hecrypt.paillier.keys import DEFAULT_KEY_BITS

__all__ = ["MODES", "network_spec", "plan_requests", "client_program", "server_program"]

#: The modes this module runs.
MODES = ("hybrid", "two-party")


# ------------------------------------------------------------------ the public description
def _bits(v: np.ndarray) -> int:
    return max(1, int(np.abs(v).max()).bit_length()) if v.size else 1


def _from_linear_model(model: Any) -> tuple[list[Any], dict[str, Any]]:
    info = model.info
    layers: list[Any] = [("dense", np.asarray(model.coef, dtype=np.float64).reshape(
        model.n_outputs, model.n_features).T, np.asarray(model.intercept, dtype=np.float64))]
    out = {"task": info.task, "classes": None if info.classes is None else list(info.classes),
           "proba": info.proba, "revealed": "scores"}
    if info.task == "classification" and info.proba == "sigmoid" and model.n_outputs == 1:
        from hecrypt.hybrid.polynomials import sigmoid_poly

        layers.append(("poly", sigmoid_poly()))
        out["revealed"] = "probabilities"
    return layers, out


def _from_sequential(model: Any) -> tuple[list[Any], dict[str, Any]]:
    layers: list[Any] = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            layers.append(("conv2d", layer.kernel, layer.bias, tuple(layer.strides),
                           layer.padding))
        elif kind == "Dense":
            layers.append(("dense", layer.kernel, layer.bias))
        elif kind == "AveragePooling2D":
            layers.append(("avgpool", tuple(layer.pool_size), tuple(layer.strides)))
        elif kind == "Flatten":
            layers.append(("flatten",))
        elif kind == "Dropout":
            continue
        elif kind == "Activation":
            if layer.name == "softmax":
                continue  # applied by the client to the revealed logits
            if layer.name == "square":
                layers.append(("square",))
            elif layer.approx is not None:
                layers.append(("poly", layer.approx))
            elif layer.name == "sigmoid":
                from hecrypt.hybrid.polynomials import sigmoid_poly

                layers.append(("poly", sigmoid_poly()))
            else:
                raise UnsupportedModelError(
                    f"Activation({layer.name!r}) needs a polynomial approximation to run privately")
        else:
            raise UnsupportedModelError(f"{kind} layers cannot be evaluated privately")
    return layers, {"task": "classification", "classes": None, "proba": "softmax",
                    "revealed": "scores"}


def network_spec(model: Any, frac_bits: int = ring.DEFAULT_FRAC_BITS
                 ) -> tuple[dict[str, Any], list[Any]]:
    """The public description the server sends, and its private weights.

    Returns:
        ``(spec, weights)``: ``spec`` holds the input shape, the layers
        without weights (with ``y_bits``, the bit length of each linear
        layer's largest encoded weight) and how to read the output;
        ``weights[i]`` is ``(W_int, bias_2f)`` for linear layer ``i``
        (encoded with ``f`` and ``2f`` fractional bits), else None.

    Raises:
        UnsupportedModelError: a layer that cannot run privately.
    """
    if hasattr(model, "coef") and hasattr(model, "info"):
        layers, output = _from_linear_model(model)
        input_shape: list[int] = [int(model.n_features)]
    else:
        layers, output = _from_sequential(model)
        input_shape = [int(s) for s in model.input_shape]
    ops: list[dict[str, Any]] = []
    weights: list[Any] = []
    for entry in layers:
        op = entry[0]
        if op in ("conv2d", "dense"):
            kernel = np.asarray(entry[1], dtype=np.float64)
            w_int = np.rint(np.ldexp(kernel, frac_bits)).astype(np.int64)
            b_2f = np.rint(np.ldexp(np.asarray(entry[2], dtype=np.float64), 2 * frac_bits))
            d: dict[str, Any] = {"op": op, "kernel": list(kernel.shape), "y_bits": _bits(w_int)}
            if op == "conv2d":
                d.update(strides=list(entry[3]), padding=entry[4])
            ops.append(d)
            weights.append((w_int, b_2f.astype(np.int64)))
        elif op == "poly":
            poly = entry[1]
            ops.append({"op": "poly", "coeffs": [float(c) for c in poly.coeffs],
                        "interval": [float(v) for v in poly.interval]})
            weights.append(None)
        elif op == "avgpool":
            ops.append({"op": "avgpool", "pool": list(entry[1]), "strides": list(entry[2])})
            weights.append(None)
        else:
            ops.append({"op": op})
            weights.append(None)
    spec = {"input_shape": input_shape, "frac_bits": int(frac_bits), "ops": ops,
            "output": output}
    return spec, weights


def _poly(op: dict[str, Any]) -> Any:
    return types.SimpleNamespace(coeffs=tuple(op["coeffs"]), interval=tuple(op["interval"]))


def _shapes(spec: dict[str, Any], batch: int) -> list[tuple[int, ...]]:
    """The input shape of every op (and the final output shape last)."""
    shape: tuple[int, ...] = (batch, *spec["input_shape"])
    out = [shape]
    for op in spec["ops"]:
        kind = op["op"]
        if kind == "conv2d":
            shape = ring.conv2d_output_shape(shape, op["kernel"], tuple(op["strides"]),
                                             op["padding"])
        elif kind == "dense":
            shape = (shape[0], int(op["kernel"][1]))
        elif kind == "avgpool":
            ph, pw = op["pool"]
            sh, sw = op["strides"]
            shape = (shape[0], (shape[1] - ph) // sh + 1, (shape[2] - pw) // sw + 1, shape[3])
        elif kind == "flatten":
            shape = (shape[0], int(np.prod(shape[1:])))
        out.append(shape)
    return out


def _linear_job(op: dict[str, Any], shape: tuple[int, ...], lifted: bool) -> pc.MatmulJob:
    if op["op"] == "conv2d":
        kh, kw, cin, cout = op["kernel"]
        n_out, ho, wo, _ = ring.conv2d_output_shape(shape, op["kernel"], tuple(op["strides"]),
                                                    op["padding"])
        return pc.MatmulJob(n_out * ho * wo, kh * kw * cin, cout, y_bits=op["y_bits"],
                            signed=True, lifted=lifted)
    k, n = op["kernel"]
    return pc.MatmulJob(shape[0], k, n, y_bits=op["y_bits"], signed=True, lifted=lifted)


def _rows(x: np.ndarray, op: dict[str, Any]) -> np.ndarray:
    """A linear op's input as the rows of a matrix product (im2col for a convolution)."""
    if op["op"] == "conv2d":
        kh, kw = op["kernel"][0], op["kernel"][1]
        return ring.im2col(x, kh, kw, tuple(op["strides"]), op["padding"])
    return x.reshape(x.shape[0], -1)


def plan_requests(spec: dict[str, Any], batch: int, mode: str) -> list[TripleRequest]:
    """Every triple the online phase takes, in order."""
    reqs: list[TripleRequest] = []
    shapes = _shapes(spec, batch)
    for op, shape in zip(spec["ops"], shapes):
        kind = op["op"]
        if kind == "poly":
            reqs.extend(polynomial_requests(shape, _poly(op)))
        elif kind == "square":
            reqs.append(TripleRequest("square", shape))
        elif mode == "two-party" and kind == "conv2d":
            st = tuple(int(s) for s in op["strides"])
            reqs.append(TripleRequest("conv2d", shape, tuple(op["kernel"]), (st, op["padding"])))
        elif mode == "two-party" and kind == "dense":
            reqs.append(TripleRequest("matmul", (shape[0], shape[1]), tuple(op["kernel"])))
    return reqs


def _lifted(spec: dict[str, Any]) -> list[bool]:
    """Per op: does its input come as shares of both parties (else the client's own data)?"""
    flags, own = [], True
    for op in spec["ops"]:
        flags.append(not own)
        own = own and op["op"] == "flatten"
    return flags


def _he_counts(spec: dict[str, Any], batch: int, n_bits: int, sigma: int) -> tuple[int, int]:
    """(client encryptions, server re-randomizations) of the hybrid online phase."""
    enc = out = 0
    for op, shape, lifted in zip(spec["ops"], _shapes(spec, batch), _lifted(spec)):
        if op["op"] in ("conv2d", "dense"):
            plan = pc.job_layout(_linear_job(op, shape, lifted), n_bits, sigma)
            enc += plan.inputs
            out += plan.outputs
    return enc, out


# ------------------------------------------------------------------ the programs
class _Run:
    """One party's state while it walks the network."""

    def __init__(self, party: Any, peer: str, src: PaillierTripleSource, spec: dict[str, Any],
                 mode: str, sigma: int, executor: Executor | None) -> None:
        self.party, self.peer, self.src, self.spec = party, peer, src, spec
        self.mode, self.sigma, self.executor = mode, sigma, executor
        self.f = int(spec["frac_bits"])
        self.ss = SecretSharing(party, peer, src, self.f)
        self.client = src.is_key_holder

    def shared(self, share: np.ndarray, frac_bits: int) -> SharedTensor:
        return SharedTensor(np.ascontiguousarray(share, dtype=np.uint64), frac_bits,
                            self.ss.index)

    def he_linear(self, x: np.ndarray, op: dict[str, Any], shape: tuple[int, ...],
                  lifted: bool, weights: Any) -> np.ndarray:
        """One hybrid linear layer: this party's share at ``2f`` bits, bias included."""
        job = _linear_job(op, shape, lifted)
        rows = _rows(x, op)
        out_shape = _shapes({**self.spec, "ops": [op], "input_shape": list(shape[1:])},
                            shape[0])[-1]
        if self.client:
            (z,) = pc.client_cross(self.party, self.peer, self.src.private_key, [job], [rows],
                                   sigma=self.sigma, executor=self.executor, pooled=True)
            return z.reshape(out_shape)
        w_int, b_2f = weights
        w = w_int.reshape(job.k, job.n)
        operand = (rows, w) if lifted else w
        (z,) = pc.server_cross(self.party, self.peer, self.src.public_key, [job], [operand],
                               sigma=self.sigma, executor=self.executor)
        return (z + b_2f.view(np.uint64)).reshape(out_shape)

    def ss_linear(self, x: SharedTensor, op: dict[str, Any], weights: Any) -> SharedTensor:
        """One linear layer in shares (two-party mode): the server shares its weights."""
        kshape = tuple(op["kernel"])
        mine = weights is not None
        w_val = np.ldexp(weights[0].astype(np.float64), -self.f) if mine else None
        b_val = np.ldexp(weights[1].astype(np.float64), -2 * self.f) if mine else None
        w, b = self.ss.inputs([(w_val, "server", kshape), (b_val, "server", (kshape[-1],))])
        if op["op"] == "conv2d":
            y = self.ss.conv2d(x, w, tuple(op["strides"]), op["padding"])
        else:
            y = self.ss.matmul(x, w)
        return y + self.shared(np.broadcast_to(b.share, y.shape), self.f)

    def walk(self, x0: np.ndarray, weights: list[Any] | None) -> np.ndarray | None:
        """The online phase; the client gets the opened output (ring elements, scale)."""
        spec, f = self.spec, self.f
        ops = spec["ops"]
        shapes = _shapes(spec, x0.shape[0])
        last_linear = max((i for i, op in enumerate(ops) if op["op"] in ("conv2d", "dense")),
                          default=-1)
        x: SharedTensor = self.shared(x0, f)
        for i, (op, shape, lifted) in enumerate(zip(ops, shapes, _lifted(spec))):
            kind = op["op"]
            w = weights[i] if weights is not None else None
            if kind in ("conv2d", "dense") and self.mode == "hybrid":
                z = self.he_linear(x.share, op, shape, lifted, w)
                if i == last_linear and i == len(ops) - 1:
                    return self._open(self.shared(z, 2 * f))
                x = self.shared(z, 2 * f).truncate(f)
            elif kind in ("conv2d", "dense"):
                x = self.ss_linear(x, op, w)
            elif kind == "poly":
                x = self.ss.polynomial(x, _poly(op))
            elif kind == "square":
                x = self.ss.square(x)
            elif kind == "avgpool":
                x = self.ss.avg_pool2d(x, tuple(op["pool"]), tuple(op["strides"]))
            elif kind == "flatten":
                x = x.reshape(x.shape[0], -1)
        return self._open(x)

    def _open(self, x: SharedTensor) -> np.ndarray | None:
        return self.ss.reveal(x, to="client")  # decoded with x's fractional bits


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ProtocolError(f"unknown two-party mode {mode!r}: use one of {MODES}")


def client_program(
    party: Any,
    X: np.ndarray,
    *,
    mode: str = "hybrid",
    server: str = "server",
    key_bits: int = DEFAULT_KEY_BITS,
    sigma: int = pc.DEFAULT_SIGMA,
    insecure_small_keys: bool = False,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """The client's whole program: returns ``{"outputs": ..., "output": spec["output"]}``.

    Offline: receive the architecture, make the key pair and send the public
    key, prepare every triple, precompute the randomness of the online
    encryptions. Online: walk the network; receive the opened outputs.
    """
    _check_mode(mode)
    with party.phase("offline"):
        spec = party.recv(server)
        if not isinstance(spec, dict) or "ops" not in spec:
            raise ProtocolError("expected the server's network description")
        xa = np.asarray(X, dtype=np.float64)
        want = tuple(spec["input_shape"])
        if xa.shape[1:] != want:
            try:
                xa = xa.reshape((xa.shape[0], *want))
            except ValueError:
                raise ProtocolError(f"records of shape {xa.shape[1:]} for a network that takes "
                                    f"{want}") from None
        src = PaillierTripleSource(party, server, key_bits=key_bits, sigma=sigma,
                                   executor=executor, insecure_small_keys=insecure_small_keys)
        src.setup()
        src.prepare(plan_requests(spec, xa.shape[0], mode))
        if mode == "hybrid":
            enc, _ = _he_counts(spec, xa.shape[0], src.public_key.n_bits, sigma)
            src.private_key.precompute(enc, executor=executor)
    with party.phase("online"):
        run = _Run(party, server, src, spec, mode, sigma, executor)
        x0 = ring.encode(xa, run.f)
        out = run.walk(x0, None)
    return {"outputs": out, "output": spec["output"]}


def server_program(
    party: Any,
    model: Any,
    *,
    mode: str = "hybrid",
    client: str = "client",
    batch: int | None = None,
    sigma: int = pc.DEFAULT_SIGMA,
    frac_bits: int = ring.DEFAULT_FRAC_BITS,
    insecure_small_keys: bool = False,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """The server's whole program (see :func:`client_program`); returns the mode.

    Args:
        batch: the number of records the client sends (public; it sets the
            triples' shapes).
    """
    _check_mode(mode)
    if batch is None or batch < 1:
        raise ProtocolError("the server needs the public batch size")
    with party.phase("offline"):
        spec, weights = network_spec(model, frac_bits)
        for op in spec["ops"]:
            if op.get("y_bits", 0) > 48:
                raise EncodingOverflowError("a weight is too large for the ring at these bits")
        party.send(client, spec)
        src = PaillierTripleSource(party, client, sigma=sigma, executor=executor,
                                   insecure_small_keys=insecure_small_keys)
        src.setup()
        src.prepare(plan_requests(spec, batch, mode))
        if mode == "hybrid":
            _, outs = _he_counts(spec, batch, src.public_key.n_bits, sigma)
            precompute_circuit_private(src.public_key, outs, executor=executor)
    with party.phase("online"):
        run = _Run(party, client, src, spec, mode, sigma, executor)
        shape = (batch, *spec["input_shape"])
        run.walk(np.zeros(shape, dtype=np.uint64), weights)
    return {"mode": mode}


def programs(model: Any, X: np.ndarray, mode: str, **opts: Any) -> dict[str, Any]:
    """Picklable client and server programs for :func:`hecrypt.hybrid.runner.run_parties`."""
    common = {k: opts[k] for k in ("sigma", "insecure_small_keys") if k in opts}
    batch = int(np.asarray(X).shape[0])
    return {
        "client": functools.partial(client_program, X=np.asarray(X), mode=mode,
                                    key_bits=opts.get("key_bits", DEFAULT_KEY_BITS), **common),
        "server": functools.partial(server_program, model=model, mode=mode, batch=batch,
                                    frac_bits=opts.get("frac_bits", ring.DEFAULT_FRAC_BITS),
                                    **common),
    }


def read_outputs(values: np.ndarray, output: dict[str, Any]) -> dict[str, Any]:
    """Labels, logits or values from the opened outputs, as the model's task says."""
    vals = np.asarray(values, dtype=np.float64)
    if output.get("task") == "regression":
        return {"values": vals, "labels": None, "logits": None}
    classes: Sequence[Any] | None = output.get("classes")
    if vals.shape[1] == 1:  # binary: a score or a probability
        cut = 0.5 if output.get("revealed") == "probabilities" else 0.0
        idx = (vals[:, 0] > cut).astype(int)
    else:
        idx = np.argmax(vals, axis=1)
    labels = np.asarray(classes)[idx] if classes is not None else idx
    return {"values": None, "labels": labels, "logits": vals}


def _totals(reports: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    keys = ("online_s", "offline_s", "bytes_sent", "bytes_received", "rounds",
            "offline_bytes_sent", "online_bytes_sent", "offline_rounds", "online_rounds")
    out = {name: {k: r.get(k, 0) for k in keys} for name, r in reports.items()}
    total = {k: sum(r[k] for r in out.values()) for k in keys}
    for k in ("online_s", "offline_s", "rounds", "offline_rounds", "online_rounds"):
        total[k] = max(r[k] for r in out.values())  # parties run side by side
    out["total"] = total
    return out


def predict(
    model: Any,
    X: np.ndarray,
    *,
    mode: str = "hybrid",
    transport: str = "memory",
    key_bits: int = DEFAULT_KEY_BITS,
    timeout: float = 120.0,
    **opts: Any,
) -> Any:
    """Private inference with two parties (the engine behind ``private_predict``).

    Args:
        model: a :class:`hecrypt.models.Sequential` or :class:`hecrypt.models.LinearModel`
            (the server's).
        X: the client's records (batch first).
        mode: ``"hybrid"`` or ``"two-party"`` (see the module docstring).
        transport: ``"memory"`` (threads) or ``"tcp"`` (one process per party).
        key_bits: the client's Paillier key size.
        timeout: seconds any message may take.
        opts: ``sigma`` (statistical parameter, >= 40), ``frac_bits``,
            ``insecure_small_keys`` (tests only).

    Returns:
        An object with ``labels``, ``logits``, ``values``, ``report``
        (per party and ``"total"``) and ``report_table()``.
    """
    from hecrypt.hybrid.runner import run_parties

    _check_mode(mode)
    if transport == "memory":
        # start the worker pool before the party threads: with one thread it
        # forks, so scripts without a main guard work (see parallel._start_method)
        from hecrypt.paillier import parallel

        parallel.default_executor()
    progs = programs(model, X, mode, key_bits=key_bits, **opts)
    reports: dict[str, dict[str, Any]] = {}
    results = run_parties(progs, transport=transport, timeout=timeout, reports=reports)
    got = results["client"]
    fields = read_outputs(got["outputs"], got["output"])
    return _result(fields, _totals(reports))


def _result(fields: dict[str, Any], report: dict[str, Any]) -> Any:
    return TwoPartyResult(fields["labels"], fields["logits"], fields["values"], report)


class TwoPartyResult:
    """Outputs of a two-party private inference and its cost report."""

    def __init__(self, labels: Any, logits: Any, values: Any, report: dict[str, Any]) -> None:
        self.labels, self.logits, self.values, self.report = labels, logits, values, report

    def report_table(self) -> str:
        """The per-party report as a text table (offline and online apart)."""
        rows = ["party     offline_s  online_s   sent_bytes   recv_bytes  rounds"]
        for name, r in self.report.items():
            rows.append(f"{name:<9} {r['offline_s']:9.3f} {r['online_s']:9.3f} "
                        f"{r['bytes_sent']:12d} {r['bytes_received']:12d} {r['rounds']:7d}")
        return "\n".join(rows)
