"""Batch operations over executors: same answers as one at a time, in order."""

from __future__ import annotations

import io
import multiprocessing
import pickle
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, cast

import numpy as np
import pytest

from hecrypt import _gmp
from hecrypt._gmp import mpz
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
    assert len(parallel.djn_sample_chunk(n, 160, [1, 1, 1])) == 3


# ------------------------------------------------------------------ wire form
class PicklingExecutor(Executor):
    """Runs each call after a pickle round trip, as an out-of-process executor
    would, and records what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.sent.append(args)
        fn, args = pickle.loads(pickle.dumps((fn, args)))
        fut: Future[Any] = Future()
        fut.set_result(pickle.loads(pickle.dumps(fn(*args, **kwargs))))
        return fut


def test_pack_and_unpack() -> None:
    values = [0, 1, 255, 256, 2**64 - 1, mpz(2) ** 100 + 7]
    blob = parallel.pack_ints(values, 13)
    assert len(blob) == 13 * len(values)
    assert blob[:13] == bytes(13) and blob[13:26] == bytes(12) + b"\x01"
    out = parallel.unpack_ints(blob, 13)
    assert out == values and all(isinstance(v, type(mpz(0))) for v in out)
    assert parallel.pack_ints([], 8) == b"" and parallel.unpack_ints(b"", 8) == []
    with pytest.raises(OverflowError):
        parallel.pack_ints([2**104], 13)
    with pytest.raises(OverflowError):
        parallel.pack_ints([-1], 13)
    with pytest.raises(ValueError):
        parallel.unpack_ints(blob[:-1], 13)
    with pytest.raises(ValueError):
        parallel.unpack_ints(blob, 0)


def test_in_process_executors(thread_pool: ThreadPoolExecutor) -> None:
    assert parallel.is_in_process(parallel.SerialExecutor())
    assert parallel.is_in_process(thread_pool)
    assert not parallel.is_in_process(PicklingExecutor())


@pytest.mark.parametrize("owner", [False, True], ids=["public", "private"])
def test_chunks_travel_as_fixed_width_blobs(keypair_1024: KeyPair, owner: bool) -> None:
    pk, sk = keypair_1024
    width = (pk.n_bits + 7) // 8
    ex = PicklingExecutor()
    values = list(range(N_ITEMS))
    encrypt = sk.encrypt_batch if owner else pk.encrypt_batch
    cts = encrypt(values, executor=ex)
    assert sk.decrypt_batch(cts, executor=parallel.SerialExecutor()) == values
    sizes = []
    for fn, in_w, out_w, nonce, _common, payload in ex.sent:
        assert fn is (parallel.owner_window_encrypt_chunk if owner else parallel.djn_encrypt_chunk)
        assert (in_w, out_w) == (width, 2 * width)
        assert isinstance(payload, bytes) and len(payload) % width == 0
        assert isinstance(nonce, bytes) and len(nonce) == 16
        sizes.append(len(payload) // width)
    assert sum(sizes) == N_ITEMS
    assert len({args[3] for args in ex.sent}) == len(ex.sent)  # a fresh nonce per call

    ex.sent.clear()
    assert sk.decrypt_batch(cts, executor=ex) == values
    assert all(args[1:3] == (2 * width, width) for args in ex.sent)
    assert sum(len(args[5]) for args in ex.sent) == 2 * width * N_ITEMS


def test_pool_kernels_over_blobs(keypair_1024: KeyPair) -> None:
    pk, sk = keypair_1024
    from hecrypt.paillier import keys

    ex = PicklingExecutor()
    try:
        assert pk.precompute(5, executor=ex) == 5
        assert sk.precompute(4, executor=ex) == 9
        assert all(isinstance(args[5], list) and args[2] > 0 for args in ex.sent)
        assert sk.decrypt(pk.encrypt(7)) == 7
    finally:
        keys._pools.pop(pk._n, None)


def test_unregistered_functions_get_lists_and_a_nonce() -> None:
    ex = PicklingExecutor()
    out = parallel.map_chunks(_square_chunk, (1,), list(range(10)), executor=ex)
    assert out == [1 + x * x for x in range(10)]
    assert all(args[:3] == (_square_chunk, 0, 0) and isinstance(args[5], list) for args in ex.sent)


def test_large_batches_are_cut_into_bounded_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "MAX_CHUNK_ITEMS", 7)
    ex = PicklingExecutor()
    out = parallel.map_chunks(_square_chunk, (0,), list(range(100)), executor=ex)
    assert out == [x * x for x in range(100)]
    assert len(ex.sent) >= 100 // 7 and all(len(args[5]) <= 7 for args in ex.sent)


# ------------------------------------------------------------------ contract
@pytest.mark.parametrize("shape", [(5, 3, 4), (2, 9, 3), (1, 6, 70), (70, 1, 2), (3, 0, 2)])
def test_contract_equals_multi_exponentiation(
    keypair_1024: KeyPair, executor: Executor | None, shape: tuple[int, int, int]
) -> None:
    pk, _ = keypair_1024
    n_rows, k, n_cols = shape
    nsq = pk.nsquare
    rows = [[pow(3 + i + j, pk.n, nsq) for j in range(k)] for i in range(n_rows)]
    cols = [[(i * 31 + j * 7) % 23 - 11 for j in range(k)] for i in range(n_cols)]
    calls: list[tuple[int, int]] = []
    out = parallel.contract(
        rows, cols, nsq, executor=executor, progress=lambda d, t: calls.append((d, t))
    )
    want = [
        [_gmp.multi_powmod(row, col, mpz(nsq)) if k else 1 for col in cols] for row in rows
    ]
    assert out == want
    if k:
        assert calls[-1] == (n_rows * n_cols, n_rows * n_cols)
        assert [d for d, _ in calls] == sorted(set(d for d, _ in calls))


def test_contract_chunks_are_blobs(keypair_1024: KeyPair) -> None:
    pk, _ = keypair_1024
    nsq = pk.nsquare
    rows = [[pow(2 + i + j, pk.n, nsq) for j in range(4)] for i in range(3)]
    cols = [[j - i for j in range(4)] for i in range(80)]  # wide: columns are split
    ex = PicklingExecutor()
    assert parallel.contract(rows, cols, nsq, executor=ex) == parallel.contract(
        rows, cols, nsq, executor=parallel.SerialExecutor()
    )
    width = 2 * ((pk.n_bits + 7) // 8)
    assert len(ex.sent) > 1
    for _mod, w, k, by_rows, payload, _cols in ex.sent:
        assert (w, k, by_rows) == (width, 4, False)
        assert isinstance(payload, bytes) and len(payload) == 3 * 4 * width


def test_contract_empty() -> None:
    assert parallel.contract([], [[1]], 35) == []
    assert parallel.contract([[2]], [], 35) == [[]]


# ------------------------------------------------------------------ progress bar
def test_progress_bar() -> None:
    stream = io.StringIO()
    bar = parallel.progress_bar("encrypt", stream=stream, width=10)
    bar(250, 1000)
    bar(1000, 1000)
    text = stream.getvalue()
    assert text.startswith("\rencrypt [##........]  250/1000  25%")
    assert "\rencrypt [##########] 1000/1000 100%" in text
    assert text.endswith("s\n") and text.count("\n") == 1


def test_progress_bar_drives_a_batch(
    keypair_1024: KeyPair, capsys: pytest.CaptureFixture[str]
) -> None:
    pk, sk = keypair_1024
    cts = pk.encrypt_batch(list(range(20)), executor=parallel.SerialExecutor(),
                           progress=parallel.progress_bar("enc"))
    assert sk.decrypt_batch(cts) == list(range(20))
    err = capsys.readouterr().err
    assert err.count("\r") > 1 and err.endswith("\n") and "20/20" in err
