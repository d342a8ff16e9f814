"""Private inference of the PyTorch ReLU + max-pooling digits CNN (from ONNX) with the dealer.

Runs ``hecrypt.hybrid.private_predict(mode="dealer")`` on the whole digits test
split (``train_test_split(test_size=0.25, random_state=0)``, 450 images) in
batches, checks the private labels against onnxruntime's on the same file, and
prints (or writes into docs/performance.md between the
``<!-- bench:onnx-relu-cnn:begin/end -->`` markers) images per second, bytes
and rounds per image::

    python scripts/bench_onnx_relu_cnn.py [--batch 100] [--tcp] [--write docs/performance.md]

Needs scikit-learn, onnx and onnxruntime (the ``test`` extra). Exits 1 when the
labels agree on fewer than 99% of the images.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--tcp", action="store_true", help="also run over TCP (processes)")
    parser.add_argument("--write", metavar="PATH", default=None)
    args = parser.parse_args(argv)

    from hecrypt.models import from_onnx

    X, y, ref = _data()
    net = from_onnx(MODEL)
    runs = [("memory", args.batch), ("memory", 1)]
    if args.tcp:
        runs.append(("tcp", args.batch))
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
    ok = True
    for transport, batch in runs:
        images = X if batch > 1 else X[:20]
        t = _run(net, images, batch, transport)
        n = len(images)
        agree = float(np.mean(t["labels"] == ref[:n].argmax(1)))  # type: ignore[comparison-overlap]
        acc = float(np.mean(t["labels"] == y[:n]))  # type: ignore[comparison-overlap]
        ok = ok and agree >= 0.99
        lines.append(
            f"| {transport} | {batch} | {n} | {n / t['seconds']:.1f} | "
            f"{t['online_s'] / n * 1e3:.2f} ms | {t['bytes'] / n / 1e3:,.0f} kB "
            f"({t['online_bytes'] / n / 1e3:,.0f} + {t['offline_bytes'] / n / 1e3:,.0f}) | "
            f"{t['online_rounds']:.0f} | {agree:.2%} | {acc:.2%} |")
        print(lines[-1], flush=True)
    lines += [
        "",
        "Rounds per batch do not grow with the batch: per exact ReLU 9, per 2x2 max pooling "
        "2 x 9 (a ReLU right before a max pooling runs after it, on one value per window), one "
        "per linear layer; bytes per comparison 224 per computing party online and 112 from "
        "the dealer, plus framing. Batch 1 is measured on the first 20 images.",
    ]
    block = "\n".join([BEGIN, *lines, END])
    if args.write:
        path = Path(args.write)
        text = path.read_text()
        if BEGIN in text and END in text:
            text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        path.write_text(text)
    else:
        print(block)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
