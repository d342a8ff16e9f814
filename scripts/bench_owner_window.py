"""Owner encryption speed and table memory for one table window.

Run it once per window, alternating (one process per run, so each holds the
tables of one window only)::

    for w in 12 8 12 8; do python scripts/bench_owner_window.py $w; done

The window is the key's own setting (``PrivateKey.with_owner_window``); without
an argument the process default is used (``HECRYPT_OWNER_WINDOW``, else 12).

Prints the median time per value of ``PrivateKey.encrypt_batch`` (1,000
values, 2048-bit key, 5 repeats after two warm-up batches) and the size of
this process's owner tables.
"""

from __future__ import annotations

import statistics
import sys
import time

import hecrypt
from hecrypt.paillier import randomness


def main() -> None:
    """Measure and print one line."""
    window = int(sys.argv[1]) if len(sys.argv) > 1 else None
    _, sk = hecrypt.generate_keypair(2048, owner_window=window)
    values = [float(i) * 0.37 for i in range(1000)]
    sk.encrypt_batch(values)
    sk.encrypt_batch(values)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        sk.encrypt_batch(values)
        times.append((time.perf_counter() - t0) / len(values))
    for _ in range(randomness.OWNER_TABLES_AFTER + 1):  # this process's own tables
        sk.encrypt(1.0)
    tables = randomness.owner_sampler(sk.p, sk.q, sk.owner_window).nbytes
    print(
        f"window={sk.owner_window} median_us={statistics.median(times) * 1e6:.0f} "
        f"min_us={min(times) * 1e6:.0f} tables_MiB={tables / 2**20:.0f}"
    )


if __name__ == "__main__":
    main()
