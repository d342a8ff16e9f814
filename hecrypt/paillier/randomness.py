"""Fast sources of Paillier randomness ``r^n mod n^2``.

Encrypting ``m`` is ``(1 + m*n) * R mod n^2`` with ``R`` an n-th residue; the
cost of encryption is the cost of ``R``. Three sources, each with its
security assumption:

``KeyOwnerSampler`` (default for :meth:`PrivateKey.encrypt`)
    Works modulo ``p^2`` and ``q^2``. The n-th residues modulo ``p^2`` form a
    cyclic group of order ``p - 1`` (isomorphic to ``Z_p^*``); with a
    certified generator ``g_p`` and a uniform exponent ``a`` in ``[0, p-1)``,
    ``g_p^a`` is uniform on that group, and the CRT combination of the two
    sides is distributed exactly as ``r^n`` for uniform ``r`` in ``Z_n^*``.
    No assumption beyond Paillier's (decisional composite residuosity).
    Generators are certified with the factorisation of ``p - 1``, which is
    known for keys made by :func:`generate_keypair` (structured primes) and
    for any key whose ``p - 1`` is a small-factor part times one prime.

    Keys whose ``p - 1`` cannot be factored (keys made by phe, for example)
    use the same tables with *uncertified* bases: ``g_p = x^n mod p^2`` for a
    random ``x``, checked to generate the subgroups of every prime of
    ``p - 1`` below 2^16, and full-length uniform exponents in ``[0, p-1)``.
    The output is uniform on the subgroup ``g_p`` generates, which is the
    whole group unless its order misses a large prime factor of ``p - 1``.
    Assumption (as for DJN on the public path, and weaker: the exponents are
    full length): besides DCR, such values are indistinguishable from uniform
    n-th residues. :attr:`KeyOwnerSampler.exact` tells the two apart.

``DJNSampler`` (default for :meth:`PublicKey.encrypt`)
    Damgard-Jurik-Nielsen randomness ``hs^alpha mod n^2`` with
    ``hs = (-x^2)^n mod n^2`` for a random ``x`` and a uniform exponent
    ``alpha`` of ``exp_bits`` bits (default ``|n|/2``, as in HEU and IPCL).
    Assumption: besides DCR, that ``hs^alpha`` with a ``|n|/2``-bit exponent is
    indistinguishable from a uniform n-th residue (Damgard, Jurik, Nielsen,
    "A generalization of Paillier's public-key system with applications to
    electronic voting", IJIS 2010, section 4). Shorter exponents are an
    explicit opt-in (``exp_bits``) and strengthen this assumption further.

``RandomnessPool``
    Values from either source computed ahead of time (an offline phase) and
    used once each. Security is that of the source that filled it.

Memory: fixed-base tables hold ``ceil(e/w) * (2^w - 1)`` residues. At 2048
bits, the key owner's two tables (w = 12, e = 1024, residues of 256 bytes)
take about 214 MB (a smaller window trades speed for memory: w = 8 takes
20 MB, see :func:`check_owner_window` and ``PrivateKey.with_owner_window``);
the DJN table (w = 8, e = 1024, residues of 512 bytes) about 19 MB. Tables are
built once a key has drawn :data:`OWNER_TABLES_AFTER`
(key owner) or :data:`TABLES_AFTER` (DJN) values, so single encryptions stay
cheap to start, and are cached for at most
:data:`MAX_CACHED_KEYS` keys per process (least recently used is dropped).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from hecrypt import _gmp
from hecrypt._gmp import mpz, powmod
from hecrypt.exceptions import ParameterError

__all__ = [
    "KeyOwnerSampler",
    "DJNSampler",
    "RandomnessPool",
    "owner_sampler",
    "djn_sampler",
    "MAX_CACHED_KEYS",
    "OWNER_WINDOW",
    "LOW_MEMORY_OWNER_WINDOW",
    "check_owner_window",
    "DJN_WINDOW",
    "security_bits",
    "min_djn_exponent_bits",
]

def check_owner_window(window: Any) -> int:
    """Validate a window (bits) for the key owner's tables: an integer from 4 to 16.

    Memory of the two tables of a key grows as ``2^w / w``; at 2048 bits,
    ``w = 12`` (default) takes about 204 MiB per process and ``w = 8``
    (:data:`LOW_MEMORY_OWNER_WINDOW`) about 19 MiB (docs/performance.md has
    the speed of each).

    Raises:
        ParameterError: not an integer from 4 to 16.
    """
    if isinstance(window, bool) or not isinstance(window, int) or not 4 <= window <= 16:
        raise ParameterError(
            f"the owner table window must be an integer from 4 to 16 bits, not {window!r}"
        )
    return window


def _owner_window_from_env() -> int:
    raw = os.environ.get("HECRYPT_OWNER_WINDOW", "12")
    try:
        w = int(raw)
    except ValueError:
        w = 0
    if not 4 <= w <= 16:
        raise ParameterError(f"HECRYPT_OWNER_WINDOW must be an integer from 4 to 16, not {raw!r}")
    return w


#: Default window (bits) of the key owner's fixed-base tables: 12 (about
#: 214 MB per 2048-bit key and process, worker processes included). One key
#: chooses its own with ``PrivateKey.with_owner_window(w)`` or
#: ``generate_keypair(owner_window=w)``; the environment variable
#: ``HECRYPT_OWNER_WINDOW`` (4 to 16, read when hecrypt is imported) changes
#: the default of a whole process (workers inherit it).
OWNER_WINDOW = _owner_window_from_env()
#: The lower-memory window: about 19 MiB of tables per 2048-bit key and
#: process instead of about 204 MiB (speed in docs/performance.md).
LOW_MEMORY_OWNER_WINDOW = 8
#: Window (bits) of the DJN fixed-base table.
DJN_WINDOW = 8
#: Per-process bound on the number of keys whose tables are kept.
MAX_CACHED_KEYS = 4
#: Tables are built once a key has drawn this many values; before that each
#: value is computed directly. The thresholds balance build cost against the
#: direct cost at 2048 bits (owner: ~1.2 s build vs 3.2 ms per value; DJN:
#: ~0.15 s build vs ~5 ms per value), so single encryptions start fast and
#: large batches build the tables at once. The key owner builds small tables
#: (window :data:`LOW_MEMORY_OWNER_WINDOW`, ~0.1 s) after
#: :data:`OWNER_SMALL_TABLES_AFTER` draws, so that between the two thresholds
#: it is not slower than the public path, and its full tables after
#: :data:`OWNER_TABLES_AFTER` draws (the small ones are then dropped).
OWNER_TABLES_AFTER = 256
TABLES_AFTER = 32
OWNER_SMALL_TABLES_AFTER = 32


#: (modulus bits, security bits) from NIST SP 800-57 Part 1, table 2.
_SECURITY_LEVELS = ((15360, 256), (7680, 192), (3072, 128), (2048, 112), (1024, 80))
#: Draws tried before a generator search gives up. For a valid key each draw
#: succeeds with probability phi(p-1)/(p-1), above 0.05 for any p below
#: 2^8192 (Mertens) and above 0.15 for this library's structured primes, so
#: 512 failures have probability below 2^-37; with gcd(n, phi(n)) != 1 no
#: draw can succeed, and the search must end.
_GENERATOR_TRIES = 512


def security_bits(n_bits: int) -> int:
    """Security level (bits) of a ``n_bits``-bit modulus (NIST SP 800-57 Part 1).

    The level of the largest tabulated size at or below ``n_bits``: 80 below
    2048 bits, 112 from 2048, 128 from 3072, 192 from 7680, 256 from 15360.
    """
    for size, level in _SECURITY_LEVELS:
        if n_bits >= size:
            return level
    return 80


def min_djn_exponent_bits(n_bits: int) -> int:
    """Shortest DJN exponent accepted for a ``n_bits``-bit key: ``2 * lambda``.

    A shorter exponent can be found by a generic (baby-step giant-step)
    search in about ``2^(bits/2)`` steps, so ``2 * lambda`` bits is the least
    that keeps ``lambda``-bit security.
    """
    return 2 * security_bits(n_bits)


def check_djn_exponent_bits(exp_bits: Any, n_bits: int) -> int:
    """``exp_bits`` as an int, or :class:`ParameterError` below :func:`min_djn_exponent_bits`."""
    if isinstance(exp_bits, bool) or not isinstance(exp_bits, int):
        raise ParameterError(
            f"djn_exponent_bits must be an integer, not {type(exp_bits).__name__}"
        )
    floor = min_djn_exponent_bits(n_bits)
    if exp_bits < floor:
        raise ParameterError(
            f"djn_exponent_bits={exp_bits} is below the floor of {floor} bits for a "
            f"{n_bits}-bit key (twice its {floor // 2}-bit security level)"
        )
    return exp_bits


def _uncertified_base(p: Any, n: Any) -> Any | None:
    """An n-th residue mod ``p^2`` generating the subgroup of each prime of ``p - 1`` below 2^16.

    Without the full factorisation of ``p - 1`` a generator cannot be
    certified; this base avoids every small-order defect that can be tested.
    """
    primes, _ = _gmp.small_factors(p - 1)
    psq = p * p
    e = n % (p - 1)
    for _ in range(_GENERATOR_TRIES):
        x = _gmp.random_unit(p)
        if _gmp.is_primitive_root(powmod(x, e, p), p, primes):
            return powmod(x, n, psq)
    return None


def _find_generator(p: Any, n: Any) -> Any | None:
    """A generator of the n-th residues modulo ``p^2``, or None if uncertifiable.

    The n-th residues mod ``p^2`` map isomorphically onto ``Z_p^*`` by reduction
    mod p, so ``y = x^n mod p^2`` generates them iff ``y mod p`` is a primitive
    root mod p, which is checked with the prime factors of ``p - 1``.
    """
    primes, rest = _gmp.small_factors(p - 1)
    if rest != 1:
        if not _gmp.is_prime(rest):
            return None
        primes.append(rest)
    psq = p * p
    e = n % (p - 1)  # y mod p = x^n mod p = x^(n mod (p-1)) mod p
    for _ in range(_GENERATOR_TRIES):
        x = _gmp.random_unit(p)
        if _gmp.is_primitive_root(powmod(x, e, p), p, primes):
            return powmod(x, n, psq)
    return None


class KeyOwnerSampler:
    """Exact ``r^n mod n^2`` through CRT and fixed-base tables (needs p, q)."""

    def __init__(self, p: Any, q: Any, *, window: int = OWNER_WINDOW) -> None:
        self.p, self.q = mpz(p), mpz(q)
        self.n = self.p * self.q
        self.psq, self.qsq = self.p * self.p, self.q * self.q
        self.nsq = self.n * self.n
        self.psq_inv = _gmp.invert(self.psq, self.qsq)
        self.window = window
        self._lock = threading.Lock()
        self._tables: tuple[Any, Any] | None = None
        self._bases: tuple[Any, Any] | None = None
        self._certified: bool | None = None
        self._uses = 0

    def _find_bases(self) -> None:
        """Choose the table bases once (certified generators if possible); under the lock."""
        if self._certified is not None:
            return
        gp = _find_generator(self.p, self.n)
        gq = _find_generator(self.q, self.n) if gp is not None else None
        certified = gp is not None and gq is not None
        if not certified:
            gp = _uncertified_base(self.p, self.n)
            gq = _uncertified_base(self.q, self.n) if gp is not None else None
        if gp is None or gq is None:  # only for a key with gcd(n, phi(n)) != 1
            self._certified = False
            return
        self._bases = (gp, gq)
        self._certified = certified

    @property
    def table_window(self) -> int:
        """Window (bits) of the tables built so far; 0 before any."""
        return self._tables[0].window if self._tables else 0

    def _build(self, window: int | None = None) -> None:
        """Build tables of ``window`` bits (default :attr:`window`) unless wider ones exist."""
        w = self.window if window is None else window
        with self._lock:
            self._find_bases()
            if self._bases is None or self.table_window >= w:
                return
            gp, gq = self._bases
            tp = _gmp.FixedBaseTable(gp, self.psq, (self.p - 1).bit_length(), w)
            tq = _gmp.FixedBaseTable(gq, self.qsq, (self.q - 1).bit_length(), w)
            self._tables = (tp, tq)

    def _grow(self) -> None:
        """Build the tables the number of draws so far calls for."""
        if self._uses > OWNER_TABLES_AFTER:
            target = self.window
        elif self._uses > OWNER_SMALL_TABLES_AFTER:
            target = min(self.window, LOW_MEMORY_OWNER_WINDOW)
        else:
            return
        if self.table_window < target:
            self._build(target)

    @property
    def certified(self) -> bool:
        """Whether fixed generators were certified (the table path is then exact).

        Asking builds the full tables if no table exists yet.
        """
        if self._certified is None:
            self._build()
        return bool(self._certified)

    @property
    def exact(self) -> bool:
        """True when samples are exactly uniform n-th residues (certified
        generators, or no tables yet); False for uncertified table bases."""
        return self._tables is None or bool(self._certified)

    @property
    def nbytes(self) -> int:
        """Memory held by the tables (0 before first use)."""
        return sum(t.nbytes for t in self._tables) if self._tables else 0

    def _combine(self, rp: Any, rq: Any) -> Any:
        return rp + self.psq * ((rq - rp) * self.psq_inv % self.qsq)

    def sample(self) -> Any:
        """One uniform n-th residue modulo n^2."""
        self._uses += 1
        self._grow()
        if self._tables is not None:
            tp, tq = self._tables
            a = int(_gmp.random_below(self.p - 1))
            b = int(_gmp.random_below(self.q - 1))
            return self._combine(tp.pow(a), tq.pow(b))
        return self._direct()

    def _direct(self) -> Any:
        """Without tables: ``(r mod p)^n mod p^2`` only depends on ``r mod p``."""
        rp = powmod(powmod(_gmp.random_unit(self.p), self.q, self.p), self.p, self.psq)
        rq = powmod(powmod(_gmp.random_unit(self.q), self.p, self.q), self.q, self.qsq)
        return self._combine(rp, rq)

    def sample_many(self, count: int) -> list[Any]:
        """``count`` independent samples (batched through the tables)."""
        self._uses += count
        self._grow()
        if self._tables is None:
            return [self._direct() for _ in range(count)]
        tp, tq = self._tables
        pm1, qm1 = self.p - 1, self.q - 1
        rps = tp.pow_many([int(_gmp.random_below(pm1)) for _ in range(count)])
        rqs = tq.pow_many([int(_gmp.random_below(qm1)) for _ in range(count)])
        c = self._combine
        return [c(rp, rq) for rp, rq in zip(rps, rqs)]


class DJNSampler:
    """DJN short-exponent randomness ``hs^alpha mod n^2`` (public key only)."""

    def __init__(self, n: Any, *, exp_bits: int | None = None, window: int = DJN_WINDOW) -> None:
        self.n = mpz(n)
        self.nsq = self.n * self.n
        if exp_bits is None:
            n_bits = self.n.bit_length()
            exp_bits = max((n_bits + 1) // 2, min_djn_exponent_bits(n_bits))
        self.exp_bits = check_djn_exponent_bits(exp_bits, self.n.bit_length())
        self.window = window
        self._lock = threading.Lock()
        self._table: Any = None
        self._hs: Any = None
        self._uses = 0

    def _build(self) -> None:
        with self._lock:
            if self._table is not None:
                return
            self._table = _gmp.FixedBaseTable(self._base(), self.nsq, self.exp_bits, self.window)

    def _base(self) -> Any:
        if self._hs is None:
            x = _gmp.random_unit(self.n)
            h = (-x * x) % self.n
            self._hs = powmod(h, self.n, self.nsq)
        return self._hs

    @property
    def nbytes(self) -> int:
        """Memory held by the table (0 before first use)."""
        return self._table.nbytes if self._table is not None else 0

    def sample(self) -> Any:
        """One DJN randomness value."""
        self._uses += 1
        alpha = int(_gmp.random_below(mpz(1) << self.exp_bits))
        if self._table is None:
            if self._uses <= TABLES_AFTER:
                return powmod(self._base(), alpha, self.nsq)
            self._build()
        return self._table.pow(alpha)

    def sample_many(self, count: int) -> list[Any]:
        """``count`` independent samples (batched through the table)."""
        self._uses += count
        bound = mpz(1) << self.exp_bits
        if self._table is None:
            if self._uses <= TABLES_AFTER:
                hs, nsq = self._base(), self.nsq
                return [powmod(hs, _gmp.random_below(bound), nsq) for _ in range(count)]
            self._build()
        return self._table.pow_many([int(_gmp.random_below(bound)) for _ in range(count)])


class RandomnessPool:
    """Randomness computed ahead of time, each value handed out once.

    Thread-safe. :meth:`take` returns None when empty so callers fall back to
    computing fresh randomness on the spot.
    """

    def __init__(self, source: Callable[[int], list[Any]]) -> None:
        self._source = source
        self._values: deque[Any] = deque()

    def __len__(self) -> int:
        return len(self._values)

    def fill(self, count: int) -> None:
        """Compute ``count`` more values now (the offline phase)."""
        if count < 0:
            raise ValueError("count must be non-negative")
        self._values.extend(self._source(count))

    def add(self, values: list[Any]) -> None:
        """Add values computed elsewhere (for example by worker processes)."""
        self._values.extend(values)

    def take(self) -> Any | None:
        """One value, or None when the pool is empty."""
        try:
            return self._values.popleft()
        except IndexError:
            return None

    def take_many(self, count: int) -> list[Any]:
        """Up to ``count`` values, fewer (or none) when the pool runs out."""
        out: list[Any] = []
        while len(out) < count:
            r = self.take()
            if r is None:
                break
            out.append(r)
        return out

    def clear(self) -> None:
        """Drop every value not yet used."""
        self._values.clear()


class PoolRegistry(dict[Any, RandomnessPool]):
    """The randomness pools of a process, one per modulus ``n``.

    A plain dict from ``n`` to :class:`RandomnessPool` with a lock for
    creating pools. Pooled values are single-use, so a forked child starts
    with an empty registry (and a fresh lock): it must not reuse randomness
    its parent will also use.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forget_in_child)

    def _forget_in_child(self) -> None:
        self.clear()
        self.lock = threading.Lock()

    def pool_for(
        self, n: Any, source: Callable[[int], list[Any]], max_keys: int | None = None
    ) -> RandomnessPool:
        """``n``'s pool, made with ``source`` if there is none yet.

        ``n`` becomes the most recently used key; with ``max_keys`` the least
        recently used pools beyond that many are dropped.
        """
        with self.lock:
            pool = self.pop(n, None)
            if pool is None:
                pool = RandomnessPool(source)
            self[n] = pool  # most recently used last
            if max_keys is not None:
                while len(self) > max_keys:
                    del self[next(iter(self))]
            return pool

    def take(self, n: Any, count: int) -> list[Any]:
        """Up to ``count`` pooled values for ``n`` (none when it has no pool)."""
        pool = self.get(n)
        return pool.take_many(count) if pool is not None else []


_cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_cache_lock = threading.Lock()


def _cached(key: tuple[Any, ...], factory: Callable[[], Any]) -> Any:
    with _cache_lock:
        obj = _cache.get(key)
        if obj is not None:
            _cache.move_to_end(key)
            return obj
        obj = factory()
        _cache[key] = obj
        while len(_cache) > MAX_CACHED_KEYS * 2:
            _cache.popitem(last=False)
        return obj


def owner_sampler(p: Any, q: Any, window: int | None = None) -> KeyOwnerSampler:
    """The per-process cached :class:`KeyOwnerSampler` of a private key.

    ``window`` (bits) of its tables; None means :data:`OWNER_WINDOW`. A key
    used with two windows has two samplers (and, once built, two tables).
    """
    p, q = (mpz(p), mpz(q)) if p < q else (mpz(q), mpz(p))
    w = OWNER_WINDOW if window is None else check_owner_window(window)
    return _cached(("owner", p, q, w), lambda: KeyOwnerSampler(p, q, window=w))


def djn_sampler(n: Any, exp_bits: int | None = None) -> DJNSampler:
    """The per-process cached :class:`DJNSampler` of a public key."""
    n = mpz(n)
    return _cached(("djn", n, exp_bits), lambda: DJNSampler(n, exp_bits=exp_bits))
