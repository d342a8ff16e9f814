"""``hecrypt demo``: private scoring of scikit-learn models on real data, end to end.

The server trains two models on scikit-learn's bundled data sets (no
download): a ridge regression on *diabetes* and a logistic regression on
*breast cancer*, each behind a ``StandardScaler`` that is folded into the
weights. The client encrypts the test records with its own key pair, the
server scores the ciphertexts (in this process, through the binary wire form),
and the client decrypts and compares with the plaintext model: largest
difference, R^2 or accuracy, time per record and bytes each way.

Then the client classifies a few handwritten digits with the server's shipped
CNN in the two-party hybrid mode (no dealer: convolutions and dense layers
under the client's Paillier key, polynomial sigmoids in additive shares) and
prints each party's cost report, offline and online apart.

Needs scikit-learn (``pip install ".[sklearn]"``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

__all__ = ["run", "Row", "run_digits_hybrid"]


@dataclass(frozen=True)
class Row:
    """One line of the demo's table."""

    task: str
    metric: str
    records: int
    features: int
    max_diff: float
    plain: float
    encrypted: float
    labels_equal: bool  # identical labels, or predictions within 1e-6 relative
    ms_per_record: float
    bytes_sent: int
    bytes_received: int


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    return float(1.0 - np.sum((y - pred) ** 2) / np.sum((y - np.mean(y)) ** 2))


def _score(client: Any, est: Any, X: np.ndarray, y: np.ndarray, task: str) -> Row:
    t0 = time.perf_counter()
    if task == "regression":
        enc = client.predict(X)
        seconds = time.perf_counter() - t0
        plain = est.predict(X)
        diff = float(np.max(np.abs(enc - plain)))
        equal = bool(np.max(np.abs(enc - plain) / np.abs(plain)) < 1e-6)
        m_plain, m_enc, metric = _r2(y, plain), _r2(y, enc), "R^2"
    else:
        proba = client.predict_proba(X)
        seconds = time.perf_counter() - t0
        labels = client.classes_[np.argmax(proba, axis=1)]
        plain_labels = est.predict(X)
        diff = float(np.max(np.abs(proba - est.predict_proba(X))))
        equal = bool(np.array_equal(labels, plain_labels))
        m_plain = float(np.mean(plain_labels == y))
        m_enc, metric = float(np.mean(labels == y)), "accuracy"
    report = client.last_report
    return Row(
        task=task, metric=metric, records=len(X), features=X.shape[1], max_diff=diff,
        plain=m_plain, encrypted=m_enc, labels_equal=equal,
        ms_per_record=1e3 * seconds / len(X),
        bytes_sent=report.bytes_sent, bytes_received=report.bytes_received,
    )


def run(bits: int = 2048, out: TextIO | None = None) -> int:
    """Run the demo with a ``bits``-bit key; returns the exit code (0: all match)."""
    out = sys.stdout if out is None else out
    try:
        from sklearn.datasets import load_breast_cancer, load_diabetes
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.model_selection import train_test_split
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError:
        out.write('the demo trains scikit-learn models: pip install ".[sklearn]"\n')
        return 2

    import hecrypt
    from hecrypt import models

    t0 = time.perf_counter()
    public_key, private_key = hecrypt.generate_keypair(bits, insecure_small_keys=bits < 2048)
    out.write(
        f"client: generated a {public_key.n_bits}-bit key pair in "
        f"{time.perf_counter() - t0:.2f} s (fingerprint {public_key.fingerprint})\n"
    )

    jobs = [
        ("diabetes", "regression", load_diabetes, Ridge(alpha=0.1)),
        ("breast cancer", "classification", load_breast_cancer,
         LogisticRegression(max_iter=1000)),
    ]
    rows: list[tuple[str, Row]] = []
    for name, task, loader, final in jobs:
        X, y = loader(return_X_y=True)
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
        est = make_pipeline(StandardScaler(), final).fit(Xtr, ytr)
        model = models.from_sklearn(est)  # the server's model, scaler folded in
        out.write(
            f"server: trained StandardScaler -> {type(final).__name__} on {name} "
            f"({len(Xtr)} records, {X.shape[1]} features); the weights stay on the server\n"
        )
        client = hecrypt.ScoringClient(model, public_key, private_key)
        rows.append((name, _score(client, est, Xte, yte, task)))

    out.write(
        "client: encrypted each test split, the server scored the ciphertexts, "
        "the client decrypted\n\n"
    )
    head = (f"  {'data set':<15}{'records':>8}{'max |plain - enc|':>19}{'metric':>10}"
            f"{'plaintext':>11}{'encrypted':>11}{'ms/record':>11}{'bytes sent':>12}"
            f"{'bytes back':>12}\n")
    out.write(head)
    for name, r in rows:
        out.write(
            f"  {name:<15}{r.records:>8}{r.max_diff:>19.2e}{r.metric:>10}{r.plain:>11.4f}"
            f"{r.encrypted:>11.4f}{r.ms_per_record:>11.2f}{r.bytes_sent:>12,}"
            f"{r.bytes_received:>12,}\n"
        )
    out.write(
        "\n  max |plain - enc|: predictions (diabetes), class probabilities (breast cancer)\n"
    )
    ok = all(r.labels_equal and abs(r.plain - r.encrypted) < 1e-6 for _, r in rows)
    out.write(
        "\nall encrypted predictions match the plaintext model\n" if ok else "\nMISMATCH\n"
    )
    ok = run_digits_hybrid(bits, out) and ok
    return 0 if ok else 1


def run_digits_hybrid(bits: int = 2048, out: TextIO | None = None, images: int = 2) -> bool:
    """Classify a few test digits with the shipped CNN in the two-party hybrid mode.

    The client's key pair is made in the offline phase; the CNN's linear layers
    run under Paillier on the client's encrypted shares, its sigmoids in
    additive shares with triples made from the same key. Prints the labels
    next to the plaintext network's and the per-party cost report; returns
    whether the labels match.
    """
    out = sys.stdout if out is None else out
    from hecrypt.hybrid import private_predict
    from hecrypt.models import digits_split, load_digits_cnn

    net = load_digits_cnn()
    _, X_test, _, y_test = digits_split()
    X, y = X_test[:images], y_test[:images]
    out.write(f"\nclient: {images} handwritten digits (8x8); server: the shipped CNN "
              f"(2 convolutions, 3 polynomial sigmoids, 2 dense layers). Two parties, no "
              f"dealer: convolutions and dense layers under the client's {bits}-bit Paillier "
              "key, sigmoids in additive shares\n")
    t0 = time.perf_counter()
    res = private_predict(net, X, mode="hybrid", key_bits=bits,
                          insecure_small_keys=bits < 2048, timeout=300)
    wall = time.perf_counter() - t0
    plain = net.predict(X).argmax(axis=1)
    if res.labels is None:
        raise RuntimeError("the digits CNN is a classifier: private_predict returned no labels")
    out.write(f"  true labels      {' '.join(str(int(v)) for v in y)}\n"
              f"  plaintext CNN    {' '.join(str(int(v)) for v in plain)}\n"
              f"  private (hybrid) {' '.join(str(int(v)) for v in res.labels)}\n"
              f"  {wall:.1f} s end to end for {images} images, key generation included\n\n")
    out.write(res.report_table() + "\n")
    ok = bool(np.array_equal(res.labels, plain))
    out.write("the private labels match the plaintext network\n" if ok else "MISMATCH\n")
    return ok
