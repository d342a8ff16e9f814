"""The ``core`` benchmark section: Paillier operations, hecrypt vs phe.

Encryption (key owner and public key), decryption, addition, single-value
latency and one-off setup (pool start, table builds, key generation).

Part of :mod:`hecrypt.bench`, which re-exports its names.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hecrypt.bench.measure import (
    _compare,
    _loop_time,
    _per,
    _per_call_median,
    _randomness_check,
    _residues,
    _timed,
    executor_cores,
)
from hecrypt.bench.report import _usable_cores
from hecrypt.bench.results import (
    SECTIONS,
    BenchContext,
    Check,
    Row,
    SectionResult,
    register_section,
)


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


@dataclass
class _SingleSetup:
    """What the calling process measured before any batch: cold single values, tables."""

    checks: list[Check]
    cold_owner: float | None
    cold_pub: float | None
    owner_prebuilt: bool
    djn_prebuilt: bool
    owner_build: float
    djn_build: float
    owner_after: int
    owner_small_after: int
    djn_after: int


def _single_value_setup(ctx: BenchContext) -> _SingleSetup:
    """Single encryptions before this process has tables, then the warm-up that builds them.

    Runs before the batches so that the one-core batches (in this process)
    find the tables built, as a long-lived client would, and the first
    single values are still timed on the direct path.
    """
    from hecrypt.paillier import randomness

    sk, pk, values = ctx.private_key, ctx.public_key, ctx.values
    tol = 2.0**-32
    owner = randomness.owner_sampler(sk.p, sk.q)
    djn = randomness.djn_sampler(pk.n)
    owner_after = int(getattr(randomness, "OWNER_TABLES_AFTER", 0))
    owner_small_after = int(getattr(randomness, "OWNER_SMALL_TABLES_AFTER", owner_after))
    djn_after = int(getattr(randomness, "TABLES_AFTER", 0))
    checks: list[Check] = []
    cold_owner: float | None = None
    cold_pub: float | None = None
    cold_n = min(max(1, min(len(values), 50)), 16)
    if owner.nbytes == 0 and owner_small_after > cold_n:
        cold_owner, outs = _per_call_median(sk.encrypt, values[:cold_n])
        checks.append(_compare("single encrypt (key owner, no tables)",
                               [sk.decrypt(x) for x in outs], values[:cold_n], tol))
    if djn.nbytes == 0 and djn_after > cold_n:
        cold_pub, outs = _per_call_median(pk.encrypt, values[:cold_n])
        checks.append(_compare("single encrypt (public key, no table)",
                               [sk.decrypt(x) for x in outs], values[:cold_n], tol))

    # Warm-up until this process has built its tables (what a long-lived client sees).
    owner_prebuilt, djn_prebuilt = owner.table_window >= owner.window, djn.nbytes > 0
    t0 = time.perf_counter()
    for _ in range(owner_after + 2):
        if owner.table_window >= owner.window:
            break
        sk.encrypt(0)
    owner_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(djn_after + 2):
        if djn.nbytes:
            break
        pk.encrypt(0)
    djn_build = time.perf_counter() - t0
    return _SingleSetup(checks, cold_owner, cold_pub, owner_prebuilt, djn_prebuilt,
                        owner_build, djn_build, owner_after, owner_small_after, djn_after)


def _djn_note(exp_bits: int) -> str:
    return (f"randomness hs^alpha mod n² with alpha of {exp_bits} bits (Damgård-Jurik-Nielsen; "
            "hecrypt/paillier/randomness.py): secure under DCR *and* the assumption that "
            "such short-exponent powers are indistinguishable from uniform n-th residues; "
            "phe draws r^n with r uniform in Z_n^* (DCR only). The two sides of this row "
            "do not rest on the same assumption")


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

    # -- the calling process: single values before any table, then its tables --------
    single = _single_value_setup(ctx)

    # -- first batches (setup), then warm-up ---------------------------------------
    from hecrypt.paillier import PrivateKey, SerialExecutor, rerandomize_for_key_holder

    serial = SerialExecutor()
    machine = parallel.resolve_executor(None, batch)  # what a user's call gets
    cores = executor_cores(machine)
    first_owner, enc_owner = _timed(lambda: sk.encrypt_batch(values, executor=machine))
    first_pub, enc_pub = _timed(lambda: pk.encrypt_batch(values, executor=machine))
    first_dec, dec = _timed(lambda: sk.decrypt_batch(enc_owner, executor=machine))
    res.checks.append(_compare("first key-owner batch -> first decryption batch", dec, values,
                               tol))
    sk.encrypt_batch(values, executor=machine)
    pk.encrypt_batch(values, executor=machine)
    # one core: this process (its tables exist after the single-value warm-up above)
    sk.encrypt_batch(values, executor=serial)
    pk.encrypt_batch(values, executor=serial)

    # -- a key made by phe (p - 1 not factorable: uncertified table bases) ----------
    import phe.paillier as pp

    t0 = time.perf_counter()
    _, phe_made_sk = pp.generate_paillier_keypair(n_length=pk.n_bits)
    sk_phe = PrivateKey.from_phe(
        phe_made_sk, insecure_small_keys=bool(getattr(ctx.args, "insecure_small_keys", False))
    )
    phe_keygen = time.perf_counter() - t0
    first_phe_key, _ = _timed(lambda: sk_phe.encrypt_batch(values, executor=machine))
    sk_phe.encrypt_batch(values, executor=machine)
    warm_phe_key_serial, _ = _timed(lambda: sk_phe.encrypt_batch(values, executor=serial))

    # -- steady state: all cores, one core and phe, interleaved ----------------------
    t: dict[str, list[float]] = {name: [] for name in (
        "owner", "owner1", "phe_enc", "phe_key", "phe_key1", "pub", "pub1", "dec", "dec1",
        "phe_dec")}
    out: dict[str, Any] = {}
    all_owner: list[Any] = []
    all_pub: list[Any] = []

    def step(name: str, fn: Callable[[], Any]) -> Any:
        seconds, out[name] = _timed(fn)
        t[name].append(seconds)
        return out[name]

    for _ in range(reps):
        all_owner += step("owner", lambda: sk.encrypt_batch(values, executor=machine))
        all_owner += step("owner1", lambda: sk.encrypt_batch(values, executor=serial))
        step("phe_enc", lambda: [ppk.encrypt(v) for v in sample])
        step("phe_key", lambda: sk_phe.encrypt_batch(values, executor=machine))
        step("phe_key1", lambda: sk_phe.encrypt_batch(values, executor=serial))
        all_pub += step("pub", lambda: pk.encrypt_batch(values, executor=machine))
        all_pub += step("pub1", lambda: pk.encrypt_batch(values, executor=serial))
        step("dec", lambda: sk.decrypt_batch(out["owner"], executor=machine))
        step("dec1", lambda: sk.decrypt_batch(out["owner1"], executor=serial))
        step("phe_dec", lambda: [psk.decrypt(c) for c in out["phe_enc"]])

    enc_owner, enc_pub, phe_enc = out["owner"], out["pub"], out["phe_enc"]
    per = {name: _per(ts, k if name in ("phe_enc", "phe_dec") else batch)
           for name, ts in t.items()}
    med = {name: statistics.median(ts) for name, ts in per.items()}
    owner_s, pub_s, dec_s = med["owner"], med["pub"], med["dec"]
    phe_enc_s, phe_dec_s = med["phe_enc"], med["phe_dec"]

    # -- correctness of what was timed ---------------------------------------------
    res.checks.append(_compare("key-owner batch encrypt -> decrypt_batch", out["dec"],
                               values, tol))
    res.checks.append(_compare("key-owner batch encrypt, one core -> decrypt_batch, one core",
                               out["dec1"], values, tol))
    res.checks.append(_compare("public-key batch encrypt -> decrypt_batch",
                               sk.decrypt_batch(enc_pub), values, tol))
    res.checks.append(_compare("public-key batch encrypt, one core -> decrypt_batch",
                               sk.decrypt_batch(out["pub1"]), values, tol))
    res.checks.append(_compare("phe encrypt -> phe decrypt", out["phe_dec"], sample, 1e-9))
    scales = [x.scale for x in enc_owner]
    reps_values = values * (2 * reps)
    reps_scales = scales * (2 * reps)
    res.checks.append(_randomness_check("key-owner randomness (all repeats, both executors)",
                                        ctx, all_owner, _residues(ctx, reps_values, reps_scales)))
    res.checks.append(_randomness_check("public-key randomness (all repeats, both executors)",
                                        ctx, all_pub, _residues(ctx, reps_values, reps_scales)))
    res.checks.append(_compare("key-owner batch encrypt on the phe-made key -> decrypt_batch",
                               sk_phe.decrypt_batch(out["phe_key"]), values, tol))
    res.checks.append(_compare("the same on one core -> decrypt_batch",
                               sk_phe.decrypt_batch(out["phe_key1"]), values, tol))
    # phe decrypts hecrypt's ciphertexts: the two implementations agree on the key.

    # phe's exponent is base 16: hecrypt's scale 2^-s is phe's exponent -s/4.
    cross_idx = [i for i in range(min(k, 64)) if enc_pub[i].scale % 4 == 0][:16]
    cross = [psk.decrypt(pp.EncryptedNumber(ppk, enc_pub[i].ciphertext, -enc_pub[i].scale // 4))
             for i in cross_idx]
    res.checks.append(_compare("phe decrypts hecrypt ciphertexts", cross,
                               [values[i] for i in cross_idx], tol))

    def batch_row(operation: str, name: str, baseline: str, base: str, target: float,
                  note: str = "") -> Row:
        return Row("throughput", operation, med[name], baseline, med[base], "speedup", target,
                   note=note, cores=cores, one_core_seconds=med[name + "1"],
                   samples=tuple(per[name]), one_core_samples=tuple(per[name + "1"]),
                   baseline_samples=tuple(per[base]))

    djn_bits = randomness.djn_sampler(pk.n).exp_bits
    res.rows += [
        batch_row("Encrypt, key owner (`PrivateKey.encrypt_batch`)", "owner", "phe `encrypt`",
                  "phe_enc", 50.0,
                  "phe has no key-owner path: its public-key encryption is the baseline"),
        batch_row("Encrypt, key owner, key made by phe (`PrivateKey.from_phe`)", "phe_key",
                  "phe `encrypt`", "phe_enc", 40.0,
                  "p - 1 not factorable: tables with uncertified bases (assumption in "
                  "docs/security.md); interleaved with the rows above"),
        batch_row("Encrypt, public key (`PublicKey.encrypt_batch`), DJN randomness",
                  "pub", "phe `encrypt`, full r^n", "phe_enc", 20.0, _djn_note(djn_bits)),
        batch_row("Decrypt (`PrivateKey.decrypt_batch`)", "dec", "phe `decrypt`", "phe_dec",
                  1.8),
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
        t_add.append(_loop_time(add_hecrypt, ctx.loop_seconds) / len(pairs))
        t_raw.append(_loop_time(add_raw, ctx.loop_seconds) / len(raw))
        t_padd.append(_loop_time(add_phe, ctx.loop_seconds / 2) / len(phe_pairs))
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
            samples=tuple(t_add), baseline_samples=tuple(t_raw)),
        Row("throughput", "Ciphertext + ciphertext (`EncryptedNumber.__add__`)", add_s,
            "phe `+`", padd_s, "speedup", None, samples=tuple(t_add),
            baseline_samples=tuple(t_padd),
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
                        "phe `encrypt`", phe_enc_s, "speedup", samples=tuple(t_cp),
                        baseline_samples=tuple(per["phe_enc"]),
                        note="r^n for r uniform in Z_n^*: one full exponentiation, no tables; "
                             "packing shares it among the records of a ciphertext"))

    # -- single values (the calling process built its tables before the batches) ----
    owner = randomness.owner_sampler(sk.p, sk.q)
    djn = randomness.djn_sampler(pk.n)
    n_single = max(1, min(batch, 50))
    res.checks += single.checks
    owner_after, owner_small_after = single.owner_after, single.owner_small_after
    djn_after = single.djn_after
    cold_owner, cold_pub = single.cold_owner, single.cold_pub

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
                            note=f"plain powmod, used for the first {djn_after} draws; "
                                 "DJN randomness as in the batch row"))
    res.rows.append(Row("latency", f"Encrypt 1 value, public key ({djn_state}), DJN randomness",
                        warm_pub, "phe `encrypt`, full r^n", phe_enc_s, "speedup",
                        note="randomness hs^alpha, as in the public-key batch row: a stronger "
                             "assumption than phe's r^n"))
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
            single.owner_build,
            note=_warm_note(single.owner_prebuilt, owner_after, owner.nbytes,
                            owner_small_after)),
        Row("setup", "DJN table in the calling process (single-value warm-up)",
            single.djn_build,
            note=_warm_note(single.djn_prebuilt, djn_after, djn.nbytes)),
        Row("setup", f"First key-owner batch of {batch} on one core, key made by phe",
            warm_phe_key_serial,
            note="builds that key's tables in the calling process (not timed elsewhere)"),
    ]

    if k < batch:
        res.notes.append(f"phe was timed on {k} of the {batch} values (`--phe-sample {k}`); "
                         "its per-value time is that sample's median per value.")
    res.notes.append(
        f"Data: {batch} values, floats (normal, scale 2^-32 in hecrypt) at even positions "
        "and ints at odd positions; additions pair values of the same type."
    )
    res.notes.append(
        f"Throughput rows: median of {reps} interleaved repeats (hecrypt on all cores, "
        "hecrypt on one core, then phe, for each operation in turn) after one warm-up "
        "batch; addition rows: median of at least 5 timed loops."
    )
    where = f"a process pool of {workers} workers" if cores > 1 else "in-process"
    res.notes.append(
        f"Cores: batches of {batch} use the default executor, which here runs on {cores} "
        f"core(s) ({where}); phe uses one core. The *per core* ratio compares hecrypt on one core "
        "(`SerialExecutor`, in this process) with phe on one; the *machine* ratio "
        "compares hecrypt on every usable core with phe as its users run it (one core), "
        "that is, the throughput of the whole machine. The targets are defined on the "
        "machine ratio. On a shared machine, work from other processes slows the "
        "all-core paths more than phe, so the machine ratios are only comparable "
        "between runs with a low load average; the per-core ratios much less so."
    )
    res.notes.append(
        "Spread next to PASS/MISS: the lowest and highest ratio over the repeats, each "
        "repeat of hecrypt paired with the phe repeat interleaved with it (when the two "
        "sides were timed a different number of times, fastest against slowest). "
        "\"Within noise\": some repeats meet the target and some do not."
    )
    res.notes.append(
        "Latency rows: median of single calls in this process; phe's column is its "
        "per-value time from the batch loop above (phe encrypts one value per call)."
    )
    return res
