"""Big-integer kernels: the only module of hecrypt that imports gmpy2.

Everything that touches multi-precision arithmetic goes through here:
modular exponentiation, inverses, CRT helpers, secure random integers,
prime generation, fixed-base exponentiation tables and the GIL-releasing
batch kernels.

Randomness comes from :mod:`secrets` (the operating system's CSPRNG) only;
gmpy2's own random state is never used.

This is a low-level module: its functions do not validate their inputs
beyond what they need to be well defined.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from typing import Any

import gmpy2
import numpy as np
from gmpy2 import mpz

__all__ = [
    "mpz",
    "MPZ",
    "powmod",
    "invert",
    "gcd",
    "is_prime",
    "is_probable_prime",
    "isqrt",
    "random_below",
    "random_unit",
    "random_prime",
    "structured_prime",
    "small_factors",
    "small_prime_factor",
    "is_primitive_root",
    "FixedBaseTable",
    "powmod_base_list",
    "powmod_exp_list",
    "multi_powmod",
]

MPZ: type = type(mpz(0))

powmod = gmpy2.powmod
invert = gmpy2.invert
gcd = gmpy2.gcd
isqrt = gmpy2.isqrt
powmod_base_list = gmpy2.powmod_base_list
powmod_exp_list = gmpy2.powmod_exp_list

#: Miller-Rabin rounds after GMP's trial division (error < 4^-64 per test).
_MR_ROUNDS = 64


def is_prime(x: Any, rounds: int = _MR_ROUNDS) -> bool:
    """Probabilistic primality test (BPSW plus ``rounds - 24`` Miller-Rabin rounds in GMP)."""
    return bool(gmpy2.is_prime(mpz(x), rounds))


def small_prime_factor(x: Any) -> int | None:
    """The smallest prime factor of ``x`` below 2^16, or None (one gcd, then a scan).

    Cheap on any size: a single gcd with the product of the primes below 2^16
    decides whether such a factor exists.
    """
    x = mpz(x)
    if not _SMALL_PRODUCT:
        product = mpz(1)
        for ell in _small_primes():
            product *= ell
        _SMALL_PRODUCT.append(product)
    g = gcd(x, _SMALL_PRODUCT[0])
    if g == 1:
        return None
    for ell in _small_primes():
        if g % ell == 0:
            return ell
    return None  # pragma: no cover - g divides the product of these primes


_SMALL_PRODUCT: list[Any] = []


def is_probable_prime(x: Any) -> bool:
    """One strong BPSW test: enough to *reject* a modulus that is prime, and
    cheap on hostile input (no extra Miller-Rabin rounds)."""
    return bool(gmpy2.is_bpsw_prp(mpz(x))) if x > 2 else x == 2


def random_below(n: Any) -> Any:
    """Uniform integer in ``[0, n)`` from the OS CSPRNG, as an mpz."""
    return mpz(secrets.randbelow(int(n)))


def random_unit(n: Any) -> Any:
    """Uniform element of ``Z_n^*`` (``1 <= r < n`` and ``gcd(r, n) == 1``)."""
    n = mpz(n)
    while True:
        r = random_below(n)
        if r and gcd(r, n) == 1:
            return r


def random_prime(bits: int) -> Any:
    """Random prime of exactly ``bits`` bits whose two top bits are set.

    Setting the two top bits makes the product of two such primes have
    exactly ``bits_p + bits_q`` bits. Rejection sampling: candidates are
    uniform, and the filters in :func:`_is_prime_candidate` never reject a
    prime, so the output is uniform over such primes.
    """
    if bits < 3:
        raise ValueError("a prime with two top bits set needs at least 3 bits")
    top = (1 << (bits - 1)) | (1 << (bits - 2)) | 1
    while True:
        candidate = mpz(secrets.randbits(bits) | top)
        if _is_prime_candidate(candidate):
            return candidate


_SIEVE_PRODUCT: list[Any] = []


def _is_prime_candidate(x: Any) -> bool:
    """Full primality test behind two cheap filters that never reject a prime.

    For ``x > 2^14``: one gcd with the product of the odd primes below 2^14,
    then a base-2 Fermat test; only survivors pay :func:`is_prime` (BPSW and
    Miller-Rabin rounds). This halves prime generation time.
    """
    if x > (1 << 14):
        if not _SIEVE_PRODUCT:
            product = mpz(1)
            for ell in _small_primes():
                if ell >= 1 << 14:
                    break
                if ell > 2:
                    product *= ell
            _SIEVE_PRODUCT.append(product)
        if gcd(x, _SIEVE_PRODUCT[0]) != 1 or powmod(2, x - 1, x) != 1:
            return False
    return is_prime(x)


_SMALL_PRIMES: list[int] = []


def _small_primes() -> list[int]:
    """The primes below 2^16 (sieved once)."""
    if not _SMALL_PRIMES:
        limit = 1 << 16
        sieve = bytearray([1]) * limit
        sieve[0:2] = b"\x00\x00"
        for i in range(2, int(limit**0.5) + 1):
            if sieve[i]:
                sieve[i * i :: i] = bytearray(len(sieve[i * i :: i]))
        _SMALL_PRIMES.extend(i for i in range(limit) if sieve[i])
    return _SMALL_PRIMES


def small_factors(x: Any) -> tuple[list[int], Any]:
    """Split ``x`` into its distinct prime factors below 2^16 and a cofactor.

    Returns:
        ``(primes, cofactor)`` where ``cofactor`` has no prime factor < 2^16.
    """
    x = mpz(x)
    found: list[int] = []
    for ell in _small_primes():
        if ell * ell > x:
            break
        if x % ell == 0:
            found.append(ell)
            while x % ell == 0:
                x //= ell
    if 1 < x < (1 << 32):  # what is left below 2^32 with no factor < 2^16 is prime
        found.append(int(x))
        x = mpz(1)
    return found, x


def structured_prime(bits: int, cofactor_bits: int = 16) -> tuple[Any, list[Any]]:
    """Random prime ``p = 2*k*s + 1`` with ``s`` a large prime and ``k`` small.

    The factorisation of ``p - 1`` is known (so generators of subgroups can be
    certified) while ``p - 1`` still has a prime factor of ``bits - 18`` bits
    or more, which keeps Pollard's p-1 method out of reach. The two top bits
    of ``p`` are set.

    Returns:
        ``(p, factors)``, ``factors`` the distinct primes dividing ``p - 1``.
    """
    if bits < cofactor_bits + 16:
        raise ValueError(f"structured primes need at least {cofactor_bits + 16} bits")
    low = 3 << (bits - 2)
    high = 1 << bits
    while True:
        s = random_prime(bits - cofactor_bits - 1)
        k_min = (low - 1 + 2 * s - 1) // (2 * s)
        k_max = (high - 2) // (2 * s)
        for _ in range(40 * bits):
            k = k_min + random_below(k_max - k_min + 1)
            p = 2 * k * s + 1
            if _is_prime_candidate(p):
                primes, rest = small_factors(2 * k)
                # every prime of k below 2^16, so that small_factors(p - 1)
                # leaves exactly s and the factorisation can be recovered from p
                if rest != 1 or max(primes) >= 1 << 16:
                    continue
                return p, [mpz(f) for f in primes] + [s]


def is_primitive_root(g: Any, p: Any, factors: Iterable[Any]) -> bool:
    """Whether ``g`` generates ``Z_p^*`` given the distinct primes of ``p - 1``."""
    g = mpz(g) % p
    if g == 0:
        return False
    return all(powmod(g, (p - 1) // f, p) != 1 for f in factors)


class FixedBaseTable:
    """Fixed-base exponentiation by precomputed windows.

    ``rows[i][d] = base^(d * 2^(w*i)) mod modulus``, so ``base^e`` is the
    product of one entry per w-bit digit of ``e``: about ``exp_bits / w``
    modular multiplications and no squarings (versus ~1.2 * exp_bits for a
    sliding-window powmod).

    Memory is ``ceil(exp_bits / w) * (2^w - 1)`` residues; :attr:`nbytes`
    reports it.
    """

    __slots__ = ("_mask", "exp_bits", "modulus", "rows", "window")

    def __init__(self, base: Any, modulus: Any, exp_bits: int, window: int) -> None:
        if not 1 <= window <= 16:
            raise ValueError("window must be between 1 and 16 bits")
        m = mpz(modulus)
        self.modulus = m
        self.window = window
        self.exp_bits = exp_bits
        self._mask = (1 << window) - 1
        n_rows = -(-exp_bits // window)
        rows: list[list[Any]] = []
        b = mpz(base) % m
        one = mpz(1)
        for _ in range(n_rows):
            row = [one]
            x = one
            for _ in range(self._mask):
                x = x * b % m
                row.append(x)
            rows.append(row)
            b = x * b % m  # base^(2^w) for the next row
        self.rows = rows

    @property
    def nbytes(self) -> int:
        """Approximate memory held by the table, in bytes."""
        limb_bytes = (self.modulus.bit_length() + 63) // 64 * 8
        return len(self.rows) * len(self.rows[0]) * (limb_bytes + 48)

    def pow(self, e: int) -> Any:
        """``base^e mod modulus`` for ``0 <= e < 2^exp_bits``."""
        if e >> self.exp_bits:
            raise ValueError("exponent longer than the table")
        m = self.modulus
        mask = self._mask
        w = self.window
        r = mpz(1)
        for row in self.rows:
            d = e & mask
            if d:
                r = r * row[d] % m
            e >>= w
        return r

    def digits(self, exps: Sequence[int]) -> Any:
        """The w-bit digits of each exponent, as an int64 array (len(exps), rows)."""
        rows, w = len(self.rows), self.window
        nbytes = (rows * w + 7) // 8
        buf = b"".join(int(e).to_bytes(nbytes, "little") for e in exps)
        raw = np.frombuffer(buf, np.uint8).reshape(len(exps), nbytes)
        bits = np.unpackbits(raw, axis=1, bitorder="little")[:, : rows * w]
        weights = np.left_shift(1, np.arange(w, dtype=np.int64))
        return bits.reshape(len(exps), rows, w).astype(np.int64) @ weights

    def pow_many(self, exps: Sequence[int]) -> list[Any]:
        """:meth:`pow` for each exponent, row by row.

        Walking the table one row at a time for the whole batch keeps the
        row in cache and the Python overhead per step small (about 15%
        faster than independent :meth:`pow` calls at 2048 bits).
        """
        if len(exps) < 4:  # slicing digit columns costs more than it saves
            return [self.pow(e) for e in exps]
        for e in exps:
            if e < 0 or e >> self.exp_bits:
                raise ValueError("exponent outside the table's range")
        digits = self.digits(exps)
        m = self.modulus
        rows = self.rows
        acc = [rows[0][d] for d in digits[:, 0].tolist()]
        for i in range(1, len(rows)):
            row = rows[i]
            acc = [a * row[d] % m for a, d in zip(acc, digits[:, i].tolist())]
        return acc


def _bucket_product(bases: Sequence[Any], exps: Sequence[int], m: Any, window: int) -> Any:
    """``prod(b^e) mod m`` for non-negative exponents (Pippenger's buckets)."""
    bits = max(e.bit_length() for e in exps)
    if bits == 0:
        return mpz(1)
    mask = (1 << window) - 1
    result = mpz(1)
    for shift in range((bits - 1) // window * window, -1, -window):
        if result != 1:
            result = powmod(result, 1 << window, m)
        buckets: list[Any] = [None] * (mask + 1)
        for b, e in zip(bases, exps):
            d = (e >> shift) & mask
            if d:
                cur = buckets[d]
                buckets[d] = b if cur is None else cur * b % m
        running = None
        acc = None
        for d in range(mask, 0, -1):
            bd = buckets[d]
            if bd is not None:
                running = bd if running is None else running * bd % m
            if running is not None:
                acc = running if acc is None else acc * running % m
        if acc is not None:
            result = result * acc % m
    return result


def multi_powmod(bases: Sequence[Any], exps: Sequence[int], modulus: Any) -> Any:
    """``prod(bases[i] ** exps[i]) mod modulus`` with signed exponents.

    Shares the squarings across all terms and groups equal exponent digits
    into buckets (Pippenger's method), so a k-term product with b-bit
    exponents costs about ``b/w * (k + 2^(w+1))`` multiplications instead of
    ``k * 1.2 * b``. Negative exponents cost one modular inverse in total.
    Bases must be units modulo ``modulus`` when any exponent is negative.
    """
    if len(bases) != len(exps):
        raise ValueError("bases and exponents differ in length")
    m = mpz(modulus)
    pos_b, pos_e, neg_b, neg_e = [], [], [], []
    for b, e in zip(bases, exps):
        e = int(e)
        if e > 0:
            pos_b.append(b)
            pos_e.append(e)
        elif e < 0:
            neg_b.append(b)
            neg_e.append(-e)
    out = _product(pos_b, pos_e, m)
    if neg_b:
        out = out * invert(_product(neg_b, neg_e, m), m) % m
    return out


def _product(bases: list[Any], exps: list[int], m: Any) -> Any:
    k = len(bases)
    if k == 0:
        return mpz(1)
    if k < 4:  # GMP's own powmod wins for a handful of terms
        out = mpz(1)
        for b, e in zip(bases, exps):
            out = out * powmod(b, e, m) % m
        return out
    # window ~ log2(k) - 1, measured best for 10..1000 terms of 36-bit exponents
    return _bucket_product(bases, exps, m, max(2, min(12, k.bit_length() - 1)))
