"""The ``core`` benchmark section: Paillier operations, hecrypt vs phe.

Encryption (key owner and public key), decryption, addition, single-value
latency and one-off setup (pool start, table builds, key generation).

Part of :mod:`hecrypt.bench`, which re-exports its names.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from hecrypt.bench.measure import (
    _compare,
    _loop_time,
    _per_call_median,
    _randomness_check,
    _residues,
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
