"""Exact statistical checks that sampled values are uniform over their range.

A weakened randomness source (an exponent drawn below 2^20 instead of
2^512, a mask 20 bits short, a ring element with 32 random bits) still
produces distinct values of the right type, so only the *distribution* of
the values can tell. Each check here counts how the draws fall into
categories whose probability under the uniform distribution is known
exactly (equal-width bins, bit lengths, residues mod 8, single bits,
quadratic characters) and accepts a count only inside bounds taken from
the exact binomial distribution (no normal approximation).

False alarms are accounted for, not guessed: every check returns an upper
bound on the probability that it fails on truly uniform values (the sum of
the exact binomial tails outside its bounds, plus union bounds for "no
repeats" and "no tiny value"), asserts that this bound is at most
:data:`CALL_LIMIT` (2^-38), and a :class:`Ledger` adds the bounds of a
whole test run and asserts the total stays at most 2^-30.

Tail bounds are exact for a probability rounded *outward* to 64 bits: a
lower bound is computed with ``p`` rounded down and an upper bound with
``p`` rounded up; a binomial tail is monotone in ``p``, so each stated
tail is an upper bound on the true one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from functools import cache

import gmpy2

#: Two-sided false-alarm budget of one count (2^-44).
COUNT_ALARM_BITS = 44
#: Two-sided false-alarm budget of one bit position (2^-53; there may be 512).
BIT_ALARM_BITS = 53
#: Largest false-alarm bound one check may have.
CALL_LIMIT = Fraction(1, 1 << 38)
#: Largest false-alarm bound of all checks of a test run together.
RUN_LIMIT = Fraction(1, 1 << 30)
#: Probabilities are rounded outward to this many bits before the tails are summed.
_P_BITS = 64
#: Tail probabilities are rounded up to this many bits when reported.
_REPORT_BITS = 96


def _round_up(num: int, den: int) -> Fraction:
    """``num / den`` rounded up to a multiple of ``2^-_REPORT_BITS``."""
    return Fraction(-(-(num << _REPORT_BITS) // den), 1 << _REPORT_BITS)


@cache
def lower_bound(k: int, u: int, tail_bits: int) -> tuple[int, Fraction]:
    """For ``X ~ Bin(k, u / 2^64)``: the largest ``t`` with ``P(X < t) <= 2^-tail_bits``.

    Returns ``(t, P(X < t))``, computed with integers: the term
    ``C(k, j) u^j v^(k-j)`` (``v = 2^64 - u``) over ``2^(64 k)``, each term
    from the previous one by an exact division.
    """
    v = (1 << _P_BITS) - u
    if u == 0:
        return 0, Fraction(0)
    if v == 0:
        return k, Fraction(0)
    total = 1 << (_P_BITS * k)
    term, cum = v**k, 0
    for j in range(k + 1):
        if (cum + term) << tail_bits > total:
            return j, _round_up(cum, total)
        cum += term
        if j < k:
            term = term * (k - j) * u // ((j + 1) * v)
    raise AssertionError("the binomial terms must sum to one")  # pragma: no cover


def upper_bound(k: int, u: int, tail_bits: int) -> tuple[int, Fraction]:
    """For ``X ~ Bin(k, u / 2^64)``: the smallest ``t`` with ``P(X > t) <= 2^-tail_bits``.

    Returns ``(t, P(X > t))``. By symmetry ``k - X ~ Bin(k, v / 2^64)`` with
    ``v = 2^64 - u`` and ``P(X > t) = P(k - X < k - t)``, so this is
    :func:`lower_bound` of the complement, mirrored.
    """
    s, tail = lower_bound(k, (1 << _P_BITS) - u, tail_bits)
    return k - s, tail


def count_check(count: int, k: int, a: int, d: int, alarm_bits: int, what: str) -> Fraction:
    """Assert that ``count`` of ``k`` draws in a category of probability ``a / d`` is plausible.

    The bounds leave at most ``2^-(alarm_bits + 1)`` in each tail of
    ``Bin(k, a / d)``; returns the exact sum of the two tails left out.
    """
    u_down = (a << _P_BITS) // d
    u_up = -(-(a << _P_BITS) // d)
    lo, tail_lo = lower_bound(k, u_down, alarm_bits + 1)
    hi, tail_hi = upper_bound(k, u_up, alarm_bits + 1)
    assert lo <= count <= hi, (
        f"{what}: {count} of {k} draws, but a uniform source gives {lo} to {hi} "
        f"(probability {a / d:.5g}) except with probability below 2^-{alarm_bits}"
    )
    return tail_lo + tail_hi


def _bin_sizes(bound: int, bins: int) -> list[int]:
    """How many integers of ``[0, bound)`` fall into each of ``bins`` equal-width bins."""
    edges = [-(-i * bound // bins) for i in range(bins + 1)]
    return [edges[i + 1] - edges[i] for i in range(bins)]


def _bit_length_classes(bound: int) -> list[tuple[str, int, int, int]]:
    """``(label, low, high, size)``: values with bit length in ``[low, high]`` and their count."""
    top = bound.bit_length()
    classes = [(f"bit length {top}", top, top, bound - (1 << (top - 1)))]
    for j in (1, 2, 3):
        classes.append((f"bit length {top - j}", top - j, top - j, 1 << (top - 1 - j)))
    classes.append((f"bit length <= {top - 4}", 0, top - 4, 1 << (top - 4)))
    return classes


def uniform_below(values: Iterable[int], bound: int, *, what: str, bins: int = 8,
                  distance: Fraction = Fraction(0)) -> Fraction:
    """Assert that ``values`` look like independent uniform draws from ``[0, bound)``.

    Checks, each with exact binomial bounds (:func:`count_check`):

    1. every value lies in ``[0, bound)``;
    2. the count in each of ``bins`` equal-width bins of ``[0, bound)``
       (so the top bits are spread over the whole range);
    3. (``bound >= 16``) the counts of bit length ``L``, ``L-1``, ``L-2``,
       ``L-3`` and ``<= L-4``, ``L = bound.bit_length()``, with their exact
       probabilities;
    4. (``bound >= 8``) the count of each residue mod 8 (low bits, parity);
    5. no value repeats, when ``C(k, 2) / bound <= 2^-44``;
    6. no value lies below ``bound >> (44 + bit length of k)`` (a tiny value);
    7. (``bound`` a power of two ``2^b``) the count of ones at each of the
       ``b`` bit positions (a stuck or biased bit).

    Args:
        values: the draws (ints, mpz or numpy integers).
        bound: the documented exclusive upper end of the range.
        what: the source, for failure messages.
        bins: equal-width bins (4 or 8; the bin check needs
            ``(1 - 1/bins)^k`` far below 2^-44 to see an empty bin).
        distance: the statistical distance of one draw from uniform on
            ``[0, bound)`` (for example ``1 - phi(n)/n`` for a unit mod
            ``n``); ``k * distance`` is added to the false-alarm bound.

    Returns:
        An upper bound on the probability that these checks fail on
        independent uniform draws (at most :data:`CALL_LIMIT`, asserted).
    """
    xs = [int(v) for v in values]
    k, bound = len(xs), int(bound)
    assert k >= 32 and bound >= 2, f"{what}: too few draws ({k}) or a trivial range"
    alarm = Fraction(0)
    outside = [x for x in xs if not 0 <= x < bound]
    assert not outside, f"{what}: {len(outside)} draws outside [0, {bound:#x}), e.g. {outside[0]}"

    counts = [0] * bins
    for x in xs:
        counts[x * bins // bound] += 1
    for i, (c, size) in enumerate(zip(counts, _bin_sizes(bound, bins))):
        alarm += count_check(c, k, size, bound, COUNT_ALARM_BITS, f"{what}, bin {i} of {bins}")

    if bound >= 16:
        lengths = [x.bit_length() for x in xs]
        for label, low, high, size in _bit_length_classes(bound):
            c = sum(1 for b in lengths if low <= b <= high)
            alarm += count_check(c, k, size, bound, COUNT_ALARM_BITS, f"{what}, {label}")

    if bound >= 8:
        for r in range(8):
            c = sum(1 for x in xs if x % 8 == r)
            size = (bound - r + 7) // 8
            alarm += count_check(c, k, size, bound, COUNT_ALARM_BITS, f"{what}, residue {r} mod 8")

    pairs = k * (k - 1) // 2
    if pairs << COUNT_ALARM_BITS <= bound:
        assert len(set(xs)) == k, f"{what}: {k - len(set(xs))} repeated values among {k} draws"
        alarm += _round_up(pairs, bound)

    tiny = bound >> (COUNT_ALARM_BITS + k.bit_length())
    if tiny:
        small = min(xs)
        assert small >= tiny, f"{what}: a draw {small:#x} below {tiny:#x} = bound / 2^" \
            f"{COUNT_ALARM_BITS + k.bit_length()}"
        alarm += _round_up(k * tiny, bound)

    if bound & (bound - 1) == 0:
        width = bound.bit_length() - 1
        ones = [0] * width
        for x in xs:
            for i in range(width):
                ones[i] += (x >> i) & 1
        for i, c in enumerate(ones):
            alarm += count_check(c, k, 1, 2, BIT_ALARM_BITS, f"{what}, ones at bit {i}")

    alarm += _round_up(int(distance.numerator) * k, int(distance.denominator))
    assert alarm <= CALL_LIMIT, f"{what}: false-alarm bound {float(alarm):.3g} above 2^-38"
    return alarm


def legendre(x: int, p: int) -> int:
    """The Legendre symbol of ``x`` modulo the odd prime ``p`` (1, -1, or 0)."""
    return int(gmpy2.legendre(int(x) % p, p))


def all_characters(values: Sequence[int], p: int, q: int, *, what: str) -> Fraction:
    """Assert that the pairs (Legendre mod ``p``, Legendre mod ``q``) of ``values`` cover
    all four sign patterns in the proportions of uniform units (1/4 each).

    A uniform n-th residue ``r^n`` has the character of a uniform unit ``r``
    on each side, independently; DJN randomness ``(-x^2)^(n alpha)`` has the
    same sign on both sides for primes ``= 3 mod 4``, so two patterns never
    occur. Returns the false-alarm bound (four counts, exact binomial tails).
    """
    counts: dict[tuple[int, int], int] = {(a, b): 0 for a in (1, -1) for b in (1, -1)}
    for v in values:
        pair = (legendre(v, p), legendre(v, q))
        assert pair in counts, f"{what}: a value shares a factor with n"
        counts[pair] += 1
    alarm = Fraction(0)
    for pair, c in counts.items():
        alarm += count_check(c, len(values), 1, 4, COUNT_ALARM_BITS,
                             f"{what}, characters {pair} mod (p, q)")
    assert alarm <= CALL_LIMIT
    return alarm


class Ledger:
    """The false-alarm bounds of the checks of one test run, and their sum (<= 2^-30)."""

    def __init__(self, limit: Fraction = RUN_LIMIT) -> None:
        self.limit = limit
        self.total = Fraction(0)
        self.checks = 0

    def add(self, alarm: Fraction) -> Fraction:
        """Record one check's bound; assert the run's total stays within the limit."""
        self.total += alarm
        self.checks += 1
        assert self.total <= self.limit, (
            f"the statistical checks of this run add up to a false-alarm bound of "
            f"{float(self.total):.3g} over {self.checks} checks, above {float(self.limit):.3g}"
        )
        return alarm


class Checks:
    """:func:`uniform_below` and :func:`all_characters`, recorded in a :class:`Ledger`."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def below(self, values: Iterable[int], bound: int, *, what: str, bins: int = 8,
              distance: Fraction = Fraction(0)) -> Fraction:
        """:func:`uniform_below`, recorded."""
        return self.ledger.add(uniform_below(values, bound, what=what, bins=bins,
                                             distance=distance))

    def characters(self, values: Sequence[int], p: int, q: int, *, what: str) -> Fraction:
        """:func:`all_characters`, recorded."""
        return self.ledger.add(all_characters(values, p, q, what=what))
