"""Benchmark of private inference with a dealer (secret sharing in Z_2^64).

Run it as::

    python -m hecrypt.bench_ss                           # print the tables
    python -m hecrypt.bench_ss --write docs/performance.md

What it measures, each checked against the plaintext model in the same run:

* the shipped digits CNN (:func:`hecrypt.models.load_digits_cnn`) on the
  whole digits test split in batches of 100, in memory: label agreement with
  the plaintext network (target >= 99%) and the largest logit error next to
  the documented bound (:func:`hecrypt.hybrid.inference.network_error_bound`);
* the same network at batch 1 and batch 100, in memory and over TCP
  (three OS processes on loopback): wall time of the whole
  :func:`~hecrypt.hybrid.private_predict` call (offline included), images
  per second, and per party the offline and online time, bytes and rounds;
* logistic regression, 100 features x 1,000 records (synthetic data, a
  fitted scikit-learn model), and the breast cancer test split (labels
  identical to the plaintext model's).

Times are wall-clock medians of ``--repeats`` runs; bytes and rounds come from
the channels' counters (exact, the same on every run). ``--write`` replaces
the block between ``<!-- bench:ss:begin -->`` and ``<!-- bench:ss:end -->``,
and only when every check of the run passed (otherwise the failed checks are
printed, the file is left as it was and the exit code is 1).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main", "run"]

BEGIN = "<!-- bench:ss:begin -->"
END = "<!-- bench:ss:end -->"


def _timed(fn: Any, repeats: int) -> tuple[float, list[float], Any]:
    times = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, out


def _row(name: str, transport: str, batch: int, wall: float, res: Any) -> str:
    rep = res.report
    tot = rep["total"]
    per = 1.0 / batch
    return (
        f"| {name} | {transport} | {batch} | {wall:.3f} | {batch / wall:,.1f} | "
        f"{tot['offline_s']:.3f} / {tot['online_s']:.3f} | "
        f"{tot['offline_bytes_sent'] * per:,.0f} / {tot['online_bytes_sent'] * per:,.0f} | "
        f"{tot['offline_rounds']} / {tot['online_rounds']} |"
    )


_HEAD = [
    "| Workload | Transport | Batch | Wall time (s) | Items/s | Offline / online (s, max over "
    "parties) | Bytes per item, offline / online (all parties) | Rounds offline / online |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
]


def run(args: argparse.Namespace) -> tuple[list[str], bool]:
    """Run the measurements; returns the markdown lines and whether every check passed."""
    from hecrypt.hybrid import private_predict
    from hecrypt.hybrid.errorbound import statistical_error_bound
    from hecrypt.hybrid.inference import linear_error_bound, network_error_bound
    from hecrypt.models import from_sklearn, load_digits_cnn
    from hecrypt.models.digits import digits_split

    net = load_digits_cnn()
    _, X_test, _, _ = digits_split()
    checks: list[tuple[str, bool, str]] = []
    rows: list[str] = []
    lines: list[str] = []

    # accuracy on the whole test split, batches of 100
    labels, logits = [], []
    for i in range(0, len(X_test), 100):
        res = private_predict(net, X_test[i:i + 100])
        labels.append(res.labels)
        logits.append(res.logits)
    got_labels = np.concatenate(labels)
    got_logits = np.concatenate(logits)
    ref = net.predict(X_test)
    agree = float(np.mean(got_labels == ref.argmax(axis=1)))
    err = float(np.max(np.abs(got_logits - ref)))
    bound = network_error_bound(net, X_test.reshape(len(X_test), *net.input_shape))
    tight = statistical_error_bound(net, X_test)
    within = bool(np.all(np.abs(got_logits - ref) <= tight))
    checks.append(("digits CNN: private labels equal plaintext labels on >= 99% of the test "
                   "split", agree >= 0.99, f"{agree:.2%} of {len(X_test)} images"))
    checks.append(("digits CNN: every logit within its statistical bound (delta = 1e-9)",
                   within, f"largest error {err:.2e}, largest bound {float(tight.max()):.2e}, "
                   f"largest error / bound {float(np.max(np.abs(got_logits - ref) / tight)):.2f}"))
    checks.append(("digits CNN: largest logit error within the worst-case bound",
                   err <= bound, f"{err:.2e} <= {bound:.2e}"))

    # speed: batch 1 and batch 100, memory and tcp
    for batch, transport, reps in ((1, "memory", args.repeats), (100, "memory", args.repeats),
                                   (1, "tcp", 1), (100, "tcp", 1)):
        xb = X_test[:batch]
        wall, _, res = _timed(lambda xb=xb, t=transport: private_predict(net, xb, transport=t),
                              reps)
        rows.append(_row("digits CNN", transport, batch, wall, res))
        if batch == 100 and transport == "memory":
            checks.append(("digits CNN batch 100 in memory: >= 50 images/s, offline included",
                           100 / wall >= 50, f"{100 / wall:,.1f} images/s"))

    # logistic regression 100 features x 1000 records
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(args.seed)
    X = rng.normal(size=(2000, 100))
    y = (X @ rng.normal(size=100) + rng.normal(size=2000) > 0).astype(int)
    lr = from_sklearn(LogisticRegression(max_iter=2000).fit(X[:1000], y[:1000]))
    wall, _, res = _timed(lambda: private_predict(lr, X[1000:]), args.repeats)
    rows.append(_row("logistic regression, 100 features", "memory", 1000, wall, res))
    checks.append(("logistic regression 100 x 1000: labels identical to plaintext",
                   bool(np.array_equal(res.labels, lr.predict_plaintext(X[1000:]))), ""))
    wall, _, res = _timed(lambda: private_predict(lr, X[1000:], transport="tcp"), 1)
    rows.append(_row("logistic regression, 100 features", "tcp", 1000, wall, res))

    Xc, yc = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, _ = train_test_split(Xc, yc, test_size=0.25, random_state=0, stratify=yc)
    cancer = from_sklearn(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
                          .fit(Xtr, ytr))
    res = private_predict(cancer, Xte)
    zerr = float(np.max(np.abs(res.logits[:, 0] - cancer.decision_function_plaintext(Xte))))
    zb = linear_error_bound(Xte, cancer.coef.T, cancer.intercept)
    checks.append(("breast cancer test split: labels identical, logits within the bound",
                   bool(np.array_equal(res.labels, cancer.predict_plaintext(Xte))) and zerr <= zb,
                   f"{len(Xte)} records, logit error {zerr:.2e} <= {zb:.2e}"))

    lines += _HEAD + rows + [""]
    lines.append("Wall time: the whole `private_predict` call (three parties, offline "
                 "included; over TCP including process start-up). Offline / online: the "
                 "slowest party's time in each phase. Bytes: everything the three parties "
                 "sent, frames included, divided by the batch. Rounds: dependency depth per "
                 "phase (the same for any batch size).")
    lines.append("")
    lines.append("Over TCP the wall time includes starting three Python processes (spawn and "
                 "imports, seconds on a loaded 2-core machine); the per-party phase times are "
                 "the protocol's own cost. Logit bounds: the statistical bound "
                 "(`hecrypt.hybrid.errorbound.statistical_error_bound`) computes the rounding "
                 "of inputs, weights and coefficients exactly and bounds the truncation errors "
                 "(zero-mean, independent, one unit wide) by Hoeffding's inequality through the "
                 "network's sensitivities, for every logit at once except with probability "
                 "1e-9; the worst-case bound (`network_error_bound`) aligns every error with "
                 "the signs of the weights and is about 600 times larger. Truncation "
                 "failures (probability at most 2^-27 per product here: activation inputs "
                 "stay inside [-8, 8], logits below 16) are outside both bounds; none "
                 "showed up on the split.")
    lines.append("")
    ok = all(c[1] for c in checks)
    lines.append(f"**Checks: {sum(c[1] for c in checks)} of {len(checks)} passed.**")
    lines += [f"- {'ok' if c[1] else 'FAILED'}: {c[0]} ({c[2]})" if c[2] else
              f"- {'ok' if c[1] else 'FAILED'}: {c[0]}" for c in checks]
    return lines, ok


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns 0 when every check passed, 1 otherwise (nothing written)."""
    from hecrypt.bench import _command_line, machine_info

    parser = argparse.ArgumentParser(prog="python -m hecrypt.bench_ss",
                                     description="Benchmark private inference with a dealer.")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions (median)")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the synthetic data")
    parser.add_argument("--write", metavar="PATH", help="update this markdown file")
    args = parser.parse_args(argv)
    before = machine_info()["Load average (1/5/15 min)"]
    lines, ok = run(args)
    machine = machine_info()
    machine["Load average (1/5/15 min)"] = (
        f"{before} before, {machine['Load average (1/5/15 min)']} after")
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = [BEGIN, "## Private inference with a dealer (secret sharing)", "",
             f"Run on {date} with:", "", "```", _command_line(), "```", "",
             "| Machine | |", "|---|---|", *[f"| {k} | {v} |" for k, v in machine.items()],
             "", *lines, END]
    text = "\n".join(block)
    sys.stdout.write(text + "\n")
    if not ok:
        failed = [line for line in lines if line.startswith("- FAILED")]
        sys.stdout.write("CHECK FAILED: the timings above are not valid\n"
                         + "".join(f"{line}\n" for line in failed))
        if args.write:
            sys.stdout.write(f"{args.write} left unchanged: the report is written only when "
                             "every check of the run passed\n")
        return 1
    if args.write:
        write_block(args.write, text)
    return 0


def write_block(path: str | Path, text: str) -> None:
    """Replace this benchmark's marked block in ``path`` (appended if absent)."""
    p = Path(path)
    doc = p.read_text(encoding="utf-8") if p.exists() else "# Performance\n"
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    found = pattern.search(doc)
    doc = (doc[: found.start()] + text + doc[found.end():] if found
           else doc.rstrip("\n") + "\n\n" + text + "\n")
    p.write_text(doc.rstrip("\n") + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
