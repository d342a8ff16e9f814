"""Two-party arithmetic on additive shares in Z_2^64: input, open, Beaver products, polynomials.

One :class:`SecretSharing` object lives in each computing party's program; the
two objects talk only through their parties' channels. Notation: ``[x]`` is a
sharing ``x = x_0 + x_1 mod 2^64``; party 0 is the computing party whose name
sorts first.

Costs (per call; "open" means each party sends its share of a masked value):

=====================  ================================  ===========================
operation              rounds                            elements sent per party
=====================  ================================  ===========================
``input``              1 (owner -> peer, a 32-byte seed) 0
``open``               1                                 size of x
``reveal``             1 (one direction)                 size of x (sender only)
``mul``                1                                 size of x + size of y
``square``             1                                 size of x
``matmul`` ``conv2d``  1                                 size of x + size of w
``products`` batch     1 for the whole batch             sum of the above
``polynomial`` deg d   ceil(log2 d)                      see :func:`polynomial_requests`
truncation             0 (local)                         0
=====================  ================================  ===========================

Truncation (Mohassel and Zhang, "SecureML", IEEE S&P 2017, Theorem 1): after a
product the value carries ``2f`` fractional bits; each party shifts its own
share (:meth:`SharedTensor.truncate`). If the product is ``|x| < 2^l`` as an
integer at ``2f`` bits, the result is off by at most one unit of ``2^-f`` except
with probability at most ``2^(l + 1 - 64)`` per element
(:func:`truncation_failure_probability`); a failure gives a wildly wrong
element (off by about ``2^(64 - 2f)`` in value). With the default ``f = 16``
and values below ``2^B`` in magnitude, ``l = B + 32``: values below 2^6 fail
with probability at most 2^-25 per product, values below 1 (the scaled
polynomial powers) at most 2^-31. Choose ``f`` and keep activations small
accordingly; the shipped networks' activation ranges are checked in the tests.

Polynomials are evaluated in ``t = x / 2^k`` with ``2^k >= max(|lo|, |hi|)`` of
their interval (a local truncation), so every power of ``t`` stays within
``[-1, 1]`` on the interval and the coefficients of ``p(2^k t)`` are of the size
of the function's values; all needed powers come from products of powers of
lower levels, one batched round per level (``t^2``; ``t^3, t^4``; ``t^5..t^8``;
...), so a degree-``d`` polynomial costs ``ceil(log2 d)`` rounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid import ring
from hecrypt.hybrid.shares import SharedTensor
from hecrypt.hybrid.triples import Triple, TripleRequest, TripleSource, computing_index

__all__ = [
    "SecretSharing",
    "Product",
    "truncation_failure_probability",
    "polynomial_plan",
    "polynomial_requests",
    "is_odd7",
    "avg_pool_requests",
    "plan",
]


def truncation_failure_probability(value_bits: float, frac_bits: int = ring.DEFAULT_FRAC_BITS,
                                   ring_bits: int = ring.RING_BITS) -> float:
    """Upper bound on the chance that local truncation of one product fails.

    Args:
        value_bits: ``B`` with ``|value| < 2^B`` (in real units, after the product).
        frac_bits: ``f``; the product carries ``2f`` fractional bits.
        ring_bits: the ring's size (64).

    Returns:
        ``2^(B + 2f + 1 - ring_bits)`` capped at 1 (SecureML, Theorem 1).
    """
    return float(min(1.0, 2.0 ** (value_bits + 2 * frac_bits + 1 - ring_bits)))


class Product:
    """One Beaver product in a batch: ``kind`` in mul, square, matmul, conv2d.

    Args:
        kind: the triple kind.
        x: the left operand.
        y: the right operand (``None`` for square).
        params: conv2d: ``((sh, sw), padding)``.
        truncate: truncate the result back to the protocol's fractional bits.
    """

    __slots__ = ("kind", "params", "truncate", "x", "y")

    def __init__(self, kind: str, x: SharedTensor, y: SharedTensor | None = None,
                 params: tuple[Any, ...] = (), truncate: bool = True) -> None:
        self.kind = kind
        self.x = x
        self.y = y
        self.params = tuple(params)
        self.truncate = truncate

    def request(self) -> TripleRequest:
        """The triple this product consumes."""
        return TripleRequest(self.kind, self.x.shape, None if self.y is None else self.y.shape,
                             self.params)


def _bilinear(kind: str, a: np.ndarray, b: np.ndarray, params: tuple[Any, ...]) -> np.ndarray:
    if kind == "mul" or kind == "square":
        return a * b
    if kind == "matmul":
        return ring.matmul(a, b)
    if kind == "conv2d":
        strides, padding = params
        return ring.conv2d(a, b, strides, padding)
    raise ProtocolError(f"no Beaver product for triple kind {kind!r}")


# ----------------------------------------------------------------------- polynomials
def _scale_bits(interval: Sequence[float]) -> int:
    s = max(abs(float(interval[0])), abs(float(interval[1])))
    return 0 if s <= 0 else max(0, math.ceil(math.log2(s)))


def polynomial_plan(poly: Any) -> tuple[int, list[float], list[list[tuple[int, int]]]]:
    """How :meth:`SecretSharing.polynomial` evaluates ``poly``.

    Returns:
        ``(k, d, levels)``: ``t = x / 2^k``; ``d[j]`` the coefficient of
        ``t^j``; ``levels[r]`` the products ``(i, j)`` (``t^i * t^j``, a square
        when ``i == j``) computed in round ``r``.
    """
    coeffs = [float(c) for c in poly.coeffs]
    deg = len(coeffs) - 1
    k = _scale_bits(poly.interval) if deg >= 3 else 0
    d = [c * 2.0 ** (k * j) for j, c in enumerate(coeffs)]
    need = {j for j in range(1, deg + 1) if d[j] != 0.0}
    todo = sorted(need, reverse=True)
    while todo:
        j = todo.pop()
        if j < 2:
            continue
        h = 1 << ((j - 1).bit_length() - 1)
        for part in (h, j - h):
            if part not in need:
                need.add(part)
                todo.append(part)
    levels: list[list[tuple[int, int]]] = []
    for j in sorted(need):
        if j < 2:
            continue
        level = (j - 1).bit_length()  # ceil(log2 j)
        h = 1 << (level - 1)
        while len(levels) < level:
            levels.append([])
        levels[level - 1].append((h, j - h))
    return k, d, [lv for lv in levels if lv]


def is_odd7(poly: Any) -> bool:
    """Whether ``poly`` is a constant plus an odd polynomial of degree 7 (the sigmoid's
    shape), which :meth:`SecretSharing.polynomial` evaluates with four products."""
    d = polynomial_plan(poly)[1]
    return len(d) == 8 and all(d[j] == 0.0 for j in (2, 4, 6))


def polynomial_requests(shape: Sequence[int], poly: Any) -> list[TripleRequest]:
    """The triples :meth:`SecretSharing.polynomial` takes for inputs of ``shape``, in order."""
    reqs = []
    shp = tuple(int(s) for s in shape)
    if is_odd7(poly):
        return [TripleRequest("square", shp), TripleRequest("square", shp),
                TripleRequest("mul", shp, shp), TripleRequest("mul", shp, shp)]
    for level in polynomial_plan(poly)[2]:
        for i, j in level:
            reqs.append(TripleRequest("square", shp) if i == j
                        else TripleRequest("mul", shp, shp))
    return reqs


def plan(model: Any, batch_shape: Sequence[int] | int) -> list[TripleRequest]:
    """Every triple a private evaluation of ``model`` takes, in order.

    The same as :func:`hecrypt.hybrid.inference.plan` (which holds the model
    walk); here for callers that think of plans as part of the protocol.
    """
    from hecrypt.hybrid.inference import plan as _plan

    return _plan(model, batch_shape)


def avg_pool_requests() -> list[TripleRequest]:
    """Average pooling takes no triple (a public linear map)."""
    return []


class SecretSharing:
    """Arithmetic on secret shares for one computing party.

    Args:
        party: this party's :class:`~hecrypt.hybrid.channels.Party`.
        peer: the other computing party's name.
        triples: where this party's triples come from (prepared in order).
        frac_bits: fractional bits of the fixed-point encoding.

    Leaks: to the peer, only uniformly masked values (Beaver openings) and
    what is opened or revealed on purpose; to both, the shapes and the
    sequence of operations (public).
    """

    def __init__(self, party: Any, peer: str, triples: TripleSource,
                 frac_bits: int = ring.DEFAULT_FRAC_BITS) -> None:
        if peer not in getattr(party, "peers", (peer,)):
            raise ProtocolError(f"{party.name!r} has no channel to {peer!r}")
        ring.encode_max(frac_bits)  # validates
        self.party = party
        self.peer = peer
        self.triples = triples
        self.frac_bits = int(frac_bits)
        self.index = computing_index(party.name, peer)

    @property
    def name(self) -> str:
        """This party's name."""
        return str(self.party.name)

    # ------------------------------------------------------------------ input / output
    def input(self, value: Any, owner: str, shape: Sequence[int] | None = None) -> SharedTensor:
        """Share a private value of ``owner``.

        Steps (one message, owner to peer): 1. the owner encodes ``value``
        (:func:`ring.encode`), draws a seed ``s``, sets the peer's share to
        ``PRG(s)`` and its own to ``value - PRG(s)``; 2. it sends ``s`` and the
        shape; 3. the peer expands ``s``.

        Args:
            value: the owner's value (ignored, and should be ``None``, on the peer).
            owner: the owning computing party's name.
            shape: the expected shape; the peer checks the owner's (``None``:
                accept the owner's shape).

        Raises:
            ProtocolError: the owner is not a computing party, or shapes differ.
            EncodingOverflowError: (owner) a value the ring cannot carry.

        Leaks: the shape.
        """
        return self.inputs([(value, owner, shape)])[0]

    def inputs(self, items: Sequence[tuple[Any, str, Sequence[int] | None]]) -> list[SharedTensor]:
        """Several :meth:`input` calls in one round: every party sends first, then receives.

        Args:
            items: ``(value, owner, shape)`` triples, in the same order on both parties.
        """
        out: list[SharedTensor | None] = [None] * len(items)
        for i, (value, owner, shape) in enumerate(items):
            if owner == self.name:
                enc = ring.encode(np.asarray(value, dtype=np.float64), self.frac_bits)
                if shape is not None and tuple(enc.shape) != tuple(shape):
                    raise ProtocolError(f"input of shape {enc.shape}, expected {tuple(shape)}")
                seed = ring.new_seed()
                self.party.send(self.peer, [seed, list(enc.shape)])
                peer_share = ring.expand_seed(seed, b"input", enc.shape)
                out[i] = SharedTensor(enc - peer_share, self.frac_bits, self.index)
            elif owner != self.peer:
                raise ProtocolError(f"input owner {owner!r} is not a computing party")
        for i, (_, owner, shape) in enumerate(items):
            if owner == self.peer:
                out[i] = self._receive_input(owner, shape)
        return [t for t in out if t is not None]

    def _receive_input(self, owner: str, shape: Sequence[int] | None) -> SharedTensor:
        msg = self.party.recv(owner)
        try:
            seed, shp = msg
            got = tuple(int(s) for s in shp)
        except (TypeError, ValueError):
            raise ProtocolError(f"malformed input message from {owner!r}") from None
        if not isinstance(seed, bytes) or len(seed) != ring.SEED_BYTES:
            raise ProtocolError(f"input message from {owner!r} has no valid seed")
        if shape is not None and got != tuple(shape):
            raise ProtocolError(
                f"{owner!r} shared a tensor of shape {got}, expected {tuple(shape)}"
            )
        if any(s < 0 for s in got) or math.prod(got) > (1 << 28):
            raise ProtocolError(f"{owner!r} shared a tensor of shape {got}")
        return SharedTensor(ring.expand_seed(seed, b"input", got), self.frac_bits, self.index)

    def add_private(self, x: SharedTensor, value: Any, owner: str) -> SharedTensor:
        """``x + v`` for a value ``v`` only ``owner`` knows (e.g. a bias): the owner adds it
        to its own share. No message; ``value`` is ignored on the other party."""
        if owner == self.name:
            return SharedTensor(x.share + ring.encode(np.asarray(value), x.frac_bits),
                                x.frac_bits, x.index)
        if owner != self.peer:
            raise ProtocolError(f"owner {owner!r} is not a computing party")
        return x

    def share_zero(self, shape: Sequence[int]) -> SharedTensor:
        """A sharing of zeros (both shares zero; no message)."""
        return SharedTensor(np.zeros(tuple(shape), dtype=np.uint64), self.frac_bits, self.index)

    def open_ring(self, x: SharedTensor) -> np.ndarray:
        """Both parties learn ``x`` as ring elements (one round, one message each way)."""
        other = self.party.exchange(self.peer, x.share)
        _check_array(other, x.shape, self.peer)
        return x.share + other

    def open(self, x: SharedTensor) -> np.ndarray:
        """Both parties learn ``x`` (decoded to float64). Leaks: ``x``, to both."""
        return ring.decode(self.open_ring(x), x.frac_bits)

    def reveal(self, x: SharedTensor, to: str) -> np.ndarray | None:
        """Party ``to`` learns ``x`` (float64); the other gets ``None``. One message.

        Leaks: ``x`` to ``to``; nothing to the other party.
        """
        if to == self.name:
            other = self.party.recv(self.peer)
            _check_array(other, x.shape, self.peer)
            return ring.decode(x.share + other, x.frac_bits)
        if to != self.peer:
            raise ProtocolError(f"cannot reveal to {to!r}: not a computing party")
        self.party.send(self.peer, x.share)
        return None

    # ------------------------------------------------------------------ products
    def products(self, ops: Sequence[Product]) -> list[SharedTensor]:
        """Several independent Beaver products with one opening (one round).

        Steps (Beaver 1991; for matrices and convolutions one triple per
        product, so a layer opens its inputs once): for each product with
        triple ``([a], [b], [c])``:
        1. each party computes ``[e] = [x] - [a]`` and ``[g] = [y] - [b]``;
        2. the parties exchange their shares of every ``e`` and ``g`` in one
           message and reconstruct them;
        3. party ``i`` computes ``z_i = c_i + e * b_i + a_i * g`` and party 0
           adds ``e * g`` (``*`` the product's bilinear map);
        4. ``[z]`` is truncated locally back to ``f`` fractional bits.

        Leaks: nothing: ``e`` and ``g`` are masked by uniform ``a`` and ``b``.
        """
        if not ops:
            return []
        triples: list[Triple] = [self.triples.take(op.request()) for op in ops]
        mine: list[np.ndarray] = []
        for op, t in zip(ops, triples):
            mine.append(op.x.share - t.a)
            if op.kind != "square":
                if op.y is None or t.b is None:
                    raise ProtocolError(f"a {op.kind} product needs two operands")
                mine.append(op.y.share - t.b)
        other = self.party.exchange(self.peer, mine)
        if not isinstance(other, list) or len(other) != len(mine):
            raise ProtocolError(f"{self.peer!r} sent a malformed Beaver opening")
        out = []
        pos = 0
        for op, t in zip(ops, triples):
            _check_array(other[pos], op.x.shape, self.peer)
            e = mine[pos] + other[pos]
            pos += 1
            if op.kind == "square":
                z = t.c + (e * t.a) * np.uint64(2)
                if self.index == 0:
                    z = z + e * e
                fb = 2 * op.x.frac_bits
            else:
                if op.y is None or t.b is None:  # pragma: no cover - checked above
                    raise ProtocolError(f"a {op.kind} product needs two operands")
                _check_array(other[pos], op.y.shape, self.peer)
                g = mine[pos] + other[pos]
                pos += 1
                left = t.b + g if self.index == 0 else t.b
                z = t.c + _bilinear(op.kind, e, left, op.params)
                z = z + _bilinear(op.kind, t.a, g, op.params)
                fb = op.x.frac_bits + op.y.frac_bits
            res = SharedTensor(np.asarray(z, dtype=np.uint64), fb, self.index)
            if op.truncate and fb > self.frac_bits:
                res = res.truncate(fb - self.frac_bits)
            out.append(res)
        return out

    def mul(self, x: SharedTensor, y: SharedTensor) -> SharedTensor:
        """Element-wise ``x * y`` (same shapes), truncated. One round."""
        return self.products([Product("mul", x, y)])[0]

    def square(self, x: SharedTensor) -> SharedTensor:
        """``x * x`` with a square pair (opens only ``x - a``), truncated. One round."""
        return self.products([Product("square", x)])[0]

    def matmul(self, x: SharedTensor, y: SharedTensor) -> SharedTensor:
        """``x @ y`` for ``(m, k) @ (k, n)``, truncated. One round."""
        return self.products([Product("matmul", x, y)])[0]

    dot = matmul

    def conv2d(self, x: SharedTensor, w: SharedTensor, strides: int | Sequence[int] = 1,
               padding: ring.PaddingLike = "valid") -> SharedTensor:
        """Channels-last convolution of shared ``x`` (N,H,W,C) and kernel (kh,kw,C,O). One round."""
        st = (strides, strides) if isinstance(strides, int) else tuple(strides)
        return self.products([Product("conv2d", x, w, (tuple(int(s) for s in st), padding))])[0]

    def truncate(self, x: SharedTensor, bits: int | None = None) -> SharedTensor:
        """Local probabilistic truncation (see the module docstring): no communication."""
        return x.truncate(x.frac_bits - self.frac_bits if bits is None else bits)

    # ------------------------------------------------------------------ activations
    def polynomial(self, x: SharedTensor, poly: Any) -> SharedTensor:
        """``poly(x)`` element-wise, in ``ceil(log2 degree)`` rounds.

        Steps: 1. ``[t] = [x] / 2^k`` (local truncation; ``2^k`` covers the
        interval); 2. for each level ``r``, all powers ``t^j`` with
        ``2^(r-1) < j <= 2^r`` that are needed, as ``t^(2^(r-1)) * t^(j - 2^(r-1))``
        in one batched Beaver round; 3. ``sum_j d_j [t^j]`` with public
        ``d_j`` (one truncation), plus ``d_0``.

        A constant plus an odd degree-7 polynomial (the sigmoid) takes four
        products instead of five in the same three rounds: 1. ``u = t^2``;
        2. ``u^2`` and ``t^3 = t u``; 3. ``r = u^2 (d_5 t + d_7 t^3)``; then
        ``d_0 + d_1 t + d_3 t^3 + r`` locally (``t^5`` and ``t^7`` are never
        formed).

        Args:
            x: the shared input (``frac_bits`` fractional bits).
            poly: an object with ``coeffs`` (low to high degree) and
                ``interval`` (``(lo, hi)``), e.g.
                :class:`hecrypt.hybrid.polynomials.Polynomial`.

        Leaks: nothing beyond the public polynomial.
        """
        if x.frac_bits != self.frac_bits:
            raise ProtocolError("truncate a product before evaluating a polynomial on it")
        k, d, levels = polynomial_plan(poly)
        t = x.div_pow2(k)
        f = self.frac_bits
        if is_odd7(poly):
            u = self.square(t)
            u2, t3 = self.products([Product("square", u), Product("mul", t, u)])
            lin = (t.mul_public(d[5], f) + t3.mul_public(d[7], f)).truncate(f)
            r = self.mul(u2, lin)
            low = (t.mul_public(d[1], f) + t3.mul_public(d[3], f)).truncate(f)
            return low + r + np.full(x.shape, d[0])
        powers: dict[int, SharedTensor] = {1: t}
        for level in levels:
            ops = [Product("square", powers[i]) if i == j else Product("mul", powers[i], powers[j])
                   for i, j in level]
            for (i, j), res in zip(level, self.products(ops)):
                powers[i + j] = res
        acc = None
        for j in range(1, len(d)):
            if d[j] == 0.0:
                continue
            term = powers[j].mul_public(d[j], self.frac_bits)
            acc = term if acc is None else acc + term
        if acc is None:
            out = self.share_zero(x.shape)
        else:
            out = acc.truncate(self.frac_bits)
        return out + np.full(x.shape, d[0]) if d[0] != 0.0 else out

    def sigmoid(self, x: SharedTensor, approx: Any = None) -> SharedTensor:
        """The sigmoid through a polynomial (default: the degree-7 least-squares fit on [-8, 8]).

        Outside the polynomial's interval the result is not a sigmoid.
        """
        if approx is None:
            from hecrypt.hybrid.polynomials import sigmoid_poly

            approx = sigmoid_poly()
        return self.polynomial(x, approx)

    def avg_pool2d(self, x: SharedTensor, pool_size: int | Sequence[int] = 2,
                   strides: int | Sequence[int] | None = None) -> SharedTensor:
        """Average pooling (no padding) of ``(N, H, W, C)``: local window sums times ``1/area``.

        A power-of-two window area divides by a local truncation; another area
        multiplies by ``1/area`` encoded with ``f`` bits and truncates. No
        communication.
        """
        ph, pw = (pool_size, pool_size) if isinstance(pool_size, int) else tuple(pool_size)
        sh, sw = (ph, pw) if strides is None else (
            (strides, strides) if isinstance(strides, int) else tuple(strides))
        win = np.lib.stride_tricks.sliding_window_view(x.share, (ph, pw), axis=(1, 2))
        win = win[:, ::sh, ::sw]
        summed = SharedTensor(win.sum(axis=(4, 5), dtype=np.uint64), x.frac_bits, x.index)
        area = ph * pw
        if area & (area - 1) == 0:
            return summed.div_pow2(area.bit_length() - 1)
        return summed.mul_public(1.0 / area, self.frac_bits).truncate(self.frac_bits)


def _check_array(obj: Any, shape: tuple[int, ...], peer: str) -> None:
    if not isinstance(obj, np.ndarray) or obj.dtype != np.uint64 or obj.shape != tuple(shape):
        got = (f"{obj.dtype} {obj.shape}" if isinstance(obj, np.ndarray)
               else type(obj).__name__)
        raise ProtocolError(f"{peer!r} sent {got}, expected a uint64 array of shape {shape}")
