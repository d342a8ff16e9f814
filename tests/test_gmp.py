"""Tests of the big-integer kernels in hecrypt._gmp."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hecrypt import _gmp

# A 256-bit prime modulus and a 512-bit odd composite (a Paillier-like n^2
# would be slower and exercises nothing more).
P256 = 2**256 - 2**224 + 2**192 + 2**96 - 1
M512 = (2**255 - 19) * (2**256 - 189)


def _is_prime_trial(x: int) -> bool:
    """Independent primality check for small integers."""
    if x < 2:
        return False
    return all(x % d for d in range(2, math.isqrt(x) + 1))


# ------------------------------------------------------------------ randomness
def test_random_below_range() -> None:
    values = [int(_gmp.random_below(7)) for _ in range(2000)]
    assert min(values) == 0
    assert max(values) == 6
    assert set(values) == set(range(7))
    assert all(isinstance(_gmp.random_below(10), _gmp.MPZ) for _ in range(3))


def test_random_below_large() -> None:
    bound = 1 << 300
    values = [_gmp.random_below(bound) for _ in range(200)]
    assert all(0 <= v < bound for v in values)
    # 200 uniform draws below 2^300: at least one exceeds 2^290 with overwhelming probability
    assert max(values) > 1 << 290
    assert len(set(values)) == 200


def test_random_unit_is_a_unit() -> None:
    n = 2 * 3 * 5 * 7
    draws = [int(_gmp.random_unit(n)) for _ in range(3000)]
    assert all(1 <= r < n and math.gcd(r, n) == 1 for r in draws)
    units = {r for r in range(1, n) if math.gcd(r, n) == 1}
    assert len(units) == 48
    assert set(draws) == units  # 3000 draws miss one of 48 units with probability < 1e-26


@pytest.mark.parametrize("bits", [3, 8, 17, 64, 256, 512])
def test_random_prime_size_and_top_bits(bits: int) -> None:
    for _ in range(5):
        p = _gmp.random_prime(bits)
        assert p.bit_length() == bits
        assert p >> (bits - 2) == 0b11
        assert _gmp.is_prime(p)
        if bits <= 17:
            assert _is_prime_trial(int(p))


def test_random_prime_product_has_exact_length() -> None:
    for _ in range(10):
        assert (_gmp.random_prime(100) * _gmp.random_prime(100)).bit_length() == 200


def test_random_prime_rejects_tiny() -> None:
    with pytest.raises(ValueError):
        _gmp.random_prime(2)


def test_is_prime() -> None:
    primes = [x for x in range(60) if _gmp.is_prime(x)]
    assert primes == [x for x in range(60) if _is_prime_trial(x)]
    assert _gmp.is_prime(P256)
    assert _gmp.is_prime(2**127 - 1)
    assert not _gmp.is_prime((2**127 - 1) * (2**61 - 1))
    assert not _gmp.is_prime(561)  # Carmichael number


# ------------------------------------------------------------------ factoring
@pytest.mark.parametrize(
    ("x", "primes", "rest"),
    [
        (1, [], 1),
        (2, [2], 1),
        (360, [2, 3, 5], 1),
        (2**16 + 1, [65537], 1),  # a prime just above the sieve limit
        (65521 * 65519, [65519, 65521], 1),
        ((2**31 - 1) * 12, [2, 3, 2147483647], 1),  # prime cofactor below 2^32
        (6 * (2**61 - 1), [2, 3], 2**61 - 1),  # prime cofactor above 2^32 is kept
        (2**31 * (2**61 - 1) * (2**89 - 1), [2], (2**61 - 1) * (2**89 - 1)),
    ],
)
def test_small_factors(x: int, primes: list[int], rest: int) -> None:
    found, cofactor = _gmp.small_factors(x)
    assert sorted(int(f) for f in found) == primes
    assert cofactor == rest


@given(st.integers(min_value=1, max_value=2**40))
@settings(max_examples=200, deadline=None)
def test_small_factors_reconstructs(x: int) -> None:
    found, cofactor = _gmp.small_factors(x)
    y = x
    for f in found:
        assert _is_prime_trial(f) if f < 2**20 else _gmp.is_prime(f)
        assert y % f == 0
        while y % f == 0:
            y //= f
    assert y == cofactor
    if cofactor != 1:
        assert cofactor >= 2**32
        assert all(cofactor % ell for ell in _gmp._small_primes())


@pytest.mark.parametrize("bits", [48, 64, 256, 512])
def test_structured_prime(bits: int) -> None:
    p, factors = _gmp.structured_prime(bits)
    assert p.bit_length() == bits
    assert p >> (bits - 2) == 0b11
    assert _gmp.is_prime(p)
    factors = [int(f) for f in factors]
    assert factors[0] == 2
    assert len(set(factors)) == len(factors)
    assert all(_gmp.is_prime(f) for f in factors)
    # p - 1 = 2 * k * s with s the large prime, listed last
    s = factors[-1]
    assert s.bit_length() == bits - 17
    assert (p - 1) % (2 * s) == 0
    k = (p - 1) // (2 * s)
    assert 0 < k < 2**17
    # the listed primes are exactly the distinct primes of p - 1
    y = int(p) - 1
    for f in factors:
        assert y % f == 0
        while y % f == 0:
            y //= f
    assert y == 1


def test_structured_prime_rejects_small() -> None:
    with pytest.raises(ValueError):
        _gmp.structured_prime(31)


def test_is_primitive_root() -> None:
    p = 23  # 22 = 2 * 11
    roots = {g for g in range(1, p) if _gmp.is_primitive_root(g, p, [2, 11])}
    expected = {g for g in range(1, p) if len({pow(g, k, p) for k in range(p - 1)}) == p - 1}
    assert roots == expected == {5, 7, 10, 11, 14, 15, 17, 19, 20, 21}
    assert not _gmp.is_primitive_root(0, p, [2, 11])
    assert not _gmp.is_primitive_root(p, p, [2, 11])
    assert _gmp.is_primitive_root(5 + p, p, [2, 11])  # reduced mod p first


def test_is_primitive_root_structured() -> None:
    p, factors = _gmp.structured_prime(128)
    found = next(g for g in range(2, 1000) if _gmp.is_primitive_root(g, p, factors))
    # a primitive root has order exactly p - 1: no proper divisor power is 1
    assert pow(found, int(p) - 1, int(p)) == 1
    for f in factors:
        assert pow(found, (int(p) - 1) // int(f), int(p)) != 1
    # a square is never a primitive root (p - 1 is even)
    assert not _gmp.is_primitive_root(found * found, p, factors)


# ------------------------------------------------------------------ fixed-base tables
TABLE_CASES = [
    # (base, modulus, exp_bits, window)
    (3, P256, 256, 1),
    (7, P256, 100, 4),  # rows * window = 100: exact fit
    (2**200 + 12345, M512, 257, 8),  # last row partly used
    (5, M512, 64, 12),
    (M512 - 2, M512, 33, 16),  # one wide window, a 17-bit remainder row
]
TABLE_IDS = [f"{bits}bit-w{w}" for _, _, bits, w in TABLE_CASES]


@pytest.mark.parametrize(("base", "modulus", "bits", "window"), TABLE_CASES, ids=TABLE_IDS)
def test_fixed_base_table_edges(base: int, modulus: int, bits: int, window: int) -> None:
    t = _gmp.FixedBaseTable(base, modulus, bits, window)
    assert len(t.rows) == -(-bits // window)
    assert all(len(row) == 2**window for row in t.rows)
    top = 2**bits - 1
    edges = [0, 1, 2, 2**window - 1, 2**window, top - 1, top, 2 ** (bits - 1)]
    for e in edges:
        assert t.pow(e) == pow(base, e, modulus), e
    assert [int(v) for v in t.pow_many(edges)] == [pow(base, e, modulus) for e in edges]
    assert t.nbytes > 0


@pytest.mark.parametrize(("base", "modulus", "bits", "window"), TABLE_CASES, ids=TABLE_IDS)
@given(data=st.data())
@settings(max_examples=40, deadline=None)
def test_fixed_base_table_matches_pow(
    base: int, modulus: int, bits: int, window: int, data: st.DataObject
) -> None:
    t = _table(base, modulus, bits, window)
    exps = data.draw(
        st.lists(
            st.one_of(st.integers(0, 2**bits - 1), st.sampled_from([0, 2**bits - 1])),
            min_size=1,
            max_size=12,
        )
    )
    want = [pow(base, e, modulus) for e in exps]
    assert [int(t.pow(e)) for e in exps] == want
    assert [int(v) for v in t.pow_many(exps)] == want


_TABLES: dict[tuple[int, int, int, int], _gmp.FixedBaseTable] = {}


def _table(base: int, modulus: int, bits: int, window: int) -> _gmp.FixedBaseTable:
    key = (base, modulus, bits, window)
    if key not in _TABLES:
        _TABLES[key] = _gmp.FixedBaseTable(base, modulus, bits, window)
    return _TABLES[key]


@given(st.lists(st.integers(0, 2**257 - 1), min_size=1, max_size=20))
@settings(max_examples=60, deadline=None)
def test_fixed_base_table_digits(exps: list[int]) -> None:
    t = _table(*TABLE_CASES[2])
    digits = t.digits(exps)
    assert digits.shape == (len(exps), len(t.rows))
    for e, row in zip(exps, digits.tolist()):
        assert sum(d << (t.window * i) for i, d in enumerate(row)) == e
        assert all(0 <= d < 2**t.window for d in row)


def test_fixed_base_table_rejects_out_of_range() -> None:
    t = _gmp.FixedBaseTable(3, P256, 64, 8)
    for bad in (2**64, 2**64 + 1, 2**100):
        with pytest.raises(ValueError):
            t.pow(bad)
        with pytest.raises(ValueError):
            t.pow_many([1, bad])
    for bad in (-1, -(2**63)):
        with pytest.raises(ValueError):
            t.pow(bad)
        with pytest.raises(ValueError):
            t.pow_many([bad])
    assert t.pow_many([]) == []


@pytest.mark.parametrize("window", [0, 17, -1])
def test_fixed_base_table_rejects_window(window: int) -> None:
    with pytest.raises(ValueError):
        _gmp.FixedBaseTable(3, P256, 64, window)


# ------------------------------------------------------------------ multi-exponentiation
@given(
    st.lists(
        st.tuples(st.integers(1, M512 - 1), st.integers(-(2**70), 2**70)),
        min_size=0,
        max_size=40,
    )
)
@settings(max_examples=60, deadline=None)
def test_multi_powmod_matches_pow(terms: list[tuple[int, int]]) -> None:
    # keep bases units mod M512 so negative exponents are defined
    terms = [(b, e) for b, e in terms if math.gcd(b, M512) == 1]
    bases = [b for b, _ in terms]
    exps = [e for _, e in terms]
    want = 1
    for b, e in terms:
        want = want * pow(b, e, M512) % M512
    assert int(_gmp.multi_powmod(bases, exps, M512)) == want


def test_multi_powmod_length_mismatch() -> None:
    with pytest.raises(ValueError):
        _gmp.multi_powmod([2, 3], [1], M512)


def test_structured_primes_factor_back_from_p_alone() -> None:
    """p - 1 = (primes below 2^16) x (one large prime): what certification relies on.

    A k with a prime factor between 2^16 and 2^17 used to slip through, leaving
    a composite cofactor and an uncertifiable key about once in twelve.
    """
    for _ in range(300):
        p, factors = _gmp.structured_prime(64)
        primes, rest = _gmp.small_factors(p - 1)
        assert all(f < 1 << 16 for f in primes)
        assert rest > 1 and _gmp.is_prime(rest)
        assert sorted(int(f) for f in [*primes, rest]) == sorted(int(f) for f in factors)
