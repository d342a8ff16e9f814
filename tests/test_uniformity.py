"""The statistical checks of tests/uniformity.py: exact tails, and they reject weak sources.

The rejections below are certain, not probable: each weakened stream puts
zero draws where the bounds require at least one (an empty bin, a bit that
is never set, a missing character pattern), so these tests cannot fail by
chance (one stream is out of range except with probability 2^-256); the
acceptance test has the false-alarm bound it states.
"""

from __future__ import annotations

import math
import secrets
from fractions import Fraction
from types import ModuleType
from typing import Any

import pytest

from hecrypt.paillier import randomness


def _tail_below(k: int, p: Fraction, t: int) -> Fraction:
    return sum((math.comb(k, j) * p**j * (1 - p) ** (k - j) for j in range(t)), Fraction(0))


@pytest.mark.parametrize("k,num,bits", [(40, 1, 8), (64, 1, 3), (256, 1, 1), (33, 5, 11)])
def test_binomial_bounds_are_exact(uniformity: ModuleType, k: int, num: int, bits: int) -> None:
    """``lower_bound`` and ``upper_bound`` match direct sums of binomial terms (dyadic p)."""
    p = Fraction(num, 1 << bits)
    u = num << (64 - bits)
    for tail_bits in (5, 20, 45):
        limit = Fraction(1, 1 << tail_bits)
        lo, tail = uniformity.lower_bound(k, u, tail_bits)
        below = _tail_below(k, p, lo)
        assert tail >= below and tail - below < Fraction(1, 1 << 90) and below <= limit
        assert _tail_below(k, p, lo + 1) > limit
        hi, tail = uniformity.upper_bound(k, u, tail_bits)
        above = 1 - _tail_below(k, p, hi + 1)
        assert tail >= above and tail - above < Fraction(1, 1 << 90) and above <= limit
        assert hi == 0 or 1 - _tail_below(k, p, hi) > limit


def test_count_check_rounds_probabilities_outward(uniformity: ModuleType) -> None:
    """A probability that is not a multiple of 2^-64 widens the bounds, never narrows them."""
    k, d = 256, 3**41  # p = a / d is not dyadic
    a = d // 8
    alarm = uniformity.count_check(32, k, a, d, 44, "exact")
    assert 0 < alarm <= Fraction(1, 1 << 44)
    with pytest.raises(AssertionError, match="of 256 draws"):
        uniformity.count_check(0, k, a, d, 44, "empty")


def test_uniform_draws_pass(uniform: Any) -> None:
    """Uniform draws from ``secrets`` pass, for ranges that are and are not powers of two.

    False alarm: three checks, each asserted below 2^-38.
    """
    for bound in (1 << 512, (1 << 511) + 12345, 3 * 2**61 + 1):
        alarm = uniform.below([secrets.randbelow(bound) for _ in range(256)], bound,
                              what=f"secrets below {bound:#x}")
        assert 0 < alarm <= Fraction(1, 1 << 38)


WEAK_STREAMS = {
    "exponent below 2^20": (lambda: secrets.randbelow(1 << 20), 1 << 512),
    "lower half of the range": (lambda: secrets.randbelow(1 << 511), 1 << 512),
    "lower half, bound not a power of two": (lambda: secrets.randbelow(2**1022), 3 * 2**1021),
    "16-bit table exponent": (lambda: secrets.randbelow(1 << 16), (1 << 512) - 3),
    "20 mask bits short": (lambda: secrets.randbits(149), 1 << 169),
    "32 random bits of 64": (lambda: secrets.randbits(32), 1 << 64),
    "high 32 bits of 64": (lambda: secrets.randbits(32) << 32, 1 << 64),
    "one stuck bit": (lambda: secrets.randbits(64) | (1 << 17), 1 << 64),
    "even values only": (lambda: 2 * secrets.randbelow(1 << 255), 1 << 256),
    "out of range": (lambda: secrets.randbelow(1 << 65), 1 << 64),
}


@pytest.mark.parametrize("name", list(WEAK_STREAMS))
def test_weak_streams_are_rejected(uniformity: ModuleType, name: str) -> None:
    """Each weakening the randomness tests must catch fails the check with certainty
    (out-of-range draws: except with probability 2^-256)."""
    draw, bound = WEAK_STREAMS[name]
    with pytest.raises(AssertionError):
        uniformity.uniform_below([draw() for _ in range(256)], bound, what=name)


def test_repeats_are_rejected(uniformity: ModuleType) -> None:
    values = [secrets.randbelow(1 << 256) for _ in range(255)]
    with pytest.raises(AssertionError, match="repeated"):
        uniformity.uniform_below([*values, values[7]], 1 << 256, what="repeat")


def test_characters_reject_djn_randomness(uniformity: ModuleType, smooth_key: Any) -> None:
    """DJN values ``hs^alpha`` have the same quadratic character mod p and mod q
    (``hs = (-x^2)^n``, both primes 3 mod 4): two of the four patterns never occur."""
    key = smooth_key
    assert key.p % 4 == 3 and key.q % 4 == 3
    s = randomness.DJNSampler(key.n)
    values = s.sample_many(256)
    assert all(uniformity.legendre(v, key.p) == uniformity.legendre(v, key.q) for v in values)
    with pytest.raises(AssertionError, match="characters"):
        uniformity.all_characters(values, key.p, key.q, what="DJN")


def test_ledger_refuses_a_run_above_its_limit(uniformity: ModuleType) -> None:
    ledger = uniformity.Ledger(Fraction(1, 1 << 30))
    ledger.add(Fraction(1, 1 << 31))
    ledger.add(Fraction(1, 1 << 31))
    with pytest.raises(AssertionError, match="false-alarm bound"):
        ledger.add(Fraction(1, 1 << 60))
