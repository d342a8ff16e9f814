"""A test key under which the exponents behind Paillier randomness can be read back.

Randomness such as ``g_p^a mod p^2`` or ``hs^alpha mod n^2`` hides its
exponent behind a discrete logarithm. For a key whose ``p - 1`` and ``q - 1``
are products of distinct primes below 2^12 (``p = 2 * l_1 * ... * l_k + 1``),
Pohlig-Hellman computes discrete logarithms modulo ``p`` in milliseconds:
project onto the subgroup of each prime ``l`` (a remainder tree of
exponentiations), look the projection up in a table of the ``l`` powers of a
generator of that subgroup, and combine the residues by CRT. ``p - 1`` and
``q - 1`` share only the factor 2, so the two sides together give an
exponent modulo about ``(p - 1)(q - 1) / 2``.

Such a key is insecure (Pollard's p - 1 factors ``n`` at once) and only
serves to test the distribution of the randomness the library draws:

- the key owner's table exponent ``a`` from ``g_p^a mod p^2``:
  ``a = log(R mod p) / log(g_p mod p) mod (p - 1)``;
- the DJN exponent ``alpha`` from ``hs^alpha mod n^2``: ``alpha`` modulo the
  order of ``hs`` on each side, combined by CRT (exact while the combined
  order exceeds ``2^exp_bits``);
- ``r`` from ``r^n mod n^2``: ``r mod p = (R mod p)^(n^-1 mod (p - 1))``, and
  the same mod ``q``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import gmpy2

from hecrypt.paillier import PrivateKey, PublicKey

#: Primes of p - 1 and q - 1 (besides 2) are drawn from [2^8, 2^12).
SMALL_PRIME_RANGE = (1 << 8, 1 << 12)
#: Random products tried before the search gives up (a few are needed).
_MAX_TRIES = 1 << 12


def _primes_in(low: int, high: int) -> list[int]:
    return [x for x in range(low, high) if gmpy2.is_prime(x)]


def smooth_prime(bits: int, primes: Sequence[int], rng: random.Random) -> tuple[int, list[int]]:
    """A prime ``p = 2 * l_1 * ... * l_k + 1`` of ``bits`` bits, top two bits set,
    with distinct ``l_i`` from ``primes``; returns ``(p, [2, l_1, ..., l_k])``."""
    low, high = 3 << (bits - 2), 1 << bits
    for _ in range(_MAX_TRIES):
        pool = list(primes)
        rng.shuffle(pool)
        chosen: list[int] = []
        m = 2
        while m.bit_length() < bits - 13:  # then one more prime of ~11 bits may fit
            ell = pool.pop()
            chosen.append(ell)
            m *= ell
        for ell in pool:
            p = m * ell + 1
            if low <= p < high and gmpy2.is_prime(p, 50):
                return p, [2, *sorted([*chosen, ell])]
    raise RuntimeError("no smooth prime found")  # pragma: no cover - probability ~2^-400


def _crt_basis(moduli: Sequence[int]) -> list[int]:
    """``e_i`` with ``e_i = 1 mod m_i`` and ``0 mod m_j`` (pairwise coprime moduli)."""
    total = math.prod(moduli)
    return [(total // m) * pow(total // m, -1, m) % total for m in moduli]


class DiscreteLog:
    """Discrete logarithms modulo a prime ``p`` whose ``p - 1`` is square-free and smooth."""

    def __init__(self, p: int, factors: Sequence[int]) -> None:
        self.p = p
        self.order = p - 1
        self.factors = sorted(factors)
        if math.prod(self.factors) != self.order:
            raise ValueError("the factors must multiply to p - 1 (square-free p - 1)")
        self.g = next(g for g in range(2, p)
                      if all(pow(g, self.order // f, p) != 1 for f in self.factors))
        self._basis = _crt_basis(self.factors)
        self._tables: dict[int, dict[int, int]] = {}
        self._base_logs: dict[int, int] = {}
        for f in self.factors:
            h = gmpy2.powmod(self.g, self.order // f, p)
            table, x = {}, gmpy2.mpz(1)
            for j in range(f):
                table[int(x)] = j
                x = x * h % p
            self._tables[f] = table

    def _project(self, y: Any, factors: list[int], out: dict[int, int]) -> None:
        """``out[f] = y^(prod(factors) / f)`` for each ``f`` (a remainder tree)."""
        if len(factors) == 1:
            out[factors[0]] = int(y)
            return
        half = len(factors) // 2
        left, right = factors[:half], factors[half:]
        self._project(gmpy2.powmod(y, math.prod(right), self.p), left, out)
        self._project(gmpy2.powmod(y, math.prod(left), self.p), right, out)

    def log(self, y: int) -> int:
        """``x`` in ``[0, p - 1)`` with ``g^x = y mod p`` (``y`` a unit)."""
        y = gmpy2.mpz(y) % self.p
        if y == 0:
            raise ValueError("0 has no discrete logarithm")
        parts: dict[int, int] = {}
        self._project(y, list(self.factors), parts)
        x = 0
        for f, e in zip(self.factors, self._basis):
            x += self._tables[f][parts[f]] * e
        return x % self.order

    def log_base(self, y: int, base: int) -> tuple[int, int]:
        """``(x, m)``: ``base^x = y mod p`` for exactly the ``x = x mod m``, ``m`` the
        order of ``base`` (``y`` must be a power of ``base``)."""
        base = int(base) % self.p
        lb = self._base_logs.get(base)
        if lb is None:
            lb = self._base_logs[base] = self.log(base)
        ly = self.log(y)
        d = math.gcd(lb, self.order)
        m = self.order // d
        assert ly % d == 0, "the value is not a power of the base"
        return (ly // d) * pow(lb // d, -1, m) % m, m


def crt_pair(x1: int, m1: int, x2: int, m2: int) -> tuple[int, int]:
    """The ``x mod lcm(m1, m2)`` with ``x = x1 mod m1`` and ``x = x2 mod m2``.

    The two must agree modulo ``gcd(m1, m2)`` (asserted).
    """
    d = math.gcd(m1, m2)
    assert (x1 - x2) % d == 0, "the two sides disagree: not one exponent"
    lcm = m1 // d * m2
    t = (x2 - x1) // d * pow(m1 // d, -1, m2 // d) % (m2 // d)
    return (x1 + m1 * t) % lcm, lcm


class SmoothKey:
    """A Paillier key pair with smooth ``p - 1`` and ``q - 1``, and read-back tools."""

    def __init__(self, p: int, q: int, factors_p: Sequence[int], factors_q: Sequence[int]) -> None:
        self.p, self.q = p, q
        self.n = p * q
        self.nsq = self.n * self.n
        self.public_key = PublicKey(self.n, insecure_small_keys=True)
        self.private_key = PrivateKey(self.public_key, p, q)
        self.log_p = DiscreteLog(p, factors_p)
        self.log_q = DiscreteLog(q, factors_q)
        self._root_p = pow(self.n, -1, p - 1)
        self._root_q = pow(self.n, -1, q - 1)
        self._p_inv_q = pow(p, -1, q)

    @classmethod
    def generate(cls, bits: int = 1024, rng: random.Random | None = None) -> SmoothKey:
        """A fresh key of ``bits`` bits; ``p - 1`` and ``q - 1`` share only 2."""
        rng = rng or random.Random()
        primes = _primes_in(*SMALL_PRIME_RANGE)
        rng.shuffle(primes)
        half = len(primes) // 2
        p, fp = smooth_prime(bits // 2, primes[:half], rng)
        q, fq = smooth_prime(bits - bits // 2, primes[half:], rng)
        if p > q:
            p, q, fp, fq = q, p, fq, fp
        return cls(p, q, fp, fq)

    # ------------------------------------------------------------ read-back
    def randomizer(self, c: int, m: int) -> int:
        """The n-th residue ``R`` of a ciphertext ``c = (1 + m n) R`` of the residue ``m``."""
        return int(c) * (1 - (int(m) % self.n) * self.n) % self.nsq

    def nth_root(self, rn: int) -> tuple[int, int]:
        """``(r mod p, r mod q)`` from ``R = r^n mod n^2``."""
        return (int(gmpy2.powmod(int(rn) % self.p, self._root_p, self.p)),
                int(gmpy2.powmod(int(rn) % self.q, self._root_q, self.q)))

    def crt(self, rp: int, rq: int) -> int:
        """The ``r mod n`` with the given residues mod ``p`` and ``q``."""
        return rp + self.p * ((rq - rp) * self._p_inv_q % self.q)

    def owner_exponents(self, rn: int, bases: tuple[Any, Any]) -> tuple[int, int]:
        """``(a, b)`` in ``[0, p-1) x [0, q-1)`` with ``R = g_p^a mod p^2`` and
        ``g_q^b mod q^2``, ``(g_p, g_q)`` the table bases (generators, asserted)."""
        a, ma = self.log_p.log_base(int(rn) % self.p, int(bases[0]) % self.p)
        b, mb = self.log_q.log_base(int(rn) % self.q, int(bases[1]) % self.q)
        assert (ma, mb) == (self.p - 1, self.q - 1), "a table base is not a generator"
        return a, b

    def djn_exponent(self, rn: int, hs: Any, exp_bits: int) -> int:
        """``alpha`` with ``R = hs^alpha mod n^2``, exactly, given ``0 <= alpha < 2^exp_bits``."""
        xp, mp = self.log_p.log_base(int(rn) % self.p, int(hs) % self.p)
        xq, mq = self.log_q.log_base(int(rn) % self.q, int(hs) % self.q)
        alpha, modulus = crt_pair(xp, mp, xq, mq)
        assert modulus >= 1 << exp_bits, "the order of hs is too small to read alpha back"
        return alpha
