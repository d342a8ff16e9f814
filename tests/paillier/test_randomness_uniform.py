"""The randomness behind every Paillier encryption is uniform over its documented range.

Distinct n-th residues are not enough: an exponent drawn below 2^20 instead
of 2^512 still gives distinct residues. These tests read the secret behind
each value back under a key with smooth ``p - 1`` and ``q - 1``
(``tests/smooth_key.py``: discrete logarithms and n-th roots) and check it
with exact binomial bounds (``tests/uniformity.py``):

- key owner, before its tables: ``R = r^n``, ``r`` uniform in ``Z_n^*``;
- key owner, with tables: ``R = g_p^a, g_q^b``, ``a`` uniform in ``[0, p-1)``
  and ``b`` in ``[0, q-1)`` (certified and uncertified bases);
- DJN: ``R = hs^alpha``, ``alpha`` uniform in ``[0, 2^exp_bits)``;
- circuit-private re-randomizers: ``r`` uniform in ``Z_n^*``;

through the samplers and through the key methods that use them. Every
check computes and asserts its own false-alarm bound (at most 2^-38); each
test asserts the sum of its checks' bounds, stated in its docstring; the
bounds of the whole run are added in one ledger that asserts a total of at
most 2^-30.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import pytest

from hecrypt import _gmp
from hecrypt.compat import phe as compat_phe
from hecrypt.paillier import (
    EncryptedNumber,
    SerialExecutor,
    circuit,
    keys,
    precompute_circuit_private,
    randomness,
    rerandomize_for_key_holder,
)

#: Draws per checked stream.
DRAWS = 256
#: Draws a fresh key-owner sampler computes directly, before any table.
OWNER_DIRECT = randomness.OWNER_SMALL_TABLES_AFTER
#: Draws a fresh DJN sampler computes directly, before its table.
DJN_DIRECT = randomness.TABLES_AFTER
#: False-alarm bound each test asserts for the sum of its checks.
TEST_LIMIT = Fraction(1, 1 << 35)


@pytest.fixture()
def key(smooth_key: Any) -> Iterator[Any]:
    """The smooth key, with no randomness pooled for it before or after the test."""
    pk = smooth_key.public_key
    keys._pools.pop(pk._n, None)
    circuit.clear_circuit_private_pool(pk)
    yield smooth_key
    keys._pools.pop(pk._n, None)
    circuit.clear_circuit_private_pool(pk)


def _owner_cache_key(key: Any, window: int) -> tuple[Any, ...]:
    return ("owner", _gmp.mpz(key.p), _gmp.mpz(key.q), window)


def fresh_owner_sampler(key: Any, window: int) -> randomness.KeyOwnerSampler:
    """Drop the cached key-owner sampler of (key, window); return the new one the key will use."""
    randomness._cache.pop(_owner_cache_key(key, window), None)
    return randomness.owner_sampler(key.p, key.q, window)


def fresh_djn_sampler(key: Any, exp_bits: int | None = None) -> randomness.DJNSampler:
    """Drop the cached DJN sampler of the key; return the new one the key will use."""
    randomness._cache.pop(("djn", _gmp.mpz(key.n), exp_bits), None)
    return randomness.djn_sampler(key.n, exp_bits)


def check_units(uniform: Any, key: Any, values: list[Any], what: str) -> Fraction:
    """``values`` are ``r^n`` with ``r`` uniform in ``Z_n^*``: the roots ``r mod p``,
    ``r mod q`` and ``r mod n`` are uniform, and so are the characters. Four checks."""
    roots = [key.nth_root(v) for v in values]
    alarm = uniform.below([rp - 1 for rp, _ in roots], key.p - 1, what=f"{what}: r mod p - 1")
    alarm += uniform.below([rq - 1 for _, rq in roots], key.q - 1, what=f"{what}: r mod q - 1")
    # a unit of Z_n is within statistical distance (p + q - 1) / n of uniform on [0, n)
    alarm += uniform.below([key.crt(rp, rq) for rp, rq in roots], key.n, what=f"{what}: r",
                           distance=Fraction(key.p + key.q - 1, key.n))
    alarm += uniform.characters(values, key.p, key.q, what=what)
    return alarm


def check_owner_exponents(uniform: Any, key: Any, values: list[Any], bases: Any,
                          what: str) -> Fraction:
    """``values`` are ``g_p^a, g_q^b`` with ``a``, ``b`` uniform: three checks."""
    exps = [key.owner_exponents(v, bases) for v in values]
    alarm = uniform.below([a for a, _ in exps], key.p - 1, what=f"{what}: a")
    alarm += uniform.below([b for _, b in exps], key.q - 1, what=f"{what}: b")
    alarm += uniform.characters(values, key.p, key.q, what=what)
    return alarm


# ------------------------------------------------------------------ the read-back key
def test_smooth_key_is_accepted_and_read_back_is_exact(key: Any) -> None:
    """The key passes the library's key checks, and logs and roots invert what they should."""
    assert key.public_key.n_bits == 1024
    assert key.private_key.p == key.p and key.private_key.q == key.q
    assert key.p % 4 == 3 and key.q % 4 == 3  # -1 is a non-residue on both sides
    for _ in range(8):
        a, b = int(_gmp.random_below(key.p - 1)), int(_gmp.random_below(key.q - 1))
        assert key.log_p.log(pow(key.log_p.g, a, key.p)) == a
        assert key.log_q.log(pow(key.log_q.g, b, key.q)) == b
        r = int(_gmp.random_unit(key.n))
        assert key.nth_root(pow(r, key.n, key.nsq)) == (r % key.p, r % key.q)
        assert key.crt(r % key.p, r % key.q) == r
        m = int(_gmp.random_below(key.n))
        c = key.public_key.raw_encrypt(m, r)
        assert key.randomizer(c, m) == pow(r, key.n, key.nsq)
    s = randomness.DJNSampler(key.n)
    hs = s._base()
    alpha = int(_gmp.random_below(1 << s.exp_bits))
    assert key.djn_exponent(pow(int(hs), alpha, key.nsq), hs, s.exp_bits) == alpha


# ------------------------------------------------------------------ key owner
@pytest.mark.parametrize("batched", [False, True], ids=["sample", "sample_many"])
def test_owner_direct_path_draws_uniform_units(key: Any, uniform: Any, batched: bool) -> None:
    """Before its tables the owner's sampler returns ``r^n``, ``r`` uniform in ``Z_n^*``.

    Fresh samplers, each used for its first 32 draws only. False alarm: four
    checks, sum asserted below 2^-35 (each about 2^-41).
    """
    values: list[Any] = []
    while len(values) < DRAWS:
        s = randomness.KeyOwnerSampler(key.p, key.q, window=4)
        values += (s.sample_many(OWNER_DIRECT) if batched
                   else [s.sample() for _ in range(OWNER_DIRECT)])
        assert s._tables is None
    assert check_units(uniform, key, values, "owner direct path") <= TEST_LIMIT


@pytest.mark.parametrize("batched", [False, True], ids=["sample", "sample_many"])
@pytest.mark.parametrize("certified", [True, False], ids=["certified", "uncertified"])
def test_owner_table_exponents_are_uniform(
    key: Any, uniform: Any, monkeypatch: pytest.MonkeyPatch, certified: bool, batched: bool
) -> None:
    """With tables the owner's sampler returns ``g_p^a, g_q^b`` with ``a`` uniform in
    ``[0, p-1)`` and ``b`` in ``[0, q-1)``, for certified generators and for the
    uncertified bases of keys whose ``p - 1`` cannot be factored (forced here).

    False alarm: three checks, sum asserted below 2^-35 (each about 2^-41).
    """
    if not certified:
        monkeypatch.setattr(randomness, "_find_generator", lambda p, n: None)
    s = randomness.KeyOwnerSampler(key.p, key.q, window=4)
    s.sample_many(OWNER_DIRECT + 1)
    assert s.table_window == 4
    assert s.certified is certified and s.exact is certified
    values = s.sample_many(DRAWS) if batched else [s.sample() for _ in range(DRAWS)]
    alarm = check_owner_exponents(uniform, key, values, s._bases, "owner tables")
    assert alarm <= TEST_LIMIT


def _owner_encrypt(key: Any, window: int, path: str, ms: list[int]) -> list[Any]:
    """Randomizers of the key owner's encryptions of ``ms`` by ``path``."""
    sk = key.private_key.with_owner_window(window)
    ex = SerialExecutor()
    if path == "encrypt":
        cs = [sk.encrypt(m).ciphertext for m in ms]
    elif path == "encrypt_batch":
        cs = [x.ciphertext for x in sk.encrypt_batch(ms, executor=ex)]
    else:  # precompute: the pool is filled, then drawn by the encryptions
        assert sk.precompute(len(ms), executor=ex) == len(ms)
        cs = [x.ciphertext for x in sk.encrypt_batch(ms, executor=ex)]
        assert key.public_key.pool_size == 0
    return [key.randomizer(c, m) for c, m in zip(cs, ms)]


@pytest.mark.parametrize("path,window", [("encrypt", 9), ("encrypt_batch", 5), ("precompute", 7)])
def test_owner_encryption_randomness_is_uniform(
    key: Any, uniform: Any, path: str, window: int
) -> None:
    """``PrivateKey.encrypt``, ``encrypt_batch`` and ``precompute`` pools: the first
    draws of a key's sampler are uniform ``r^n``, the later ones ``g_p^a, g_q^b``
    with uniform exponents. A window of its own gives each path a fresh sampler;
    with window 9 the draws go through the small (8-bit) tables, then the full ones.

    False alarm: seven checks, sum asserted below 2^-35 (each about 2^-41).
    """
    direct: list[Any] = []
    while True:
        s = fresh_owner_sampler(key, window)
        direct += _owner_encrypt(key, window, path, list(range(OWNER_DIRECT)))
        assert s._tables is None
        if len(direct) >= DRAWS:
            break
    tabled = _owner_encrypt(key, window, path, list(range(-DRAWS // 2, DRAWS // 2)))
    assert randomness.owner_sampler(key.p, key.q, window) is s and s.table_window == window
    alarm = check_units(uniform, key, direct, f"owner {path}, direct")
    alarm += check_owner_exponents(uniform, key, tabled, s._bases, f"owner {path}, tables")
    assert alarm <= TEST_LIMIT


# ------------------------------------------------------------------ DJN
def _alphas(key: Any, s: randomness.DJNSampler, values: list[Any]) -> list[int]:
    hs = s._base()
    return [key.djn_exponent(v, hs, s.exp_bits) for v in values]


@pytest.mark.parametrize("batched", [False, True], ids=["sample", "sample_many"])
def test_djn_direct_exponents_are_uniform(key: Any, uniform: Any, batched: bool) -> None:
    """Before its table a DJN sampler returns ``hs^alpha``, ``alpha`` uniform in
    ``[0, 2^512)`` for a 1024-bit key. Fresh samplers (each its own ``hs``), 32 draws each.

    False alarm: one check, about 2^-41 (asserted below 2^-38).
    """
    alphas: list[int] = []
    while len(alphas) < DRAWS:
        s = randomness.DJNSampler(key.n)
        values = (s.sample_many(DJN_DIRECT) if batched
                  else [s.sample() for _ in range(DJN_DIRECT)])
        assert s._table is None and s.exp_bits == 512
        alphas += _alphas(key, s, values)
    uniform.below(alphas, 1 << 512, what="DJN direct exponents")


@pytest.mark.parametrize("batched", [False, True], ids=["sample", "sample_many"])
@pytest.mark.parametrize("exp_bits", [None, 160], ids=["default", "short"])
def test_djn_table_exponents_are_uniform(
    key: Any, uniform: Any, exp_bits: int | None, batched: bool
) -> None:
    """With its table a DJN sampler returns ``hs^alpha``, ``alpha`` uniform in
    ``[0, 2^exp_bits)``: 512 bits by default, 160 when opted in.

    False alarm: one check, about 2^-41 (asserted below 2^-38).
    """
    s = randomness.DJNSampler(key.n, exp_bits=exp_bits)
    s.sample_many(DJN_DIRECT + 1)
    assert s._table is not None
    values = s.sample_many(DRAWS) if batched else [s.sample() for _ in range(DRAWS)]
    uniform.below(_alphas(key, s, values), 1 << s.exp_bits, what=f"DJN table exponents {exp_bits}")


def _public_randomizers(key: Any, path: str, ms: list[int]) -> list[Any]:
    """Randomizers of public-key encryptions (or re-randomizations) of ``ms`` by ``path``."""
    pk, ex = key.public_key, SerialExecutor()
    if path == "encrypt":
        return [key.randomizer(pk.encrypt(m).ciphertext, m) for m in ms]
    if path == "encrypt_batch":
        return [key.randomizer(x.ciphertext, m)
                for x, m in zip(pk.encrypt_batch(ms, executor=ex), ms)]
    if path == "short":
        xs = pk.encrypt_batch(ms, executor=ex, djn_exponent_bits=160)
        return [key.randomizer(x.ciphertext, m) for x, m in zip(xs, ms)]
    if path == "precompute":
        assert pk.precompute(len(ms), executor=ex) == len(ms)
        xs = pk.encrypt_batch(ms, executor=ex)
        assert pk.pool_size == 0
        return [key.randomizer(x.ciphertext, m) for x, m in zip(xs, ms)]
    if path == "phe_compat":  # hecrypt.compat.phe draws DJNSampler.sample() one at a time
        cpk = compat_phe.PaillierPublicKey(key.n)
        return [key.randomizer(cpk.raw_encrypt(m), m) for m in ms]
    assert path == "rerandomized"
    x = EncryptedNumber._make(pk, _gmp.mpz(1 + 7 * key.n), 0, False, 8)  # R = 1
    return [key.randomizer(x.rerandomized().ciphertext, 7) for _ in ms]


@pytest.mark.parametrize("path", ["encrypt", "encrypt_batch", "precompute", "rerandomized",
                                  "short", "phe_compat"])
def test_public_encryption_exponents_are_uniform(key: Any, uniform: Any, path: str) -> None:
    """``PublicKey.encrypt``, ``encrypt_batch`` (default and 160-bit opt-in exponents),
    ``precompute`` pools, ``rerandomized()`` and the phe-compatible ``raw_encrypt``
    draw ``hs^alpha`` with ``alpha`` uniform in ``[0, 2^exp_bits)``: the key's fresh
    sampler, its direct draws then its table.

    False alarm: one check, about 2^-41 (asserted below 2^-38).
    """
    exp_bits = 160 if path == "short" else None
    s = fresh_djn_sampler(key, exp_bits)
    values = _public_randomizers(key, path, list(range(DJN_DIRECT + DRAWS)))
    assert randomness.djn_sampler(key.n, exp_bits) is s and s._table is not None
    uniform.below(_alphas(key, s, values), 1 << s.exp_bits, what=f"public {path} exponents")


# ------------------------------------------------------------------ circuit privacy
def _circuit_private(key: Any, path: str) -> list[Any]:
    """The ``r^n`` that ``path`` multiplies into DRAWS ciphertexts ``1 + m n`` (randomizer 1)."""
    pk = key.public_key
    cs = [1 + m * key.n for m in range(DRAWS)]
    run: Callable[[], list[Any]]
    if path == "pool":
        precompute_circuit_private(pk, DRAWS, executor=SerialExecutor())
        assert circuit.circuit_private_pool_size(pk) == DRAWS

        def run() -> list[Any]:
            return rerandomize_for_key_holder(pk, cs, executor=SerialExecutor())
    elif path == "on_the_spot":
        def run() -> list[Any]:
            return rerandomize_for_key_holder(pk, cs, executor=SerialExecutor())
    elif path == "worker_processes":
        def run() -> list[Any]:
            return rerandomize_for_key_holder(pk, cs)  # default: the local process pool
    else:
        assert path == "rerandomized"

        def run() -> list[Any]:
            xs = [EncryptedNumber._make(pk, _gmp.mpz(c), 0, False, DRAWS) for c in cs]
            return [x.rerandomized(circuit_private=True).ciphertext for x in xs]
    out = run()
    assert circuit.circuit_private_pool_size(pk) == 0
    return [key.randomizer(c, m) for m, c in enumerate(out)]


@pytest.mark.parametrize("path", ["pool", "on_the_spot", "worker_processes", "rerandomized"])
def test_circuit_private_randomizers_are_uniform_units(key: Any, uniform: Any, path: str) -> None:
    """Circuit-private re-randomization multiplies by ``r^n`` with ``r`` uniform in
    ``Z_n^*``, from the pool (``precompute_circuit_private``), computed on the spot,
    in worker processes, and through ``rerandomized(circuit_private=True)``; the
    four quadratic-character patterns occur (DJN randomness would show two).

    False alarm: four checks, sum asserted below 2^-35 (each about 2^-41).
    """
    values = _circuit_private(key, path)
    assert check_units(uniform, key, values, f"circuit-private {path}") <= TEST_LIMIT
