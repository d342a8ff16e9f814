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

The layer view (shapes, jobs, activation triples, weight encoding) lives in
:mod:`hecrypt.hybrid._hybrid_layers`, re-exported here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import Any

import numpy as np

from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid import paillier_cross as pc
from hecrypt.hybrid import ring
from hecrypt.hybrid._hybrid_layers import MAX_WEIGHT_BITS as MAX_WEIGHT_BITS
from hecrypt.hybrid._hybrid_layers import _he_counts as _he_counts
from hecrypt.hybrid._hybrid_layers import _job as _job
from hecrypt.hybrid._hybrid_layers import _lifted as _lifted
from hecrypt.hybrid._hybrid_layers import _linear_layers as _linear_layers
from hecrypt.hybrid._hybrid_layers import _odd7 as _odd7
from hecrypt.hybrid._hybrid_layers import _poly as _poly
from hecrypt.hybrid._hybrid_layers import _poly_requests as _poly_requests
from hecrypt.hybrid._hybrid_layers import _rows as _rows
from hecrypt.hybrid._hybrid_layers import _shapes as _shapes
from hecrypt.hybrid._hybrid_layers import encode_weights as encode_weights
from hecrypt.hybrid._hybrid_layers import hybrid_requests as hybrid_requests
from hecrypt.hybrid.comparison import refuse_spec_without_dealer
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
from hecrypt.hybrid.paillier_triples import PaillierTripleSource
from hecrypt.hybrid.protocols import (
    Product,
    SecretSharing,
)
from hecrypt.hybrid.shares import SharedTensor
from hecrypt.paillier.circuit import precompute_circuit_private
from hecrypt.paillier.keys import DEFAULT_KEY_BITS, PrivateKey

__all__ = ["MODES", "hybrid_requests", "client_program", "server_program", "run_mode"]

#: The modes this module adds to :func:`hecrypt.hybrid.private_predict`.
MODES = ("hybrid", "two-party")


# ------------------------------------------------------------------ the hybrid walk
class _Hybrid:
    """One party's walk through the network in the hybrid mode."""

    def __init__(self, party: Any, peer: str, src: PaillierTripleSource, spec: dict[str, Any],
                 frac_bits: int, y_bits: list[int], sigma: int,
                 executor: Executor | None) -> None:
        self.party, self.peer, self.src, self.spec = party, peer, src, spec
        self.f, self.y_bits, self.sigma, self.executor = frac_bits, y_bits, sigma, executor
        self.ss = SecretSharing(party, peer, src, frac_bits)
        self.client = src.is_key_holder

    def shared(self, share: np.ndarray, frac_bits: int) -> SharedTensor:
        return SharedTensor(np.ascontiguousarray(share, dtype=np.uint64), frac_bits,
                            self.ss.index)

    def linear(self, x: np.ndarray, layer: dict[str, Any], shape: tuple[int, ...],
               out_shape: tuple[int, ...], lifted: bool, y_bits: int, weights: Any
               ) -> SharedTensor:
        """Steps 1-4 of the module docstring: this party's share at ``2f`` bits, bias in."""
        job = _job(layer, shape, lifted, y_bits)
        rows = _rows(x, layer)
        if self.client:
            (z,) = pc.client_cross(self.party, self.peer, self.src.private_key, [job], [rows],
                                   sigma=self.sigma, executor=self.executor, pooled=True)
        else:
            w_int, b_2f = weights
            w = w_int.reshape(job.k, job.n)
            (z,) = pc.server_cross(self.party, self.peer, self.src.public_key, [job],
                                   [(rows, w) if lifted else w], sigma=self.sigma,
                                   executor=self.executor)
            z = z + b_2f.view(np.uint64)
        return self.shared(z.reshape(out_shape), 2 * self.f)

    def polynomial(self, x: SharedTensor, poly: Any) -> SharedTensor:
        """``poly(x)``; an odd degree-7 polynomial with 4 products instead of 5.

        Steps (same 3 rounds as :meth:`SecretSharing.polynomial`, with ``t =
        x / 2^k`` and ``d_j`` its coefficients in ``t``): 1. ``u = t^2``
        (square pair); 2. ``u^2`` (square pair) and ``t^3 = t * u``; 3.
        ``r = u^2 * (d_5 t + d_7 t^3)``; then ``p = d_0 + d_1 t + d_3 t^3 + r``
        locally. One product fewer per element than the power-by-power plan
        (``t^5`` and ``t^7`` are never formed), so a fifth fewer triples.
        Other polynomials use the engine's evaluation.
        """
        odd = _odd7(poly)
        if odd is None:
            return self.ss.polynomial(x, poly)
        k, d = odd
        f, ss = self.f, self.ss
        if x.frac_bits != f:
            raise ProtocolError("truncate a product before evaluating a polynomial on it")
        t = self.shared(x.truncate(k).share, f) if k else x
        (u,) = ss.products([Product("square", t)])
        u2, t3 = ss.products([Product("square", u), Product("mul", t, u)])
        v = (t.mul_public(d[5], f) + t3.mul_public(d[7], f)).truncate(f)
        (r,) = ss.products([Product("mul", u2, v)])
        out = (t.mul_public(d[1], f) + t3.mul_public(d[3], f)).truncate(f) + r
        return out + np.full(x.shape, d[0]) if d[0] != 0.0 else out

    def run(self, x0: np.ndarray, weights: list[Any] | None) -> dict[str, SharedTensor]:
        """The online phase; returns the shared outputs to reveal (as ``evaluate``)."""
        spec, f = self.spec, self.f
        layers = _linear_layers(spec)
        shapes = _shapes(layers, x0.shape)
        last = max(i for i, ly in enumerate(layers) if ly["type"] not in ("softmax",))
        x = self.shared(x0, f)
        k = 0
        for i, (layer, lifted) in enumerate(zip(layers, _lifted(layers))):
            t = layer["type"]
            if t in ("conv2d", "dense"):
                w = weights[k] if weights is not None else None
                z = self.linear(x.share, layer, shapes[i], shapes[i + 1], lifted, self.y_bits[k],
                                w)
                k += 1
                if spec["model"] == "linear":
                    out: dict[str, SharedTensor] = {}
                    if spec["reveal_logits"]:
                        out["logits"] = z  # exact: revealed at 2f fractional bits
                    if spec["sigmoid"] is not None:
                        out["proba"] = self.polynomial(z.truncate(f), _poly(spec["sigmoid"]))
                    return out
                if i == last:
                    return {"logits": z}
                x = z.truncate(f)
            elif t == "avgpool":
                x = self.ss.avg_pool2d(x, tuple(layer["pool"]), tuple(layer["strides"]))
            elif t == "flatten":
                x = x.reshape(x.shape[0], -1)
            elif t == "square":
                x = self.ss.square(x)
            elif t == "poly":
                x = self.polynomial(x, _poly(layer["poly"]))
        return {"logits": x}


# ------------------------------------------------------------------ the programs
def _ready(party: Any, peer: str) -> None:
    """End the offline phase together: one message each way, so neither party's
    online time includes waiting for the other's offline work."""
    if party.exchange(peer, "ready") != "ready":
        raise ProtocolError(f"{peer!r} did not finish its offline phase")


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ProtocolError(f"unknown two-party mode {mode!r}: use one of {MODES}")


def server_program(
    party: Any,
    model: Any,
    *,
    mode: str = "hybrid",
    frac_bits: int = ring.DEFAULT_FRAC_BITS,
    sigma: int = pc.DEFAULT_SIGMA,
    sigmoid: Any = None,
    reveal_logits: bool = True,
    insecure_small_keys: bool = False,
    executor: Executor | None = None,
    max_batch: int = 1 << 20,
) -> dict[str, Any]:
    """The server's program in the ``hybrid`` or ``two-party`` mode.

    Offline: 1. send the spec (and, in the hybrid mode, each linear layer's
    weight bit length); 2. receive the batch size; 3. receive the client's
    public key and make every triple with it
    (:class:`~hecrypt.hybrid.paillier_triples.PaillierTripleSource`); 4.
    (hybrid) precompute the circuit-private re-randomizers of the online
    answers. Online: evaluate, send the output shares to the client, and wait
    for its confirmation (so a failure on the client's side ends the server's
    program with ``ProtocolError`` too).

    Returns:
        ``{"batch": N, "triples": count}``.
    """
    from hecrypt.hybrid.parties import _load_model

    _check_mode(mode)
    net = _load_model(model)
    spec = model_spec(net, sigmoid=sigmoid, reveal_logits=reveal_logits)
    refuse_spec_without_dealer(spec, mode)
    weights = model_weights(net)
    encoded, y_bits = encode_weights(weights, frac_bits)
    with party.phase("offline"):
        party.send(CLIENT, {"spec": spec, "frac_bits": int(frac_bits), "mode": mode,
                            "weight_bits": y_bits if mode == "hybrid" else None})
        msg = party.recv(CLIENT)
        n = msg.get("batch") if isinstance(msg, dict) else None
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= max_batch:
            raise ProtocolError(f"the client asked for a batch of {n!r} (1..{max_batch})")
        shape = (n, *spec_input_shape(spec))
        requests = hybrid_requests(spec, shape) if mode == "hybrid" else plan(spec, shape)
        src = PaillierTripleSource(party, CLIENT, sigma=sigma, executor=executor,
                                   insecure_small_keys=insecure_small_keys)
        src.prepare(requests)
        if mode == "hybrid":
            _, answers = _he_counts(spec, shape, y_bits, src.public_key.n_bits, sigma)
            precompute_circuit_private(src.public_key, answers,
                                       executor=pc.heavy_executor(executor, answers))
        _ready(party, CLIENT)
    if mode == "hybrid":
        walk = _Hybrid(party, CLIENT, src, spec, frac_bits, y_bits, sigma, executor)
        outputs = walk.run(np.zeros(shape, dtype=np.uint64), encoded)
        ss = walk.ss
    else:
        ss = SecretSharing(party, CLIENT, src, frac_bits)
        shared = ss.inputs([(None, CLIENT, shape)] + [(k, SERVER, k.shape) for k, _ in weights])
        outputs = evaluate(ss, spec, shared[0],
                           [(k, b) for k, (_, b) in zip(shared[1:], weights)])
    for value in outputs.values():
        ss.reveal(value, CLIENT)
    if party.recv(CLIENT) != {"done": True}:
        raise ProtocolError("the client did not confirm the end of the protocol")
    return {"batch": n, "triples": len(requests)}


def client_program(
    party: Any,
    X: Any,
    *,
    key_bits: int = DEFAULT_KEY_BITS,
    sigma: int = pc.DEFAULT_SIGMA,
    insecure_small_keys: bool = False,
    executor: Executor | None = None,
    private_key: PrivateKey | None = None,
) -> dict[str, Any]:
    """The client's program in the mode the server announces (see :func:`server_program`).

    ``private_key``: an existing key pair to use instead of generating one
    (``key_bits`` is then ignored); reusing a key across runs reuses its
    tables in the worker processes. It stays with the client.

    Offline: receive the spec, send the batch size, generate the key pair
    (``key_bits``) and make every triple; (hybrid) precompute the randomness
    of the online encryptions. Online: evaluate; reveal the outputs.

    Returns:
        ``{"labels", "logits", "values", "proba"}``.
    """
    from hecrypt.hybrid.parties import _client_outputs, prepare_records

    with party.phase("offline"):
        msg = party.recv(SERVER)
        if not isinstance(msg, dict) or not isinstance(msg.get("frac_bits"), int):
            raise ProtocolError("malformed setup message from the server")
        mode = msg.get("mode")
        if mode not in MODES:
            raise ProtocolError(f"the server announced an unknown mode {mode!r}")
        spec = check_spec(msg.get("spec"))
        frac_bits = int(msg["frac_bits"])
        y_bits: list[int] = msg.get("weight_bits") or []
        n_linear = sum(1 for ly in _linear_layers(spec) if ly["type"] in ("conv2d", "dense"))
        if mode == "hybrid" and (not isinstance(y_bits, list) or len(y_bits) != n_linear or not
                                 all(isinstance(b, int) and 1 <= b <= MAX_WEIGHT_BITS
                                     for b in y_bits)):
            raise ProtocolError("malformed weight bit lengths from the server")
        x = prepare_records(spec, X)
        x0 = ring.encode(x, frac_bits)
        party.send(SERVER, {"batch": int(x.shape[0])})
        shape = tuple(x.shape)
        src = PaillierTripleSource(party, SERVER, key_bits=key_bits, sigma=sigma,
                                   executor=executor, insecure_small_keys=insecure_small_keys,
                                   private_key=private_key)
        src.prepare(hybrid_requests(spec, shape) if mode == "hybrid" else plan(spec, shape))
        if mode == "hybrid":
            enc, _ = _he_counts(spec, shape, y_bits, src.public_key.n_bits, sigma)
            pc.client_precompute(src.private_key, enc, pc.heavy_executor(executor, enc // 16))
        _ready(party, SERVER)
    if mode == "hybrid":
        walk = _Hybrid(party, SERVER, src, spec, frac_bits, y_bits, sigma, executor)
        outputs = walk.run(x0, None)
        ss = walk.ss
    else:
        ss = SecretSharing(party, SERVER, src, frac_bits)
        shared = ss.inputs([(x, CLIENT, x.shape)] + [(None, SERVER, s)
                                                     for s in weight_shapes(spec)])
        outputs = evaluate(ss, spec, shared[0], [(k, None) for k in shared[1:]])
    revealed = {name: ss.reveal(value, CLIENT) for name, value in outputs.items()}
    party.send(SERVER, {"done": True})  # the server waits for it: a failure here reaches it
    return _client_outputs(spec, {k: v for k, v in revealed.items() if v is not None})


def programs(model: Any, X: Any, mode: str, *, transport: str = "memory",
             key_bits: int = DEFAULT_KEY_BITS, **opts: Any) -> dict[str, Callable[[Any], Any]]:
    """Picklable client and server programs for :func:`hecrypt.hybrid.runner.run_parties`.

    Args:
        opts: ``frac_bits``, ``sigma``, ``sigmoid``, ``reveal_logits``,
            ``insecure_small_keys``, ``private_key`` (the client's existing
            key pair, given to the client's program only).
    """
    from hecrypt.hybrid.parties import portable_model

    _check_mode(mode)
    known = {"frac_bits", "sigma", "sigmoid", "reveal_logits", "insecure_small_keys",
             "private_key"}
    if set(opts) - known:
        raise TypeError(f"unknown option(s) for the {mode} mode: "
                        f"{', '.join(sorted(set(opts) - known))}")
    both = {k: opts[k] for k in ("sigma", "insecure_small_keys") if k in opts}
    served = portable_model(model) if transport == "tcp" else model
    server_opts = {k: opts[k] for k in ("frac_bits", "sigmoid", "reveal_logits") if k in opts}
    return {
        CLIENT: functools.partial(client_program, X=X, key_bits=key_bits,
                                  private_key=opts.get("private_key"), **both),
        SERVER: functools.partial(server_program, model=served, mode=mode, **both,
                                  **server_opts),
    }


def run_mode(model: Any, X: Any, *, mode: str, transport: str = "memory",
             key_bits: int = DEFAULT_KEY_BITS, **opts: Any) -> Any:
    """``private_predict`` for the ``hybrid`` and ``two-party`` modes.

    Args:
        opts: ``timeout`` (seconds any receive may wait; default ``60 + 30 N``
            for ``N`` records, since the offline phase makes every triple of
            the batch between two messages), ``tls`` (tcp), and those of
            :func:`programs`.

    Returns:
        A :class:`hecrypt.hybrid.parties.PredictionResult` (report keyed by
        ``"client"``, ``"server"`` and ``"total"``).
    """
    from hecrypt.hybrid.parties import PredictionResult, prepare_records
    from hecrypt.hybrid.report import total_report
    from hecrypt.hybrid.runner import run_parties

    timeout_opt = opts.pop("timeout", None)
    tls = opts.pop("tls", None)
    frac_bits = int(opts.get("frac_bits", ring.DEFAULT_FRAC_BITS))
    spec = model_spec(model, sigmoid=opts.get("sigmoid"),
                      reveal_logits=bool(opts.get("reveal_logits", True)))
    refuse_spec_without_dealer(spec, mode)
    x = prepare_records(spec, X)
    ring.encode(x, frac_bits)  # refuse values the ring cannot carry before starting
    # one offline message waits for every triple of the batch to be made
    timeout = float(timeout_opt) if timeout_opt is not None else 60.0 + 30.0 * len(x)
    if transport == "memory":
        # start the worker pool before the party threads: with one thread it
        # forks, so scripts without a main guard work (see parallel._start_method)
        from hecrypt.paillier import parallel

        parallel.default_executor()
    progs = programs(model, x, mode, transport=transport, key_bits=key_bits, **opts)
    reports: dict[str, dict[str, Any]] = {}
    results = run_parties(progs, transport=transport, timeout=timeout, tls=tls,
                          reports=reports)
    report: dict[str, dict[str, Any]] = {name: dict(reports[name]) for name in progs}
    report["total"] = total_report(report)
    out = results[CLIENT]
    return PredictionResult(out["labels"], out["logits"], out["values"], out["proba"], report)


def _register() -> None:
    from hecrypt.hybrid.parties import register_mode

    for name in MODES:
        register_mode(name, functools.partial(run_mode, mode=name))


def _job_client(party: Any, path: str, output: str | None, key_bits: int, sigma: int,
                insecure_small_keys: bool = False) -> dict[str, Any]:
    from hecrypt.hybrid.parties import load_records

    out = client_program(party, load_records(path), key_bits=key_bits, sigma=sigma,
                         insecure_small_keys=insecure_small_keys)
    if output:
        np.savez(output, **{k: v for k, v in out.items() if v is not None})
    return out


def _job_factory(mode: str) -> Callable[[str, Mapping[str, Any]], Callable[[Any], Any]]:
    """``hecrypt party --job predict-hybrid|predict-two-party``, one role per machine.

    Roles: ``client`` (``--input records.npy|.csv``, optional ``--output
    result.npz``, ``--option key_bits=2048``), ``server`` (``--model
    model.json|.npz``, optional ``--option frac_bits=16``); both take
    ``--option sigma=40`` and, for tests only, ``--option insecure_small_keys=1``
    (keys below 2048 bits).
    """

    def factory(role: str, options: Mapping[str, Any]) -> Callable[[Any], Any]:
        from hecrypt.hybrid.parties import load_model_file, portable_model

        try:
            sigma = int(options.get("sigma", pc.DEFAULT_SIGMA))
            key_bits = int(options.get("key_bits", DEFAULT_KEY_BITS))
            frac_bits = int(options.get("frac_bits", ring.DEFAULT_FRAC_BITS))
            small = bool(int(options.get("insecure_small_keys", 0)))
        except ValueError:
            raise ProtocolError("sigma, key_bits, frac_bits and insecure_small_keys must be "
                                "integers") from None
        if role == SERVER:
            path = options.get("model")
            if not path:
                raise ProtocolError(f"the {mode} job's server needs --model (.json or .npz)")
            model = portable_model(load_model_file(str(path)))
            return functools.partial(server_program, model=model, mode=mode, sigma=sigma,
                                     frac_bits=frac_bits, insecure_small_keys=small)
        if role == CLIENT:
            path = options.get("input")
            if not path:
                raise ProtocolError(f"the {mode} job's client needs --input (.npy or .csv)")
            return functools.partial(_job_client, path=str(path), output=options.get("output"),
                                     key_bits=key_bits, sigma=sigma, insecure_small_keys=small)
        raise ProtocolError(f"the {mode} job has roles client and server, not {role!r}")

    return factory


def _register_jobs() -> None:
    from hecrypt.hybrid.runner import register_job

    for name in MODES:
        register_job(f"predict-{name}", _job_factory(name))


_register()
_register_jobs()
