"""The key owner's path: a per-key table window (lower memory) and the precompute pool."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from typing import Any

import numpy as np
import pytest

import hecrypt
from hecrypt.exceptions import ParameterError
from hecrypt.paillier import PrivateKey, PublicKey, keys, parallel, randomness

KeyPair = tuple[PublicKey, PrivateKey]


class CopyingExecutor(Executor):
    """Runs calls at once in this process, but is not one map_chunks trusts as
    in-process: arguments and results take the binary wire form of a worker."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        f: Future[Any] = Future()
        f.set_result(fn(*pickle.loads(pickle.dumps(args)), **kwargs))
        return f


@pytest.fixture()
def own_keypair() -> Iterator[KeyPair]:
    """A key of its own: no pool or table of another test applies to it."""
    pk, sk = hecrypt.generate_keypair(1024, insecure_small_keys=True)
    yield pk, sk
    keys._pools.pop(pk._n, None)
    for k in [k for k in randomness._cache if k[0] == "owner" and k[1] * k[2] == pk.n]:
        del randomness._cache[k]


def _owner_samplers(pk: PublicKey) -> dict[int, randomness.KeyOwnerSampler]:
    return {
        k[3]: s for k, s in randomness._cache.items() if k[0] == "owner" and k[1] * k[2] == pk.n
    }


def test_a_key_chooses_its_table_window(own_keypair: KeyPair) -> None:
    pk, sk = own_keypair
    assert sk.owner_window == randomness.OWNER_WINDOW
    small = sk.with_owner_window(4)
    assert small.owner_window == 4 and small == sk and hash(small) == hash(sk)
    assert small.with_owner_window(None).owner_window == randomness.OWNER_WINDOW
    count = randomness.OWNER_TABLES_AFTER + 8  # past the threshold: tables are built
    values = list(range(-count // 2, count - count // 2))
    for executor in (parallel.SerialExecutor(), CopyingExecutor()):
        batch = small.encrypt_batch(values, executor=executor)
        assert sk.decrypt_batch(batch) == values
    samplers = _owner_samplers(pk)
    assert list(samplers) == [4]  # the default window's tables were never built
    assert samplers[4]._tables is not None and samplers[4].window == 4
    tensor = small.encrypt(np.arange(6.0).reshape(2, 3), executor=CopyingExecutor())
    np.testing.assert_array_equal(sk.decrypt(tensor), np.arange(6.0).reshape(2, 3))
    # the setting survives pickling (it is how a key reaches worker processes)
    assert pickle.loads(pickle.dumps(small)).owner_window == 4
    assert pickle.loads(pickle.dumps(sk)).owner_window == randomness.OWNER_WINDOW


def test_generate_keypair_takes_the_window() -> None:
    _, sk = hecrypt.generate_keypair(
        1024, insecure_small_keys=True, owner_window=randomness.LOW_MEMORY_OWNER_WINDOW
    )
    assert sk.owner_window == 8
    assert PrivateKey(sk.public_key, sk.p, sk.q, owner_window=6).owner_window == 6


@pytest.mark.parametrize("window", [3, 17, 8.0, True, "8"])
def test_windows_outside_4_to_16_are_refused(keypair_1024: KeyPair, window: Any) -> None:
    pk, sk = keypair_1024
    with pytest.raises(ParameterError, match="window"):
        sk.with_owner_window(window)
    with pytest.raises(ParameterError, match="window"):
        PrivateKey(pk, sk.p, sk.q, owner_window=window)
    with pytest.raises(ParameterError, match="window"):
        hecrypt.generate_keypair(1024, insecure_small_keys=True, owner_window=window)


def test_owner_tensor_and_packed_encryption_draw_from_the_pool(own_keypair: KeyPair) -> None:
    pk, sk = own_keypair
    n, nsq = pk.n, pk.nsquare
    serial = parallel.SerialExecutor()
    assert sk.precompute(10, executor=serial) == 10
    head = [int(r) for r in list(keys._pools[pk._n]._values)[:4]]
    t = sk.encrypt(np.array([[1, -2], [3, 4]]), executor=serial)
    assert pk.pool_size == 6
    assert [int(c) for c in t.ciphertexts.reshape(-1)] == [
        (1 + (m % n) * n) * r % nsq for m, r in zip([1, -2, 3, 4], head)
    ]
    np.testing.assert_array_equal(sk.decrypt(t), [[1, -2], [3, 4]])
    records = np.arange(8.0).reshape(4, 2)
    packed = sk.encrypt_packed(records, value_bound=8.0, executor=serial)
    assert pk.pool_size == 6 - packed.ciphertexts.size
    np.testing.assert_allclose(sk.decrypt(packed), records)
    # larger than the pool: the rest comes from the owner's sampler
    big = sk.encrypt(np.arange(12.0), executor=serial)
    assert pk.pool_size == 0
    np.testing.assert_array_equal(sk.decrypt(big), np.arange(12.0))
