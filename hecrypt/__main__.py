"""The ``hecrypt`` command: ``hecrypt demo``, ``hecrypt bench``.

Also reachable as ``python -m hecrypt``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from hecrypt import demo

    return demo.run(args.bits)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``hecrypt`` command."""
    parser = argparse.ArgumentParser(
        prog="hecrypt",
        description="Private machine learning on the Paillier cryptosystem.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="private scoring of scikit-learn models on encrypted records, end to end"
    )
    demo.add_argument("--bits", type=int, default=2048, help="key size (default 2048)")
    demo.set_defaults(func=_demo)

    from hecrypt import bench, cli

    cli.add_commands(sub)

    bench_parser = sub.add_parser("bench", help="benchmark against phe on the same key")
    bench.add_arguments(bench_parser)
    bench_parser.set_defaults(func=bench.run)

    # hecrypt compare: measured comparison of HE, secret sharing and hybrid
    from hecrypt.comparison import cli as compare_cli

    compare_cli.add_command(sub)
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
