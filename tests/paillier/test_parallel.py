"""Batch operations over executors: same answers as one at a time, in order."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, cast

import numpy as np
import pytest

from hecrypt.paillier import EncryptedNumber, PrivateKey, PublicKey, parallel

KeyPair = tuple[PublicKey, PrivateKey]

N_ITEMS = parallel.MIN_PARALLEL_ITEMS + 13  # large enough for the default process pool


def _values(count: int) -> list[int | float]:
    out: list[int | float] = []
    for i in range(count):
        out.append(i * 7919 - 300 if i % 2 else (i - count / 2) / 8 + 0.001 * i)
    return out


def _close(got: list[int | float], want: list[int | float]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if isinstance(w, int):
            assert type(g) is int and g == w
        else:
            assert abs(g - w) <= 2.0**-33


def _square_chunk(offset: int, xs: list[int]) -> list[int]:
    return [offset + x * x for x in xs]


@pytest.fixture(scope="module")
def thread_pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as ex:
        yield ex


@pytest.fixture(scope="module")
def spawn_pool() -> Iterator[ProcessPoolExecutor]:
    # spawn: workers start from a fresh interpreter, so everything must pickle
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as ex:
        yield ex


EXECUTORS = ["serial", "threads", "own-processes", "default"]


@pytest.fixture(params=EXECUTORS)
def executor(
    request: pytest.FixtureRequest,
    thread_pool: ThreadPoolExecutor,
    spawn_pool: ProcessPoolExecutor,
) -> Executor | None:
    return {
        "serial": parallel.SerialExecutor(),
        "threads": thread_pool,
        "own-processes": spawn_pool,
        "default": None,
    }[request.param]


# ------------------------------------------------------------------ map_chunks
# The chunk function must be importable by worker processes started with
# spawn, so these tests map the library's own deterministic kernel (CRT
# decryption) over ciphertexts of known plaintexts.


def _known_ciphertexts(keys: KeyPair, count: int) -> tuple[tuple[int, int], list[int], list[int]]:
    pk, sk = keys
    n, nsq = pk.n, pk.nsquare
    rn = pow(2, n, nsq)
    ms = [(i * 1000003) % n for i in range(count)]
    return (sk.p, sk.q), ms, [(1 + m * n) * rn % nsq for m in ms]


def test_map_chunks_order_and_chunking(keypair_1024: KeyPair, executor: Executor | None) -> None:
    common, ms, cs = _known_ciphertexts(keypair_1024, N_ITEMS)
    calls: list[tuple[int, int]] = []
    out = parallel.map_chunks(
        parallel.decrypt_chunk,
        common,
        cs,
        executor=executor,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert [int(m) for m in out] == ms
    done = [d for d, _ in calls]
    assert all(t == N_ITEMS for _, t in calls)
    assert done == sorted(set(done))
    assert done[-1] == N_ITEMS
    assert len(calls) > 1  # progress asks for several chunks


def test_map_chunks_empty_and_tiny(keypair_1024: KeyPair, executor: Executor | None) -> None:
    common, ms, cs = _known_ciphertexts(keypair_1024, 2)
    calls: list[tuple[int, int]] = []
    assert parallel.map_chunks(parallel.decrypt_chunk, common, [], executor=executor) == []
    assert (
        parallel.map_chunks(
            parallel.decrypt_chunk,
            common,
            [],
            executor=executor,
            progress=lambda d, t: calls.append((d, t)),
        )
        == []
    )
    assert calls == []
    assert parallel.map_chunks(parallel.decrypt_chunk, common, cs[1:], executor=executor) == ms[1:]
    out = parallel.map_chunks(
        parallel.decrypt_chunk,
        common,
        cs,
        executor=executor,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert out == ms
    assert calls[-1] == (2, 2)


def test_default_executor_is_a_shared_process_pool(keypair_1024: KeyPair) -> None:
    if parallel._workers() < 2:
        pytest.skip("the default pool is only used with two or more cores")
    common, ms, cs = _known_ciphertexts(keypair_1024, N_ITEMS)
    ex = parallel.default_executor()
    assert isinstance(ex, ProcessPoolExecutor)
    assert parallel.default_executor() is ex
    assert parallel.map_chunks(parallel.decrypt_chunk, common, cs) == ms
    parallel.shutdown_default_executor()
    assert parallel._default is None
    again = parallel.default_executor()
    assert again is not ex
    assert parallel.map_chunks(parallel.decrypt_chunk, common, cs) == ms


def test_small_batches_stay_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> Executor:
        raise AssertionError("the process pool must not be used for a small batch")

    monkeypatch.setattr(parallel, "default_executor", refuse)
    small = list(range(parallel.MIN_PARALLEL_ITEMS - 1))
    assert parallel.map_chunks(_square_chunk, (0,), small) == [x * x for x in small]


def test_serial_executor_reports_errors() -> None:
    ex = parallel.SerialExecutor()
    assert ex.submit(pow, 3, 4, 5).result() == 81 % 5
    fut = ex.submit(_square_chunk, 0, None)
    assert isinstance(fut.exception(), TypeError)
    with pytest.raises(TypeError):
        parallel.map_chunks(_square_chunk, (0,), [1, None], executor=ex)


# ------------------------------------------------------------------ encryption and decryption
@pytest.mark.parametrize("owner", [False, True], ids=["public", "private"])
def test_batch_equals_single(keypair_1024: KeyPair, executor: Executor | None, owner: bool) -> None:
    pk, sk = keypair_1024
    values = _values(N_ITEMS)
    encrypt_batch: Callable[..., list[EncryptedNumber]] = (
        sk.encrypt_batch if owner else pk.encrypt_batch
    )
    calls: list[tuple[int, int]] = []
    cts = encrypt_batch(values, executor=executor, progress=lambda d, t: calls.append((d, t)))
    assert len(cts) == N_ITEMS
    assert all(isinstance(c, EncryptedNumber) and c.is_fresh for c in cts)
    assert [c.scale for c in cts] == [0 if isinstance(v, int) else 32 for v in values]
    assert len({c.ciphertext for c in cts}) == N_ITEMS
    assert calls[-1] == (N_ITEMS, N_ITEMS)
    assert [d for d, _ in calls] == sorted({d for d, _ in calls})

    single = [sk.decrypt(c) for c in cts]
    _close(single, values)
    calls.clear()
    batch = sk.decrypt_batch(cts, executor=executor, progress=lambda d, t: calls.append((d, t)))
    assert batch == single
    assert calls[-1] == (N_ITEMS, N_ITEMS)
    # single encryptions decrypt the same through the batch path
    singles = [pk.encrypt(v) if not owner else sk.encrypt(v) for v in values[:8]]
    assert sk.decrypt_batch(singles, executor=executor) == [sk.decrypt(c) for c in singles]


def test_batch_of_homomorphic_results(keypair_1024: KeyPair, executor: Executor | None) -> None:
    pk, sk = keypair_1024
    xs = pk.encrypt_batch(list(range(N_ITEMS)), executor=executor)
    ys = [x * 3 - 1.5 for x in xs]
    assert sk.decrypt_batch(ys, executor=executor) == [3 * i - 1.5 for i in range(N_ITEMS)]


def test_numpy_inputs(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    floats = np.linspace(-2.0, 2.0, 9)
    ints = np.arange(-4, 5, dtype=np.int64)
    for enc in (pk.encrypt_batch, sk.encrypt_batch):
        out = sk.decrypt_batch(enc(floats))
        assert all(isinstance(v, float) for v in out)
        np.testing.assert_allclose(out, floats, rtol=0, atol=2.0**-33)
        out = sk.decrypt_batch(enc(ints))
        assert out == list(range(-4, 5)) and all(type(v) is int for v in out)
        out = sk.decrypt_batch(enc(np.array([0.5, 1.25], dtype=np.float32), frac_bits=4))
        assert out == [0.5, 1.25]
        assert enc(np.array([], dtype=float)) == []
        with pytest.raises(ValueError):
            enc(np.zeros((2, 2)))
        with pytest.raises(ValueError):
            enc(np.float64(1.0))  # a 0-d array is not a batch


def test_empty_batches(keypair_1024: KeyPair, executor: Executor | None) -> None:
    pk, sk = keypair_1024
    calls: list[tuple[int, int]] = []
    assert pk.encrypt_batch([], executor=executor) == []
    assert sk.encrypt_batch([], executor=executor) == []
    assert sk.decrypt_batch([], executor=executor, progress=lambda d, t: calls.append((d, t))) == []
    assert calls == []


def test_batch_errors(keypair_1024: KeyPair, other_keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    other_pk, _ = other_keypair_1024
    with pytest.raises(TypeError):
        pk.encrypt_batch([1, "2"])
    with pytest.raises(ValueError):
        sk.encrypt_batch([1.0, float("nan")])
    from hecrypt.exceptions import EncodingOverflowError, KeyMismatchError

    with pytest.raises(EncodingOverflowError):
        pk.encrypt_batch([1, pk.max_int + 1])
    with pytest.raises(KeyMismatchError):
        sk.decrypt_batch([pk.encrypt(1), other_pk.encrypt(1)])
    with pytest.raises(TypeError):
        sk.decrypt_batch([pk.encrypt(1), cast(Any, 5)])
    with pytest.raises(ValueError):
        pk.encrypt_batch([1], djn_exponent_bits=0)


# ------------------------------------------------------------------ kernels
def test_kernels_match_textbook(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    p, q, n = sk.p, sk.q, pk.n
    nsq = n * n
    ms = [0, 1, 2, n - 1, n // 2, 123456789]
    rs = [pow(r, n, nsq) for r in (2, 3, 5, 7, 11, 13)]
    cs = parallel._finish(n, nsq, ms, rs)
    assert [int(c) for c in cs] == [pow(n + 1, m, nsq) * r % nsq for m, r in zip(ms, rs)]
    assert [int(m) for m in parallel.crt_decrypt_many(q, p, cs)] == ms  # factor order free
    assert [int(m) for m in parallel.decrypt_chunk(p, q, cs)] == ms
    owner = parallel.owner_encrypt_chunk(p, q, ms)
    assert [int(m) for m in parallel.decrypt_chunk(p, q, owner)] == ms
    djn = parallel.djn_encrypt_chunk(n, None, ms)
    assert [int(m) for m in parallel.decrypt_chunk(p, q, djn)] == ms
    assert len(parallel.owner_sample_chunk(p, q, [2, 3])) == 5
    assert len(parallel.djn_sample_chunk(n, 40, [1, 1, 1])) == 3
