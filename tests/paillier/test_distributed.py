"""Batch calls on a real Dask ``distributed`` cluster equal the local path.

The cluster runs on loopback with two worker *processes*, so every chunk is
pickled, sent over TCP, computed in another interpreter and sent back: the
same path as a remote cluster, minus the network. ``distributed`` is a test
dependency, so this module fails (never skips) when it is missing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Executor
from typing import Any, cast

import distributed
import numpy as np
import pytest

from hecrypt.paillier import PrivateKey, PublicKey, SerialExecutor, parallel
from hecrypt.paillier.tensor import EncryptedTensor, matmul

Keys = tuple[PublicKey, PrivateKey]

SERIAL = SerialExecutor()
COUNT = parallel.MIN_PARALLEL_ITEMS + 37


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    start = time.monotonic()
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    dask_client = distributed.Client(cluster)
    try:
        yield dask_client
    finally:
        dask_client.close()
        cluster.close()
        assert cluster.status.name == "closed"
        # the whole module (start, tests, shutdown) stays well under a minute
        assert time.monotonic() - start < 60


@pytest.fixture
def executor(client: distributed.Client) -> Executor:
    return client.get_executor()


def _values(count: int) -> list[int | float]:
    return [i * 7919 - 300 if i % 2 else (i - count / 2) / 8 for i in range(count)]


def _close(got: list[Any], want: list[Any]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if isinstance(w, int):
            assert type(g) is int and g == w
        else:
            assert abs(g - w) <= 2.0**-33


def test_cluster_has_two_worker_processes(client: distributed.Client) -> None:
    workers = client.scheduler_info()["workers"]
    assert len(workers) == 2
    assert all(w["host"] == "127.0.0.1" for w in workers.values())
    pids = client.run(lambda: __import__("os").getpid())
    assert len(set(pids.values())) == 2
    assert not parallel.is_in_process(client.get_executor())


@pytest.mark.parametrize("owner", [False, True], ids=["public", "private"])
def test_batch_encrypt_and_decrypt(keypair_1024: Keys, executor: Executor, owner: bool) -> None:
    pk, sk = keypair_1024
    values = _values(COUNT)
    encrypt = sk.encrypt_batch if owner else pk.encrypt_batch
    calls: list[tuple[int, int]] = []
    cts = encrypt(values, executor=executor, progress=lambda d, t: calls.append((d, t)))
    assert [c.scale for c in cts] == [0 if isinstance(v, int) else 32 for v in values]
    assert all(c.is_fresh for c in cts)
    assert len({c.ciphertext for c in cts}) == COUNT
    assert calls[-1] == (COUNT, COUNT)
    local = sk.decrypt_batch(cts, executor=SERIAL)
    _close(local, values)
    calls.clear()
    remote = sk.decrypt_batch(cts, executor=executor, progress=lambda d, t: calls.append((d, t)))
    assert remote == local
    assert calls[-1] == (COUNT, COUNT)


@pytest.mark.parametrize("owner", [False, True], ids=["public", "private"])
def test_equal_chunks_get_fresh_randomness(
    keypair_1024: Keys, executor: Executor, owner: bool
) -> None:
    # Two chunks of identical plaintexts: an executor that caches calls by
    # their arguments (Dask's default for submit) must still run both.
    pk, sk = keypair_1024
    zeros = [0] * (2 * parallel.MIN_PARALLEL_ITEMS)
    encrypt = sk.encrypt_batch if owner else pk.encrypt_batch
    first = encrypt(zeros, executor=executor)
    again = encrypt(zeros, executor=executor)
    cts = {c.ciphertext for c in first} | {c.ciphertext for c in again}
    assert len(cts) == 2 * len(zeros)
    assert sk.decrypt_batch(first, executor=executor) == zeros


@pytest.mark.parametrize("owner", [False, True], ids=["public", "private"])
def test_tensor_encrypt_decrypt(keypair_1024: Keys, executor: Executor, owner: bool) -> None:
    pk, sk = keypair_1024
    x = np.linspace(-3.0, 3.0, 96).reshape(8, 12)
    key: PublicKey | PrivateKey = sk if owner else pk
    t = key.encrypt(x, executor=executor)
    assert isinstance(t, EncryptedTensor) and t.shape == (8, 12) and t.is_fresh
    local = sk.decrypt(t, executor=SERIAL)
    assert np.allclose(local, x, atol=2.0**-32)
    assert np.array_equal(sk.decrypt(t, executor=executor), local)
    ints = np.arange(-40, 40, dtype=np.int64).reshape(10, 8)
    u = key.encrypt(ints, executor=executor)
    assert np.array_equal(sk.decrypt(u, executor=executor), ints)


def test_tensor_matmul(keypair_1024: Keys, executor: Executor) -> None:
    _, sk = keypair_1024
    x = np.arange(-30, 30, dtype=np.int64).reshape(6, 10)
    t = sk.encrypt(x, executor=SERIAL)
    w = np.arange(-35, 35, dtype=np.int64).reshape(10, 7)
    calls: list[tuple[int, int]] = []

    # 6 rows and 7 columns: the columns are cut into chunks
    out = matmul(t, w, executor=executor, progress=lambda d, n: calls.append((d, n)))
    assert np.array_equal(out.ciphertexts, (t @ w).ciphertexts)
    assert np.array_equal(sk.decrypt(out), x @ w)
    assert calls[-1] == (42, 42)

    # 24 rows: the rows are cut into chunks
    tall = sk.encrypt(np.arange(-120, 120, dtype=np.int64).reshape(24, 10), executor=SERIAL)
    got = matmul(tall, w, executor=executor)
    assert np.array_equal(got.ciphertexts, (tall @ w).ciphertexts)

    # vector @ W (one row: columns are split), float weights, and W @ tensor
    v = t[0]
    wf = np.linspace(-1.0, 1.0, 70).reshape(10, 7)
    assert np.array_equal(matmul(v, wf, executor=executor).ciphertexts, (v @ wf).ciphertexts)
    left = np.arange(-12, 12, dtype=np.int64).reshape(4, 6)
    right = matmul(left, t, executor=executor)
    expected = cast(EncryptedTensor, left @ t)  # numpy hands @ to the tensor
    assert np.array_equal(right.ciphertexts, expected.ciphertexts)
    assert right.encoding == expected.encoding
    assert np.array_equal(sk.decrypt(right), left @ x)
