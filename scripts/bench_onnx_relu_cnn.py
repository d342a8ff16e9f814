"""Private inference of the PyTorch ReLU + max-pooling digits CNN (from ONNX) with the dealer.

Runs ``hecrypt.hybrid.private_predict(mode="dealer")`` on the whole digits test
split (``train_test_split(test_size=0.25, random_state=0)``, 450 images) in
batches, checks the private labels against onnxruntime's on the same file, and
prints (or writes into docs/performance.md between the
``<!-- bench:onnx-relu-cnn:begin/end -->`` markers) images per second, bytes
and rounds per image::

    python scripts/bench_onnx_relu_cnn.py [--batch 100] [--tcp] [--write docs/performance.md]

With ``--tcp`` the parties also run as processes over loopback TCP, twice:
one ``private_predict`` call per batch (each call starts three fresh
interpreters, whose start-up is measured on its own with programs that do
nothing), and one session whose long-lived processes run every batch in turn,
as deployed parties (``hecrypt party``) would.

Needs scikit-learn, onnx and onnxruntime (the ``test`` extra). Exits 1 when the
labels agree on fewer than 99% of the images in any configuration; ``--write``
then leaves the file as it was.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "tests" / "models" / "data" / "digits_relu_cnn.onnx"
BEGIN, END = "<!-- bench:onnx-relu-cnn:begin -->", "<!-- bench:onnx-relu-cnn:end -->"


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import onnxruntime
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    _, Xte, _, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    session = onnxruntime.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    ref = session.run(None, {"image": Xte.reshape(-1, 1, 8, 8).astype(np.float32)})[0]
    return Xte, yte, np.asarray(ref, dtype=np.float64)


def _run(net: object, X: np.ndarray, batch: int, transport: str) -> dict[str, float]:
    from hecrypt.hybrid import private_predict

    labels, logits = [], []
    totals = {"seconds": 0.0, "online_s": 0.0, "bytes": 0.0, "online_bytes": 0.0,
              "offline_bytes": 0.0, "online_rounds": 0.0, "batches": 0.0}
    for start in range(0, len(X), batch):
        chunk = X[start:start + batch].reshape(-1, 8, 8, 1)
        t0 = time.perf_counter()
        res = private_predict(net, chunk, mode="dealer", transport=transport)
        totals["seconds"] += time.perf_counter() - t0
        total = res.report["total"]
        totals["online_s"] += max(res.report[p]["online_s"] for p in ("client", "server"))
        totals["bytes"] += total["bytes_sent"]
        totals["online_bytes"] += total["online_bytes_sent"]
        totals["offline_bytes"] += total["offline_bytes_sent"]
        totals["online_rounds"] = max(totals["online_rounds"], total["online_rounds"])
        totals["batches"] += 1
        labels.append(res.labels)
        logits.append(res.logits)
    totals["labels"] = np.concatenate(labels)  # type: ignore[assignment]
    totals["logits"] = np.concatenate(logits)  # type: ignore[assignment]
    return totals


def _session_client(party: Any, batches: list[np.ndarray]) -> list[dict[str, Any]]:
    from hecrypt.hybrid.parties import client_program

    return [client_program(party, chunk) for chunk in batches]


def _session_server(party: Any, model: Any, count: int) -> None:
    from hecrypt.hybrid.parties import server_program

    for _ in range(count):
        server_program(party, model)


def _session_dealer(party: Any, count: int) -> None:
    from hecrypt.hybrid.triples import dealer_program

    for _ in range(count):
        dealer_program(party)


def _idle(party: Any) -> None:
    return None


def _tcp_startup() -> float:
    """Seconds of one ``run_parties`` over TCP whose three programs do nothing."""
    from hecrypt.hybrid.runner import run_parties

    t0 = time.perf_counter()
    run_parties({"client": _idle, "server": _idle, "dealer": _idle}, transport="tcp")
    return time.perf_counter() - t0


def _run_session(net: Any, X: np.ndarray, batch: int) -> dict[str, Any]:
    """Every batch in one TCP session of long-lived party processes."""
    from hecrypt.hybrid.parties import portable_model
    from hecrypt.hybrid.report import total_report
    from hecrypt.hybrid.runner import run_parties

    batches = [X[start:start + batch].reshape(-1, 8, 8, 1) for start in range(0, len(X), batch)]
    programs: dict[str, Any] = {
        "client": functools.partial(_session_client, batches=batches),
        "server": functools.partial(_session_server, model=portable_model(net),
                                    count=len(batches)),
        "dealer": functools.partial(_session_dealer, count=len(batches)),
    }
    reports: dict[str, Any] = {}
    t0 = time.perf_counter()
    out: dict[str, Any] = run_parties(programs, transport="tcp", reports=reports)
    seconds = time.perf_counter() - t0
    total = total_report(reports)
    return {
        "seconds": seconds,
        "online_s": max(reports[p]["online_s"] for p in ("client", "server")),
        "bytes": total["bytes_sent"], "online_bytes": total["online_bytes_sent"],
        "offline_bytes": total["offline_bytes_sent"],
        "online_rounds": total["online_rounds"] / len(batches),
        "labels": np.concatenate([o["labels"] for o in out["client"]]),
    }


def measure(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Run every configuration; returns the block's markdown lines and the failed checks."""
    from hecrypt.models import from_onnx

    X, y, ref = _data()
    net = from_onnx(MODEL)
    runs = [("memory", args.batch), ("memory", 1)]
    if args.tcp:
        runs += [("tcp", args.batch), ("tcp session", args.batch)]
    lines = [
        "## Private inference of an imported ReLU + max-pooling CNN (dealer)",
        "",
        "The PyTorch network of `tests/models/data/make_digits_relu_cnn.py` (Conv 8 3x3 + BN + "
        "ReLU + MaxPool 2, Conv 16 3x3 + ReLU + MaxPool 2, Dense 32 + ReLU, Dense 10), imported "
        "with `hecrypt.models.from_onnx`; exact ReLU and max pooling by secure comparison "
        "(docs/architecture.md), 16 fractional bits, three parties as threads (memory) or "
        "processes (tcp) on one machine. Time includes the offline phase (the dealer's "
        "triples). Bytes are all parties' sent bytes, framing included.",
        "",
        f"Command: `python scripts/bench_onnx_relu_cnn.py --batch {args.batch}"
        f"{' --tcp' if args.tcp else ''}{' --write ' + args.write if args.write else ''}`  ",
        f"Machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {datetime.date.today().isoformat()}",
        "",
        "| transport | batch | images | images/s | online s/image | bytes/image (online + "
        "offline) | online rounds per batch | labels = onnxruntime | accuracy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    failures: list[str] = []
    for transport, batch in runs:
        images = X if batch > 1 else X[:20]
        if transport == "tcp session":
            t = _run_session(net, images, batch)
        else:
            t = dict(_run(net, images, batch, transport))
        n = len(images)
        agree = float(np.mean(t["labels"] == ref[:n].argmax(1)))
        acc = float(np.mean(t["labels"] == y[:n]))
        if not agree >= 0.99:
            failures.append(f"{transport}, batch {batch}: private labels equal onnxruntime's "
                            f"on {agree:.2%} of {n} images, below 99%")
        lines.append(
            f"| {transport} | {batch} | {n} | {n / t['seconds']:.1f} | "
            f"{t['online_s'] / n * 1e3:.2f} ms | {t['bytes'] / n / 1e3:,.0f} kB "
            f"({t['online_bytes'] / n / 1e3:,.0f} + {t['offline_bytes'] / n / 1e3:,.0f}) | "
            f"{t['online_rounds']:.0f} | {agree:.2%} | {acc:.2%} |")
        print(lines[-1], flush=True)
    if args.tcp:
        startup = min(_tcp_startup() for _ in range(3))
        lines += ["", f"Start-up of three party processes over TCP with nothing to compute: "
                  f"{startup:.2f} s (best of 3); `private_predict(transport=\"tcp\")` pays it "
                  "on every call, the \"tcp session\" row once for all batches."]
    lines += [
        "",
        "Rounds per batch do not grow with the batch: per exact ReLU 9, per 2x2 max pooling "
        "2 x 9 (a ReLU right before a max pooling runs after it, on one value per window), one "
        "per linear layer; bytes per comparison 224 per computing party online and 112 from "
        "the dealer, plus framing. Batch 1 is measured on the first 20 images. In the tcp "
        "session row the rounds are the session's depth divided by its batches.",
    ]
    return lines, failures


def write_block(path: str | Path, block: str) -> None:
    """Replace this benchmark's marked block in ``path`` (appended if absent)."""
    p = Path(path)
    text = p.read_text(encoding="utf-8") if p.exists() else "# Performance\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    p.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 when every check passed; 1 otherwise, and then nothing is written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--tcp", action="store_true", help="also run over TCP (processes)")
    parser.add_argument("--write", metavar="PATH", default=None)
    args = parser.parse_args(argv)

    lines, failures = measure(args)
    block = "\n".join([BEGIN, *lines, END])
    if failures:
        print(block)
        print("CHECK FAILED: the figures above are not valid")
        for line in failures:
            print(f"- FAILED: {line}")
        if args.write:
            print(f"{args.write} left unchanged: the report is written only when every "
                  "check of the run passed")
        return 1
    if args.write:
        write_block(args.write, block)
    else:
        print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
