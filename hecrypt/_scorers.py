"""The scorers: the server side of private scoring, as the client reaches it.

Part of :mod:`hecrypt.scoring` (its public path): the :class:`Scorer`
protocol, :class:`InProcessScorer` (the model in this process, messages
still through their binary forms), the :class:`Traffic` it counts, and
:func:`open_scorer`, which turns a model, a model file, a scorer or a
service URL into a scorer. :class:`~hecrypt.scoring.ScoringClient` talks to
any of them.

Leaks: see :mod:`hecrypt.scoring`; a scorer never holds a private key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from hecrypt.exceptions import KeyMismatchError
from hecrypt.models.linear import LinearModel, ModelInfo
from hecrypt.paillier.keys import PrivateKey, PublicKey
from hecrypt.paillier.packed import PackedTensor
from hecrypt.paillier.tensor import EncryptedTensor

#: Prefixes of a scoring service address (as opposed to a model file path).
URL_PREFIXES = ("http://", "https://")


@runtime_checkable
class Scorer(Protocol):
    """The server side of private scoring, as the client sees it.

    Implementations hold (or reach) a model and never a private key.
    """

    @property
    def info(self) -> ModelInfo:
        """The model's public description (no weights)."""
        ...

    def score(self, public_key: PublicKey, encrypted_batch: Any) -> Any:
        """Encrypted scores of an encrypted batch (fresh ciphertexts under ``public_key``).

        Args:
            public_key: the client's public key.
            encrypted_batch: an ``EncryptedTensor`` of shape ``(n_features,)``
                or a ``PackedTensor`` of shape ``(records, n_features)``.

        Returns:
            Encrypted scores of the same kind: ``(n_outputs,)`` or
            ``(records, n_outputs)``.
        """
        ...


@dataclass
class Traffic:
    """Bytes and requests between a client and a scorer (from the client's side)."""

    requests: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0


def _refuse_private(public_key: Any) -> PublicKey:
    if isinstance(public_key, PrivateKey):
        raise TypeError(
            "a scorer takes the client's public key; the private key never leaves the client"
        )
    if not isinstance(public_key, PublicKey):
        raise TypeError(f"expected a hecrypt PublicKey, not {type(public_key).__name__}")
    return public_key


class InProcessScorer:
    """A scorer that holds the model in this process (the server side, in process).

    It never holds a private key. With ``wire=True`` (default) the request and
    the response go through their binary forms (``to_bytes`` / ``from_bytes``,
    with full validation on loading), exactly as they would over a network;
    :attr:`traffic` counts those bytes (the public key is counted once per key).
    The scores are released as a server releases them
    (:meth:`~hecrypt.models.LinearModel.score_for_client`: power-of-two bound,
    circuit-private re-randomization), so the client learns the scores and
    nothing of how they were computed.

    Args:
        model: the :class:`~hecrypt.models.LinearModel` to score with.
        wire: pass messages through bytes (default) or hand objects over.
    """

    def __init__(self, model: LinearModel, *, wire: bool = True) -> None:
        if not isinstance(model, LinearModel):
            raise TypeError(f"expected a hecrypt LinearModel, not {type(model).__name__}")
        self._model = model
        self._wire = bool(wire)
        self._keys_seen: set[str] = set()
        self.traffic = Traffic()

    @property
    def info(self) -> ModelInfo:
        """The model's public description."""
        return self._model.info

    def __repr__(self) -> str:
        return f"<InProcessScorer {self._model!r}>"

    def score(self, public_key: PublicKey, encrypted_batch: Any) -> Any:
        """Score an encrypted batch: ``batch @ coef.T + intercept``, re-randomized.

        Raises:
            TypeError: a private key, or not an encrypted batch.
            KeyMismatchError: the batch is under another key.
            FeatureMismatchError: the batch has another number of features.
            InvalidCiphertext: a malformed request (``wire=True``).
        """
        pk = _refuse_private(public_key)
        if not isinstance(encrypted_batch, (EncryptedTensor, PackedTensor)):
            raise TypeError(
                f"expected an encrypted batch, not {type(encrypted_batch).__name__}"
            )
        batch: Any = encrypted_batch
        if batch.public_key != pk:
            raise KeyMismatchError(
                f"the batch is encrypted under key {batch.public_key.fingerprint}, "
                f"not {pk.fingerprint}"
            )
        kind: Any = type(batch)
        self.traffic.requests += 1
        if self._wire:
            if pk.fingerprint not in self._keys_seen:
                self.traffic.bytes_sent += len(pk.to_bytes())
                self._keys_seen.add(pk.fingerprint)
            request = batch.to_bytes()
            self.traffic.bytes_sent += len(request)
            batch = kind.from_bytes(request, pk)
        scores = self._model.score_for_client(batch)
        if not self._wire:
            return scores
        response = scores.to_bytes(rerandomize=False)  # fresh already
        self.traffic.bytes_received += len(response)
        return type(scores).from_bytes(response, pk)


def open_scorer(target: Any) -> Any:
    """The scorer for a model, a model file, a scorer, or a service URL.

    Raises:
        ProtocolError: a URL whose service cannot be reached.
        TypeError: anything else that is not a model or a scorer.
    """
    if isinstance(target, LinearModel):
        return InProcessScorer(target)
    if isinstance(target, str) and target.lower().startswith(URL_PREFIXES):
        return _open_url(target)
    if isinstance(target, (str, os.PathLike)):
        from hecrypt import models

        return InProcessScorer(models.load(target))
    if isinstance(target, Scorer):
        return target
    raise TypeError(
        "expected a LinearModel, a model file path, a scorer or a service URL, not "
        f"{type(target).__name__}"
    )


def _open_url(url: str) -> Any:
    """A network scorer for ``url`` (the scoring service's client)."""
    from hecrypt.service.client import HTTPScorer

    return HTTPScorer(url)


# Users import these from hecrypt.scoring: reprs, messages and pickles name that path.
for _obj in (Scorer, Traffic, InProcessScorer, open_scorer):
    _obj.__module__ = "hecrypt.scoring"
del _obj
