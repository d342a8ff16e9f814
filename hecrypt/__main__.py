"""The ``hecrypt`` command: ``hecrypt demo``, ``hecrypt bench``.

Also reachable as ``python -m hecrypt``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    import numpy as np

    import hecrypt

    out = sys.stdout
    t0 = time.perf_counter()
    public_key, private_key = hecrypt.generate_keypair(args.bits)
    t_key = time.perf_counter() - t0
    out.write(f"client: generated a {public_key.n_bits}-bit key pair in {t_key:.2f} s "
              f"(fingerprint {public_key.fingerprint})\n")

    # The client's private record and the server's plaintext linear model.
    rng = np.random.default_rng(7)
    features = rng.normal(size=args.features).round(4)
    weights = rng.normal(size=args.features).round(4)
    bias = 0.25

    t0 = time.perf_counter()
    encrypted = private_key.encrypt_batch(features)
    t_enc = time.perf_counter() - t0
    out.write(f"client: encrypted {len(encrypted)} features in {t_enc * 1e3:.1f} ms; "
              "sends them with the public key\n")

    # Server side: sees only ciphertexts and the public key.
    t0 = time.perf_counter()
    score = sum((x * float(w) for x, w in zip(encrypted, weights)), start=public_key.encrypt(0))
    score = score + bias
    t_score = time.perf_counter() - t0
    out.write(f"server: computed w.x + b on ciphertexts in {t_score * 1e3:.1f} ms "
              f"(additions and plaintext multiplications only)\n")

    t0 = time.perf_counter()
    result = private_key.decrypt(score)
    t_dec = time.perf_counter() - t0
    expected = float(features @ weights + bias)
    out.write(f"client: decrypted the score in {t_dec * 1e3:.1f} ms\n\n")
    out.write(f"  private score   {result: .10f}\n")
    out.write(f"  plaintext score {expected: .10f}\n")
    out.write(f"  difference      {abs(result - expected):.2e}\n")

    # A few homomorphic identities, checked.
    a, b = public_key.encrypt(12.5), public_key.encrypt(-4)
    checks = {
        "12.5 + (-4)": (private_key.decrypt(a + b), 8.5),
        "(12.5 - 1) * 3": (private_key.decrypt((a - 1) * 3), 34.5),
        "-4 / 8": (private_key.decrypt(b / 8), -0.5),
    }
    for label, (got, want) in checks.items():
        out.write(f"  {label:<16}= {got}  (expected {want})\n")
    ok = abs(result - expected) < 1e-6 and all(abs(g - w) < 1e-9 for g, w in checks.values())
    out.write("\nall results match the plaintext computation\n" if ok else "\nMISMATCH\n")
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``hecrypt`` command."""
    parser = argparse.ArgumentParser(
        prog="hecrypt",
        description="Private machine learning on the Paillier cryptosystem.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="private scoring of one record, end to end")
    demo.add_argument("--bits", type=int, default=2048, help="key size (default 2048)")
    demo.add_argument("--features", type=int, default=30, help="features in the record")
    demo.set_defaults(func=_demo)

    from hecrypt import bench, cli

    cli.add_commands(sub)

    bench_parser = sub.add_parser("bench", help="benchmark against phe on the same key")
    bench.add_arguments(bench_parser)
    bench_parser.set_defaults(func=bench.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hecrypt`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
