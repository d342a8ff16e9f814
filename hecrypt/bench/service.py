"""The ``service`` benchmark section: private scoring end to end vs phe.

In process and through ``hecrypt serve`` on loopback.

Part of :mod:`hecrypt.bench`, which re-exports its names.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from hecrypt.bench.measure import _compare, executor_cores
from hecrypt.bench.results import SECTIONS, BenchContext, Row, SectionResult, register_section

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
    from hecrypt.paillier import SerialExecutor, parallel

    res = SectionResult("service", SECTIONS["service"].title)
    serial = SerialExecutor()
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
                "in process": model,
                "HTTP loopback": f"{url}/models/linear{feats}",
            }
            for where, scorer in clients.items():
                # as users run it (default executor) and with the client on one core
                client = hecrypt.ScoringClient(scorer, pk, sk)
                client1 = hecrypt.ScoringClient(scorer, pk, sk, executor=serial)
                for n in (1, batch):
                    Xn = X[:n]
                    # warm-up: connections, and for single records enough draws that the
                    # key owner's fixed-base tables exist (steady state, see the notes)
                    for _ in range(1 if n > 1 else -(-300 // feats)):
                        client.predict(Xn)
                        client1.predict(Xn)
                    times: list[float] = []
                    times1: list[float] = []
                    got: Any = None
                    got1: Any = None
                    for _ in range(reps):
                        t0 = time.perf_counter()
                        got = client.predict(Xn)
                        times.append((time.perf_counter() - t0) / n)
                        t0 = time.perf_counter()
                        got1 = client1.predict(Xn)
                        times1.append((time.perf_counter() - t0) / n)
                    for label, values in (("", got), (", client on one core", got1)):
                        res.checks.append(_compare(
                            f"{where}, {feats} features, batch {n}{label} == numpy",
                            [float(v) for v in np.ravel(values)],
                            [float(v) for v in want[:n]], 1e-6))
                    per = statistics.median(times)
                    report = client.last_report
                    path = report.path if report is not None else "?"
                    sent = report.ciphertexts_sent if report is not None else n
                    res.rows.append(Row(
                        "throughput", f"{feats} features, batch {n:,}, {where} ({path})", per,
                        "phe, same work per record", phe_per_record, "speedup", None,
                        cores=executor_cores(parallel.resolve_executor(None, sent)),
                        one_core_seconds=statistics.median(times1), samples=tuple(times),
                        one_core_samples=tuple(times1), baseline_samples=(phe_per_record,),
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
        "Cores: the client's encryption and decryption run on the default executor (the "
        "cores column: a process pool when the request has enough ciphertexts) and, for "
        "the one-core column, on `SerialExecutor`; the scorer (in this process, or the "
        "`hecrypt serve` process) works while the client waits and chooses its own "
        "executor in both cases. Timed in turn, default then one core, in each repeat.",
    ]
    return res
