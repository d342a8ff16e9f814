"""Options and entry points of ``hecrypt bench``.

Key generation, the ``--quick`` warm-up, running the selected sections
with progress on stderr, printing and writing the results.

Part of :mod:`hecrypt.bench`, which re-exports its names.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
import time

from hecrypt.bench.report import (
    _busy_warning,
    _command_line,
    _usable_cores,
    format_markdown,
    machine_info,
    update_document,
)
from hecrypt.bench.results import SECTIONS, BenchContext, SectionResult


def _positive(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return v


def _positive_float(text: str) -> float:
    v = float(text)
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return v


#: Default minimum duration of a timed loop of cheap operations (seconds).
LOOP_SECONDS = 0.2


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
    parser.add_argument("--loop-seconds", type=_positive_float, default=LOOP_SECONDS,
                        metavar="S",
                        help="minimum duration of each timed loop of a cheap operation "
                             f"(additions, dot products; default {LOOP_SECONDS:g})")
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


def failed_checks(results: list[SectionResult]) -> list[str]:
    """One line per failed correctness check of the run: section, check, detail."""
    return [f"{r.name}: {c.name} ({c.detail})" for r in results for c in r.checks if not c.ok]


def run(args: argparse.Namespace) -> int:
    """Run the benchmark from parsed options; print the tables; optionally write them.

    ``--write`` touches the report only when every correctness check of every
    section that ran passed: a failed check is listed, the file is left as it
    was and the exit code is 1, so timings of a broken path never reach the
    documentation.

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
    failed = failed_checks(results)
    if failed:
        out.write("CORRECTNESS CHECK FAILED: the timings above are not valid\n")
        out.writelines(f"- {line}\n" for line in failed)
        if args.write:
            out.write(f"{args.write} left unchanged: a report is written only when every "
                      "correctness check of the run passed\n")
        return 1
    if args.write:
        update_document(args.write, results, command=_command_line(), machine=machine,
                        date=date)
        out.write(f"wrote {args.write}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m hecrypt.bench`` entry point; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="hecrypt bench",
        description="Benchmark hecrypt against phe (python-paillier) on the same key.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
