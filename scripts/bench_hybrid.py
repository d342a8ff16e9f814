"""Benchmark of the two-party modes (no dealer) next to the dealer mode.

Sections (each optional):

``--triples N``
    Paillier triple generation at ``--key-bits`` (default 2048): element-wise
    ``mul`` triples and ``square`` pairs per second, and one matrix and one
    convolution triple of the digits CNN's shapes, all with two in-memory
    parties over the local process pool (key generation excluded, tables
    warm). Also the direct HE-assisted product (the same Paillier round trip
    on the operands themselves, online) next to a Beaver product from a
    prepared triple.
``--cnn K``
    The shipped digits CNN, one image per call, ``K`` test images, in the
    modes ``hybrid``, ``two-party`` and ``dealer``: seconds (offline, online
    = max over parties, wall clock end to end including key generation),
    bytes and rounds per image.
``--accuracy N``
    Labels of the hybrid and two-party modes against the plaintext network on
    the first ``N`` test images (``0``: the whole split of 450), in batches of
    ``--batch`` images per call.

Run: ``python scripts/bench_hybrid.py --triples 2400 --cnn 3 --accuracy 0``.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np


def _descendants(pid: int) -> list[int]:
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                kids = [int(v) for v in fh.read().split()]
        except OSError:
            continue
        for kid in kids:
            out.append(kid)
            out.extend(_descendants(kid))
    return out


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its live descendants (the
    worker pool), from /proc; 0.0 where /proc is missing."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    for pid in [os.getpid(), *_descendants(os.getpid())]:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / ticks


def _pair(client: Any, server: Any) -> tuple[Any, Any]:
    from hecrypt.hybrid.runner import run_parties

    out = run_parties({"client": client, "server": server}, timeout=600)
    return out["client"], out["server"]


def bench_triples(count: int, key_bits: int) -> None:
    from hecrypt.hybrid.paillier_triples import PaillierTripleSource
    from hecrypt.hybrid.triples import TripleRequest
    from hecrypt.paillier import generate_keypair, parallel

    parallel.default_executor()
    _, sk = generate_keypair(key_bits)
    from hecrypt.hybrid import paillier_cross as pc

    # build the client's tables in both workers before timing
    parallel.map_chunks(pc.client_encrypt_chunk, (sk._p, sk._q), [1] * 1200,
                        executor=parallel.default_executor())

    def run(reqs: list[TripleRequest]) -> tuple[float, float]:
        def client(p: Any) -> None:
            src = PaillierTripleSource(p, "server", private_key=sk)
            src.setup()
            t = time.perf_counter()
            src.prepare(reqs)
            p.send("server", time.perf_counter() - t)

        def server(p: Any) -> float:
            src = PaillierTripleSource(p, "client")
            src.setup()
            src.prepare(reqs)
            return float(p.recv("client"))

        c0 = cpu_seconds()
        wall = _pair(client, server)[1]
        return wall, cpu_seconds() - c0

    print(f"## Paillier triples, {key_bits}-bit key, two in-memory parties on this machine")
    print(f"Load average before: {os.getloadavg()[0]:.2f} (1 min)\n")
    print("| kind | shape | count | seconds | per second | CPU s (all processes) | "
          "per second on 2 free cores (count / (CPU s / 2)) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for kind in ("mul", "square"):
        req = TripleRequest(kind, (count,), (count,) if kind == "mul" else None)
        dt, cpu = run([req])
        print(f"| {kind} | ({count},) | {count} | {dt:.2f} | {count / dt:.0f} | {cpu:.2f} | "
              f"{2 * count / cpu:.0f} |")
    shapes = [TripleRequest("matmul", (1, 128), (128, 32)),
              TripleRequest("conv2d", (1, 8, 8, 4), (3, 3, 4, 8), ((1, 1), "same"))]
    for req in shapes:
        dt, cpu = run([req])
        print(f"| {req.kind} | {req.shape_a} x {req.shape_b} | 1 | {dt:.2f} | {1 / dt:.2f} | "
              f"{cpu:.2f} | {2 / cpu:.2f} |")


def bench_direct(count: int, key_bits: int) -> None:
    """Beaver product with a prepared triple vs the direct HE-assisted product."""
    from hecrypt.hybrid import paillier_cross as pc
    from hecrypt.hybrid.paillier_triples import PaillierTripleSource
    from hecrypt.hybrid.protocols import SecretSharing
    from hecrypt.hybrid.shares import SharedTensor
    from hecrypt.hybrid.triples import TripleRequest
    from hecrypt.paillier import generate_keypair
    from hecrypt.paillier.circuit import precompute_circuit_private

    _, sk = generate_keypair(key_bits)
    req = TripleRequest("mul", (count,), (count,))
    job = pc.ElementwiseJob(count, 2)
    outputs = pc.job_layout(job, key_bits).outputs

    def program(p: Any, client: bool) -> dict[str, float]:
        peer = "server" if client else "client"
        src = PaillierTripleSource(p, peer, private_key=sk if client else None)
        src.setup()
        t = time.perf_counter()
        src.prepare([req])
        offline_triple = time.perf_counter() - t
        x, y = pc.random_uint64(count), pc.random_uint64(count)
        ss = SecretSharing(p, peer, src, 16)
        t = time.perf_counter()
        sx, sy = SharedTensor(x, 16, ss.index), SharedTensor(y, 16, ss.index)
        ss.mul(sx, sy)
        online_beaver = time.perf_counter() - t
        # direct: the cross terms x0*y1 + y0*x1 in one Paillier round trip, online;
        # randomness precomputed as in the hybrid mode's online phase
        t = time.perf_counter()
        if client:
            sk.precompute(2 * count)
        else:
            precompute_circuit_private(src.public_key, outputs)
        offline_direct = time.perf_counter() - t
        t = time.perf_counter()
        if client:
            pc.client_cross(p, peer, sk, [job], [np.stack([x, y])], pooled=True)
        else:
            pc.server_cross(p, peer, src.public_key, [job], [np.stack([y, x])])
        online_direct = time.perf_counter() - t
        return {"offline_triple": offline_triple, "online_beaver": online_beaver,
                "offline_direct": offline_direct, "online_direct": online_direct}

    c, s = _pair(lambda p: program(p, True), lambda p: program(p, False))
    print(f"\n## {count} element-wise products: Beaver triple vs direct HE product "
          f"({key_bits}-bit key)")
    print("| method | offline s (max over parties) | online s (max over parties) |")
    print("|---|---:|---:|")
    print(f"| Beaver (Paillier triple) | {max(c['offline_triple'], s['offline_triple']):.2f} | "
          f"{max(c['online_beaver'], s['online_beaver']):.3f} |")
    print(f"| direct HE product | {max(c['offline_direct'], s['offline_direct']):.2f} | "
          f"{max(c['online_direct'], s['online_direct']):.3f} |")


def _digits() -> tuple[Any, Any]:
    from hecrypt.models import digits_split, load_digits_cnn

    _, X_test, _, _ = digits_split()
    return load_digits_cnn(), X_test


def bench_cnn(k: int, key_bits: int) -> None:
    from hecrypt.hybrid import private_predict

    net, X = _digits()
    print(f"\n## Digits CNN, one image per call, {key_bits}-bit key, {k} images, in memory")
    print(f"Load average before: {os.getloadavg()[0]:.2f} (1 min)\n")
    print("| mode | wall s/image | offline s | online s (max over parties) | CPU s/image "
          "(all processes) | MB/image | rounds |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    from hecrypt.paillier import parallel

    parallel.default_executor()  # the pool's start-up is not per image
    for mode in ("hybrid", "two-party", "dealer"):
        rows = []
        for i in range(k):
            c0, t = cpu_seconds(), time.perf_counter()
            res = private_predict(net, X[i : i + 1], mode=mode, key_bits=key_bits)
            wall, cpu = time.perf_counter() - t, cpu_seconds() - c0
            tot = res.report["total"]
            rows.append((wall, tot["offline_s"], tot["online_s"], cpu, tot["bytes_sent"] / 1e6,
                         tot["rounds"]))
        w, off, on, cpu, mb, rounds = (float(np.median([r[j] for r in rows])) for j in range(6))
        print(f"| {mode} | {w:.2f} | {off:.2f} | {on:.2f} | {cpu:.1f} | {mb:.2f} | "
              f"{rounds:.0f} |")
    print(f"\nLoad average after: {os.getloadavg()[0]:.2f} (1 min)")


def bench_accuracy(n: int, key_bits: int, batch: int, modes: list[str]) -> None:
    from hecrypt.hybrid import private_predict

    net, X = _digits()
    X = X if n == 0 else X[:n]
    want = net.predict(X).argmax(axis=1)
    print(f"\n## Labels vs the plaintext network, {len(X)} test images, {key_bits}-bit key, "
          f"batches of {batch}")
    print("| mode | equal labels | share | seconds |")
    print("|---|---:|---:|---:|")
    for mode in modes:
        t = time.perf_counter()
        got = np.concatenate([
            private_predict(net, X[i : i + batch], mode=mode, key_bits=key_bits,
                            insecure_small_keys=key_bits < 2048, timeout=600).labels
            for i in range(0, len(X), batch)])
        same = int((got == want).sum())
        print(f"| {mode} | {same}/{len(X)} | {same / len(X):.2%} | "
              f"{time.perf_counter() - t:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--key-bits", type=int, default=2048)
    ap.add_argument("--triples", type=int, default=0, help="element-wise triples to time")
    ap.add_argument("--direct", type=int, default=0, help="products: Beaver vs direct HE")
    ap.add_argument("--cnn", type=int, default=0, help="images, one per call, per mode")
    ap.add_argument("--accuracy", type=int, default=-1, help="test images (0: all)")
    ap.add_argument("--accuracy-key-bits", type=int, default=None)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--modes", default="hybrid,two-party", help="accuracy: modes to run")
    args = ap.parse_args()
    if args.triples:
        bench_triples(args.triples, args.key_bits)
    if args.direct:
        bench_direct(args.direct, args.key_bits)
    if args.cnn:
        bench_cnn(args.cnn, args.key_bits)
    if args.accuracy >= 0:
        bench_accuracy(args.accuracy, args.accuracy_key_bits or args.key_bits, args.batch,
                       args.modes.split(","))


if __name__ == "__main__":
    main()
