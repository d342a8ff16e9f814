"""Exact secure comparison in shares: sign bits, ReLU and max pooling.

Polynomials approximate a ReLU badly over a wide range; a comparison makes it
exact. The sign of a shared ``x = x_0 + x_1 mod 2^64`` is the most significant
bit of that sum, so the parties add their shares *as bits*, inside a binary
(XOR) sharing, with a parallel-prefix adder whose AND gates consume binary
Beaver triples from the dealer; the resulting bit is turned back into an
arithmetic share and multiplies ``x``. This is the arithmetic-to-binary route
of ABY (Demmler, Schneider and Zohner, NDSS 2015) and ABY3 (Mohassel and
Rindal, CCS 2018), as CrypTen implements it (Knott et al., NeurIPS 2021).

Binary shares are bit-planes: one ``uint64`` per element holds that element's
64 bits, so one word-wide AND is 64 AND gates and every layer of the adder is
a handful of numpy operations over the whole tensor.

Cost per element (``S`` elements compared at once; every step is batched over
the tensor, so rounds do not grow with ``S``):

=========================  ======  =====================================  =================
step                       rounds  online bytes sent per party            dealer -> party 1
=========================  ======  =====================================  =================
generate bits x_0 & x_1    1       16 (two masked words)                  8
Kogge-Stone levels 1..16   5       32 each (G and P updated together)     16 each
Kogge-Stone level 32       1       16 (G only)                            8
bit -> arithmetic          1       16 (one Beaver product b_0 * b_1)      8
=========================  ======  =====================================  =================

so the sign bit ``[x >= 0]`` costs 8 rounds and 208 bytes per party per
element online, 104 bytes from the dealer; ``relu(x) = x * [x >= 0]`` adds one
round and 16 bytes (one more product): **9 rounds, 224 bytes per party per
element** online, 112 bytes offline (plus the message framing, once per
round). A max-pooling window of ``k`` values is a tree of ``k - 1``
comparisons in ``ceil(log2 k)`` levels of ``max(a, b) = b + (a - b) * [a - b
>= 0]``: 9 rounds per level, 224 bytes per comparison (2x2 windows: 18
rounds, 3 comparisons per output).

Exactness: the adder computes the true bits of ``x_0 + x_1 mod 2^64``, so the
sign is right for every ring element (``[x >= 0]`` with ``x`` read as a signed
64-bit integer); multiplying by a 0/1 integer needs no truncation, so
``relu`` and ``max`` return exactly the shared input values (no error beyond
the fixed-point encoding of the input); ``max`` needs its inputs within half
the encodable range, ``|x| < 2^(62 - F)``, so that ``x - y`` does not wrap.

Only the dealer supplies binary triples. The two-party Paillier triple source
does not: a binary triple there needs oblivious transfer or one Paillier
product per bit (64 per element per AND word, about 1,500 ciphertext
operations per ReLU), which is not practical; those modes refuse exact ReLU
and max pooling (:func:`refuse_without_dealer`).

Leaks: nothing; every opened value is masked by a uniform triple component.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hecrypt.exceptions import ProtocolError, UnsupportedModelError
from hecrypt.hybrid.protocols import Product, SecretSharing
from hecrypt.hybrid.shares import SharedTensor
from hecrypt.hybrid.triples import TripleRequest

__all__ = [
    "SIGN_ROUNDS",
    "RELU_ROUNDS",
    "sign_requests",
    "relu_requests",
    "max_pool_requests",
    "nonnegative",
    "relu",
    "maximum",
    "max_pool2d",
    "refuse_without_dealer",
    "refuse_spec_without_dealer",
]

_U64 = np.uint64
_LEVELS = (1, 2, 4, 8, 16, 32)
#: Rounds of ``[x >= 0]``: one AND for the generate bits, six adder levels, one product.
SIGN_ROUNDS = 1 + len(_LEVELS) + 1
#: Rounds of an exact ReLU: the sign and one product.
RELU_ROUNDS = SIGN_ROUNDS + 1


def _shape(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(s) for s in shape)


def sign_requests(shape: Sequence[int]) -> list[TripleRequest]:
    """Triples :func:`nonnegative` consumes for a tensor of ``shape``, in order."""
    s = _shape(shape)
    two = (2, *s)
    reqs = [TripleRequest("and", s, s)]
    reqs += [TripleRequest("and", two, two) for _ in _LEVELS[:-1]]
    reqs += [TripleRequest("and", s, s), TripleRequest("mul", s, s)]
    return reqs


def relu_requests(shape: Sequence[int]) -> list[TripleRequest]:
    """Triples :func:`relu` consumes for a tensor of ``shape``, in order."""
    s = _shape(shape)
    return [*sign_requests(s), TripleRequest("mul", s, s)]


def _pool_levels(count: int) -> list[int]:
    """Comparisons per element at each level of a max tree over ``count`` values."""
    levels = []
    while count > 1:
        levels.append(count // 2)
        count = count - count // 2
    return levels


def max_pool_requests(shape: Sequence[int], pool_size: Sequence[int],
                      strides: Sequence[int]) -> list[TripleRequest]:
    """Triples :func:`max_pool2d` consumes for an ``(N, H, W, C)`` input, in order."""
    n, h, w, c = _shape(shape)
    (ph, pw), (sh, sw) = _shape(pool_size), _shape(strides)
    out = (n, (h - ph) // sh + 1, (w - pw) // sw + 1, c)
    reqs: list[TripleRequest] = []
    for pairs in _pool_levels(ph * pw):
        reqs += relu_requests((pairs, *out))
    return reqs


# ------------------------------------------------------------------ binary shares
def _and(ss: SecretSharing, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``[u & v]`` from XOR shares ``[u]``, ``[v]`` (uint64 bit-planes), one round.

    Steps (Beaver's trick over GF(2)^64, as in GMW): with a binary triple
    ``[a], [b], [c = a & b]``: 1. each party opens ``e = u ^ a`` and
    ``f = v ^ b`` (one message each way); 2. party ``i`` keeps
    ``c_i ^ (e & b_i) ^ (f & a_i)``, party 0 also ``^ (e & f)``.
    """
    t = ss.triples.take(TripleRequest("and", u.shape, v.shape))
    if t.b is None:  # pragma: no cover - the kind always has b
        raise ProtocolError("a binary triple needs b")
    mine = [u ^ t.a, v ^ t.b]
    other = ss.party.exchange(ss.peer, mine)
    if (not isinstance(other, list) or len(other) != 2
            or any(not isinstance(o, np.ndarray) or o.dtype != _U64 or o.shape != u.shape
                   for o in other)):
        raise ProtocolError(f"{ss.peer!r} sent a malformed binary Beaver opening")
    e = mine[0] ^ other[0]
    f = mine[1] ^ other[1]
    z = t.c ^ (e & t.b) ^ (f & t.a)
    return z ^ (e & f) if ss.index == 0 else z


def _sign_bit_binary(ss: SecretSharing, x: SharedTensor) -> np.ndarray:
    """XOR share of the most significant bit of ``x_0 + x_1`` (0 or 1 per element)."""
    zero = np.zeros_like(x.share)
    own = x.share
    # x_0 and x_1 as binary sharings: (x_0, 0) and (0, x_1).
    left, right = (own, zero) if ss.index == 0 else (zero, own)
    prop = own.copy()  # P = x_0 ^ x_1: each party's share is its own word
    gen = _and(ss, left, right)  # G = x_0 & x_1
    first_prop = prop
    for k in _LEVELS:
        shift = _U64(k)
        if k == _LEVELS[-1]:
            gen = gen ^ _and(ss, prop, gen << shift)
            break
        both = _and(ss, np.stack([prop, prop]), np.stack([gen << shift, prop << shift]))
        gen = gen ^ both[0]
        prop = both[1]
    # the carry into bit i is bit i - 1 of the prefix-generate word
    return ((first_prop ^ (gen << _U64(1))) >> _U64(63)) & _U64(1)


def _bit_to_arithmetic(ss: SecretSharing, bit: np.ndarray) -> SharedTensor:
    """``[b]`` (integer, 0 fractional bits) from an XOR-shared bit ``b = b_0 ^ b_1``.

    Steps: 1. ``[b_0] = (b_0, 0)`` and ``[b_1] = (0, b_1)`` are arithmetic
    sharings; 2. one Beaver product ``[b_0 b_1]``; 3. ``b = b_0 + b_1 - 2 b_0 b_1``.
    """
    zero = np.zeros_like(bit)
    own = SharedTensor(bit, 0, ss.index)
    other = SharedTensor(zero, 0, ss.index)
    b0, b1 = (own, other) if ss.index == 0 else (other, own)
    (prod,) = ss.products([Product("mul", b0, b1, truncate=False)])
    return SharedTensor(bit - prod.share * _U64(2), 0, ss.index)


def nonnegative(ss: SecretSharing, x: SharedTensor) -> SharedTensor:
    """``[x >= 0]`` as an integer sharing (0 or 1, 0 fractional bits), exact.

    Steps: 1. arithmetic to binary: the parties add ``x_0`` and ``x_1`` bit-wise
    with a Kogge-Stone parallel-prefix adder (generate ``G = x_0 & x_1``,
    propagate ``P = x_0 ^ x_1``; level ``k``: ``G ^= P & (G << k)``,
    ``P &= P << k``, ``k = 1, 2, ..., 32``; XOR replaces OR because a group
    never both generates and propagates); 2. the sign bit is
    ``P_63 ^ G_62``; 3. bit to arithmetic; 4. ``1 - sign``.
    ``SIGN_ROUNDS`` (8) rounds; see the module docstring for bytes.

    Leaks: nothing.
    """
    sign = _bit_to_arithmetic(ss, _sign_bit_binary(ss, x))
    one = _U64(1) if ss.index == 0 else _U64(0)
    return SharedTensor(one - sign.share, 0, ss.index)


def _select_products(ss: SecretSharing, values: SharedTensor,
                     bits: SharedTensor) -> SharedTensor:
    (out,) = ss.products([Product("mul", values, bits, truncate=False)])
    return SharedTensor(out.share, values.frac_bits, ss.index)


def relu(ss: SecretSharing, x: SharedTensor) -> SharedTensor:
    """``max(x, 0)`` exactly: ``x * [x >= 0]`` (``RELU_ROUNDS`` = 9 rounds).

    Leaks: nothing.
    """
    return _select_products(ss, x, nonnegative(ss, x))


def maximum(ss: SecretSharing, x: SharedTensor, y: SharedTensor) -> SharedTensor:
    """Element-wise ``max(x, y)`` exactly: ``y + relu(x - y)`` (9 rounds).

    Exact when the difference does not wrap, ``|x - y| < 2^63`` as ring
    integers: guaranteed for ``|x|, |y| < 2^62`` (values below ``2^(62 - F)``
    with ``F`` fractional bits, ``2^46`` by default), i.e. half the range
    :func:`~hecrypt.hybrid.ring.encode` accepts. Values in a network are far
    smaller (a product of two of them must fit the ring before truncation); beyond
    that half range the result is wrong, not an error, since nothing about
    the shared values can be checked.
    """
    return y + relu(ss, x - y)


def max_pool2d(ss: SecretSharing, x: SharedTensor, pool_size: int | Sequence[int] = 2,
               strides: int | Sequence[int] | None = None) -> SharedTensor:
    """Max pooling (no padding) of shared ``(N, H, W, C)``: a tree of comparisons.

    Steps: 1. gather each window's values (local); 2. per tree level, pair
    the candidates and keep ``max`` of each pair, all pairs of the level in one
    batched comparison; an odd candidate waits for the next level.
    ``ceil(log2(ph * pw))`` levels of ``RELU_ROUNDS`` rounds. Exact for
    values of magnitude below ``2^(62 - F)`` (see :func:`maximum`).

    Leaks: nothing (which element of a window is largest stays hidden).
    """
    ph, pw = (pool_size, pool_size) if isinstance(pool_size, int) else _shape(pool_size)
    if strides is None:
        sh, sw = ph, pw
    else:
        sh, sw = (strides, strides) if isinstance(strides, int) else _shape(strides)
    win = np.lib.stride_tricks.sliding_window_view(x.share, (ph, pw), axis=(1, 2))
    win = win[:, ::sh, ::sw]  # (N, Ho, Wo, C, ph, pw)
    cands = [SharedTensor(np.ascontiguousarray(win[..., i, j]), x.frac_bits, x.index)
             for i in range(ph) for j in range(pw)]
    while len(cands) > 1:
        pairs = len(cands) // 2
        a = SharedTensor(np.stack([c.share for c in cands[:pairs]]), x.frac_bits, x.index)
        b = SharedTensor(np.stack([c.share for c in cands[pairs:2 * pairs]]), x.frac_bits,
                         x.index)
        best = maximum(ss, a, b)
        rest = cands[2 * pairs:]
        cands = [SharedTensor(best.share[i], x.frac_bits, x.index) for i in range(pairs)] + rest
    return cands[0]


def refuse_without_dealer(layers: Sequence[Any], mode: str) -> None:
    """Raise if a network needs exact comparisons and ``mode`` has no dealer.

    Args:
        layers: the network's layers (``Sequential.layers``).
        mode: the private-inference mode.

    Raises:
        UnsupportedModelError: ``mode`` is not ``"dealer"`` and a layer is a
            ReLU without a polynomial or a max pooling; the message names the
            dealer mode and the polynomial alternative.
    """
    if mode == "dealer":
        return
    for i, layer in enumerate(layers):
        kind = getattr(layer, "kind", type(layer).__name__)
        exact_relu = kind == "Activation" and layer.name == "relu" and layer.approx is None
        if exact_relu or kind == "MaxPooling2D":
            what = "an exact ReLU" if exact_relu else "max pooling"
            raise UnsupportedModelError(
                f"layer {i} ({kind}) needs {what}, i.e. secure comparison, which needs binary "
                f"triples that only the dealer supplies; run it with mode=\"dealer\", or in "
                f"mode {mode!r} use Activation(\"relu\", approx=relu_poly(...)) (see "
                "hecrypt.models.calibrate) and AveragePooling2D instead of max pooling"
            )


def refuse_spec_without_dealer(spec: dict[str, Any], mode: str) -> None:
    """:func:`refuse_without_dealer` for a model spec (:func:`hecrypt.hybrid.inference.model_spec`).

    Raises:
        UnsupportedModelError: the spec has an exact ReLU or a max pooling.
    """
    if mode == "dealer" or spec.get("model") != "sequential":
        return
    for i, layer in enumerate(spec.get("layers", ())):
        if layer.get("type") in ("relu", "maxpool"):
            what = "an exact ReLU" if layer["type"] == "relu" else "max pooling"
            raise UnsupportedModelError(
                f"step {i} of the network needs {what}, i.e. secure comparison, which needs "
                f"binary triples that only the dealer supplies; run it with mode=\"dealer\", "
                f"or in mode {mode!r} use Activation(\"relu\", approx=relu_poly(...)) (see "
                "hecrypt.models.calibrate) and AveragePooling2D instead of max pooling"
            )
