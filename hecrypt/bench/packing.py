"""The ``packing`` benchmark section: encrypted tensors and packed scoring vs phe.

Part of :mod:`hecrypt.bench`, which re-exports its names.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from hecrypt.bench.measure import _compare, _loop_time, _timed, executor_cores
from hecrypt.bench.results import (
    SECTIONS,
    BenchContext,
    Check,
    Row,
    SectionResult,
    register_section,
)

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
    from hecrypt.paillier import SerialExecutor, parallel
    from hecrypt.paillier.packed import _auto_executor, layout_for_key

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

    t_tdot = [_loop_time(lambda: t_x @ w, ctx.loop_seconds) for _ in range(max(reps, 3))]
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
        5.0, samples=tuple(t_tdot), baseline_samples=tuple(t_pdot),
        note="one multi-exponentiation (Pippenger) over the features; weights at 2^-32",
    ))

    # -- packed scoring: client encrypt, server score, client decrypt -------------------
    # "machine": the executor a user's call gets by default; "one core": in-process.
    def encrypt_packed(executor: Any) -> Any:
        return sk.encrypt_packed(X, value_bound=BENCH_VALUE_BOUND, executor=executor)

    first_enc, packed = _timed(lambda: encrypt_packed(None))
    layout = packed.layout
    enc_ex = parallel.resolve_executor(None, packed.ciphertexts.size)
    first_enc_serial, _ = _timed(lambda: encrypt_packed(serial))
    rows_c, cols_c = packed.ciphertexts.shape
    dot_ex = _auto_executor(rows_c, rows_c * cols_c)
    dec_ex = parallel.resolve_executor(None, rows_c)
    t: dict[str, list[float]] = {name: [] for name in (
        "enc", "enc1", "score", "score1", "dec", "dec1", "phe")}
    out: dict[str, Any] = {}

    def step(name: str, fn: Any) -> Any:
        seconds, out[name] = _timed(fn)
        t[name].append(seconds / records)
        return out[name]

    for _ in range(reps):
        step("enc", lambda: encrypt_packed(enc_ex))
        step("enc1", lambda: encrypt_packed(serial))
        step("score", lambda: out["enc"].dot(w, executor=dot_ex) + bias)
        step("score1", lambda: out["enc"].dot(w, executor=serial) + bias)
        step("dec", lambda: sk.decrypt(out["score"], executor=dec_ex))
        step("dec1", lambda: sk.decrypt(out["score1"], executor=serial))
        t0 = time.perf_counter()
        for enc in phe_x:
            phe_score(enc) + bias
        t["phe"].append((time.perf_counter() - t0) / len(phe_x))
    got, packed = out["dec"], out["enc"]
    phe_scored = phe_score(phe_x[0]) + bias
    phe_dec_s, phe_dec_one = _timed(lambda: psk.decrypt(phe_scored))
    med = {name: statistics.median(ts) for name, ts in t.items()}

    # precision of the packed path: data and weights at 2^-20, bias at 2^-40
    e = 2.0**-21
    tol20 = float(np.max(np.abs(X).sum(axis=1)) * e + np.abs(w).sum() * e + feats * e * e
                  + 2.0**-41)
    res.checks.append(_compare("packed @ w + b == numpy (all records)",
                               [float(v) for v in got], [float(v) for v in want], tol20))
    res.checks.append(_compare("packed @ w + b == numpy, one core (all records)",
                               [float(v) for v in out["dec1"]], [float(v) for v in want],
                               tol20))
    res.checks.append(_compare("packed @ w + b == EncryptedTensor @ w + b (record 0)",
                               [float(got[0])], [tensor_score + bias], tol20 + tol32))
    res.checks.append(_compare("phe score + b == numpy", [psk.decrypt(phe_out) + bias,
                                                          phe_dec_one],
                               [float(want[0]), float(want[0])], 1e-6))

    def row(operation: str, name: str, baseline: str, base: float, target: float | None,
            cores: int, note: str = "", base_samples: tuple[float, ...] = ()) -> Row:
        return Row("throughput", operation, med[name], baseline, base, "speedup", target,
                   note=note, cores=cores, one_core_seconds=med[name + "1"],
                   samples=tuple(t[name]), one_core_samples=tuple(t[name + "1"]),
                   baseline_samples=base_samples)

    shape = f"{records} records x {feats} features, {layout.slots} slots of {layout.slot_bits} bits"
    res.rows += [
        row(f"Score 1 record, server (`PackedTensor @ w + b`; {shape})", "score",
            "phe per record: sum of `enc_x[i] * w[i]` + b", med["phe"], 100.0,
            executor_cores(dot_ex), base_samples=tuple(t["phe"]),
            note=f"phe timed on {phe_records} of the {records} records; hecrypt on all of "
                 f"them with the default executor ({rows_c} x {cols_c} ciphertexts: "
                 f"{'a process pool' if executor_cores(dot_ex) > 1 else 'in-process'}) "
                 "and on one core (`SerialExecutor`)"),
        row("Encrypt 1 record, client (`PrivateKey.encrypt_packed`)", "enc",
            f"phe: {feats} x `encrypt`", phe_enc_rec, None, executor_cores(enc_ex),
            note=f"{records} records x {feats} values in {packed.ciphertexts.size} ciphertexts; "
                 "phe encrypts one value per ciphertext"),
        row("Decrypt 1 record's score, client (`PrivateKey.decrypt`)", "dec",
            "phe `decrypt` (1 score)", phe_dec_s, None, executor_cores(dec_ex),
            note=f"one decryption returns {layout.slots} scores"),
        Row("setup", f"First packed encryption of {records} records: extra over steady state",
            max(0.0, first_enc - med["enc"] * records),
            note=f"first took {first_enc:.3f} s (randomness tables in each process)"),
        Row("setup", f"First packed encryption of {records} records on one core: extra over "
            "steady state", max(0.0, first_enc_serial - med["enc1"] * records),
            note=f"first took {first_enc_serial:.3f} s (tables of this process, unless "
                 "already built)"),
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
        t_add.append(_loop_time(lambda: ta + tb, ctx.loop_seconds) / ta.size)
        t_raw.append(_loop_time(add_raw, ctx.loop_seconds) / ta.size)
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
        statistics.median(t_raw), "overhead", 1.3, samples=tuple(t_add),
        baseline_samples=tuple(t_raw),
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
        f"Throughput rows: median of {reps} repeats after one warm-up run, each repeat "
        "timing the default executor, one core (`SerialExecutor`) and phe in turn; packed "
        "per-record times are the time for all records divided by their number. Cores: "
        "the default executor spreads a call over a process pool only when the call is "
        "large enough (the cores column says what it did here); phe uses one core.",
    ]
    return res
