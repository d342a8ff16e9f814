"""Party programs for the process tests (a plain module: spawned children import it)."""

from __future__ import annotations

import os
import time

import numpy as np

from hecrypt.hybrid.channels import Party


def dies_after_one(p: Party) -> None:
    p.send("b", 1)
    time.sleep(0.2)
    os._exit(3)


def raises(p: Party) -> None:
    p.recv("b")
    raise ValueError("bad input")


def talks_to_a(p: Party) -> object:
    p.send("a", np.arange(4, dtype=np.uint64))
    return p.recv("a"), p.recv("a")


def waits_for_a(p: Party) -> object:
    return p.recv("a")


def _pool_pids() -> list[int]:
    """Start hecrypt's process pool in this party and return its workers' ids."""
    from hecrypt.paillier import parallel

    pool = parallel.default_executor()
    futures = [pool.submit(os.getpid) for _ in range(8)]
    return sorted({f.result(timeout=60) for f in futures})


def encrypts_with_the_pool(p: Party) -> object:
    """A batch of 64 Paillier encryptions (the pool's threshold) and the pool's worker ids."""
    import hecrypt
    from hecrypt.paillier import parallel

    pk, sk = hecrypt.generate_keypair(1024, insecure_small_keys=True)
    values = np.arange(parallel.MIN_PARALLEL_ITEMS, dtype=np.float64)
    enc = pk.encrypt(values, executor=parallel.default_executor())
    total = float(sk.decrypt(enc.sum()))
    other = p.exchange(p.peers[0], total)
    return {"total": total, "peer_total": other, "workers": _pool_pids()}


def pool_then_hangs(p: Party) -> None:
    """Start a worker pool, tell the peer its workers' ids, then never finish."""
    p.send(p.peers[0], _pool_pids())
    while True:  # ignores the abort: only the runner can end this party
        time.sleep(0.5)


def records_pids_then_raises(p: Party, path: str) -> None:
    """Write the peer's worker ids to ``path``, then fail."""
    pids = p.recv(p.peers[0])
    with open(path, "w") as fh:
        fh.write(" ".join(str(int(v)) for v in pids))
    raise ValueError("failed on purpose after the peer started its workers")
