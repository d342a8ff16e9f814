"""Tests of the randomness sources: every value must be an n-th residue mod n^2."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import hecrypt
from hecrypt import _gmp
from hecrypt.paillier import PrivateKey, PublicKey, keys, parallel, randomness

KeyPair = tuple[PublicKey, PrivateKey]


def assert_nth_residues(values: list[int], p: int, q: int) -> None:
    """``R^phi(n) == 1 mod n^2`` exactly characterises the n-th residues
    (the subgroup of order phi(n) of Z_{n^2}^*, as gcd(n, phi(n)) = 1)."""
    n = p * q
    nsq, phi = n * n, (p - 1) * (q - 1)
    assert values
    for r in values:
        r = int(r)
        assert 0 < r < nsq
        assert pow(r, phi, nsq) == 1
    # distinct values (a broken sampler returning a constant would pass the check)
    assert len({int(r) for r in values}) == len(values)


def test_residue_check_can_fail(keypair_1024: KeyPair) -> None:
    """The check above rejects non-residues such as g = n + 1 and random units."""
    pk, sk = keypair_1024
    n, nsq, phi = pk.n, pk.nsquare, (sk.p - 1) * (sk.q - 1)
    assert pow(n + 1, phi, nsq) != 1
    assert pow(int(_gmp.random_unit(nsq)), phi, nsq) != 1
    with pytest.raises(AssertionError):
        assert_nth_residues([n + 1], sk.p, sk.q)


def _uncertifiable_primes() -> tuple[int, int]:
    """Two 512-bit primes whose p - 1 has a composite cofactor after small factors."""
    found: list[int] = []
    while len(found) < 2:
        p = _gmp.random_prime(512)
        _, rest = _gmp.small_factors(p - 1)
        if rest != 1 and not _gmp.is_prime(rest):
            found.append(int(p))
    p, q = sorted(found)
    assert p != q
    return p, q


@pytest.fixture(scope="module")
def uncertified_keypair() -> KeyPair:
    p, q = _uncertifiable_primes()
    pk = PublicKey(p * q, insecure_small_keys=True)
    return pk, PrivateKey(pk, p, q)


@pytest.fixture()
def pool_keypair() -> Iterator[KeyPair]:
    """A key of its own, so pools do not leak into other tests."""
    pk, sk = hecrypt.generate_keypair(1024, insecure_small_keys=True)
    yield pk, sk
    keys._pools.pop(pk._n, None)


# ------------------------------------------------------------------ key owner
def test_owner_sampler_certified(keypair_1024: KeyPair) -> None:
    _pk, sk = keypair_1024
    s = randomness.KeyOwnerSampler(sk.p, sk.q, window=4)
    assert s.nbytes == 0
    direct = [s.sample() for _ in range(3)] + s.sample_many(4)
    assert s._tables is None  # below the threshold: no tables yet
    assert_nth_residues(direct, sk.p, sk.q)
    assert s.certified
    assert s._tables is not None
    tabled = [s.sample() for _ in range(3)] + s.sample_many(20)
    assert_nth_residues(direct + tabled, sk.p, sk.q)


def test_owner_generators_are_certified(keypair_1024: KeyPair) -> None:
    """The table bases generate the n-th residues mod p^2 (order exactly p - 1)."""
    _pk, sk = keypair_1024
    s = randomness.KeyOwnerSampler(sk.p, sk.q, window=4)
    assert s.certified
    assert s._tables is not None
    for prime, table in zip((sk.p, sk.q), s._tables):
        g = int(table.rows[0][1])
        psq = prime * prime
        assert table.modulus == psq
        assert pow(g, prime - 1, psq) == 1  # an n-th residue mod p^2
        primes, rest = _gmp.small_factors(prime - 1)
        for f in [*primes, rest]:
            assert pow(g, (prime - 1) // int(f), prime) != 1  # order p - 1
        assert table.exp_bits == (prime - 1).bit_length()


def test_owner_tables_after_threshold(keypair_1024: KeyPair) -> None:
    _, sk = keypair_1024
    small, limit = randomness.OWNER_SMALL_TABLES_AFTER, randomness.OWNER_TABLES_AFTER
    assert 0 < small < limit
    low = randomness.LOW_MEMORY_OWNER_WINDOW
    s = randomness.KeyOwnerSampler(sk.p, sk.q, window=low + 1)
    s.sample_many(small - 1)
    s.sample()
    assert s._tables is None and s.nbytes == 0
    assert s._certified is None  # not even tried yet
    s.sample()  # draw small + 1 builds small tables, as the public path does at its threshold
    assert s.table_window == low and s.certified
    small_bytes = s.nbytes
    assert_nth_residues(s.sample_many(limit - small - 1), sk.p, sk.q)
    assert s.table_window == low
    s.sample()  # draw limit + 1 builds the full tables and drops the small ones
    assert s.table_window == low + 1
    tp, tq = s._tables  # type: ignore[misc]
    assert s.nbytes == tp.nbytes + tq.nbytes > small_bytes
    assert_nth_residues([s.sample(), *s.sample_many(5)], sk.p, sk.q)
    # a big first batch builds the full tables at once
    s2 = randomness.KeyOwnerSampler(sk.p, sk.q, window=low + 1)
    out = s2.sample_many(limit + 1)
    assert s2.table_window == low + 1
    assert_nth_residues(out[:20], sk.p, sk.q)
    # a window at most the small one is built once, at the first threshold
    s3 = randomness.KeyOwnerSampler(sk.p, sk.q, window=4)
    s3.sample_many(small + 1)
    assert s3.table_window == 4
    s3.sample_many(limit)
    assert s3.table_window == 4


def test_owner_sampler_uncertified(uncertified_keypair: KeyPair) -> None:
    pk, sk = uncertified_keypair
    assert randomness._find_generator(_gmp.mpz(sk.p), _gmp.mpz(pk.n)) is None
    s = randomness.KeyOwnerSampler(sk.p, sk.q, window=4)
    values = [s.sample() for _ in range(5)] + s.sample_many(15)
    assert s._tables is None and s.exact  # the first draws are exact, without tables
    assert_nth_residues(values, sk.p, sk.q)
    # past the threshold it builds tables with uncertified bases (fast, not exact)
    s.sample_many(randomness.OWNER_TABLES_AFTER)
    assert s.certified is False and s.nbytes > 0 and not s.exact
    assert_nth_residues([*s.sample_many(5), s.sample()], sk.p, sk.q)


def test_uncertified_key_encrypts(uncertified_keypair: KeyPair) -> None:
    pk, sk = uncertified_keypair
    values = [0, 1, -1, 2.5, -(2**300), 12345.678]
    for v in values:
        assert sk.decrypt(sk.encrypt(v)) == pytest.approx(v, abs=2**-32)
    batch = sk.encrypt_batch(values, executor=parallel.SerialExecutor())
    assert sk.decrypt_batch(batch) == pytest.approx(values, abs=2**-32)
    # the randomness of an owner encryption is an n-th residue: c / (1 + m*n) is
    c = sk.encrypt(7).ciphertext
    r = c * pow(1 + 7 * pk.n, -1, pk.nsquare) % pk.nsquare
    assert_nth_residues([r], sk.p, sk.q)


def test_owner_encryption_randomness(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    n, nsq = pk.n, pk.nsquare
    rs = []
    for m in (0, 5, n - 5):
        for _ in range(3):
            c = sk.encrypt(m if m < n // 2 else m - n).ciphertext
            rs.append(c * pow(1 + m * n, -1, nsq) % nsq)
    assert_nth_residues(rs, sk.p, sk.q)


# ------------------------------------------------------------------ DJN
def test_djn_sampler(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    s = randomness.DJNSampler(pk.n)
    assert s.exp_bits == 512
    assert s.nbytes == 0
    before = [s.sample() for _ in range(3)] + s.sample_many(5)
    assert s._table is None
    s.sample_many(randomness.TABLES_AFTER)  # crosses the threshold
    assert s._table is not None
    assert s.nbytes == s._table.nbytes > 0
    after = [s.sample() for _ in range(3)] + s.sample_many(10)
    assert_nth_residues(before + after, sk.p, sk.q)


def test_djn_tables_after_threshold(keypair_1024: KeyPair) -> None:
    pk, _ = keypair_1024
    limit = randomness.TABLES_AFTER
    s = randomness.DJNSampler(pk.n, window=4)
    for _ in range(limit):
        s.sample()
    assert s._table is None
    s.sample()
    assert s._table is not None
    assert s._table.exp_bits == s.exp_bits
    assert s._table.window == 4


def test_djn_short_exponents(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    s = randomness.DJNSampler(pk.n, exp_bits=160, window=4)  # the floor for 1024 bits
    assert s.exp_bits == 160
    values = s.sample_many(randomness.TABLES_AFTER + 10)
    assert_nth_residues(values[-10:] + values[:5], sk.p, sk.q)
    with pytest.raises(ValueError):
        randomness.DJNSampler(pk.n, exp_bits=0)


def test_djn_base_is_residue_of_a_square(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    s = randomness.DJNSampler(pk.n)
    hs = int(s._base())
    assert_nth_residues([hs], sk.p, sk.q)
    assert s._base() is s._base()  # one base per sampler


def test_public_encryption_randomness(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    n, nsq = pk.n, pk.nsquare
    rs = []
    for _ in range(5):
        c = pk.encrypt(9).ciphertext
        rs.append(c * pow(1 + 9 * n, -1, nsq) % nsq)
    for x in pk.encrypt_batch([9] * 5, executor=parallel.SerialExecutor()):
        rs.append(x.ciphertext * pow(1 + 9 * n, -1, nsq) % nsq)
    for x in pk.encrypt_batch([9] * 5, executor=parallel.SerialExecutor(), djn_exponent_bits=160):
        rs.append(x.ciphertext * pow(1 + 9 * n, -1, nsq) % nsq)
    assert_nth_residues(rs, sk.p, sk.q)


def test_sampler_cache(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    a = randomness.owner_sampler(sk.p, sk.q)
    assert randomness.owner_sampler(sk.q, sk.p) is a
    assert randomness.owner_sampler(_gmp.mpz(sk.p), sk.q) is a
    assert a.p == sk.p and a.q == sk.q
    d = randomness.djn_sampler(pk.n)
    assert randomness.djn_sampler(pk.n) is d
    assert randomness.djn_sampler(pk.n, 160) is not d
    assert randomness.djn_sampler(pk.n, 160).exp_bits == 160


def test_sampler_cache_is_bounded() -> None:
    limit = randomness.MAX_CACHED_KEYS * 2
    ns = [int(_gmp.random_prime(64) * _gmp.random_prime(64)) for _ in range(limit + 3)]
    first = randomness.djn_sampler(ns[0])
    for n in ns[1:]:
        randomness.djn_sampler(n)
    assert len(randomness._cache) <= limit
    assert randomness.djn_sampler(ns[0]) is not first  # evicted, least recently used


# ------------------------------------------------------------------ pools
def test_randomness_pool() -> None:
    counter = iter(range(10**6))
    pool = randomness.RandomnessPool(lambda k: [next(counter) for _ in range(k)])
    assert len(pool) == 0
    assert pool.take() is None
    pool.fill(5)
    assert len(pool) == 5
    pool.add([100, 101])
    assert len(pool) == 7
    taken = [pool.take() for _ in range(8)]
    assert taken == [0, 1, 2, 3, 4, 100, 101, None]  # each handed out once, in order
    pool.fill(3)
    assert pool.take() == 5
    pool.clear()
    assert len(pool) == 0 and pool.take() is None
    with pytest.raises(ValueError):
        pool.fill(-1)
    pool.fill(0)
    assert len(pool) == 0


def _peek(pk: PublicKey) -> int:
    return int(keys._pools[pk._n]._values[0])


def test_public_precompute_feeds_encryption(pool_keypair: KeyPair) -> None:
    pk, sk = pool_keypair
    assert pk.pool_size == 0
    assert pk.precompute(10, executor=parallel.SerialExecutor()) == 10
    assert pk.pool_size == 10
    pooled = list(keys._pools[pk._n]._values)
    assert_nth_residues(pooled, sk.p, sk.q)
    n, nsq = pk.n, pk.nsquare

    r = _peek(pk)
    x = pk.encrypt(-4)
    assert pk.pool_size == 9
    assert x.ciphertext == (1 + (-4 % n) * n) * r % nsq  # the pooled value was used
    assert sk.decrypt(x) == -4

    r = _peek(pk)
    assert pk.raw_encrypt(3) == (1 + 3 * n) * r % nsq
    assert pk.pool_size == 8

    r = _peek(pk)
    y = (x * 2).rerandomized()
    assert y.ciphertext == (x * 2).ciphertext * r % nsq
    assert pk.pool_size == 7

    head = list(keys._pools[pk._n]._values)[:5]
    batch = pk.encrypt_batch([1, 2, 3, 4, 5], executor=parallel.SerialExecutor())
    assert pk.pool_size == 2
    assert [b.ciphertext for b in batch] == [
        (1 + m * n) * r % nsq for m, r in zip(range(1, 6), head)
    ]
    # a batch larger than the pool: the rest is computed on the spot
    batch = pk.encrypt_batch(list(range(6)), executor=parallel.SerialExecutor())
    assert pk.pool_size == 0
    assert sk.decrypt_batch(batch) == list(range(6))
    # opting in to short exponents bypasses the pool
    pk.precompute(3, executor=parallel.SerialExecutor())
    pk.encrypt_batch([1, 2], executor=parallel.SerialExecutor(), djn_exponent_bits=160)
    assert pk.pool_size == 3
    # the private key's own encryption draws from the pool too
    sk.encrypt(1)
    assert pk.pool_size == 2
    assert sk.decrypt_batch(sk.encrypt_batch([1, 2, 3], executor=parallel.SerialExecutor())) == [
        1, 2, 3
    ]
    assert pk.pool_size == 0
    # every pooled value is used once: no ciphertext randomness repeats
    pk.precompute(3, executor=parallel.SerialExecutor())
    cs = [pk.encrypt(0).ciphertext for _ in range(3)]
    assert len(set(cs)) == 3
    assert pk.pool_size == 0


def test_private_precompute_exact_residues(pool_keypair: KeyPair) -> None:
    pk, sk = pool_keypair
    assert sk.precompute(6, executor=parallel.SerialExecutor()) == 6
    assert pk.precompute(4, executor=parallel.SerialExecutor()) == 10  # one pool per key
    values = list(keys._pools[pk._n]._values)
    assert_nth_residues(values, sk.p, sk.q)
    same = PublicKey(pk.n, insecure_small_keys=True)
    assert same.pool_size == 10  # shared by equal keys
    assert sk.decrypt(same.encrypt(2.5)) == 2.5
    assert pk.pool_size == 9


def test_precompute_in_worker_processes(pool_keypair: KeyPair) -> None:
    pk, sk = pool_keypair
    count = parallel.MIN_PARALLEL_ITEMS + 6
    assert pk.precompute(count) == count  # default executor: a process pool
    assert_nth_residues(list(keys._pools[pk._n]._values)[:10], sk.p, sk.q)


def test_progress_counts_pooled_values(pool_keypair: KeyPair) -> None:
    pk, sk = pool_keypair
    pk.precompute(5, executor=parallel.SerialExecutor())
    calls: list[tuple[int, int]] = []
    out = pk.encrypt_batch(
        list(range(12)),
        executor=parallel.SerialExecutor(),
        progress=lambda d, t: calls.append((d, t)),
    )
    assert sk.decrypt_batch(out) == list(range(12))
    assert calls[-1] == (12, 12)
    assert all(t == 12 for _, t in calls)
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[0] > 5
    # a batch served entirely by the pool still reports completion once
    pk.precompute(5, executor=parallel.SerialExecutor())
    calls.clear()
    pk.encrypt_batch(
        [1, 2], executor=parallel.SerialExecutor(), progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(2, 2)]


# ------------------------------------------------------------------ memory
def test_table_memory_reported() -> None:
    t = _gmp.FixedBaseTable(3, 2**127 - 1, 100, 5)
    rows = -(-100 // 5)
    assert len(t.rows) == rows
    limb_bytes = 16  # 127 bits in two 64-bit limbs
    assert t.nbytes == rows * 2**5 * (limb_bytes + 48)
    t8 = _gmp.FixedBaseTable(3, 2**127 - 1, 100, 8)
    assert t8.nbytes > t.nbytes  # wider windows hold more residues


def test_sampler_memory_reported(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    d = randomness.DJNSampler(pk.n, window=6)
    d._build()
    rows = -(-d.exp_bits // 6)
    # 2048-bit residues: 32 limbs of 8 bytes, plus object overhead
    assert d.nbytes == rows * 64 * (256 + 48)
    o = randomness.KeyOwnerSampler(sk.p, sk.q, window=6)
    assert o.certified
    rows_p = -(-(sk.p - 1).bit_length() // 6)
    rows_q = -(-(sk.q - 1).bit_length() // 6)
    assert o.nbytes == (rows_p + rows_q) * 64 * (128 + 48)


def test_forked_child_does_not_reuse_pooled_randomness(keypair_1024: KeyPair) -> None:
    """Pooled values are single-use: a fork must not hand the same ones to both processes."""
    import os

    pk, _ = keypair_1024
    pk.precompute(3, executor=parallel.SerialExecutor())
    assert pk.pool_size >= 3
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report its pool size and exit without cleanup
        os.close(read)
        os.write(write, str(pk.pool_size).encode())
        os._exit(0)
    os.close(write)
    child_pool = int(os.read(read, 64).decode())
    os.close(read)
    os.waitpid(pid, 0)
    assert child_pool == 0
    assert pk.pool_size >= 3  # the parent keeps its own
