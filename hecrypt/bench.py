"""Benchmarks of hecrypt side by side with ``phe`` (python-paillier), in one run.

Run it as ``python -m hecrypt.bench`` or ``hecrypt bench``::

    python -m hecrypt.bench                          # 2048-bit key, 1,000 values
    python -m hecrypt.bench --write docs/performance.md

One key pair is generated with hecrypt and converted to phe
(``PaillierPublicKey(n)``, ``PaillierPrivateKey(pk, p, q)``), so both
libraries work on exactly the same modulus. Every timed result is checked
(decrypted values against the plaintexts, homomorphic sums against the
plaintext sums, randomness for reuse and for being an n-th residue), so a
broken fast path cannot produce a good number: a failed check is printed and
makes the exit code 1. A missed *target* is a measurement, not an error: the
exit code stays 0 and the table says which targets were met.

Three kinds of numbers are kept apart so none is read as another:

* steady-state throughput (time per value of a batch, after warm-up),
* single-value latency (one call, one value),
* one-off setup (process-pool start, fixed-base table builds, key generation).

Sections: the benchmark is a list of *sections*; each is a function that takes
a :class:`BenchContext` (the key pair, both libraries' keys, the data and the
options) and returns a :class:`SectionResult` (rows, correctness checks,
notes). Later benchmarks add themselves with :func:`register_section`; ``--write``
replaces only the blocks of the sections that ran, between
``<!-- bench:NAME:begin -->`` and ``<!-- bench:NAME:end -->`` markers.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import platform
import re
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "BenchContext",
    "Check",
    "Row",
    "Section",
    "SectionResult",
    "SECTIONS",
    "add_arguments",
    "format_markdown",
    "machine_info",
    "main",
    "register_section",
    "run",
    "run_benchmark",
    "update_document",
]

#: Group names of rows, in the order their tables are printed.
GROUPS = {
    "throughput": "Steady-state throughput (batch, per value)",
    "latency": "Single-value latency (one call, one value)",
    "setup": "One-off setup (paid once per process and key, not per value)",
    "size": "Encrypted size on the wire (bytes per value)",
}


# --------------------------------------------------------------------- results
@dataclass
class Row:
    """One measured line of a table.

    Attributes:
        group: ``"throughput"``, ``"latency"`` or ``"setup"``.
        operation: what was measured.
        seconds: hecrypt's time (per value, or total for setup rows).
        baseline: what it is compared with (``"phe"``, ``"raw gmpy2"``, ``""``).
        baseline_seconds: the baseline's time per value, if any.
        kind: ``"speedup"`` (ratio = baseline / hecrypt, higher is better),
            ``"overhead"`` (ratio = hecrypt / baseline, lower is better) or
            ``"info"`` (no ratio).
        target: the ratio to reach, if the row has a target.
        note: a short remark printed under the table.
        spread: fastest and slowest repeat of hecrypt's time (same unit as
            ``seconds``), to show how noisy the machine was.
        unit: ``"s"`` (the default: ``seconds`` and ``baseline_seconds`` are
            times) or ``"B"`` (they are sizes in bytes).
    """

    group: str
    operation: str
    seconds: float | None
    baseline: str = ""
    baseline_seconds: float | None = None
    kind: str = "info"
    target: float | None = None
    note: str = ""
    spread: tuple[float, float] | None = None
    unit: str = "s"

    @property
    def ratio(self) -> float | None:
        """The ratio the target is about, or None."""
        if self.seconds is None or self.baseline_seconds is None:
            return None
        if self.seconds <= 0 or self.baseline_seconds <= 0:
            return None
        if self.kind == "speedup":
            return self.baseline_seconds / self.seconds
        if self.kind == "overhead":
            return self.seconds / self.baseline_seconds
        return None

    @property
    def passed(self) -> bool | None:
        """True/False when the row has a target, None otherwise."""
        r = self.ratio
        if self.target is None or r is None:
            return None
        return r >= self.target if self.kind == "speedup" else r <= self.target


@dataclass
class Check:
    """One correctness check made on benchmarked results."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class SectionResult:
    """What a section returns: its rows, its checks and free-text notes."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every correctness check passed."""
        return all(c.ok for c in self.checks)


@dataclass
class BenchContext:
    """Everything a section needs: options, the shared key pair, data, helpers."""

    args: argparse.Namespace
    public_key: Any
    private_key: Any
    phe_public_key: Any
    phe_private_key: Any
    values: list[int | float]
    keygen_seconds: float

    @property
    def repeats(self) -> int:
        """Timed repetitions per measurement (the median is reported)."""
        return int(self.args.repeats)

    @property
    def phe_sample(self) -> int:
        """How many values phe is timed on (at most the batch)."""
        k = self.args.phe_sample
        return len(self.values) if k is None else min(int(k), len(self.values))


SectionFunc = Callable[[BenchContext], SectionResult]


@dataclass
class Section:
    """A registered benchmark section."""

    name: str
    title: str
    func: SectionFunc


#: Registered sections, in run order.
SECTIONS: dict[str, Section] = {}


def register_section(name: str, title: str) -> Callable[[SectionFunc], SectionFunc]:
    """Decorator adding a section to :data:`SECTIONS` (name must be new)."""
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise ValueError("section names are lower-case words (letters, digits, - and _)")

    def deco(func: SectionFunc) -> SectionFunc:
        if name in SECTIONS:
            raise ValueError(f"a benchmark section named {name!r} is already registered")
        SECTIONS[name] = Section(name, title, func)
        return func

    return deco


# --------------------------------------------------------------------- timing
def _median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of ``fn()`` over ``repeats`` calls, and the last result."""
    times = []
    out: Any = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _per_call_median(fn: Callable[[Any], Any], items: Sequence[Any]) -> tuple[float, list[Any]]:
    """Median wall time of single calls ``fn(item)``, and the results."""
    times = []
    outs = []
    for item in items:
        t0 = time.perf_counter()
        outs.append(fn(item))
        times.append(time.perf_counter() - t0)
    return statistics.median(times), outs


def _loop_time(fn: Callable[[], Any], min_seconds: float = 0.2) -> float:
    """Time of one ``fn()`` call, averaged over enough calls to last ``min_seconds``."""
    fn()  # warm caches
    loops = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_seconds or loops >= 1 << 20:
            return dt / loops
        loops = max(loops * 2, int(loops * min_seconds / max(dt, 1e-9)) + 1)


# --------------------------------------------------------------------- checks
def _close(got: Any, want: Any, tol: float) -> bool:
    if isinstance(want, int) and not isinstance(want, bool):
        return isinstance(got, int) and got == want
    return isinstance(got, (int, float)) and abs(float(got) - float(want)) <= tol


def _compare(name: str, got: Sequence[Any], want: Sequence[Any], tol: float) -> Check:
    """Element-wise comparison of decrypted values with the expected ones."""
    if len(got) != len(want):
        return Check(name, False, f"{len(got)} results for {len(want)} inputs")
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if not _close(g, w, tol)]
    if bad:
        i = bad[0]
        return Check(name, False, f"{len(bad)} of {len(want)} wrong; first at {i}: "
                                  f"got {got[i]!r}, expected {want[i]!r}")
    return Check(name, True, f"{len(want)} values (tolerance {tol:.1e})")


def _randomness_check(name: str, ctx: BenchContext, encs: Sequence[Any],
                      residues: Sequence[int], n_residue_tests: int = 4) -> Check:
    """Check the randomness inside ciphertexts: never 1, never reused, n-th residues.

    For ``c = (1 + m*n) * R mod n^2`` the factor is ``R = c * (1 - m*n) mod n^2``.
    A fast path that skipped or reused randomness would still decrypt
    correctly; this catches it. ``R`` is an n-th residue iff ``R^lambda = 1``
    mod ``n^2`` (tested on a few values, it costs a full exponentiation each).
    """
    from hecrypt import _gmp

    n = _gmp.mpz(ctx.public_key.n)
    nsq = n * n
    seen: set[int] = set()
    for x, m in zip(encs, residues):
        r = int(_gmp.mpz(x.ciphertext) * (1 - m * n) % nsq)
        if r in (0, 1):
            return Check(name, False, "a ciphertext carries no randomness (R = 1)")
        if r in seen:
            return Check(name, False, "randomness reused between two ciphertexts")
        seen.add(r)
    p, q = ctx.private_key.p, ctx.private_key.q
    lam = math.lcm(p - 1, q - 1)
    step = max(1, len(encs) // max(1, n_residue_tests))
    tested = 0
    for i in range(0, len(encs), step)[:n_residue_tests]:
        x, m = encs[i], residues[i]
        r = _gmp.mpz(x.ciphertext) * (1 - m * n) % nsq
        if _gmp.powmod(r, lam, nsq) != 1:
            return Check(name, False, f"randomness of ciphertext {i} is not an n-th residue")
        tested += 1
    return Check(name, True, f"{len(seen)} distinct randomness factors, "
                             f"{tested} verified as n-th residues")


def _residues(ctx: BenchContext, values: Sequence[Any], scales: Sequence[int]) -> list[int]:
    """The plaintext residues the library should have encrypted."""
    n = ctx.public_key.n
    out = []
    for v, s in zip(values, scales):
        m = v << s if isinstance(v, int) else round(math.ldexp(v, s))
        out.append(m % n)
    return out


# --------------------------------------------------------------------- core section
def _pairs(count: int) -> list[tuple[int, int]]:
    """Index pairs of equal type: even indices hold floats, odd ones ints."""
    out: list[tuple[int, int]] = []
    for start in (0, 1):
        g = list(range(start, count, 2))
        out.extend((g[k], g[(k + 1) % len(g)]) for k in range(len(g)))
    return out


def _warm_note(prebuilt: bool, after: int, nbytes: int, small_after: int | None = None) -> str:
    if prebuilt:
        return f"already built by the in-process batches above; {nbytes / 2**20:.0f} MiB"
    if not nbytes:
        return "no table (generators not certified for this key): direct path"
    if small_after is not None and small_after < after:
        return (f"up to {small_after} direct draws, small tables until {after}, then the "
                f"full build; {nbytes / 2**20:.0f} MiB")
    return f"up to {after} direct draws, then the build; {nbytes / 2**20:.0f} MiB"


@register_section("core", "Paillier core operations: hecrypt vs phe")
def core_section(ctx: BenchContext) -> SectionResult:
    """Encryption (key owner, public key), decryption and addition vs phe.

    Order matters and is fixed: the process pool is started and timed first,
    then the first batch of each kind is timed alone (table builds in the
    workers), then a warm-up batch, then ``repeats`` interleaved repetitions
    of hecrypt and phe so that machine noise hits both alike.
    """
    from hecrypt import _gmp
    from hecrypt.paillier import parallel, randomness

    res = SectionResult("core", SECTIONS["core"].title)
    pk, sk = ctx.public_key, ctx.private_key
    ppk, psk = ctx.phe_public_key, ctx.phe_private_key
    values = ctx.values
    batch = len(values)
    k = ctx.phe_sample
    sample = values[:k]
    reps = ctx.repeats
    tol = 2.0**-32

    res.rows.append(Row("setup", f"Key generation ({pk.n_bits}-bit, hecrypt)",
                        ctx.keygen_seconds, note="structured primes from the OS CSPRNG"))

    # -- process pool start, timed on its own ----------------------------------------
    workers = _usable_cores()
    uses_pool = batch >= parallel.MIN_PARALLEL_ITEMS and workers >= 2
    if uses_pool:
        t0 = time.perf_counter()
        pool = parallel.default_executor()
        for fut in [pool.submit(os.getpid) for _ in range(workers)]:
            fut.result()
        res.rows.append(Row("setup", f"Process pool start ({workers} workers)",
                            time.perf_counter() - t0,
                            note="once per process; 0 if an earlier call started it"))
    else:
        res.notes.append(
            f"Batch of {batch} is below MIN_PARALLEL_ITEMS={parallel.MIN_PARALLEL_ITEMS} "
            f"or fewer than 2 cores ({workers}): batches run in-process, no pool."
        )

    # -- first batches (setup), then warm-up ---------------------------------------
    t0 = time.perf_counter()
    enc_owner = sk.encrypt_batch(values)
    first_owner = time.perf_counter() - t0
    t0 = time.perf_counter()
    enc_pub = pk.encrypt_batch(values)
    first_pub = time.perf_counter() - t0
    t0 = time.perf_counter()
    dec = sk.decrypt_batch(enc_owner)
    first_dec = time.perf_counter() - t0
    sk.encrypt_batch(values)
    pk.encrypt_batch(values)

    # -- a key made by phe (p - 1 not factorable: uncertified table bases) ----------
    import phe.paillier as pp

    from hecrypt.paillier import PrivateKey, SerialExecutor, rerandomize_for_key_holder

    t0 = time.perf_counter()
    _, phe_made_sk = pp.generate_paillier_keypair(n_length=pk.n_bits)
    sk_phe = PrivateKey.from_phe(
        phe_made_sk, insecure_small_keys=bool(getattr(ctx.args, "insecure_small_keys", False))
    )
    phe_keygen = time.perf_counter() - t0
    t0 = time.perf_counter()
    sk_phe.encrypt_batch(values)
    first_phe_key = time.perf_counter() - t0
    sk_phe.encrypt_batch(values)

    # -- steady state, interleaved with phe ---------------------------------------
    t_owner: list[float] = []
    t_pub: list[float] = []
    t_dec: list[float] = []
    t_phe_enc: list[float] = []
    t_phe_dec: list[float] = []
    t_owner_phe_key: list[float] = []
    enc_phe_key: list[Any] = []
    all_owner: list[Any] = []
    all_pub: list[Any] = []
    phe_enc: list[Any] = []
    phe_dec: list[Any] = []
    for _ in range(reps):
        t0 = time.perf_counter()
        enc_owner = sk.encrypt_batch(values)
        t_owner.append(time.perf_counter() - t0)
        all_owner.extend(enc_owner)

        t0 = time.perf_counter()
        phe_enc = [ppk.encrypt(v) for v in sample]
        t_phe_enc.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        enc_phe_key = sk_phe.encrypt_batch(values)
        t_owner_phe_key.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        enc_pub = pk.encrypt_batch(values)
        t_pub.append(time.perf_counter() - t0)
        all_pub.extend(enc_pub)

        t0 = time.perf_counter()
        dec = sk.decrypt_batch(enc_owner)
        t_dec.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        phe_dec = [psk.decrypt(c) for c in phe_enc]
        t_phe_dec.append(time.perf_counter() - t0)

    def spread(ts: list[float], per: int) -> tuple[float, float]:
        return min(ts) / per, max(ts) / per

    owner_s = statistics.median(t_owner) / batch
    pub_s = statistics.median(t_pub) / batch
    dec_s = statistics.median(t_dec) / batch
    phe_enc_s = statistics.median(t_phe_enc) / k
    phe_dec_s = statistics.median(t_phe_dec) / k

    # -- correctness of what was timed ---------------------------------------------
    res.checks.append(_compare("key-owner batch encrypt -> decrypt_batch", dec, values, tol))
    res.checks.append(_compare("public-key batch encrypt -> decrypt_batch",
                               sk.decrypt_batch(enc_pub), values, tol))
    res.checks.append(_compare("phe encrypt -> phe decrypt", phe_dec, sample, 1e-9))
    scales = [x.scale for x in enc_owner]
    reps_values = values * reps
    reps_scales = scales * reps
    res.checks.append(_randomness_check("key-owner randomness (all repeats)", ctx, all_owner,
                                        _residues(ctx, reps_values, reps_scales)))
    res.checks.append(_randomness_check("public-key randomness (all repeats)", ctx, all_pub,
                                        _residues(ctx, reps_values, reps_scales)))
    res.checks.append(_compare("key-owner batch encrypt on the phe-made key -> decrypt_batch",
                               sk_phe.decrypt_batch(enc_phe_key), values, tol))
    # phe decrypts hecrypt's ciphertexts: the two implementations agree on the key.

    # phe's exponent is base 16: hecrypt's scale 2^-s is phe's exponent -s/4.
    cross_idx = [i for i in range(min(k, 64)) if enc_pub[i].scale % 4 == 0][:16]
    cross = [psk.decrypt(pp.EncryptedNumber(ppk, enc_pub[i].ciphertext, -enc_pub[i].scale // 4))
             for i in cross_idx]
    res.checks.append(_compare("phe decrypts hecrypt ciphertexts", cross,
                               [values[i] for i in cross_idx], tol))

    res.rows += [
        Row("throughput", "Encrypt, key owner (`PrivateKey.encrypt_batch`)", owner_s,
            "phe `encrypt`", phe_enc_s, "speedup", 50.0,
            note="phe has no key-owner path: its public-key encryption is the baseline",
            spread=spread(t_owner, batch)),
        Row("throughput", "Encrypt, key owner, key made by phe (`PrivateKey.from_phe`)",
            statistics.median(t_owner_phe_key) / batch, "phe `encrypt`", phe_enc_s, "speedup",
            40.0, spread=spread(t_owner_phe_key, batch),
            note="p - 1 not factorable: tables with uncertified bases (assumption in "
                 "docs/security.md); interleaved with the rows above"),
        Row("throughput", "Encrypt, public key (`PublicKey.encrypt_batch`)", pub_s,
            "phe `encrypt`", phe_enc_s, "speedup", 20.0, spread=spread(t_pub, batch)),
        Row("throughput", "Decrypt (`PrivateKey.decrypt_batch`)", dec_s,
            "phe `decrypt`", phe_dec_s, "speedup", 1.8, spread=spread(t_dec, batch)),
    ]

    # -- ciphertext + ciphertext -----------------------------------------------------
    idx = _pairs(batch)
    pairs = [(enc_owner[i], enc_owner[j]) for i, j in idx]
    nsq = _gmp.mpz(pk.nsquare)
    raw = [(_gmp.mpz(a.ciphertext), _gmp.mpz(b.ciphertext)) for a, b in pairs]
    pidx = _pairs(k)
    phe_pairs = [(phe_enc[i], phe_enc[j]) for i, j in pidx]

    def add_hecrypt() -> list[Any]:
        return [a + b for a, b in pairs]

    def add_raw() -> list[Any]:
        return [a * b % nsq for a, b in raw]

    def add_phe() -> list[Any]:
        return [a + b for a, b in phe_pairs]

    t_add: list[float] = []
    t_raw: list[float] = []
    t_padd: list[float] = []
    for _ in range(max(reps, 5)):
        t_add.append(_loop_time(add_hecrypt) / len(pairs))
        t_raw.append(_loop_time(add_raw) / len(raw))
        t_padd.append(_loop_time(add_phe, 0.1) / len(phe_pairs))
    add_s = statistics.median(t_add)
    raw_s = statistics.median(t_raw)
    padd_s = statistics.median(t_padd)

    sums = add_hecrypt()
    raws = add_raw()
    same = all(int(s.ciphertext) == int(r) for s, r in zip(sums, raws))
    res.checks.append(Check("hecrypt sum == raw product mod n^2", same,
                            f"{len(sums)} pairs" if same else "ciphertexts differ"))
    res.checks.append(_compare("hecrypt sums decrypt to the plaintext sums",
                               sk.decrypt_batch(sums),
                               [values[i] + values[j] for i, j in idx], 2 * tol))
    psums = add_phe()
    ms = min(len(psums), 32)
    res.checks.append(_compare("phe sums decrypt to the plaintext sums",
                               [psk.decrypt(s) for s in psums[:ms]],
                               [sample[i] + sample[j] for i, j in pidx[:ms]], 1e-9))

    res.rows += [
        Row("throughput", "Ciphertext + ciphertext (`EncryptedNumber.__add__`)", add_s,
            "raw gmpy2 `a * b % n²`", raw_s, "overhead", 1.3,
            note="ratio is hecrypt's time over one bare multiplication mod n² on mpz",
            spread=(min(t_add), max(t_add))),
        Row("throughput", "Ciphertext + ciphertext (`EncryptedNumber.__add__`)", add_s,
            "phe `+`", padd_s, "speedup", None, spread=(min(t_add), max(t_add)),
            note="phe aligns per-number exponents of floats (an extra powmod when they "
                 "differ); hecrypt's equal scales need none"),
    ]

    # -- circuit-private re-randomization (results sent to the key holder) ----------
    m_cp = max(1, min(batch, 32))
    cp_in = [x.ciphertext for x in enc_owner[:m_cp]]
    t_cp: list[float] = []
    cp_out: list[Any] = []
    for _ in range(max(reps, 3)):
        t0 = time.perf_counter()
        cp_out = rerandomize_for_key_holder(pk, cp_in, executor=SerialExecutor())
        t_cp.append((time.perf_counter() - t0) / m_cp)
    res.checks.append(_compare("circuit-private re-randomization keeps the plaintexts",
                               sk.decrypt_batch([type(enc_owner[0])(pk, int(c), x.scale,
                                                                    bound=x.bound)
                                                 for c, x in zip(cp_out, enc_owner)]),
                               values[:m_cp], tol))
    res.rows.append(Row("throughput", "Circuit-private re-randomization, per output ciphertext "
                        "(`rerandomize_for_key_holder`, one core)", statistics.median(t_cp),
                        "phe `encrypt`", phe_enc_s, "speedup", spread=(min(t_cp), max(t_cp)),
                        note="r^n for r uniform in Z_n^*: one full exponentiation, no tables; "
                             "packing shares it among the records of a ciphertext"))

    # -- single values ---------------------------------------------------------------
    owner = randomness.owner_sampler(sk.p, sk.q)
    djn = randomness.djn_sampler(pk.n)
    n_single = max(1, min(batch, 50))
    owner_after = int(getattr(randomness, "OWNER_TABLES_AFTER", 0))
    owner_small_after = int(getattr(randomness, "OWNER_SMALL_TABLES_AFTER", owner_after))
    djn_after = int(getattr(randomness, "TABLES_AFTER", 0))

    cold_owner: float | None = None
    cold_pub: float | None = None
    cold_n = min(n_single, 16)
    if owner.nbytes == 0 and owner_small_after > cold_n:
        cold_owner, outs = _per_call_median(sk.encrypt, values[:cold_n])
        res.checks.append(_compare("single encrypt (key owner, no tables)",
                                   [sk.decrypt(x) for x in outs], values[:cold_n], tol))
    if djn.nbytes == 0 and djn_after > cold_n:
        cold_pub, outs = _per_call_median(pk.encrypt, values[:cold_n])
        res.checks.append(_compare("single encrypt (public key, no table)",
                                   [sk.decrypt(x) for x in outs], values[:cold_n], tol))

    # Warm-up until this process has built its tables (what a long-lived client sees).
    owner_prebuilt, djn_prebuilt = owner.table_window >= owner.window, djn.nbytes > 0
    t0 = time.perf_counter()
    for _ in range(owner_after + 2):
        if owner.table_window >= owner.window:
            break
        sk.encrypt(0)
    warm_owner_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(djn_after + 2):
        if djn.nbytes:
            break
        pk.encrypt(0)
    warm_djn_build = time.perf_counter() - t0

    single_vals = (values * (1 + (n_single * reps) // max(1, batch)))[: n_single * reps]
    warm_owner, outs_o = _per_call_median(sk.encrypt, single_vals)
    warm_pub, outs_p = _per_call_median(pk.encrypt, single_vals)
    single_dec, outs_d = _per_call_median(sk.decrypt, outs_o)
    res.checks.append(_compare("single encrypt (key owner) -> single decrypt",
                               outs_d, single_vals, tol))
    res.checks.append(_compare("single encrypt (public key) -> decrypt",
                               [sk.decrypt(x) for x in outs_p], single_vals, tol))

    owner_state = "tables" if owner.nbytes else "no tables"
    djn_state = "table" if djn.nbytes else "no table"
    if cold_owner is not None:
        res.rows.append(Row("latency", "Encrypt 1 value, key owner, first draws in a process",
                            cold_owner, "phe `encrypt`", phe_enc_s, "speedup",
                            note=f"direct CRT path, used for the first {owner_small_after} "
                                 f"draws; small tables until {owner_after}, then the full ones"))
    res.rows.append(Row("latency", f"Encrypt 1 value, key owner ({owner_state})", warm_owner,
                        "phe `encrypt`", phe_enc_s, "speedup"))
    if cold_pub is not None:
        res.rows.append(Row("latency", "Encrypt 1 value, public key, first draws in a process",
                            cold_pub, "phe `encrypt`", phe_enc_s, "speedup",
                            note=f"plain powmod, used for the first {djn_after} draws"))
    res.rows.append(Row("latency", f"Encrypt 1 value, public key ({djn_state})", warm_pub,
                        "phe `encrypt`", phe_enc_s, "speedup"))
    res.rows.append(Row("latency", "Decrypt 1 value (`PrivateKey.decrypt`)", single_dec,
                        "phe `decrypt`", phe_dec_s, "speedup"))

    # -- setup rows ------------------------------------------------------------------
    w = f"{workers} workers" if uses_pool else "in-process"
    res.rows += [
        Row("setup", f"First key-owner batch of {batch}: extra over steady state ({w})",
            max(0.0, first_owner - owner_s * batch),
            note=f"first batch took {first_owner:.3f} s; fixed-base tables are built in "
                 f"each process once it has drawn {owner_after} values"),
        Row("setup", f"First public-key batch of {batch}: extra over steady state ({w})",
            max(0.0, first_pub - pub_s * batch),
            note=f"first batch took {first_pub:.3f} s (DJN base and table)"),
        Row("setup", f"Key made by phe: generation, then first key-owner batch of {batch}",
            phe_keygen + first_phe_key,
            note=f"phe key generation {phe_keygen:.2f} s; first batch {first_phe_key:.3f} s "
                 "(tables built with uncertified bases)"),
        Row("setup", f"First decryption batch of {batch}: extra over steady state ({w})",
            max(0.0, first_dec - dec_s * batch),
            note=f"first batch took {first_dec:.3f} s"),
        Row("setup", "Key-owner tables in the calling process (single-value warm-up)",
            warm_owner_build,
            note=_warm_note(owner_prebuilt, owner_after, owner.nbytes, owner_small_after)),
        Row("setup", "DJN table in the calling process (single-value warm-up)",
            warm_djn_build,
            note=_warm_note(djn_prebuilt, djn_after, djn.nbytes)),
    ]

    if k < batch:
        res.notes.append(f"phe was timed on {k} of the {batch} values (`--phe-sample {k}`); "
                         "its per-value time is that sample's median per value.")
    res.notes.append(
        f"Data: {batch} values, floats (normal, scale 2^-32 in hecrypt) at even positions "
        "and ints at odd positions; additions pair values of the same type."
    )
    res.notes.append(
        f"Throughput rows: median of {reps} interleaved repeats (hecrypt then phe) after "
        "one warm-up batch; addition rows: median of at least 5 timed loops."
    )
    res.notes.append(
        f"Batch operations spread over {workers} worker processes; phe uses one core. "
        "On a shared machine, work from other processes slows the batch paths more than "
        "phe, so the ratios are only comparable between runs with a low load average."
    )
    res.notes.append(
        "Latency rows: median of single calls in this process; phe's column is its "
        "per-value time from the batch loop above (phe encrypts one value per call)."
    )
    return res


# --------------------------------------------------------------------- packing section
#: Features per record in the tensor and packing benchmarks.
BENCH_FEATURES = 100
#: Public bound on |x| the packed benchmark declares (standardized features).
BENCH_VALUE_BOUND = 32.0
#: Records phe is timed on in the packed scoring comparison (at most).
BENCH_PHE_RECORDS = 3
#: Budget of encrypted bytes per value for packed input.
BENCH_BYTES_PER_VALUE = 16.0


def _phe_json_bytes(x: Any) -> int:
    """Bytes of phe's usual JSON form of one number: decimal ciphertext and exponent."""
    import json

    return len(json.dumps({"v": str(x.ciphertext()), "e": x.exponent}).encode("utf-8"))


@register_section("packing", "Encrypted tensors and packed batch scoring: hecrypt vs phe")
def packing_section(ctx: BenchContext) -> SectionResult:
    """A 100-feature dot product, packed batch scoring, bytes on the wire, tensor addition.

    * ``EncryptedTensor @ w`` (one multi-exponentiation) vs phe's sum of
      ``enc_x[i] * w[i]`` for one record;
    * scoring ``--batch`` records x 100 features with ``PackedTensor @ w + b``
      (per record: client encryption, server scoring, client decryption) vs
      phe per record, phe timed on a few records only;
    * encrypted bytes per value of packed input vs phe's JSON;
    * element-wise ``EncryptedTensor + EncryptedTensor`` vs bare gmpy2.
    """
    import numpy as np

    from hecrypt import _gmp
    from hecrypt.paillier import SerialExecutor
    from hecrypt.paillier.packed import layout_for_key

    res = SectionResult("packing", SECTIONS["packing"].title)
    pk, sk = ctx.public_key, ctx.private_key
    ppk, psk = ctx.phe_public_key, ctx.phe_private_key
    reps = ctx.repeats
    feats = BENCH_FEATURES
    records = len(ctx.values)
    rng = np.random.default_rng(ctx.args.seed + 1)
    X = rng.normal(size=(records, feats))
    w = rng.normal(size=feats)
    bias = 0.25
    want = X @ w + bias
    serial = SerialExecutor()

    # -- one record: EncryptedTensor @ w vs phe ----------------------------------------
    x0 = X[0]
    t_x = sk.encrypt(x0, executor=serial)
    phe_records = max(1, min(BENCH_PHE_RECORDS, ctx.phe_sample, records))
    t0 = time.perf_counter()
    phe_x = [[ppk.encrypt(float(v)) for v in X[i]] for i in range(phe_records)]
    phe_enc_rec = (time.perf_counter() - t0) / phe_records
    w_list = [float(v) for v in w]

    def phe_score(enc: list[Any]) -> Any:
        return sum((e * wi for e, wi in zip(enc, w_list)), start=ppk.encrypt(0, r_value=1))

    t_tdot = [_loop_time(lambda: t_x @ w, 0.2) for _ in range(max(reps, 3))]
    t_pdot = []
    phe_out: Any = None
    for _ in range(reps):
        t0 = time.perf_counter()
        phe_out = phe_score(phe_x[0])
        t_pdot.append(time.perf_counter() - t0)
    tdot_s, pdot_s = statistics.median(t_tdot), statistics.median(t_pdot)
    tensor_score = float(sk.decrypt(t_x @ w))
    # error of the dot product: data and weights both at scale 32
    tol32 = float(np.sum(np.abs(x0)) + np.sum(np.abs(w)) + feats) * 2.0**-33
    res.checks.append(_compare("EncryptedTensor @ w == numpy", [tensor_score],
                               [float(x0 @ w)], tol32))
    res.checks.append(_compare("phe sum of enc_x[i] * w[i] == numpy",
                               [psk.decrypt(phe_out)], [float(x0 @ w)], 1e-6))
    res.rows.append(Row(
        "latency", f"Dot product, {feats} encrypted features x float weights "
        "(`EncryptedTensor @ w`)", tdot_s, "phe: sum of `enc_x[i] * w[i]`", pdot_s, "speedup",
        5.0, spread=(min(t_tdot), max(t_tdot)),
        note="one multi-exponentiation (Pippenger) over the features; weights at 2^-32",
    ))

    # -- packed scoring: client encrypt, server score, client decrypt -------------------
    def encrypt_packed() -> Any:
        return sk.encrypt_packed(X, value_bound=BENCH_VALUE_BOUND)

    t0 = time.perf_counter()
    packed = encrypt_packed()
    first_enc = time.perf_counter() - t0
    layout = packed.layout
    t_enc: list[float] = []
    t_score: list[float] = []
    t_score_serial: list[float] = []
    t_dec: list[float] = []
    t_phe_score: list[float] = []
    scores: Any = None
    got: Any = None
    for _ in range(reps):
        t0 = time.perf_counter()
        packed = encrypt_packed()
        t_enc.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        scores = packed @ w + bias
        t_score.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        packed.dot(w, executor=serial) + bias
        t_score_serial.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        got = sk.decrypt(scores)
        t_dec.append(time.perf_counter() - t0)
        for enc in phe_x:
            t0 = time.perf_counter()
            phe_score(enc) + bias
            t_phe_score.append(time.perf_counter() - t0)
    phe_scored = phe_score(phe_x[0]) + bias
    t0 = time.perf_counter()
    phe_dec_one = psk.decrypt(phe_scored)
    phe_dec_s = time.perf_counter() - t0
    enc_s = statistics.median(t_enc) / records
    score_s = statistics.median(t_score) / records
    score_serial_s = statistics.median(t_score_serial) / records
    dec_s = statistics.median(t_dec) / records
    phe_score_s = statistics.median(t_phe_score)

    # precision of the packed path: data and weights at 2^-20, bias at 2^-40
    e = 2.0**-21
    tol20 = float(np.max(np.abs(X).sum(axis=1)) * e + np.abs(w).sum() * e + feats * e * e
                  + 2.0**-41)
    res.checks.append(_compare("packed @ w + b == numpy (all records)",
                               [float(v) for v in got], [float(v) for v in want], tol20))
    res.checks.append(_compare("packed @ w + b == EncryptedTensor @ w + b (record 0)",
                               [float(got[0])], [tensor_score + bias], tol20 + tol32))
    res.checks.append(_compare("phe score + b == numpy", [psk.decrypt(phe_out) + bias,
                                                          phe_dec_one],
                               [float(want[0]), float(want[0])], 1e-6))

    shape = f"{records} records x {feats} features, {layout.slots} slots of {layout.slot_bits} bits"
    res.rows += [
        Row("throughput", f"Score 1 record, server (`PackedTensor @ w + b`; {shape})", score_s,
            "phe per record: sum of `enc_x[i] * w[i]` + b", phe_score_s, "speedup", 100.0,
            spread=(min(t_score) / records, max(t_score) / records),
            note=f"phe timed on {phe_records} of the {records} records; hecrypt on all of "
                 "them with the default executor (process pool)"),
        Row("throughput", "Score 1 record, server, in-process (`SerialExecutor`)",
            score_serial_s, "phe per record", phe_score_s, "speedup", None,
            spread=(min(t_score_serial) / records, max(t_score_serial) / records)),
        Row("throughput", "Encrypt 1 record, client (`PrivateKey.encrypt_packed`)", enc_s,
            f"phe: {feats} x `encrypt`", phe_enc_rec, "speedup", None,
            spread=(min(t_enc) / records, max(t_enc) / records),
            note=f"{records} records x {feats} values in {packed.ciphertexts.size} ciphertexts; "
                 "phe encrypts one value per ciphertext"),
        Row("throughput", "Decrypt 1 record's score, client (`PrivateKey.decrypt`)", dec_s,
            "phe `decrypt` (1 score)", phe_dec_s, "speedup", None,
            spread=(min(t_dec) / records, max(t_dec) / records),
            note=f"one decryption returns {layout.slots} scores"),
        Row("setup", f"First packed encryption of {records} records: extra over steady state",
            max(0.0, first_enc - enc_s * records),
            note=f"first took {first_enc:.3f} s (randomness tables in each process)"),
    ]

    # -- bytes on the wire ---------------------------------------------------------------
    data = packed.to_bytes()
    bpv = len(data) / X.size
    phe_vals = [c for rec in phe_x for c in rec]
    phe_bpv = sum(_phe_json_bytes(c) for c in phe_vals) / len(phe_vals)
    tensor_bpv = len(t_x.to_bytes()) / t_x.size
    from hecrypt.paillier.packed import PackedTensor

    back = PackedTensor.from_bytes(data, pk)
    res.checks.append(_compare("packed input survives to_bytes/from_bytes",
                               [float(v) for v in sk.decrypt(back)[0]],
                               [float(v) for v in X[0]], 2.0**-21))
    planned = layout_for_key(pk, value_bound=BENCH_VALUE_BOUND, features=feats)
    res.checks.append(Check("layout_for_key agrees with encrypt_packed", planned == layout,
                            f"{layout.slots} slots of {layout.slot_bits} bits"))
    res.rows += [
        Row("size", "Packed input (`PackedTensor.to_bytes`), per value", bpv,
            "budget", BENCH_BYTES_PER_VALUE, "overhead", 1.0, unit="B",
            note=f"{len(data):,} bytes for {X.size:,} values; {layout.slots} values per "
                 f"{2 * ((pk.n_bits + 7) // 8)}-byte ciphertext"),
        Row("size", "Packed input (`PackedTensor.to_bytes`), per value", bpv,
            "phe JSON (decimal ciphertext + exponent)", phe_bpv, "speedup", None, unit="B",
            note=f"phe's form measured on its {len(phe_vals)} encrypted values"),
        Row("size", "Unpacked tensor (`EncryptedTensor.to_bytes`), per value", tensor_bpv,
            "phe JSON (decimal ciphertext + exponent)", phe_bpv, "speedup", None, unit="B"),
    ]

    # -- tensor + tensor vs raw gmpy2 -----------------------------------------------------
    a_vals = X[:, 0] if records >= 2 else X[0]
    b_vals = X[:, 1] if records >= 2 else X[0][::-1]
    ta = sk.encrypt(np.ascontiguousarray(a_vals))
    tb = sk.encrypt(np.ascontiguousarray(b_vals))
    nsq = _gmp.mpz(pk.nsquare)
    ra = [_gmp.mpz(c) for c in ta.ciphertexts.tolist()]
    rb = [_gmp.mpz(c) for c in tb.ciphertexts.tolist()]

    def add_raw() -> list[Any]:
        return [p * q % nsq for p, q in zip(ra, rb)]

    t_add: list[float] = []
    t_raw: list[float] = []
    for _ in range(max(reps, 5)):
        t_add.append(_loop_time(lambda: ta + tb) / ta.size)
        t_raw.append(_loop_time(add_raw) / ta.size)
    summed = ta + tb
    same = [int(c) for c in summed.ciphertexts.tolist()] == [int(c) for c in add_raw()]
    res.checks.append(Check("tensor + tensor == raw product mod n^2", same,
                            f"{ta.size} elements" if same else "ciphertexts differ"))
    res.checks.append(_compare("tensor + tensor decrypts to the sums",
                               [float(v) for v in sk.decrypt(summed)],
                               [float(v) for v in a_vals + b_vals], 2.0**-32))
    res.rows.append(Row(
        "throughput", f"Tensor + tensor, per element (`EncryptedTensor.__add__`, {ta.size} "
        "elements)", statistics.median(t_add), "raw gmpy2 `a * b % n²`",
        statistics.median(t_raw), "overhead", 1.3, spread=(min(t_add), max(t_add)),
        note="ratio is hecrypt's time over bare multiplications mod n² on a list of mpz",
    ))

    res.notes += [
        f"Data: {records} records x {feats} features drawn from N(0, 1), declared public bound "
        f"|x| <= {BENCH_VALUE_BOUND:g}; weights from N(0, 1) (float), bias {bias}. Packed "
        "data and weights at 2^-20, the unpacked tensor at 2^-32.",
        f"phe was timed on {phe_records} record(s) (each {feats} encryptions and a "
        f"{feats}-term sum); its per-record time is the median over those records and "
        f"{reps} repeats. Timing phe on all {records} records would take "
        f"about {phe_enc_rec * records / 60:.0f} min of encryption alone.",
        f"Throughput rows: median of {reps} repeats after one warm-up run; packed per-record "
        "times are the time for all records divided by their number.",
    ]
    return res


SERVICE_FEATURES = (30, 100)
#: Records phe is timed on per configuration in the service section.
SERVICE_PHE_RECORDS = 2


@register_section("service", "Private scoring end to end: in process and over HTTP, vs phe")
def service_section(ctx: BenchContext) -> SectionResult:
    """Records per second scored end to end (client encrypt + server score + client decrypt).

    For 30 and 100 features, batches of 1 record and of ``--batch`` records, a
    linear model scored by :class:`hecrypt.ScoringClient` in process and
    through ``hecrypt serve`` on loopback (a separate process, binary wire
    form), next to phe doing the same work per record (encrypt each feature,
    weighted sum plus bias, decrypt) on a few records.
    """
    import tempfile

    import numpy as np

    import hecrypt
    from hecrypt import models

    res = SectionResult("service", SECTIONS["service"].title)
    pk, sk = ctx.public_key, ctx.private_key
    ppk, psk = ctx.phe_public_key, ctx.phe_private_key
    reps = ctx.repeats
    batch = len(ctx.values)
    rng = np.random.default_rng(ctx.args.seed + 2)
    tmp = Path(tempfile.mkdtemp(prefix="hecrypt-bench-"))
    model_objs = {}
    for feats in SERVICE_FEATURES:
        model = models.from_arrays(rng.normal(size=feats), 0.5)
        model.save(tmp / f"linear{feats}.json")
        model_objs[feats] = model
    from hecrypt.service.process import start_service, stop_service

    proc, url = start_service(
        [tmp / f"linear{f}.json" for f in SERVICE_FEATURES],
        options=["--insecure-small-keys"] if ctx.args.insecure_small_keys else [],
    )
    try:
        for feats in SERVICE_FEATURES:
            model = model_objs[feats]
            coef = np.asarray(model.coef, dtype=np.float64).ravel()
            X = rng.normal(size=(batch, feats))
            want = X @ coef + 0.5
            # phe: the same work per record
            phe_n = max(1, min(SERVICE_PHE_RECORDS, ctx.phe_sample))
            w_list = [float(v) for v in coef]
            t0 = time.perf_counter()
            phe_got = []
            for i in range(phe_n):
                enc = [ppk.encrypt(float(v)) for v in X[i]]
                acc = sum((e * wi for e, wi in zip(enc, w_list)), start=ppk.encrypt(0.5))
                phe_got.append(psk.decrypt(acc))
            phe_per_record = (time.perf_counter() - t0) / phe_n
            res.checks.append(_compare(f"phe scores == numpy ({feats} features)", phe_got,
                                       [float(v) for v in want[:phe_n]], 1e-6))
            clients = {
                "in process": hecrypt.ScoringClient(model, pk, sk),
                "HTTP loopback": hecrypt.ScoringClient(f"{url}/models/linear{feats}", pk, sk),
            }
            for where, client in clients.items():
                for n in (1, batch):
                    Xn = X[:n]
                    # warm-up: connections, and for single records enough draws that the
                    # key owner's fixed-base tables exist (steady state, see the notes)
                    for _ in range(1 if n > 1 else -(-300 // feats)):
                        client.predict(Xn)
                    times = []
                    got: Any = None
                    for _ in range(reps):
                        t0 = time.perf_counter()
                        got = client.predict(Xn)
                        times.append((time.perf_counter() - t0) / n)
                    res.checks.append(_compare(
                        f"{where}, {feats} features, batch {n} == numpy",
                        [float(v) for v in np.ravel(got)], [float(v) for v in want[:n]], 1e-6))
                    per = statistics.median(times)
                    report = client.last_report
                    path = report.path if report is not None else "?"
                    res.rows.append(Row(
                        "throughput", f"{feats} features, batch {n:,}, {where} ({path})", per,
                        "phe, same work per record", phe_per_record, "speedup", None,
                        spread=(min(times), max(times)),
                        note=f"{1 / per:,.0f} records/s end to end vs phe "
                             f"{1 / phe_per_record:.2f} records/s",
                    ))
    finally:
        stop_service(proc)
    res.notes += [
        "Time per record end to end: client encryption, request, server scoring, "
        "response, client decryption; the model is linear with float weights and a bias. "
        "Batches of several records are packed; one record is sent as an encrypted tensor.",
        "Steady state: before timing single records the client scores enough of them that "
        "its key's fixed-base tables exist (small ones after 32 draws, the full ones after "
        "256, ~1.2 s once per process and key); before that, one record costs ~3.2 ms per "
        "feature to encrypt.",
        "The HTTP server is a separate `hecrypt serve` process on 127.0.0.1 (binary wire "
        f"form). phe does the same work per record, timed on {SERVICE_PHE_RECORDS} records "
        "per configuration.",
    ]
    return res


# --------------------------------------------------------------------- machine, output
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _busy_warning(load: str) -> str:
    """A warning when other work held a core while the benchmark started."""
    try:
        one_minute = float(load.split("/")[0])
    except ValueError:
        return ""
    if one_minute <= 0.5 * _usable_cores():
        return ""
    return (" — **busy machine**: other work held CPU time, so the batch paths "
            "(which need every core) are understated relative to phe (one core)")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, str]:
    """CPU, cores, OS and the versions that matter for these numbers."""
    from hecrypt import _gmp

    usable = _usable_cores()
    gmp = getattr(getattr(_gmp, "gmpy2", None), "mp_version", lambda: "unknown")()
    try:
        load = "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())
    except (AttributeError, OSError):  # pragma: no cover - not on Unix
        load = "unknown"
    return {
        "CPU": _cpu_model(),
        "Cores": f"{usable} usable ({os.cpu_count()} online)",
        "OS": platform.platform(),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "gmpy2 / GMP": f"{_version('gmpy2')} / {gmp}",
        "phe": _version("phe"),
        "numpy": _version("numpy"),
        "hecrypt": _version("hecrypt"),
        "Load average (1/5/15 min)": load,
    }


def _fmt_time(s: float | None) -> str:
    if s is None:
        return "—"
    if s == 0:
        return "0"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def _fmt_amount(row: Row, v: float | None) -> str:
    """A time, or a size for rows in bytes."""
    if row.unit == "B" and v is not None:
        return f"{v:.3g} B" if v < 1000 else f"{v:,.0f} B"
    return _fmt_time(v)


def _fmt_ratio(row: Row) -> str:
    r = row.ratio
    if r is None:
        return "—"
    if row.unit == "B":
        return f"{r:.1f}x smaller" if row.kind == "speedup" else f"{r:.2f}x the size"
    return f"{r:.1f}x faster" if row.kind == "speedup" else f"{r:.2f}x the time"


def _fmt_target(row: Row) -> str:
    if row.target is None:
        return "—"
    return f"≥ {row.target:g}x" if row.kind == "speedup" else f"≤ {row.target:g}x"


def _fmt_result(row: Row) -> str:
    p = row.passed
    return "—" if p is None else ("**PASS**" if p else "**MISS**")


def format_markdown(result: SectionResult, *, heading_level: int = 2) -> str:
    """The tables, checks and notes of one section as markdown."""
    h = "#" * heading_level
    lines = [f"{h} {result.title}", ""]
    for group, caption in GROUPS.items():
        rows = [r for r in result.rows if r.group == group]
        if not rows:
            continue
        lines += [f"**{caption}**", ""]
        if group == "setup":
            lines += ["| Step | Time | Note |", "|---|---:|---|"]
            lines += [f"| {r.operation} | {_fmt_amount(r, r.seconds)} | {r.note} |"
                      for r in rows]
        else:
            what = "size" if group == "size" else "time"
            lines += [
                f"| Operation | hecrypt | (min-max) | Baseline | Baseline {what} | Ratio | Target "
                "| Result |",
                "|---|---:|---:|---|---:|---:|---:|:---:|",
            ]
            for r in rows:
                rng = (f"{_fmt_amount(r, r.spread[0])} - {_fmt_amount(r, r.spread[1])}"
                       if r.spread else "—")
                lines.append(
                    f"| {r.operation} | {_fmt_amount(r, r.seconds)} | {rng} | "
                    f"{r.baseline or '—'} | {_fmt_amount(r, r.baseline_seconds)} | "
                    f"{_fmt_ratio(r)} | {_fmt_target(r)} | "
                    f"{_fmt_result(r)} |"
                )
            notes = [r for r in rows if r.note]
            if notes:
                lines.append("")
                lines += [f"- {r.operation} vs {r.baseline or '—'}: {r.note}" for r in notes]
        lines.append("")
    targets = [r for r in result.rows if r.passed is not None]
    if targets:
        met = sum(1 for r in targets if r.passed)
        lines.append(f"**Targets: {met} of {len(targets)} met.**")
        for r in targets:
            lines.append(f"- {'PASS' if r.passed else 'MISS'}: {r.operation} vs {r.baseline}: "
                         f"{_fmt_ratio(r)} (target {_fmt_target(r)})")
        lines.append("")
    if result.checks:
        ok = sum(1 for c in result.checks if c.ok)
        lines.append(f"**Correctness checks: {ok} of {len(result.checks)} passed.**")
        lines += [f"- {'ok' if c.ok else 'FAILED'}: {c.name} ({c.detail})" for c in result.checks]
        lines.append("")
    if result.notes:
        lines += [f"- {note}" for note in result.notes]
        lines.append("")
    return "\n".join(lines)


def _command_line() -> str:
    argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
    argv = list(argv)
    if argv and os.path.basename(argv[0]).startswith("python"):
        argv[0] = "python"
    return shlex.join(argv)


_DOC_HEADER = """# Performance

Measured by `hecrypt bench` (also `python -m hecrypt.bench`), which times
hecrypt and phe (python-paillier) on the same key in the same run and checks
every result it times. Each section below is rewritten in place when the
benchmark runs with `--write docs/performance.md`; the command, machine and
date of each run are recorded with its numbers. Steady-state throughput,
single-value latency and one-off setup are reported in separate tables.
"""


def update_document(path: str | Path, results: Sequence[SectionResult], *,
                    command: str, machine: dict[str, str], date: str) -> None:
    """Write or update ``path``: one marked block per section, others left alone."""
    p = Path(path)
    text = p.read_text(encoding="utf-8") if p.exists() else _DOC_HEADER
    for result in results:
        begin = f"<!-- bench:{result.name}:begin -->"
        end = f"<!-- bench:{result.name}:end -->"
        meta = [
            f"Run on {date} with:",
            "",
            "```",
            command,
            "```",
            "",
            "| Machine | |",
            "|---|---|",
            *[f"| {k} | {v} |" for k, v in machine.items()],
            "",
        ]
        body = format_markdown(result).rstrip("\n").split("\n")
        block = "\n".join([begin, *body[:2], *meta, *body[2:], end])
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        found = pattern.search(text)
        if found is not None:
            text = text[: found.start()] + block + text[found.end() :]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


# --------------------------------------------------------------------- entry points
def _positive(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the benchmark's options to ``parser`` (for the ``hecrypt bench`` subcommand)."""
    parser.add_argument("--bits", type=_positive, default=2048,
                        help="key size in bits (default 2048)")
    parser.add_argument("--batch", type=_positive, default=None,
                        help=f"values per batch (default {FULL_BATCH}; {QUICK_BATCH} with --quick)")
    parser.add_argument("--repeats", type=_positive, default=None,
                        help=f"timed repetitions; the median is reported (default "
                             f"{FULL_REPEATS}; 1 with --quick)")
    parser.add_argument("--phe-sample", type=_positive, default=None, metavar="K",
                        help="time phe on the first K values only (default: the whole batch; "
                             f"{QUICK_PHE_SAMPLE} with --quick); phe's per-value time is then "
                             "measured on K values")
    parser.add_argument("--quick", action="store_true",
                        help="a short run (core section, small batch, one repeat) that first "
                             "warms up the key's fixed-base tables, so the small batch is timed "
                             "on the same path as a large one; says so in its report")
    parser.add_argument("--seed", type=int, default=2024,
                        help="seed of the plaintext data (keys and randomness always come "
                             "from the OS CSPRNG)")
    parser.add_argument("--sections", default=None,
                        help=f"comma-separated sections to run (default: all; core with "
                             f"--quick; available: {', '.join(SECTIONS)})")
    parser.add_argument("--write", metavar="PATH", default=None,
                        help="write or update a markdown report, e.g. docs/performance.md")
    parser.add_argument("--insecure-small-keys", action="store_true",
                        help="allow keys below 2048 bits (for tests only)")


def _data(batch: int, seed: int) -> list[int | float]:
    """Floats (normal) at even positions and ints at odd positions, as Python scalars."""
    import numpy as np

    rng = np.random.default_rng(seed)
    floats = rng.normal(size=batch).tolist()
    ints = rng.integers(-(10**6), 10**6, size=batch).tolist()
    return [floats[i] if i % 2 == 0 else int(ints[i]) for i in range(batch)]


#: Defaults of a full run and of ``--quick``.
FULL_BATCH = 1000
FULL_REPEATS = 3
QUICK_BATCH = 300
QUICK_PHE_SAMPLE = 50


def _resolve_defaults(args: argparse.Namespace) -> None:
    """Fill the options left unset with the defaults of a full or a ``--quick`` run."""
    quick = bool(getattr(args, "quick", False))
    if getattr(args, "batch", None) is None:
        args.batch = QUICK_BATCH if quick else FULL_BATCH
    if getattr(args, "repeats", None) is None:
        args.repeats = 1 if quick else FULL_REPEATS
    if quick and getattr(args, "phe_sample", None) is None:
        args.phe_sample = min(QUICK_PHE_SAMPLE, args.batch)
    if getattr(args, "sections", None) is None:
        args.sections = "core" if quick else (",".join(SECTIONS) or "core")
    if quick and getattr(args, "write", None):
        raise ValueError("--quick results are indicative: they are not written to a report "
                         "(drop --write, or run without --quick)")


def _warm_up(ctx: BenchContext) -> tuple[int, float]:
    """Build the key's fixed-base tables in this process and in the pool before timing.

    Tables are built once a key has drawn a number of values (see
    :mod:`hecrypt.paillier.randomness`); a batch smaller than that would
    otherwise be timed on the direct path and compared with a target met by
    large batches. Returns the values encrypted and the seconds spent.
    """
    from hecrypt.paillier import parallel, randomness

    t0 = time.perf_counter()
    owner_after = int(getattr(randomness, "OWNER_TABLES_AFTER", 256)) + 1
    djn_after = int(getattr(randomness, "TABLES_AFTER", 32)) + 1
    values = [float(i % 17) - 8.0 for i in range(owner_after)]
    serial = parallel.SerialExecutor()
    ctx.private_key.encrypt_batch(values, executor=serial)
    ctx.public_key.encrypt_batch(values[:djn_after], executor=serial)
    count = owner_after + djn_after
    workers = _usable_cores()
    if len(ctx.values) >= parallel.MIN_PARALLEL_ITEMS and workers >= 2:
        # every pool worker draws past the thresholds too (chunks are spread evenly)
        wide = values * (2 * workers)
        ctx.private_key.encrypt_batch(wide)
        ctx.public_key.encrypt_batch(wide[: max(djn_after * 4 * workers,
                                                parallel.MIN_PARALLEL_ITEMS)])
        count += len(wide) + max(djn_after * 4 * workers, parallel.MIN_PARALLEL_ITEMS)
    return count, time.perf_counter() - t0


def run_benchmark(args: argparse.Namespace) -> list[SectionResult]:
    """Generate the key pair, run the selected sections and return their results.

    Progress goes to stderr, one line when a section starts and one when it
    ends. With ``--quick`` the key's tables are warmed up first and the first
    section's notes say what was measured.

    Raises:
        ValueError: an unknown section name, or ``--quick`` with ``--write``.
        ImportError: phe is not installed.
    """
    _resolve_defaults(args)
    names = [s.strip() for s in str(args.sections).split(",") if s.strip()]
    unknown = [s for s in names if s not in SECTIONS]
    if unknown or not names:
        raise ValueError(f"unknown benchmark section(s) {unknown or names}; "
                         f"available: {', '.join(SECTIONS)}")
    try:
        import phe.paillier as pp
    except ImportError as exc:
        raise ImportError("the benchmark compares with phe: pip install 'hecrypt[phe]'") from exc

    import hecrypt

    t0 = time.perf_counter()
    pk, sk = hecrypt.generate_keypair(args.bits, insecure_small_keys=args.insecure_small_keys)
    keygen = time.perf_counter() - t0
    ppk = pp.PaillierPublicKey(pk.n)
    psk = pp.PaillierPrivateKey(ppk, sk.p, sk.q)
    ctx = BenchContext(args, pk, sk, ppk, psk, _data(args.batch, args.seed), keygen)
    err = sys.stderr
    quick_note = ""
    if getattr(args, "quick", False):
        err.write("hecrypt bench: quick mode: warming up the key's tables...\n")
        err.flush()
        count, seconds = _warm_up(ctx)
        quick_note = (
            f"Quick mode (`--quick`): batch of {args.batch}, {args.repeats} repeat(s), phe "
            f"timed on {ctx.phe_sample} values. Before timing, a warm-up of {count} "
            f"encryptions ({seconds:.1f} s) built the key's fixed-base tables in this "
            "process and its pool, so the figures are steady-state costs per value on the "
            "table path (the regime of large batches), not the cost of a first small batch; "
            "first-batch rows include no table build. Targets are indicative: the figures "
            "of docs/performance.md come from a full run."
        )
    results = []
    for i, name in enumerate(names, 1):
        err.write(f"hecrypt bench: [{i}/{len(names)}] {name}: {SECTIONS[name].title}...\n")
        err.flush()
        t0 = time.perf_counter()
        result = SECTIONS[name].func(ctx)
        if quick_note and i == 1:
            result.notes.insert(0, quick_note)
        results.append(result)
        status = "ok" if result.ok else "CHECK FAILED"
        err.write(f"hecrypt bench: [{i}/{len(names)}] {name} done in "
                  f"{time.perf_counter() - t0:.1f} s ({status})\n")
        err.flush()
    return results


def run(args: argparse.Namespace) -> int:
    """Run the benchmark from parsed options; print the tables; optionally write them.

    Returns:
        0 when every correctness check passed (whether or not targets were
        met), 1 when a check failed, 2 on a usage error.
    """
    out = sys.stdout
    before = machine_info()["Load average (1/5/15 min)"]
    try:
        results = run_benchmark(args)
    except (ValueError, ImportError) as exc:
        sys.stderr.write(f"hecrypt bench: {exc}\n")
        return 2
    machine = machine_info()
    machine["Load average (1/5/15 min)"] = (
        f"{before} before, {machine['Load average (1/5/15 min)']} after"
        + _busy_warning(before)
    )
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out.write(f"hecrypt bench: {args.bits}-bit key, batch {args.batch}, "
              f"{args.repeats} repeats, {date}\n")
    out.write(" | ".join(f"{k}: {v}" for k, v in machine.items()) + "\n\n")
    for result in results:
        out.write(format_markdown(result) + "\n")
    if args.write:
        update_document(args.write, results, command=_command_line(), machine=machine,
                        date=date)
        out.write(f"wrote {args.write}\n")
    ok = all(r.ok for r in results)
    if not ok:
        out.write("CORRECTNESS CHECK FAILED: the timings above are not valid\n")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """``python -m hecrypt.bench`` entry point; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="hecrypt bench",
        description="Benchmark hecrypt against phe (python-paillier) on the same key.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
