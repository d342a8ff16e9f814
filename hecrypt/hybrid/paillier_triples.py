"""Beaver triples for two parties from the client's Paillier key (no dealer).

:class:`PaillierTripleSource` is a :class:`~hecrypt.hybrid.triples.TripleSource`
for the two computing parties. The *client* (the key holder) generates a
Paillier key pair in the offline phase; the *server* never holds a key. Every
kind of :mod:`hecrypt.hybrid.triples` is produced: element-wise ``mul``,
``square`` pairs, ``matmul`` and ``conv2d``, exact modulo 2^64.

Protocol for one :meth:`~PaillierTripleSource.prepare` batch (SecureML,
Mohassel and Zhang, IEEE S&P 2017, section IV.A, with Paillier, EUROCRYPT
1999; masking and circuit privacy as in Cramer, Damgard and Nielsen,
EUROCRYPT 2001):

1. (First batch only) The client generates a key pair (``key_bits``, 2048
   by default) and sends ``n`` and the statistical parameter ``sigma``;
   the server validates both (size policy, sigma at least 40 and equal to
   its own).
2. Both parties draw their shares ``a_i``, ``b_i`` uniformly from
   ``os.urandom`` and compute their local products ``a_i * b_i`` (or
   ``a_i @ b_i``, ``conv2d(a_i, b_i)``).
3. The cross terms ``a_0 * b_1 + a_1 * b_0`` (for a square,
   ``a_0 * (2 a_1)``; for ``matmul``, ``A_0 @ B_1`` and
   ``(B_0^T @ A_1^T)^T``; for ``conv2d`` the same on the im2col matrix of
   ``a``) are shared with one round trip of
   :func:`hecrypt.hybrid.paillier_cross.client_cross` /
   :func:`~hecrypt.hybrid.paillier_cross.server_cross`: the client sends
   its shares encrypted (slot-shifted), the server exponentiates by its
   shares, adds a mask ``sigma`` bits above the bound of each slot,
   re-randomizes (uniform ``s^n``) and sends packed ciphertexts back; the
   client decrypts and keeps each slot mod 2^64, the server keeps minus
   its masks.
4. Each party's ``c_i`` is its local product plus its share of the cross
   terms.

Security (semi-honest, both parties): the server sees Paillier ciphertexts
only (DCR assumption); the client sees each cross term plus a mask that is
``sigma`` bits longer, so within statistical distance ``2^-sigma`` per slot
of a value independent of the server's shares, in ciphertexts that are
fresh encryptions whatever key the client chose. Both learn the requested
kinds and shapes (the network's architecture), and timing.

Cost (2048-bit key): per element-wise ``mul`` triple two client
encryptions; per ``square`` pair one; matrix and convolution triples
encrypt the client's matrices packed column by column, so a layer costs
about ``(m/S + n/S) * k`` encryptions and ``2 m n / S`` returned
ciphertexts with ``S`` slots per ciphertext (11-12 at 2048 bits).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np

from hecrypt.exceptions import InvalidKey, ProtocolError
from hecrypt.hybrid import paillier_cross as pc
from hecrypt.hybrid import ring
from hecrypt.hybrid.triples import QueuedTripleSource, Triple, TripleRequest, triple_product
from hecrypt.paillier.keys import DEFAULT_KEY_BITS, PrivateKey, PublicKey, generate_keypair

__all__ = ["PaillierTripleSource", "KEY_HOLDER"]

#: The computing party that holds the Paillier key pair.
KEY_HOLDER = "client"


def _second_shape(req: TripleRequest) -> tuple[int, ...]:
    """``req.shape_b`` of a two-operand request (ProtocolError if it has none)."""
    if req.shape_b is None:
        raise ProtocolError(f"a {req.kind!r} triple needs two operand shapes")
    return req.shape_b


def _second_operand(req: TripleRequest, b: np.ndarray | None) -> np.ndarray:
    """This party's share of ``b`` for a two-operand request."""
    if b is None:
        raise ProtocolError(f"a {req.kind!r} triple needs a share of b")
    return b


def _cols(a: np.ndarray, req: TripleRequest) -> np.ndarray:
    """The im2col matrix of ``a`` for a conv2d request."""
    kh, kw = _second_shape(req)[:2]
    (sh, sw), padding = req.params
    return ring.im2col(a, kh, kw, (sh, sw), padding)


def _jobs(req: TripleRequest) -> list[pc.Job]:
    """The cross-product jobs of one request (shapes only: both parties agree)."""
    size = int(np.prod(req.shape_a))
    if req.kind == "mul":
        return [pc.ElementwiseJob(size, 2)]
    if req.kind == "square":
        return [pc.ElementwiseJob(size, 1)]
    if req.kind == "matmul":
        (m, k), n = req.shape_a, _second_shape(req)[1]
        return [pc.MatmulJob(m, k, n), pc.MatmulJob(n, k, m)]
    if req.kind == "conv2d":
        kh, kw, cin, cout = _second_shape(req)
        n_out, ho, wo, _ = req.shape_c
        p, kk = n_out * ho * wo, kh * kw * cin
        return [pc.MatmulJob(p, kk, cout), pc.MatmulJob(cout, kk, p)]
    raise ProtocolError(f"the Paillier triple source cannot make {req.kind!r} triples")


def _operands(req: TripleRequest, a: np.ndarray, b: np.ndarray | None, client: bool) -> list[Any]:
    """This party's operands of the request's jobs (see :func:`_jobs`)."""
    if req.kind == "mul":
        b = _second_operand(req, b)
        return [np.stack([a.ravel(), b.ravel()]) if client else np.stack([b.ravel(), a.ravel()])]
    if req.kind == "square":
        return [a.reshape(1, -1) if client else (a + a).reshape(1, -1)]
    b = _second_operand(req, b)
    if req.kind == "matmul":
        # client: X = A0 (m,k), X' = B0^T (n,k); server: Y = B1 (k,n), Y' = A1^T (k,m)
        return [a, b.T] if client else [b, a.T]
    kh, kw, cin, cout = b.shape
    bm = b.reshape(kh * kw * cin, cout)
    cols = _cols(a, req)
    return [cols, bm.T] if client else [bm, cols.T]


def _combine(req: TripleRequest, parts: list[np.ndarray]) -> np.ndarray:
    """This party's share of the cross terms, in the shape of ``c``."""
    if req.kind in ("mul", "square"):
        return parts[0].reshape(req.shape_c)
    first, second = parts
    return (first + second.T).reshape(req.shape_c)


class PaillierTripleSource(QueuedTripleSource):
    """Triples made by the two computing parties with the client's Paillier key.

    Both parties construct one with their own :class:`~hecrypt.hybrid.channels.Party`
    and make the same calls in the same order (see the module docstring for
    the protocol and what each party learns).

    Args:
        party: this party's channel endpoint (``name`` is ``"client"`` or ``"server"``).
        peer: the other computing party's name.
        key_bits: size of the key the client generates (2048 by default).
        private_key: the client's key pair, if it already has one (else one is
            generated in the first :meth:`prepare`, inside the caller's
            offline phase).
        sigma: statistical parameter, mask bits above each slot's bound (>= 40).
        key_holder: which party holds the key (default ``"client"``).
        executor: where encryption, decryption and exponentiations run
            (default: the local process pool for large batches).
        insecure_small_keys: allow keys below 2048 bits (tests only; both
            parties must agree).
        on_demand: make a triple when :meth:`take` finds none prepared.
    """

    def __init__(
        self,
        party: Any,
        peer: str,
        *,
        key_bits: int = DEFAULT_KEY_BITS,
        private_key: PrivateKey | None = None,
        sigma: int = pc.DEFAULT_SIGMA,
        key_holder: str = KEY_HOLDER,
        executor: Executor | None = None,
        insecure_small_keys: bool = False,
        on_demand: bool = False,
    ) -> None:
        if sigma < pc.MIN_SIGMA:
            raise ValueError(f"the statistical parameter must be at least {pc.MIN_SIGMA} bits")
        if party.name == peer or key_holder not in (party.name, peer):
            raise ValueError(f"the key holder {key_holder!r} must be one of the two parties")
        super().__init__(on_demand=on_demand)
        self.party = party
        self.peer = peer
        self.is_key_holder = party.name == key_holder
        self.key_bits = int(key_bits)
        self.sigma = int(sigma)
        self.executor = executor
        self.insecure_small_keys = insecure_small_keys
        self._sk: PrivateKey | None = private_key if self.is_key_holder else None
        self._pk: PublicKey | None = None if self._sk is None else self._sk.public_key
        self._key_sent = False

    # ------------------------------------------------------------ keys
    @property
    def public_key(self) -> PublicKey:
        """The client's public key (after the first :meth:`prepare` or :meth:`setup`)."""
        if self._pk is None:
            raise ProtocolError("the Paillier key is not set up yet: call setup() or prepare()")
        return self._pk

    @property
    def private_key(self) -> PrivateKey:
        """The client's private key (key holder only)."""
        if self._sk is None:
            raise ProtocolError("only the key holder has the private key")
        return self._sk

    def setup(self) -> None:
        """Key generation and exchange (step 1), once; :meth:`prepare` calls it."""
        if self._key_sent:
            return
        if self.is_key_holder:
            if self._sk is None:
                _, self._sk = generate_keypair(
                    self.key_bits, insecure_small_keys=self.insecure_small_keys
                )
            self._pk = self._sk.public_key
            self.party.send(self.peer, {"paillier_n": self._pk.n, "sigma": self.sigma})
        else:
            msg = self.party.recv(self.peer)
            if not isinstance(msg, dict) or not isinstance(msg.get("paillier_n"), int):
                raise ProtocolError("expected the client's Paillier public key")
            if msg.get("sigma") != self.sigma:
                raise ProtocolError(
                    f"the client's statistical parameter {msg.get('sigma')!r} differs from "
                    f"this party's {self.sigma}"
                )
            try:
                self._pk = PublicKey(msg["paillier_n"],
                                     insecure_small_keys=self.insecure_small_keys)
            except InvalidKey as exc:
                raise ProtocolError(f"the client's public key is refused: {exc}") from None
        self._key_sent = True

    # ------------------------------------------------------------ triples
    def prepare(self, requests: Sequence[TripleRequest]) -> None:
        """Make every requested triple with one round trip (steps 2-4).

        Raises:
            ProtocolError: a malformed or mismatched message from the peer.
        """
        reqs = list(requests)
        self.setup()
        if not reqs:
            return
        client = self.is_key_holder
        jobs: list[pc.Job] = []
        operands: list[Any] = []
        drawn = []
        for req in reqs:
            a = ring.random_ring(req.shape_a)
            b = None if req.shape_b is None else ring.random_ring(req.shape_b)
            drawn.append((a, b))
            jobs.extend(_jobs(req))
            operands.extend(_operands(req, a, b, client))
        if client:
            parts = pc.client_cross(self.party, self.peer, self.private_key, jobs, operands,
                                    sigma=self.sigma, executor=self.executor)
        else:
            parts = pc.server_cross(self.party, self.peer, self.public_key, jobs, operands,
                                    sigma=self.sigma, executor=self.executor)
        pos = 0
        for req, (a, b) in zip(reqs, drawn):
            k = len(_jobs(req))
            cross = _combine(req, parts[pos : pos + k])
            pos += k
            c = triple_product(req, a, b) + cross
            self._enqueue(req, Triple(a, b, c))
