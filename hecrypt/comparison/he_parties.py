"""Paillier-only private scoring as two party programs (techniques he, he-packed, phe).

The HE-only techniques are measured exactly as the secret-sharing ones: the
client and the server are two programs that talk only through a
:class:`~hecrypt.hybrid.channels.Party` of the counting channels, so bytes
and rounds come from the same counters and wall times from the same phases.
Every ciphertext crosses the channel in its real serialized form.

Protocol (one round trip, the textbook HE design)::

    offline  1. client: generate a key pair (or use the one it has: within
                one comparison ``he`` and ``he-packed`` share one, see
                :class:`hecrypt.comparison.techniques.ClientKeys`)
             2. client -> server: public key
             3. server -> client: the model's public description (no weights)
    online   4. client: encrypt the records
             5. client -> server: ciphertexts
             6. server: scores = records @ W^T + b on ciphertexts, re-randomized
             7. server -> client: encrypted scores
             8. client: decrypt
             (4-8 repeat for each part when :class:`hecrypt.ScoringClient`
             splits a large batch into several requests; the last request
             says it is the last, so the server stops without another message)

Techniques:

* ``he``: hecrypt, one ciphertext per feature value
  (:class:`~hecrypt.EncryptedTensor`, binary form of
  :mod:`hecrypt.paillier.serialization`);
* ``he-packed``: hecrypt with slot packing (:class:`~hecrypt.PackedTensor`:
  one ciphertext holds the same feature of several records, and their
  scores come back packed too). One record cannot be packed, so with a
  batch of one it runs exactly as ``he``;
* ``phe``: python-paillier doing the same work, one ``EncryptedNumber`` per
  value, sent in phe's own terms: each ciphertext as an integer and its
  exponent; the server obfuscates the scores (``ciphertext(be_secure=True)``)
  as phe does before export.

Leaks (both hecrypt techniques and phe): the server learns the key size,
the number of records and features (and the packing layout); the client
learns the scores, the model's public description and nothing else about
the weights.

The programs are module-level functions taking picklable arguments (the
model as its JSON text), so the same code runs as threads over in-memory
channels or as processes over TCP.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np

from hecrypt.exceptions import ProtocolError

__all__ = [
    "CLIENT",
    "SERVER",
    "hecrypt_client",
    "hecrypt_server",
    "phe_client",
    "phe_server",
    "programs",
]

CLIENT = "client"
SERVER = "server"


def _start_workers() -> None:
    """Start hecrypt's worker processes now (a one-off cost, paid in the offline phase).

    The first batch operation of a process starts its local process pool;
    left to the online phase, that start-up (~1.5 s with ``forkserver``)
    would be counted as the cost of scoring.
    """
    from hecrypt.paillier import parallel

    if parallel.resolve_executor(None, parallel.MIN_PARALLEL_ITEMS) is parallel.default_executor():
        pool = parallel.default_executor()
        list(pool.map(abs, range(8)))


class _ChannelScorer:
    """The server as a :class:`hecrypt.ScoringClient` sees it: bytes over the party channel."""

    def __init__(self, party: Any, info: Any, records: int,
                 max_request_bytes: int | None = None) -> None:
        self._party = party
        self._info = info
        self._left = records
        if max_request_bytes is not None:
            # a body limit, as a scoring service publishes: the client splits to respect it
            self.max_request_bytes = int(max_request_bytes)

    @property
    def info(self) -> Any:
        return self._info

    def score(self, public_key: Any, encrypted_batch: Any) -> Any:
        from hecrypt.paillier.packed import PackedTensor

        kind = "packed" if isinstance(encrypted_batch, PackedTensor) else "tensor"
        records = encrypted_batch.shape[0] if encrypted_batch.ndim == 2 else 1
        self._left -= records
        self._party.send(SERVER, {"kind": kind, "batch": encrypted_batch.to_bytes(),
                                  "last": self._left <= 0})
        reply = self._party.recv(SERVER)
        if not isinstance(reply, bytes):
            raise ProtocolError("the server's scores are not a binary ciphertext block")
        return type(encrypted_batch).from_bytes(reply, public_key)


def hecrypt_client(
    party: Any,
    *,
    X: np.ndarray,
    key_bits: int,
    packed: bool,
    value_bound: float,
    insecure_small_keys: bool = False,
    private_key: Any = None,
    max_request_bytes: int | None = None,
) -> dict[str, Any]:
    """The client of ``he`` / ``he-packed`` (steps 1, 2, 4, 5, 8).

    Args:
        private_key: a key pair the client already has (then step 1 is
            skipped: the caller states where the key came from).
        max_request_bytes: a server body limit to respect (``None``: none):
            the batch is then sent as several requests, each a round trip.

    Returns:
        ``{"scores": (n, outputs) float64, "path": ..., "key": "generated" |
        "given", "ciphertexts_sent": ..., "ciphertexts_received": ...}``.
    """
    from hecrypt.paillier.keys import generate_keypair
    from hecrypt.scoring import ScoringClient

    x = np.asarray(X, dtype=np.float64)
    with party.phase("offline"):
        _start_workers()
        if private_key is None:
            public_key, private_key = generate_keypair(
                key_bits, insecure_small_keys=insecure_small_keys
            )
            key = "generated"
        else:
            public_key, key = private_key.public_key, "given"
            if public_key.n_bits != key_bits:
                raise ProtocolError(f"the given key has {public_key.n_bits} bits, not {key_bits}")
        party.send(SERVER, public_key.to_bytes())
        description = party.recv(SERVER)
        info = _read_info(description)
    with party.phase("online"):
        client = ScoringClient(
            _ChannelScorer(party, info, x.shape[0], max_request_bytes), private_key=private_key,
            packing=packed,
            value_bound=value_bound, progress=None,  # nothing to display
        )
        scores = np.asarray(client.decision_function(x), dtype=np.float64)
    last = client.last_report
    return {
        "scores": scores.reshape(x.shape[0], -1),
        "path": None if last is None else last.path,
        "key": key,
        "requests": None if last is None else getattr(last, "requests", 1),
        "ciphertexts_sent": None if last is None else last.ciphertexts_sent,
        "ciphertexts_received": None if last is None else last.ciphertexts_received,
    }


def _read_info(description: Any) -> Any:
    from hecrypt.models.linear import ModelInfo

    if not isinstance(description, str):
        raise ProtocolError("the model description is not JSON text")
    try:
        return ModelInfo.from_dict(json.loads(description))
    except ValueError as exc:
        raise ProtocolError(f"the model description is invalid: {exc}") from exc


def hecrypt_server(
    party: Any, *, model_json: str, insecure_small_keys: bool = False
) -> dict[str, Any]:
    """The server of ``he`` / ``he-packed`` (steps 3, 6, 7).

    The scoring itself is :class:`hecrypt.scoring.InProcessScorer` (validation,
    ``batch @ W^T + b``, re-randomization before the scores leave).
    """
    from hecrypt.models import fileformat
    from hecrypt.paillier.keys import PublicKey
    from hecrypt.paillier.packed import PackedTensor
    from hecrypt.paillier.tensor import EncryptedTensor
    from hecrypt.scoring import InProcessScorer

    model = fileformat.loads(model_json)
    scorer = InProcessScorer(model, wire=False)
    with party.phase("offline"):
        _start_workers()
        key_bytes = party.recv(CLIENT)
        if not isinstance(key_bytes, bytes):
            raise ProtocolError("the client's public key is not in its binary form")
        public_key = PublicKey.from_bytes(key_bytes, insecure_small_keys=insecure_small_keys)
        party.send(CLIENT, json.dumps(model.info.to_dict()))
    requests = 0
    with party.phase("online"):
        while True:
            request = party.recv(CLIENT)
            if not isinstance(request, dict) or request.get("kind") not in ("packed", "tensor"):
                raise ProtocolError("the client's request is not an encrypted batch")
            kind: Any = PackedTensor if request["kind"] == "packed" else EncryptedTensor
            data = request.get("batch")
            if not isinstance(data, bytes):
                raise ProtocolError("the client's batch is not a binary ciphertext block")
            batch = kind.from_bytes(data, public_key)
            scores = scorer.score(public_key, batch)
            party.send(CLIENT, scores.to_bytes(rerandomize=False))  # re-randomized already
            requests += 1
            if request.get("last") is True:
                break
    return {"requests": requests}


def phe_client(party: Any, *, X: np.ndarray, key_bits: int) -> dict[str, Any]:
    """The client of ``phe``: python-paillier keys, one ciphertext per value.

    Messages: the public key as the integer ``n``; records as
    ``{"shape": [n, f], "ciphertexts": [int, ...], "exponents": [int, ...]}``.
    """
    import phe

    x = np.asarray(X, dtype=np.float64)
    with party.phase("offline"):
        public_key, private_key = phe.generate_paillier_keypair(n_length=key_bits)
        party.send(SERVER, int(public_key.n))
        info = _read_info(party.recv(SERVER))
    with party.phase("online"):
        encrypted = [public_key.encrypt(float(v)) for v in x.reshape(-1).tolist()]
        party.send(SERVER, {
            "shape": list(x.shape),
            "ciphertexts": [e.ciphertext(be_secure=False) for e in encrypted],
            "exponents": [int(e.exponent) for e in encrypted],
        })
        reply = party.recv(SERVER)
        numbers = _phe_numbers(public_key, reply, (x.shape[0], info.n_outputs))
        scores = np.array([private_key.decrypt(e) for e in numbers], dtype=np.float64)
    return {
        "scores": scores.reshape(x.shape[0], info.n_outputs),
        "path": "phe",
        "ciphertexts_sent": len(encrypted),
        "ciphertexts_received": len(numbers),
    }


def _phe_numbers(public_key: Any, message: Any, shape: tuple[int, int]) -> list[Any]:
    import phe

    if not isinstance(message, dict):
        raise ProtocolError("a phe message is a mapping of shape, ciphertexts and exponents")
    cs, es = message.get("ciphertexts"), message.get("exponents")
    if list(message.get("shape", [])) != list(shape):
        raise ProtocolError(f"expected phe numbers of shape {shape}, got {message.get('shape')}")
    count = shape[0] * shape[1]
    if not isinstance(cs, list) or not isinstance(es, list) or len(cs) != count \
            or len(es) != count:
        raise ProtocolError(f"expected {count} phe ciphertexts and exponents")
    nsq = public_key.nsquare
    out = []
    for c, e in zip(cs, es):
        if not isinstance(c, int) or not 0 < c < nsq or not isinstance(e, int):
            raise ProtocolError("a phe ciphertext is out of range or not an integer")
        out.append(phe.EncryptedNumber(public_key, c, e))
    return out


def phe_server(party: Any, *, model_json: str) -> dict[str, Any]:
    """The server of ``phe``: ``sum_j enc_x[j] * w[j] + b`` per record and output."""
    import phe

    from hecrypt.models import fileformat

    model = fileformat.loads(model_json)
    coef = [[float(v) for v in row] for row in model.coef.tolist()]
    intercept = [float(v) for v in model.intercept.tolist()]
    with party.phase("offline"):
        n = party.recv(CLIENT)
        if not isinstance(n, int) or n < 3:
            raise ProtocolError("the client's phe public key is not an integer modulus")
        public_key = phe.PaillierPublicKey(n)
        party.send(CLIENT, json.dumps(model.info.to_dict()))
    with party.phase("online"):
        request = party.recv(CLIENT)
        shape = request.get("shape") if isinstance(request, dict) else None
        if not isinstance(shape, list) or len(shape) != 2 or shape[1] != model.n_features:
            raise ProtocolError(f"expected records of {model.n_features} features")
        records, features = int(shape[0]), int(shape[1])
        xs = _phe_numbers(public_key, request, (records, features))
        scores = []
        for i in range(records):
            row = xs[i * features:(i + 1) * features]
            for w, b in zip(coef, intercept):
                s = functools.reduce(lambda acc, t: acc + t, (e * wj for e, wj in zip(row, w)))
                scores.append(s + b)
        party.send(CLIENT, {
            "shape": [records, len(coef)],
            "ciphertexts": [s.ciphertext(be_secure=True) for s in scores],
            "exponents": [int(s.exponent) for s in scores],
        })
    return {"scored": True}


def programs(technique: str, *, model_json: str, X: np.ndarray, key_bits: int,
             value_bound: float, insecure_small_keys: bool = False,
             private_key: Any = None) -> dict[str, Any]:
    """The two party programs of an HE-only technique, ready for ``run_parties``.

    Args:
        private_key: (``he``, ``he-packed``) the client's existing key pair;
            ``None``: the client generates one in its offline phase.

    Raises:
        ValueError: not an HE-only technique.
    """
    if technique in ("he", "he-packed"):
        return {
            CLIENT: functools.partial(
                hecrypt_client, X=X, key_bits=key_bits, packed=technique == "he-packed",
                value_bound=value_bound, insecure_small_keys=insecure_small_keys,
                private_key=private_key,
            ),
            SERVER: functools.partial(
                hecrypt_server, model_json=model_json, insecure_small_keys=insecure_small_keys
            ),
        }
    if technique == "phe":
        return {
            CLIENT: functools.partial(phe_client, X=X, key_bits=key_bits),
            SERVER: functools.partial(phe_server, model_json=model_json),
        }
    raise ValueError(f"{technique!r} is not an HE-only technique")
