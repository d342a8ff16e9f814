"""HE -> shares -> HE is the identity mod 2^64; masks have the documented size."""

from __future__ import annotations

import importlib.util
import pathlib
from typing import Any

import numpy as np
import pytest

from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid import conversions as cv
from hecrypt.hybrid import paillier_cross as pc
from hecrypt.paillier import SerialExecutor

_spec = importlib.util.spec_from_file_location(
    "_cross_helpers_cv", pathlib.Path(__file__).with_name("test_paillier_cross.py"))
assert _spec is not None and _spec.loader is not None
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
run_two = _helpers.run_two

EX = SerialExecutor()


def _enc(pk: Any, values: list[int]) -> list[Any]:
    return [pk.raw_encrypt(v % pk.n) for v in values]


@pytest.mark.parametrize("bound_bits", [20, 90, 200])
def test_he_to_shares_to_he_identity(keypair_1024: Any, bound_bits: int) -> None:
    pk, sk = keypair_1024
    rng = np.random.default_rng(bound_bits)
    top = (1 << (bound_bits - 1)) - 1
    values = [int(v) for v in rng.integers(-(2**62), 2**62, size=25)]
    values = [v % top if v >= 0 else -((-v) % top) for v in values]
    values += [top, -top, 0, 1, -1]  # the tracked bound itself
    cts = _enc(pk, values)

    def server(p: Any) -> Any:
        s1 = cv.he_to_shares_server(p, "client", pk, cts, bound_bits, executor=EX)
        return cv.shares_to_he_server(p, "client", pk, s1)

    def client(p: Any) -> Any:
        s0 = cv.he_to_shares_client(p, "server", sk, len(values), bound_bits, executor=EX)
        cv.shares_to_he_client(p, "server", sk, s0, executor=EX)
        return s0

    s0, back = run_two(client, server)
    assert len(back) == len(values)
    got = [sk.raw_decrypt(int(c)) % 2**64 for c in back]
    assert got == [v % 2**64 for v in values]
    assert s0.dtype == np.uint64 and len(set(s0.tolist())) == len(values)


def test_masks_have_the_documented_size(keypair_1024: Any) -> None:
    pk, sk = keypair_1024
    bound = 30
    lay, smap = cv.conversion_layout(pk.n_bits, 12, bound)
    assert lay.width == bound + pc.DEFAULT_SIGMA + 1
    masked, share = pc.server_mask(pk, _enc(pk, [0] * len(smap)), lay, smap, 12,
                                   1 << (bound - 1))
    rbits = []
    for c, sm in zip(masked, smap):
        m = sk.raw_decrypt(int(c))
        for sl, idx in sm:
            r = ((m >> (lay.width * sl)) & ((1 << lay.width) - 1)) - (1 << (bound - 1))
            assert 0 <= r < 1 << (bound + pc.DEFAULT_SIGMA)
            assert (r + (1 << (bound - 1)) + int(share[idx])) % 2**64 == 0
            rbits.append(r.bit_length())
    assert max(rbits) >= bound + pc.DEFAULT_SIGMA - 8  # full-size masks, not short ones
    assert m >> (lay.width * len(smap[-1])) == 0


def test_corrupted_answer_is_refused(keypair_1024: Any) -> None:
    pk, sk = keypair_1024

    class Corrupt:
        def __init__(self, inner: Any) -> None:
            self.inner, self.name = inner, inner.name

        def send(self, to: str, obj: Any) -> None:
            blob = bytearray(obj["cts"])
            blob[len(blob) // 2] ^= 0x40
            self.inner.send(to, {**obj, "cts": bytes(blob)})

    def server(p: Any) -> Any:
        return cv.he_to_shares_server(Corrupt(p), "client", pk, _enc(pk, [5] * 4), 20,
                                      executor=EX)

    def client(p: Any) -> Any:
        with pytest.raises(ProtocolError, match="corrupted"):
            cv.he_to_shares_client(p, "server", sk, 4, 20, executor=EX)

    run_two(client, server)
