"""``hecrypt compare``: the command-line face of :func:`hecrypt.compare`.

Examples::

    hecrypt compare --quick                        # every technique, small model + 1 digit
    hecrypt compare --features 100 --batch 64      # synthetic logistic regression
    hecrypt compare --model model.json --data X.csv --json
    hecrypt compare --digits 10 --techniques dealer,two-party,hybrid
    hecrypt compare --sweep features=10,100,1000 --techniques he,he-packed,phe --plot f.png
    hecrypt compare --network lan --network 4g=20Mbit,60ms

Exit codes: 0 every technique that ran is correct; 1 a technique failed or
gave outputs beyond its tolerance (the figures are still printed), or the
input broke a rule; 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_command", "run", "QUICK"]

#: What ``--quick`` runs: a small logistic regression and one digit image.
QUICK = {"features": 10, "batch": 4, "digits": 1}


def _progress() -> Any:
    """``progress(done, total, what)`` drawing a bar on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        return None
    width = 30

    def update(done: int, total: int, what: str) -> None:
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "." * (width - filled)
        sys.stderr.write(f"\rcompare [{bar}] {done}/{total} {what[:40]:<40}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return update


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _sweep_spec(text: str) -> tuple[str, list[int]]:
    from hecrypt.comparison.api import SWEEP_PARAMS

    name, sep, values = text.partition("=")
    if not sep or name not in SWEEP_PARAMS:
        raise argparse.ArgumentTypeError(
            f"expected PARAM=V1,V2,... with PARAM in {', '.join(SWEEP_PARAMS)}"
        )
    try:
        vals = [int(v) for v in _csv_list(values)]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"sweep values must be integers: {values}") from exc
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError("sweep values must be positive integers")
    return name, vals


def add_command(sub: Any) -> None:
    """Register ``hecrypt compare`` on an argparse subparsers object."""
    from hecrypt.comparison.techniques import TECHNIQUES

    p = sub.add_parser(
        "compare",
        help="measure HE, secret sharing and hybrid on the same private prediction",
        description="Run the same private prediction under each technique ("
        + ", ".join(TECHNIQUES) + "), measure time, bytes and rounds per party from the "
        "channels' counters, check every output against the plaintext model, and project "
        "the wall time onto networks (docs/comparison.md).",
    )
    w = p.add_argument_group("workload")
    w.add_argument("--quick", action="store_true",
                   help="every technique on a logistic regression (10 features, 4 records) "
                        "and one digit image, in well under a minute")
    w.add_argument("--task", choices=("logistic", "linear"), default="logistic",
                   help="synthetic model (default logistic)")
    w.add_argument("--features", type=int, default=10, help="synthetic: features (default 10)")
    w.add_argument("--batch", type=int, default=8, help="synthetic: records (default 8)")
    w.add_argument("--model", help="the user's model file (linear model or Sequential)")
    w.add_argument("--data", help="records for --model: CSV or .npy")
    w.add_argument("--digits", type=int, metavar="N",
                   help="the shipped digits CNN on N test images")
    w.add_argument("--sweep", type=_sweep_spec, metavar="PARAM=V1,V2,...",
                   help="vary features, batch or key_bits of the synthetic model")
    w.add_argument("--budget", type=float, metavar="SECONDS",
                   help="sweep: skip a technique's larger points once one run took longer")
    r = p.add_argument_group("how to run")
    r.add_argument("--techniques", type=_csv_list, default=list(TECHNIQUES),
                   help="comma-separated subset of " + ",".join(TECHNIQUES))
    r.add_argument("--key-bits", type=int, default=2048, choices=(2048, 3072, 4096),
                   help="Paillier key size (default 2048)")
    r.add_argument("--transport", choices=("memory", "tcp"), default="memory",
                   help="parties as threads (memory, default) or processes over loopback TCP")
    r.add_argument("--network", action="append", metavar="NAME|NAME=BW,LAT",
                   help="network to project onto; repeatable (default: lan and wan)")
    r.add_argument("--check-projection", metavar="NETWORK",
                   help="also run each technique over TCP, every link through a proxy that "
                        "emulates NETWORK, and report measured vs projected time")
    r.add_argument("--timeout", type=float, default=600.0, help="per-message timeout, s")
    o = p.add_argument_group("output")
    g = o.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="JSON instead of the table")
    g.add_argument("--csv", action="store_true", help="CSV instead of the table")
    g.add_argument("--markdown", action="store_true", help="Markdown tables of the totals")
    o.add_argument("--from-json", metavar="FILE",
                   help="print or plot a comparison saved with --json instead of running one")
    o.add_argument("--plot", metavar="FILE.png", help="also write a plot (needs matplotlib)")
    o.add_argument("-o", "--output", help="write the table/JSON/CSV to a file, not stdout")
    p.set_defaults(func=run)


def _workloads(args: argparse.Namespace) -> list[Any]:
    from hecrypt.comparison import workloads as wl
    from hecrypt.exceptions import UnsupportedModelError

    out = []
    if args.quick:
        out.append(wl.linear_workload(QUICK["features"], QUICK["batch"], task=args.task))
        try:
            out.append(wl.digits_workload(QUICK["digits"]))
        except (UnsupportedModelError, ImportError) as exc:
            # the test images come from scikit-learn's bundled digits (hecrypt[sklearn])
            sys.stderr.write(f"hecrypt compare: no digit image in --quick: {exc}\n")
        return out
    if args.model:
        if not args.data:
            raise ValueError("--model needs --data (the records to score)")
        from hecrypt.cli import read_matrix

        out.append(wl.model_workload(args.model, read_matrix(Path(args.data))))
    if args.digits:
        out.append(wl.digits_workload(args.digits))
    if not out:
        out.append(wl.linear_workload(args.features, args.batch, task=args.task))
    return out


def _check_projection(cmp: Any, args: argparse.Namespace) -> None:
    from hecrypt.comparison import api, workloads

    done = set()
    for res in cmp.results:
        key = (res.technique, res.workload["name"], res.key_bits)
        if res.technique not in api.CHECKABLE or res.status != "ok" or key in done:
            continue
        done.add(key)
        params = res.workload
        w = workloads.linear_workload(params["features"], params["batch"], task=params["task"]) \
            if params.get("synthetic") else None
        if w is None:
            continue  # the user's own data: run the check on a synthetic workload instead
        cmp.projection_checks.append(api.check_projection(
            w, res.technique, args.check_projection, key_bits=res.key_bits,
            timeout=args.timeout))


def run(args: argparse.Namespace) -> int:
    """Run ``hecrypt compare``; returns the exit code."""
    from hecrypt.comparison import api
    from hecrypt.exceptions import HecryptError

    if args.from_json:
        import json

        try:
            cmp = api.Comparison.from_dict(json.loads(Path(args.from_json).read_text()))
        except (ValueError, OSError) as exc:
            sys.stderr.write(f"hecrypt compare: {exc}\n")
            return 1
        return _output(cmp, args)
    try:
        common: dict[str, Any] = {
            "techniques": args.techniques, "transport": args.transport,
            "networks": args.network, "timeout": args.timeout, "strict": False,
            "progress": _progress(),
        }
        if args.sweep:
            param, values = args.sweep
            base = {"features": args.features, "batch": args.batch, "key_bits": args.key_bits,
                    "task": args.task}
            cmp = api.sweep(param, values, base=base, budget_s=args.budget, **common)
        else:
            cmp = api.compare(_workloads(args), key_bits=args.key_bits, **common)
    except (HecryptError, ValueError, OSError, ImportError) as exc:
        sys.stderr.write(f"hecrypt compare: {exc}\n")
        return 1
    if args.check_projection:
        try:
            _check_projection(cmp, args)
        except (HecryptError, ValueError, OSError) as exc:
            sys.stderr.write(f"hecrypt compare: projection check failed: {exc}\n")
            return 1
    return _output(cmp, args)


def _output(cmp: Any, args: argparse.Namespace) -> int:
    if args.json:
        text = cmp.to_json() + "\n"
    elif args.csv:
        text = cmp.to_csv()
    elif args.markdown:
        text = cmp.markdown()
    else:
        text = cmp.table()
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    if args.plot:
        try:
            cmp.plot(args.plot)
        except (ImportError, ValueError, OSError) as exc:
            sys.stderr.write(f"hecrypt compare: no plot: {exc}\n")
            return 1
    failures = cmp.failures()
    for r in failures:
        why = r.reason if r.status == "error" else r.accuracy.get("problem", "")
        sys.stderr.write(f"hecrypt compare: {r.technique} on {r.workload['name']} FAILED: "
                         f"{why}\n")
    return 1 if failures else 0
