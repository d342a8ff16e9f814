"""The ``hecrypt`` command: ``hecrypt demo``, ``hecrypt bench`` and the file commands.

Also reachable as ``python -m hecrypt``. Each subcommand is registered by a
function listed in :data:`REGISTRARS` that takes the argparse subparsers
object; a new subcommand adds its function there.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["main", "build_parser", "REGISTRARS"]

#: Exit code when the reader of stdout went away (as a process killed by SIGPIPE).
EXIT_BROKEN_PIPE = 141


def _demo(args: argparse.Namespace) -> int:
    from hecrypt import demo

    return demo.run(args.bits)


def _add_demo(sub: Any) -> None:
    from hecrypt.cli import guarded

    demo = sub.add_parser(
        "demo", help="private scoring of scikit-learn models on encrypted records, end to end"
    )
    demo.add_argument("--bits", type=int, default=2048, choices=(2048, 3072, 4096),
                      help="key size (default 2048)")
    demo.set_defaults(func=guarded(_demo))


def _add_files(sub: Any) -> None:
    from hecrypt import cli

    cli.add_commands(sub)


def _add_bench(sub: Any) -> None:
    from hecrypt import bench

    bench_parser = sub.add_parser("bench", help="benchmark against phe on the same key")
    bench.add_arguments(bench_parser)
    bench_parser.set_defaults(func=bench.run)


def _add_compare(sub: Any) -> None:
    # hecrypt compare: measured comparison of HE, secret sharing and hybrid
    from hecrypt.comparison import cli as compare_cli

    compare_cli.add_command(sub)


#: Functions that register subcommands, in the order ``hecrypt --help`` lists them.
REGISTRARS: list[Callable[[Any], None]] = [_add_demo, _add_files, _add_bench, _add_compare]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``hecrypt`` command."""
    from hecrypt import __version__

    parser = argparse.ArgumentParser(
        prog="hecrypt",
        description="Private machine learning on the Paillier cryptosystem.",
    )
    parser.add_argument("--version", action="version", version=f"hecrypt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in REGISTRARS:
        register(sub)
    return parser


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the exit flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hecrypt`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = int(args.func(args))
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `hecrypt decrypt ... | head`
        _quiet_stdout()
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
