"""Masked cross products between the key holder and the server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from hecrypt.exceptions import EncodingOverflowError
from hecrypt.hybrid import paillier_cross as pc
from hecrypt.hybrid.runner import run_parties
from hecrypt.paillier import SerialExecutor


def run_two(client: Callable[[Any], Any], server: Callable[[Any], Any]) -> tuple[Any, Any]:
    """Run the two programs as in-memory parties; their results (client, server)."""
    out = run_parties({"client": client, "server": server}, timeout=60)
    return out["client"], out["server"]


def _cross(keypair: Any, jobs: list[pc.Job], xs: list[Any], ys: list[Any]) -> list[np.ndarray]:
    pk, sk = keypair
    ex = SerialExecutor()
    c, s = run_two(
        lambda p: pc.client_cross(p, "server", sk, jobs, xs, executor=ex),
        lambda p: pc.server_cross(p, "client", pk, jobs, ys, executor=ex),
    )
    return [a + b for a, b in zip(c, s)]  # uint64 wrap-around is the ring


def test_elementwise_and_matmul_exact_mod_2_64(keypair_1024: Any) -> None:
    rng = np.random.default_rng(1)
    u64 = lambda *s: rng.integers(0, 2**64, size=s, dtype=np.uint64)  # noqa: E731
    x_ew, y_ew = u64(2, 23), u64(2, 23)
    shapes = [(1, 5, 3), (3, 4, 20), (13, 2, 1), (25, 3, 4)]
    jobs: list[pc.Job] = [pc.ElementwiseJob(23, 2)]
    xs: list[Any] = [x_ew]
    ys: list[Any] = [y_ew]
    for m, k, n in shapes:
        jobs.append(pc.MatmulJob(m, k, n))
        xs.append(u64(m, k))
        ys.append(u64(k, n))
    got = _cross(keypair_1024, jobs, xs, ys)
    with np.errstate(over="ignore"):
        want = [(x_ew * y_ew).sum(axis=0, dtype=np.uint64)]
        for x, y in zip(xs[1:], ys[1:]):
            want.append(np.array([[sum(int(a) * int(b) for a, b in zip(r, c)) % 2**64
                                   for c in y.T] for r in x], dtype=np.uint64))
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("m,k,n", [(1, 7, 5), (3, 2, 9), (20, 4, 3)])
def test_lifted_signed_matmul_is_exact_mod_2_64(keypair_1024: Any, m: int, k: int, n: int) -> None:
    rng = np.random.default_rng(m)
    x0 = rng.integers(0, 2**64, size=(m, k), dtype=np.uint64)
    x1 = rng.integers(0, 2**64, size=(m, k), dtype=np.uint64)
    y = rng.integers(-(2**20) + 1, 2**20, size=(k, n))
    y[0, 0] = -(2**20) + 1  # the bound itself
    job = pc.MatmulJob(m, k, n, y_bits=20, signed=True, lifted=True)
    (got,) = _cross(keypair_1024, [job], [x0], [(x1, y)])
    with np.errstate(over="ignore"):
        want = (x0 + x1) @ y.astype(np.int64).view(np.uint64)
    np.testing.assert_array_equal(got, want)
    with pytest.raises(EncodingOverflowError):
        pc._server_operand(pc.MatmulJob(m, k, n, y_bits=19, signed=True), y)


def test_layout_mask_size() -> None:
    lay = pc.slot_layout(2048, 129)
    assert lay.width == 129 + 40 + 1 and lay.slots == 2046 // 170
    with pytest.raises(ValueError, match="at least 40"):
        pc.slot_layout(2048, 129, sigma=39)
    with pytest.raises(EncodingOverflowError):
        pc.slot_layout(1024, 1000)


def test_returned_ciphertexts_are_uniformly_rerandomized(keypair_1024: Any) -> None:
    """Legendre symbols of the returned ciphertexts mod p and mod q take both values.

    ``c mod p`` is ``s^n mod p`` for the server's randomizer ``s``, whose quadratic
    character is ``(s / p)``: uniform ``s`` gives a fair coin, while DJN randomness
    ``(-x^2)^(n alpha)`` or no re-randomization would fix or reveal a pattern.
    """
    pk, sk = keypair_1024
    ex = SerialExecutor()
    count = 48 * pc.job_layout(pc.ElementwiseJob(1, 1), pk.n_bits).layout.slots
    seen: list[Any] = []

    class Recording:
        def __init__(self, inner: Any) -> None:
            self.inner, self.name = inner, inner.name

        def send(self, to: str, obj: Any) -> None:
            self.inner.send(to, obj)

        def recv(self, frm: str) -> Any:
            msg = self.inner.recv(frm)
            seen.append(msg)
            return msg

    x = np.zeros((1, count), dtype=np.uint64)  # equal plaintexts: only randomness differs
    run_two(
        lambda p: pc.client_cross(Recording(p), "server", sk, [pc.ElementwiseJob(count, 1)],
                                  [x], executor=ex),
        lambda p: pc.server_cross(p, "client", pk, [pc.ElementwiseJob(count, 1)], [x],
                                  executor=ex),
    )
    cts = pc.unpack_blob(seen[0]["cts"], 2 * 128, 48, "answer")
    for prime in (sk.p, sk.q):
        symbols = [pow(int(c) % prime, (prime - 1) // 2, prime) for c in cts]
        assert set(symbols) == {1, prime - 1}
        assert 8 <= symbols.count(1) <= 40  # a fair coin, 48 flips


def test_public_names_keep_the_module_path() -> None:
    # The cross products are split into private parts; the public path stays
    # hecrypt.hybrid.paillier_cross, for reprs and for pickled jobs and kernels.
    import pickle

    from hecrypt.hybrid import _paillier_cross_client, _paillier_cross_server
    from hecrypt.paillier import parallel

    for name in pc.__all__:
        obj = getattr(pc, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__module__ == "hecrypt.hybrid.paillier_cross", name
            assert pickle.loads(pickle.dumps(obj)) is obj, name
    for kernel in (pc.client_encrypt_chunk, pc.client_sample_chunk, pc._multiexp_chunk,
                   pc._horner_chunk):
        assert kernel.__module__ == "hecrypt.hybrid.paillier_cross"
        assert pickle.loads(pickle.dumps(kernel)) is kernel
    assert pc.client_encrypt_chunk is _paillier_cross_client.client_encrypt_chunk
    assert pc.server_mask is _paillier_cross_server.server_mask
    assert pc.client_encrypt_chunk in parallel._WIRE_FORMS
    assert pc.client_sample_chunk in parallel._WIRE_FORMS
    job = pc.MatmulJob(2, 3, 4, signed=True)
    assert repr(job).startswith("MatmulJob(")
    assert pickle.loads(pickle.dumps(job)) == job
