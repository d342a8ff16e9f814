"""Beaver triples: what a product of shared tensors consumes, and who makes them.

A *triple* for a bilinear product ``*`` is a sharing of ``a``, ``b`` and
``c = a * b`` with ``a`` and ``b`` uniform in the ring and unknown to either
computing party (Beaver, "Efficient multiparty protocols using circuit
randomization", CRYPTO 1991). The kinds, all exact modulo 2^64 on the
reconstructed values:

============  ===================  ====================  ======================================
kind          ``a``                ``b``                 ``c``
============  ===================  ====================  ======================================
``mul``       any shape            same shape            ``a * b`` (element-wise)
``square``    any shape            ``None``              ``a * a`` (a *square pair*)
``matmul``    ``(m, k)``           ``(k, n)``            ``a @ b``
``conv2d``    ``(N, H, W, C)``     ``(kh, kw, C, O)``    ``ring.conv2d(a, b, strides, padding)``
``and``       any shape            same shape            ``a & b`` (bit-wise, *binary* triple)
============  ===================  ====================  ======================================

``and`` triples are *binary*: ``a``, ``b`` and ``c`` are XOR-shared
(``a = a_0 ^ a_1``), each uint64 carrying 64 independent AND gates (bit-planes
of :mod:`hecrypt.hybrid.comparison`). A kind registered with ``binary=True``
is combined with XOR by the dealer; the computing parties' side is the same.

``conv2d`` requests carry ``params = ((sh, sw), padding)`` with padding
``"valid"``, ``"same"`` (Keras semantics) or explicit
``((top, bottom), (left, right))`` amounts, each smaller than the kernel
(channels-last; see :func:`hecrypt.hybrid.ring.conv2d`). The dealer checks
them like any other field of a request before computing anything. Other
kinds can be added with :func:`register_kind`.

A :class:`TripleSource` is asked, in the offline phase, for every triple the
online phase will consume (:meth:`TripleSource.prepare`, usually with the
list :func:`hecrypt.hybrid.protocols.plan` computes), and hands them out in
order (:meth:`TripleSource.take`).

The dealer (:class:`DealerTripleSource` on each computing party,
:func:`dealer_program` on the dealer) is a third party trusted not to collude
with either computing party (tf-encrypted's "crypto producer", CrypTen's
trusted third party). Its messages, per :meth:`~TripleSource.prepare` call:

1. Each computing party sends the dealer its list of requests; the dealer
   checks the two lists are equal (``ProtocolError`` otherwise).
2. The dealer draws two fresh 32-byte seeds ``s_0, s_1`` from ``os.urandom``.
   Party 0's shares ``a_0, b_0, c_0`` and party 1's ``a_1, b_1`` are
   SHAKE-256 streams of those seeds (:func:`hecrypt.hybrid.ring.expand_seed`,
   labelled by request index and component).
3. The dealer computes ``c = (a_0 + a_1) * (b_0 + b_1)`` and
   ``c_1 = c - c_0``, sends party 0 only ``s_0`` and party 1 ``s_1`` and
   ``c_1``: one message each, so a triple costs the size of ``c`` on the
   wire (as CrypTen's trusted third party, which also sends seeds).

Each computing party's view, ``(s_i, c_1)`` for party 1 or ``s_0`` for party
0, is independent of the other party's shares (``a``, ``b`` are uniform and
unknown to it) as long as SHAKE-256 is a secure PRG. Party 0 is the computing
party whose name sorts first ("client" before "server").
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid import ring

__all__ = [
    "TripleRequest",
    "Triple",
    "TripleSource",
    "DealerTripleSource",
    "dealer_program",
    "register_kind",
    "KINDS",
    "triple_product",
    "MAX_ELEMENTS",
    "check_budget",
    "computing_index",
]

#: The largest number of ring elements one prepare call may ask the dealer for
#: (2^27 elements, 1 GiB of shares and scratch memory): larger requests are
#: refused before allocating (see :func:`check_budget`).
MAX_ELEMENTS = 1 << 27


class _Kind(NamedTuple):
    has_b: bool
    shape_c: Callable[[tuple[int, ...], tuple[int, ...] | None, tuple[Any, ...]], tuple[int, ...]]
    product: Callable[[np.ndarray, np.ndarray | None, tuple[Any, ...]], np.ndarray]
    binary: bool = False  # XOR sharing (GF(2) bit-planes) instead of addition mod 2^64


def _mul_shape(sa: tuple[int, ...], sb: tuple[int, ...] | None, p: tuple[Any, ...]) -> tuple:
    if sb != sa:
        raise ValueError(f"a mul triple needs equal shapes, not {sa} and {sb}")
    return sa


def _square_shape(sa: tuple[int, ...], sb: tuple[int, ...] | None, p: tuple[Any, ...]) -> tuple:
    if sb is not None:
        raise ValueError("a square pair has no b")
    return sa


def _matmul_shape(sa: tuple[int, ...], sb: tuple[int, ...] | None, p: tuple[Any, ...]) -> tuple:
    if sb is None or len(sa) != 2 or len(sb) != 2 or sa[1] != sb[0]:
        raise ValueError(f"a matmul triple needs a (m, k) and b (k, n), not {sa} and {sb}")
    return (sa[0], sb[1])


def _conv_params(p: tuple[Any, ...]) -> tuple[tuple[int, int], Any]:
    if len(p) != 2:
        raise ValueError("conv2d params are ((sh, sw), padding)")
    strides, padding = p
    if isinstance(strides, (str, bytes)) or not isinstance(strides, Sequence) or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in strides):
        raise ValueError(f"conv2d strides must be a pair of ints, not {strides!r}")
    st = tuple(int(s) for s in strides)
    if len(st) != 2 or min(st) < 1:
        raise ValueError(f"conv2d params must be ((sh, sw), padding) with positive strides, "
                         f"not {p!r}")
    try:
        return (st[0], st[1]), ring.normalize_padding(padding)
    except ValueError as exc:
        raise ValueError(f"conv2d params: {exc}") from None


def _conv_shape(sa: tuple[int, ...], sb: tuple[int, ...] | None, p: tuple[Any, ...]) -> tuple:
    if sb is None:
        raise ValueError("a conv2d triple needs a kernel shape")
    strides, padding = _conv_params(p)
    return ring.conv2d_output_shape(sa, sb, strides, padding)


def _need_b(b: np.ndarray | None) -> np.ndarray:
    if b is None:
        raise ValueError("this triple kind needs b")
    return b


#: Triple kinds by name: whether they have a ``b``, the shape of ``c``, and ``c``'s formula.
KINDS: dict[str, _Kind] = {
    "mul": _Kind(True, _mul_shape, lambda a, b, p: a * _need_b(b)),
    "square": _Kind(False, _square_shape, lambda a, b, p: a * a),
    "matmul": _Kind(True, _matmul_shape, lambda a, b, p: ring.matmul(a, _need_b(b))),
    "conv2d": _Kind(
        True, _conv_shape, lambda a, b, p: ring.conv2d(a, _need_b(b), *_conv_params(p))
    ),
    "and": _Kind(True, _mul_shape, lambda a, b, p: a & _need_b(b), binary=True),
}


def register_kind(
    name: str,
    *,
    has_b: bool,
    shape_c: Callable[[tuple[int, ...], tuple[int, ...] | None, tuple[Any, ...]], tuple[int, ...]],
    product: Callable[[np.ndarray, np.ndarray | None, tuple[Any, ...]], np.ndarray],
    binary: bool = False,
) -> None:
    """Add a triple kind (``product`` must be bilinear and exact modulo 2^64, or over
    GF(2) bit-wise when ``binary``: then the shares are XOR shares).

    Raises:
        ValueError: the name is taken.
    """
    if name in KINDS:
        raise ValueError(f"a triple kind named {name!r} exists")
    KINDS[name] = _Kind(has_b, shape_c, product, binary)


def _shape(v: Any, what: str) -> tuple[int, ...]:
    if isinstance(v, (str, bytes)) or not isinstance(v, Sequence):
        raise ValueError(f"{what} must be a tuple of ints")
    out = []
    for s in v:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or int(s) < 0:
            raise ValueError(f"{what} must hold non-negative ints, not {v!r}")
        out.append(int(s))
    return tuple(out)


def _freeze(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    return v


@dataclass(frozen=True)
class TripleRequest:
    """A triple the online phase will consume (public: kind, shapes, parameters).

    Raises:
        ValueError: an unknown kind or shapes that do not fit the kind.
    """

    kind: str
    shape_a: tuple[int, ...]
    shape_b: tuple[int, ...] | None = None
    params: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown triple kind {self.kind!r} (known: {', '.join(KINDS)})")
        object.__setattr__(self, "shape_a", _shape(self.shape_a, "shape_a"))
        if self.shape_b is not None:
            object.__setattr__(self, "shape_b", _shape(self.shape_b, "shape_b"))
        object.__setattr__(self, "params", _freeze(tuple(self.params)))
        spec = KINDS[self.kind]
        if spec.has_b and self.shape_b is None:
            raise ValueError(f"a {self.kind} triple needs shape_b")
        spec.shape_c(self.shape_a, self.shape_b, self.params)

    @property
    def shape_c(self) -> tuple[int, ...]:
        """The shape of ``c``."""
        return tuple(KINDS[self.kind].shape_c(self.shape_a, self.shape_b, self.params))

    @property
    def elements(self) -> int:
        """Ring elements of one party's share of ``(a, b, c)``."""
        b = 0 if self.shape_b is None else math.prod(self.shape_b)
        return math.prod(self.shape_a) + b + math.prod(self.shape_c)

    @property
    def work_elements(self) -> int:
        """Ring elements of scratch memory computing ``c`` takes beyond the shares.

        A ``conv2d`` product builds the patch matrix of ``a`` (``N*H'*W'``
        rows of ``kh*kw*C``), which can be far larger than ``a``, ``b`` and
        ``c`` together (a wide kernel with "same" padding); the other kinds
        need none.
        """
        if self.kind != "conv2d" or self.shape_b is None:
            return 0
        n, ho, wo, _ = self.shape_c
        kh, kw, c, _ = self.shape_b
        return n * ho * wo * kh * kw * c

    def to_wire(self) -> list[Any]:
        """A message-ready form (lists of ints and strings)."""
        return [
            self.kind,
            list(self.shape_a),
            None if self.shape_b is None else list(self.shape_b),
            _listify(self.params),
        ]

    @classmethod
    def from_wire(cls, obj: Any) -> TripleRequest:
        """Parse :meth:`to_wire`'s form.

        Raises:
            ProtocolError: anything malformed.
        """
        try:
            kind, sa, sb, params = obj
            return cls(str(kind), tuple(sa), None if sb is None else tuple(sb), tuple(params))
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"malformed triple request {obj!r:.200}: {exc}") from None


def _listify(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_listify(x) for x in v]
    return v


class Triple(NamedTuple):
    """One party's shares of a triple: ``a``, ``b`` (``None`` for a square pair), ``c``."""

    a: np.ndarray
    b: np.ndarray | None
    c: np.ndarray


def triple_product(request: TripleRequest, a: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """``c`` for full (reconstructed) ``a`` and ``b`` of ``request``'s kind."""
    return KINDS[request.kind].product(a, b, request.params)


def computing_index(name: str, peer: str) -> int:
    """The index (0 or 1) of a computing party: 0 for the name that sorts first."""
    if name == peer:
        raise ValueError("the two computing parties need different names")
    return 0 if name < peer else 1


class TripleSource(ABC):
    """Where a computing party's triples come from.

    :meth:`prepare` runs in the offline phase (one batch of requests, in the
    order they will be consumed); :meth:`take` hands them out in that order.
    Both computing parties make the same calls in the same order.
    """

    @abstractmethod
    def prepare(self, requests: Sequence[TripleRequest]) -> None:
        """Produce this party's shares of every requested triple (offline phase)."""

    @abstractmethod
    def take(self, request: TripleRequest) -> Triple:
        """The next prepared triple, which must match ``request``.

        Raises:
            ProtocolError: it does not match the next prepared request (or
                none is prepared and the source does not fetch on demand).
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Tell the producer no more triples are needed (default: nothing to do)."""

    @property
    def pending(self) -> int:
        """Prepared triples not yet taken."""
        return 0



class QueuedTripleSource(TripleSource):
    """A source whose :meth:`prepare` fills a queue that :meth:`take` empties in order.

    Subclasses call :meth:`_enqueue` from :meth:`prepare`; with ``on_demand``
    set, :meth:`take` prepares a missing triple on the spot instead of raising.
    """

    def __init__(self, *, on_demand: bool = False) -> None:
        self.on_demand = on_demand
        self._queue: deque[tuple[TripleRequest, Triple]] = deque()

    def _enqueue(self, request: TripleRequest, triple: Triple) -> None:
        self._queue.append((request, triple))

    @property
    def pending(self) -> int:
        """Prepared triples not yet taken."""
        return len(self._queue)

    def take(self, request: TripleRequest) -> Triple:
        """The next prepared triple, which must match ``request``.

        Raises:
            ProtocolError: it does not match (or none is prepared and
                ``on_demand`` is off).
        """
        if not self._queue:
            if not self.on_demand:
                raise ProtocolError(
                    f"no prepared triple left for {request}: the plan did not include it"
                )
            self.prepare([request])
        req, triple = self._queue.popleft()
        if req != request:
            raise ProtocolError(f"the next prepared triple is {req}, but {request} was asked")
        return triple

def _label(i: int, component: bytes) -> bytes:
    return i.to_bytes(8, "big") + component


def _expand(seed: bytes, i: int, req: TripleRequest, index: int) -> tuple[Any, ...]:
    """Seed-derived shares: ``(a, b, c)`` for party 0, ``(a, b)`` for party 1."""
    a = ring.expand_seed(seed, _label(i, b"a"), req.shape_a)
    b = None if req.shape_b is None else ring.expand_seed(seed, _label(i, b"b"), req.shape_b)
    if index == 0:
        return a, b, ring.expand_seed(seed, _label(i, b"c"), req.shape_c)
    return a, b


class DealerTripleSource(QueuedTripleSource):
    """Triples from a dealer, on a computing party (see the module docstring for the protocol).

    Args:
        party: this computing party's :class:`~hecrypt.hybrid.channels.Party`.
        peer: the other computing party's name.
        dealer: the dealer's name.
        on_demand: when :meth:`take` finds nothing prepared, ask the dealer for
            that one triple (one round trip in the current phase) instead of
            raising. Scripts without a plan use it; :func:`private_predict`
            prepares everything and leaves it off.

    Leaks: to the dealer, the requested kinds and shapes (the layer shapes of
    the computation), nothing else.
    """

    def __init__(
        self, party: Any, peer: str, *, dealer: str = "dealer", on_demand: bool = False
    ) -> None:
        super().__init__(on_demand=on_demand)
        self.party = party
        self.dealer = dealer
        self.index = computing_index(party.name, peer)
        self._closed = False

    def prepare(self, requests: Sequence[TripleRequest]) -> None:
        """Ask the dealer for ``requests`` (one message each way) and expand the seeds.

        Raises:
            ProtocolError: the dealer's answer is malformed or of the wrong size.
        """
        reqs = list(requests)
        if not reqs:
            return
        if self._closed:
            raise ProtocolError("this triple source was closed")
        self.party.send(self.dealer, {"op": "prepare", "requests": [r.to_wire() for r in reqs]})
        msg = self.party.recv(self.dealer)
        seed = msg.get("seed") if isinstance(msg, dict) else None
        if not isinstance(seed, bytes) or len(seed) != ring.SEED_BYTES:
            raise ProtocolError("the dealer's answer has no valid seed")
        if self.index == 0:
            for i, req in enumerate(reqs):
                a, b, c = _expand(seed, i, req, 0)
                self._enqueue(req, Triple(a, b, c))
            return
        cs = msg.get("c")
        if not isinstance(cs, list) or len(cs) != len(reqs):
            raise ProtocolError(f"the dealer sent {type(cs).__name__} for {len(reqs)} triples")
        for i, (req, c) in enumerate(zip(reqs, cs)):
            if not isinstance(c, np.ndarray) or c.dtype != np.uint64 or c.shape != req.shape_c:
                raise ProtocolError(
                    f"the dealer's c share {i} does not match the request {req} "
                    f"(expected uint64 {req.shape_c})"
                )
            a, b = _expand(seed, i, req, 1)
            self._enqueue(req, Triple(a, b, c))

    def close(self) -> None:
        """Tell the dealer this party needs no more triples (the dealer program then ends).

        The message is counted in the offline phase: it belongs to the
        dealer's session, not to the computation (and the dealer's rounds
        stay those of preprocessing).
        """
        if not self._closed:
            self._closed = True
            with self.party.phase("offline"):
                self.party.send(self.dealer, {"op": "close"})


def _receive_requests(party: Any, frm: str, limit: int) -> list[TripleRequest] | None:
    msg = party.recv(frm)
    if not isinstance(msg, dict) or msg.get("op") not in ("prepare", "close"):
        raise ProtocolError(f"the dealer expected a prepare or close message from {frm}")
    if msg["op"] == "close":
        return None
    raw = msg.get("requests")
    if not isinstance(raw, list) or not raw:
        raise ProtocolError(f"{frm} sent a prepare message without requests")
    reqs = [TripleRequest.from_wire(r) for r in raw]
    check_budget(reqs, limit, f"{frm}'s triple requests")
    return reqs


def check_budget(requests: Sequence[TripleRequest], limit: int, what: str) -> int:
    """Refuse ``requests`` that would hold more than ``limit`` ring elements.

    Counts one party's shares of every triple plus the largest scratch
    memory of one product (:attr:`TripleRequest.work_elements`), before
    anything is allocated; the dealer applies it to each prepare message,
    a client to the model a server describes.

    Returns:
        The counted total.

    Raises:
        ProtocolError: the total is above ``limit``.
    """
    shares = sum(r.elements for r in requests)
    total = shares + max((r.work_elements for r in requests), default=0)
    if total > limit:
        raise ProtocolError(
            f"{what} need {total} ring elements ({shares} of triples plus the largest "
            f"convolution's patch matrix), more than the limit {limit}"
        )
    return total


def dealer_program(
    party: Any,
    computing: Sequence[str] = ("client", "server"),
    *,
    max_elements: int = MAX_ELEMENTS,
    phase: str | None = "offline",
) -> dict[str, int]:
    """The dealer's whole program: answer prepare requests until both parties close.

    Steps per request batch (see the module docstring): receive both lists,
    check they are equal, draw two seeds, compute ``c_1``, send the seed to
    party 0 and the seed and ``c_1`` to party 1.

    Args:
        party: the dealer's :class:`~hecrypt.hybrid.channels.Party`.
        computing: the two computing parties' names.
        max_elements: refuse batches larger than this many elements.
        phase: the phase the dealer's traffic and time are attributed to
            (``"offline"``: everything a dealer does is preprocessing;
            ``None``: the caller's current phase).

    Returns:
        ``{"batches": ..., "triples": ..., "elements": ...}`` served.

    Raises:
        ProtocolError: malformed requests, or different requests from the two
            parties.

    Leaks: the dealer learns the kinds and shapes requested, nothing about
    the computing parties' inputs (it receives nothing else).
    """
    if phase is not None:
        with party.phase(phase):
            return dealer_program(party, computing, max_elements=max_elements, phase=None)
    p0, p1 = sorted(computing)
    served = {"batches": 0, "triples": 0, "elements": 0}
    while True:
        r0 = _receive_requests(party, p0, max_elements)
        r1 = _receive_requests(party, p1, max_elements)
        if r0 is None or r1 is None:
            if r0 is not None or r1 is not None:
                raise ProtocolError("one computing party closed while the other asked for triples")
            return served
        if r0 != r1:
            raise ProtocolError(
                f"{p0} and {p1} asked for different triples ({len(r0)} and {len(r1)} requests)"
            )
        s0, s1 = ring.new_seed(), ring.new_seed()
        c1s = []
        for i, req in enumerate(r0):
            a0, b0, c0 = _expand(s0, i, req, 0)
            a1, b1 = _expand(s1, i, req, 1)
            if KINDS[req.kind].binary:
                c = triple_product(req, a0 ^ a1, None if b0 is None else b0 ^ b1)
                c1s.append(c ^ c0)
                continue
            b = None if b0 is None else b0 + b1
            c = triple_product(req, a0 + a1, b)
            c1s.append(c - c0)
        party.send(p0, {"seed": s0})
        party.send(p1, {"seed": s1, "c": c1s})
        served["batches"] += 1
        served["triples"] += len(r0)
        served["elements"] += sum(r.elements for r in r0)
