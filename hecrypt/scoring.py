"""Private scoring: the client encrypts, the server scores, the client decrypts.

The protocol has three steps and two parties::

    client                                   server (holds the model, no private key)
    ------                                   ------
    X -> encrypt with its key pair
         encrypted batch, public key  ---->  scorer.score(public_key, encrypted_batch)
                                             = batch @ coef.T + intercept, re-randomized
                          encrypted scores  <----
    decrypt -> scores -> labels / probabilities

:class:`ScoringClient` is the client. It talks to any *scorer*: an object
with an :attr:`~Scorer.info` (the model's public :class:`~hecrypt.models.ModelInfo`)
and a :meth:`~Scorer.score` method (:class:`Scorer`). The client does not care
how the scorer reaches the model: :class:`InProcessScorer` holds it in the same
process (and still passes every message through its binary wire form, so that
bytes are counted and the wire path is the one exercised); a network scorer
sends the same bytes over HTTP. The scorers live in :mod:`hecrypt._scorers`
and are imported from here (their public path).

Batches of two or more records are *packed* (:mod:`hecrypt.paillier.packed`:
one ciphertext holds the same feature of many records, so one encryption,
one scalar multiplication and one decryption serve them all); a single record
goes as an :class:`~hecrypt.EncryptedTensor` of its features. Both paths
encode the features at the same scale and the weights at 32 fractional bits,
so they produce bit-identical scores.

Leaks (see docs/scoring.md for the threat model): the server learns the key
size and fingerprint, the number of records and of features, the packing
layout, and the public ``value_bound`` -- nothing about the values. The
client learns the scores and the model's public description.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from hecrypt._scorers import URL_PREFIXES as URL_PREFIXES
from hecrypt._scorers import InProcessScorer as InProcessScorer
from hecrypt._scorers import Scorer as Scorer
from hecrypt._scorers import Traffic as Traffic
from hecrypt._scorers import _open_url as _open_url
from hecrypt._scorers import _refuse_private as _refuse_private
from hecrypt._scorers import open_scorer as open_scorer
from hecrypt.encoding.fixedpoint import DEFAULT_FRAC_BITS
from hecrypt.exceptions import (
    InvalidFeatures,
    InvalidKey,
    KeyMismatchError,
    ProtocolError,
)
from hecrypt.models.linear import (
    ModelInfo,
    check_features,
    scores_to_predictions,
    scores_to_proba,
)
from hecrypt.paillier.keys import DEFAULT_KEY_BITS, PrivateKey, PublicKey, generate_keypair

__all__ = [
    "DEFAULT_VALUE_BOUND",
    "WEIGHT_FRAC_BITS",
    "Scorer",
    "InProcessScorer",
    "Traffic",
    "ScoringReport",
    "ScoringClient",
    "open_scorer",
]

#: Public bound on ``|x|`` a client declares by default (real units).
DEFAULT_VALUE_BOUND = 2.0**32
#: Fractional bits of the weights in both scoring paths.
WEIGHT_FRAC_BITS = DEFAULT_FRAC_BITS
#: Batches larger than this show a progress bar (``progress="auto"`` on a terminal).
PROGRESS_MIN_RECORDS = 2000


@dataclass(frozen=True)
class ScoringReport:
    """What one call of a :class:`ScoringClient` cost.

    Attributes:
        records: records scored.
        path: ``"packed"`` (a batch), ``"single"`` (one record) or
            ``"tensor"`` (a batch without packing).
        ciphertexts_sent: ciphertexts in the request.
        ciphertexts_received: ciphertexts in the response.
        bytes_sent: request bytes (client to server) as the scorer counted them.
        bytes_received: response bytes (server to client).
        encrypt_seconds: client-side encryption.
        score_seconds: the scorer call (server work and transport).
        decrypt_seconds: client-side decryption and decoding.
        requests: score requests the records were split into (a batch is
            split when its request would exceed the scorer's body limit).
    """

    records: int
    path: str
    ciphertexts_sent: int
    ciphertexts_received: int
    bytes_sent: int
    bytes_received: int
    encrypt_seconds: float
    score_seconds: float
    decrypt_seconds: float
    requests: int = 1

    @property
    def seconds(self) -> float:
        """Total time of the call."""
        return self.encrypt_seconds + self.score_seconds + self.decrypt_seconds

    @property
    def seconds_per_record(self) -> float:
        """Total time divided by the records."""
        return self.seconds / max(self.records, 1)


class ScoringClient:
    """Score records privately: encrypt here, score on the server, decrypt here.

    Args:
        model_or_url: a :class:`~hecrypt.models.LinearModel`, the path of a
            saved model file (both scored in process by an
            :class:`InProcessScorer`), a scorer object (:class:`Scorer`), or
            the URL of a scoring service.
        public_key: the client's public key (optional with ``private_key``).
        private_key: the client's private key; with neither key a fresh key
            pair of ``key_bits`` bits is generated.
        key_bits: size of a generated key pair (default 2048).
        insecure_small_keys: allow keys below 2048 bits (tests only).
        value_bound: a public bound on ``|x|`` of every feature (real units).
            The server sees this bound, not one derived from the data; records
            beyond it are refused before anything is encrypted.
        frac_bits: fractional bits of the encoded features (default 32).
        packing: pack batches (default); ``False`` sends batches unpacked.
        executor: where encryption and decryption run (see
            :mod:`hecrypt.paillier.parallel`; the default local pool receives
            the private key).
        progress: ``"auto"`` (default): a text bar on stderr for batches of
            more than :data:`PROGRESS_MIN_RECORDS` records when stderr is a
            terminal (it follows the encryption of each request, then the
            scored records); a callable ``progress(done, total)`` is called
            with records scored after each request; ``None`` shows nothing.
            Progress never changes what is sent: the requests are the same
            whatever is displayed.

    A batch whose request would exceed the scorer's body limit (published by
    the service) is split into several requests, and only then; a scorer
    that still answers 413 gets the batch in halves.

    Raises:
        InvalidKey: a public key without its private key.
        KeyMismatchError: keys that do not belong together.
    """

    def __init__(
        self,
        model_or_url: Any,
        public_key: PublicKey | None = None,
        private_key: PrivateKey | None = None,
        *,
        key_bits: int = DEFAULT_KEY_BITS,
        insecure_small_keys: bool = False,
        value_bound: float = DEFAULT_VALUE_BOUND,
        frac_bits: int = DEFAULT_FRAC_BITS,
        packing: bool = True,
        executor: Executor | None = None,
        progress: Any = "auto",
    ) -> None:
        if private_key is None:
            if public_key is not None:
                raise InvalidKey(
                    "a public key without its private key: the client decrypts the scores, "
                    "so it needs its private key (or neither key, for a fresh pair)"
                )
            public_key, private_key = generate_keypair(
                key_bits, insecure_small_keys=insecure_small_keys
            )
        if not isinstance(private_key, PrivateKey):
            raise TypeError(f"expected a hecrypt PrivateKey, not {type(private_key).__name__}")
        if public_key is None:
            public_key = private_key.public_key
        if public_key != private_key.public_key:
            raise KeyMismatchError(
                f"public key {public_key.fingerprint} does not belong to the private key "
                f"({private_key.public_key.fingerprint})"
            )
        vb = float(value_bound)
        if not (np.isfinite(vb) and vb > 0):
            raise ValueError("value_bound must be a positive finite number")
        if isinstance(frac_bits, bool) or not isinstance(frac_bits, int) or frac_bits < 0:
            raise ValueError("frac_bits must be a non-negative integer")
        self._pk = public_key
        self._sk = private_key
        self._scorer = open_scorer(model_or_url)
        self._value_bound = vb
        self._frac_bits = frac_bits
        self._packing = bool(packing)
        self._executor = executor
        if not (progress is None or progress == "auto" or callable(progress)):
            raise ValueError('progress must be "auto", None or a callable progress(done, total)')
        self._progress = progress
        self._last: ScoringReport | None = None

    # ------------------------------------------------------------ properties
    @property
    def public_key(self) -> PublicKey:
        """The client's public key (sent to the scorer)."""
        return self._pk

    @property
    def private_key(self) -> PrivateKey:
        """The client's private key (secret: it never leaves the client)."""
        return self._sk

    @property
    def scorer(self) -> Any:
        """The scorer this client talks to."""
        return self._scorer

    @property
    def info(self) -> ModelInfo:
        """The model's public description, as the scorer publishes it."""
        info = self._scorer.info
        if not isinstance(info, ModelInfo):
            raise ProtocolError("the scorer's model description is not a ModelInfo")
        return info

    @property
    def value_bound(self) -> float:
        """The public bound on ``|x|`` declared to the server."""
        return self._value_bound

    @property
    def classes_(self) -> np.ndarray | None:
        """Class labels of a classifier (as scikit-learn), else ``None``."""
        return self.info.classes_array

    @property
    def last_report(self) -> ScoringReport | None:
        """Cost of the last call (``None`` before the first)."""
        return self._last

    def __repr__(self) -> str:
        return f"<ScoringClient key={self._pk.fingerprint} scorer={self._scorer!r}>"

    # ------------------------------------------------------------ scoring
    def decision_function(self, X: Any) -> np.ndarray:
        """Decrypted scores of the records ``X`` (2-D, raw features).

        Returns:
            Shape ``(n,)`` for a single-output model, else ``(n, n_outputs)``:
            logits for classifiers (as scikit-learn's ``decision_function``),
            predictions for regressors.

        Raises:
            InvalidFeatures: ``X`` is not a finite 2-D numeric array, or exceeds
                the public ``value_bound``.
            FeatureMismatchError: another number of features than the model's.
        """
        info = self.info
        z = self._scores(X, info)
        if info.n_outputs == 1 and (info.single_output or info.is_classifier):
            return z.reshape(-1)
        return z

    def predict(self, X: Any) -> np.ndarray:
        """Predictions for ``X``: values (regression) or class labels (classification).

        Follows scikit-learn's ``predict``: labels are taken from ``classes_``.
        Raises as :meth:`decision_function`.
        """
        info = self.info
        return scores_to_predictions(info, self._scores(X, info))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities for ``X``, shape ``(n, n_classes)`` (as scikit-learn).

        Raises:
            UnsupportedModelError: the model is a regressor or has no
                probability model.
            InvalidFeatures, FeatureMismatchError: as :meth:`decision_function`.
        """
        info = self.info
        if not info.is_classifier or info.proba is None:
            scores_to_proba(info, np.zeros((1, info.n_outputs)))  # raises the reason
        return scores_to_proba(info, self._scores(X, info))

    def _scores(self, X: Any, info: ModelInfo) -> np.ndarray:
        x = check_features(X, info.n_features, info.feature_names)
        biggest = float(np.max(np.abs(x)))
        if biggest > self._value_bound:
            raise InvalidFeatures(
                f"a feature of magnitude {biggest:.6g} exceeds the public value_bound "
                f"{self._value_bound:.6g}; create the client with a larger value_bound"
            )
        n = x.shape[0]
        packed = n > 1 and self._packing and info.weight_l1_bound is not None
        path = "single" if n == 1 else ("packed" if packed else "tensor")
        step = self._part_size(info, n, packed)
        progress, bar = self._progress_for(n)
        totals = [0, 0, 0, 0, 0.0, 0.0, 0.0, 0]
        parts: list[np.ndarray] = []
        queue = [(i, min(i + step, n)) for i in range(0, n, step)]
        done = 0
        while queue:
            lo, hi = queue.pop(0)
            inner = None if bar is None else _encryption_progress(bar, done, hi - lo, n)
            try:
                z, cost = self._score_part(x[lo:hi], info, packed if hi - lo > 1 else False,
                                           inner)
            except ProtocolError as exc:
                if getattr(exc, "status", None) != 413 or hi - lo < 2:
                    raise
                mid = (lo + hi) // 2  # the scorer's limit is lower than planned: halve
                queue[:0] = [(lo, mid), (mid, hi)]
                continue
            parts.append(z)
            totals = [a + b for a, b in zip(totals, cost)]
            done += hi - lo
            if progress is not None:
                progress(done, n)
        self._last = ScoringReport(
            records=n,
            path=path,
            ciphertexts_sent=int(totals[0]),
            ciphertexts_received=int(totals[1]),
            bytes_sent=int(totals[2]),
            bytes_received=int(totals[3]),
            encrypt_seconds=float(totals[4]),
            score_seconds=float(totals[5]),
            decrypt_seconds=float(totals[6]),
            requests=int(totals[7]),
        )
        return np.concatenate(parts, axis=0)

    def _part_size(self, info: ModelInfo, n: int, packed: bool) -> int:
        """Records per request: under the scorer's body limit, in whole packed chunks."""
        if n == 1:
            return 1
        width = 2 * ((self._pk.n_bits + 7) // 8)  # bytes per ciphertext
        per_chunk, chunk = info.n_features * width, 1
        if packed and info.weight_l1_bound is not None:
            chunk = self._layout(info).slots
        limit = getattr(self._scorer, "max_request_bytes", None)
        step = n
        if isinstance(limit, int) and limit > 0:
            overhead = len(self._pk.to_bytes()) + 1024  # framing, key, header, bound
            chunks = max((limit - overhead) // per_chunk, 1)
            step = min(n, chunks * chunk)
        return max(step, 1)

    def _layout(self, info: ModelInfo) -> Any:
        from hecrypt.paillier.packed import layout_for_key

        return layout_for_key(
            self._pk, value_bound=self._value_bound, features=info.n_features,
            weight_bound=float(info.weight_l1_bound or 1.0), frac_bits=self._frac_bits,
            weight_frac_bits=WEIGHT_FRAC_BITS, terms=1,
        )

    def _progress_for(self, n: int) -> tuple[Any, Any]:
        """``(per-request callback, the auto bar or None)``: what to report, if anything."""
        if self._progress is None:
            return None, None
        if callable(self._progress):
            return self._progress, None
        import sys

        if n <= PROGRESS_MIN_RECORDS or not sys.stderr.isatty():
            return None, None
        from hecrypt.paillier.parallel import progress_bar

        bar = progress_bar("scoring")
        return bar, bar

    def _score_part(
        self, x: np.ndarray, info: ModelInfo, packed: bool, progress: Any = None
    ) -> tuple[np.ndarray, list[float]]:
        """Encrypt, score and decrypt one request's records; returns scores and costs.

        ``progress(done, total)`` follows the encryption (batches of several records).
        """
        n = x.shape[0]
        sk, pk, ex = self._sk, self._pk, self._executor
        t0 = time.perf_counter()
        batch: Any
        if n == 1:
            batch = sk.encrypt(
                x[0], frac_bits=self._frac_bits, value_bound=self._value_bound, executor=ex
            )
        elif packed:
            # terms=1 with the L1 bound of the weights (bias included) as the
            # weight bound: the slots hold |x| * sum |w| + |b| with room to spare
            batch = sk.encrypt_packed(
                x, frac_bits=self._frac_bits, value_bound=self._value_bound,
                weight_bound=float(info.weight_l1_bound or 1.0), weight_frac_bits=WEIGHT_FRAC_BITS,
                terms=1, executor=ex, progress=progress,
            )
        else:
            batch = sk.encrypt(
                x, frac_bits=self._frac_bits, value_bound=self._value_bound, executor=ex,
                progress=progress,
            )
        t1 = time.perf_counter()
        traffic = getattr(self._scorer, "traffic", None)
        before = (traffic.bytes_sent, traffic.bytes_received) if traffic is not None else (0, 0)
        result = self._scorer.score(pk, batch)
        t2 = time.perf_counter()
        self._check_result(result, batch, _expected_shape(info, n))
        z = np.asarray(sk.decrypt(result, executor=ex), dtype=np.float64).reshape(n, -1)
        t3 = time.perf_counter()
        after = (traffic.bytes_sent, traffic.bytes_received) if traffic is not None else (0, 0)
        cost = [
            int(batch.ciphertexts.size), int(result.ciphertexts.size),
            after[0] - before[0], after[1] - before[1], t1 - t0, t2 - t1, t3 - t2, 1,
        ]
        return z, cost

    def _check_result(self, result: Any, batch: Any, expected: tuple[int, ...]) -> None:
        if not isinstance(result, type(batch)):
            raise ProtocolError(
                f"the scorer returned {type(result).__name__} for a {type(batch).__name__}"
            )
        if result.public_key != self._pk:
            raise ProtocolError("the scorer returned scores under another key")
        if tuple(result.shape) != expected:
            raise ProtocolError(
                f"the scorer returned scores of shape {tuple(result.shape)}, expected {expected}"
            )


def _encryption_progress(bar: Any, before: int, records: int, total: int) -> Any:
    """A request's encryption progress as records on the whole batch's bar.

    Stops one record short of the request's end: the bar reaches it (and
    ends its line at the last request) once the request's scores are decrypted.
    """

    def update(done: int, count: int) -> None:
        if count > 0:
            bar(before + min(records * done // count, records - 1), total)

    return update


def _expected_shape(info: ModelInfo, n: int) -> tuple[int, ...]:
    """Shape of the encrypted scores of ``n`` records (as the plaintext model's)."""
    if n == 1:
        return (info.n_outputs,)
    if info.n_outputs == 1 and (info.single_output or info.is_classifier):
        return (n,)
    return (n, info.n_outputs)
