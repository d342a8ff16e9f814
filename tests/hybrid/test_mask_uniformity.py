"""The masks, shares and seeds of the hybrid protocols are uniform over their whole range.

Sources: :func:`~hecrypt.hybrid.paillier_cross.server_mask` (statistical
masks ``r`` uniform in ``[0, 2^(bound_bits + sigma))``, plus an offset),
:func:`~hecrypt.hybrid.paillier_cross.random_uint64`,
:func:`~hecrypt.hybrid.ring.random_ring`, :func:`~hecrypt.hybrid.ring.new_seed`
and its SHAKE-256 expansion :func:`~hecrypt.hybrid.ring.expand_seed`, the
dealer's seeds and shares, and everything the Paillier triple source draws
(shares, masks, circuit-private re-randomizers, the client's encryption
randomness).

Checks are exact binomial bounds (``tests/uniformity.py``); every check
asserts its false-alarm bound (at most 2^-38), each test the sum stated in
its docstring, and the run's ledger a total of at most 2^-30.
"""

from __future__ import annotations

import functools
import hashlib
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from hecrypt import _gmp
from hecrypt.hybrid import paillier_cross as pc
from hecrypt.hybrid import ring
from hecrypt.hybrid.paillier_triples import PaillierTripleSource
from hecrypt.hybrid.runner import run_parties
from hecrypt.hybrid.triples import DealerTripleSource, TripleRequest, dealer_program
from hecrypt.paillier import SerialExecutor, randomness

#: False-alarm bound each test asserts for the sum of its checks.
TEST_LIMIT = Fraction(1, 1 << 35)
#: Ring elements per checked stream.
RING_DRAWS = 2048


def words(values: Any) -> list[int]:
    """The elements of a uint64 array as Python ints."""
    return [int(v) for v in np.asarray(values, dtype=np.uint64).ravel().tolist()]


# ------------------------------------------------------------------ ring randomness
@pytest.mark.parametrize("source", ["random_ring", "random_uint64"])
def test_ring_elements_are_uniform(uniform: Any, source: str) -> None:
    """``ring.random_ring`` and ``paillier_cross.random_uint64`` fill every bit of every
    element: 2048 values uniform in ``[0, 2^64)`` (bins, bit lengths, each of the 64 bits).

    False alarm: one check, about 2^-40 (asserted below 2^-38).
    """
    draw = ring.random_ring if source == "random_ring" else pc.random_uint64
    x = draw((32, RING_DRAWS // 32))
    assert x.dtype == np.uint64 and x.shape == (32, RING_DRAWS // 32)
    assert x.flags.writeable
    uniform.below(words(x), 1 << 64, what=source)


def test_seeds_are_uniform(uniform: Any) -> None:
    """``ring.new_seed`` gives 32 bytes uniform in ``[0, 2^256)`` (every bit checked).

    False alarm: one check, about 2^-41 (asserted below 2^-38).
    """
    seeds = [ring.new_seed() for _ in range(256)]
    assert all(isinstance(s, bytes) and len(s) == ring.SEED_BYTES == 32 for s in seeds)
    uniform.below([int.from_bytes(s, "little") for s in seeds], 1 << 256, what="new_seed")


def test_seed_expansion_is_shake256_of_the_whole_seed(uniform: Any) -> None:
    """``expand_seed`` is SHAKE-256(seed || len(label) || label) read as little-endian
    uint64 (its documented construction); every byte of the seed and the label
    change the stream; a stream is uniform in ``[0, 2^64)``.

    False alarm: one check, about 2^-40 (asserted below 2^-38); the rest is exact.
    """
    seed = ring.new_seed()
    label = b"\x00\x00\x00\x00\x00\x00\x00\x03a"
    x = ring.expand_seed(seed, label, (RING_DRAWS,))
    digest = hashlib.shake_256(seed + bytes([len(label)]) + label).digest(8 * RING_DRAWS)
    assert words(x) == [int.from_bytes(digest[i : i + 8], "little")
                        for i in range(0, len(digest), 8)]
    head = words(x[:4])
    for i in range(ring.SEED_BYTES):
        other = bytearray(seed)
        other[i] ^= 0x01
        assert words(ring.expand_seed(bytes(other), label, (4,))) != head, f"seed byte {i} unused"
    for i in range(len(label)):
        other = bytearray(label)
        other[i] ^= 0x01
        assert words(ring.expand_seed(seed, bytes(other), (4,))) != head, f"label byte {i} unused"
    uniform.below(words(x), 1 << 64, what="expand_seed")


# ------------------------------------------------------------------ statistical masks
@pytest.mark.parametrize("bound_bits,sigma,signed", [(129, 40, False), (150, 40, True),
                                                      (100, 64, False)])
def test_server_masks_cover_their_whole_range(
    keypair_1024: Any, uniform: Any, bound_bits: int, sigma: int, signed: bool
) -> None:
    """``server_mask`` adds ``r + offset`` to each slot with ``r`` uniform in
    ``[0, 2^(bound_bits + sigma))``, and the server keeps ``-(r + offset) mod 2^64``.

    The masks are read back from trivial ciphertexts ``1`` (plaintext 0), so the
    plaintext of each masked ciphertext is the packed masks themselves.
    False alarm: one check, about 2^-41 (asserted below 2^-38).
    """
    pk = keypair_1024[0]
    layout = pc.slot_layout(pk.n_bits, bound_bits, sigma)
    count = 256
    s, w = layout.slots, layout.width
    slot_maps = [[(sl, g * s + sl) for sl in range(s) if g * s + sl < count]
                 for g in range(-(-count // s))]
    offset = 1 << (bound_bits - 1) if signed else 0
    masked, share = pc.server_mask(pk, [1] * len(slot_maps), layout, slot_maps, count, offset)
    masks = [0] * count
    for c, smap in zip(masked, slot_maps):
        m, rest = divmod(int(c) - 1, pk.n)  # c = 1 + m n
        assert rest == 0 and m < pk.n
        assert m >> (w * len(smap)) == 0  # nothing above the last used slot
        for sl, idx in smap:
            masks[idx] = ((m >> (w * sl)) & ((1 << w) - 1)) - offset
    assert words(share) == [(-(r + offset)) % (1 << 64) for r in masks]
    uniform.below(masks, 1 << (bound_bits + sigma), what=f"server masks {bound_bits}+{sigma}")


# ------------------------------------------------------------------ dealer
def _computing(party: Any, peer: str, batches: list[list[TripleRequest]]) -> list[Any]:
    src = DealerTripleSource(party, peer)
    out = []
    for reqs in batches:
        src.prepare(reqs)
        out += [src.take(r) for r in reqs]
    src.close()
    return out


def test_dealer_seeds_and_shares_are_uniform(
    uniform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dealer draws two fresh seeds per batch (``ring.new_seed``), and every share
    either party holds (``a_i``, ``b_i``, ``c_0`` expanded from its seed, ``c_1`` sent)
    is uniform in ``[0, 2^64)``.

    False alarm: six checks, sum asserted below 2^-35 (each about 2^-40).
    """
    seeds: list[bytes] = []

    def recorded() -> bytes:
        seed = real()
        seeds.append(seed)
        return seed

    real = ring.new_seed
    monkeypatch.setattr(ring, "new_seed", recorded)
    half = RING_DRAWS // 2
    batches = [[TripleRequest("mul", (half,), (half,))], [TripleRequest("mul", (half,), (half,))]]
    programs: dict[str, Any] = {
        "client": functools.partial(_computing, peer="server", batches=batches),
        "server": functools.partial(_computing, peer="client", batches=batches),
        "dealer": dealer_program,
    }
    out = run_parties(programs, timeout=60)
    assert len(seeds) == 2 * len(batches) and len(set(seeds)) == len(seeds)
    mine, theirs = out["client"], out["server"]  # party 0, party 1
    label = (0).to_bytes(8, "big") + b"a"  # request 0 of its batch
    for i, (t0, t1) in enumerate(zip(mine, theirs)):  # shares come from the recorded seeds
        np.testing.assert_array_equal(t0.a, ring.expand_seed(seeds[2 * i], label, (half,)))
        np.testing.assert_array_equal(t1.a, ring.expand_seed(seeds[2 * i + 1], label, (half,)))
    alarm = Fraction(0)
    for name, part in [("a_0", "a"), ("b_0", "b"), ("c_0", "c")]:
        alarm += uniform.below([v for t in mine for v in words(getattr(t, part))], 1 << 64,
                               what=f"dealer share {name}")
    for name, part in [("a_1", "a"), ("b_1", "b"), ("c_1", "c")]:
        alarm += uniform.below([v for t in theirs for v in words(getattr(t, part))], 1 << 64,
                               what=f"dealer share {name}")
    assert alarm <= TEST_LIMIT


# ------------------------------------------------------------------ Paillier triples
def test_paillier_triple_source_randomness(
    smooth_key: Any, uniform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One batch of Paillier triples, every random value read back:

    - the shares ``a_i``, ``b_i`` both parties draw (``ring.random_ring``):
      uniform in ``[0, 2^64)``;
    - the server's masks: the client's decrypted slot minus the cross term
      ``a_0 b_1 + b_0 a_1`` is ``r``, uniform in ``[0, 2^(129 + sigma))``;
    - the circuit-private re-randomizers ``s^n`` (returned / masked): ``s``
      uniform in ``Z_n^*``, all four character patterns;
    - the client's encryption randomness (key-owner tables, window 8):
      exponents uniform in ``[0, p-1)`` and ``[0, q-1)`` (first 256 values).

    False alarm: ten checks, sum asserted below 2^-35 (each about 2^-40).
    """
    key = smooth_key
    size = 6 * 256  # 6 slots of 170 bits per returned ciphertext: 256 ciphertexts
    req = TripleRequest("mul", (size,), (size,))
    seen: dict[str, Any] = {}

    def record(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            out = fn(*args, **kwargs)
            seen[name] = (args, out)
            return out
        return wrapper

    for name in ("client_encrypt", "server_mask", "circuit_private"):
        monkeypatch.setattr(pc, name, record(name, getattr(pc, name)))
    randomness._cache.pop(("owner", _gmp.mpz(key.p), _gmp.mpz(key.q), pc.CLIENT_TABLE_WINDOW),
                          None)
    ex = SerialExecutor()

    def party(peer: str, p: Any) -> Any:
        src = PaillierTripleSource(p, peer, private_key=key.private_key, executor=ex,
                                   insecure_small_keys=True)
        src.prepare([req])
        return src.take(req)

    out = run_parties({"client": functools.partial(party, "server"),
                       "server": functools.partial(party, "client")}, timeout=120)
    t0, t1 = out["client"], out["server"]
    alarm = Fraction(0)
    for name, x in [("a_0", t0.a), ("b_0", t0.b), ("a_1", t1.a), ("b_1", t1.b)]:
        alarm += uniform.below(words(x), 1 << 64, what=f"Paillier triple share {name}")

    (_, _, layout, slot_maps, _, offset), (masked, _) = seen["server_mask"]
    assert offset == 0 and layout.bound_bits == 129 and len(masked) == 256
    a0, b0, a1, b1 = (words(x) for x in (t0.a, t0.b, t1.a, t1.b))
    w, sk = layout.width, key.private_key
    masks = []
    for c, smap in zip(masked, slot_maps):
        m = sk.raw_decrypt(int(c))
        for sl, e in smap:
            masks.append(((m >> (w * sl)) & ((1 << w) - 1)) - (a0[e] * b1[e] + b0[e] * a1[e]))
    alarm += uniform.below(masks, 1 << (layout.bound_bits + layout.sigma),
                           what="Paillier triple masks")

    (_, before, _), after = seen["circuit_private"]
    rns = [int(c) * pow(int(b), -1, key.nsq) % key.nsq for b, c in zip(before, after)]
    roots = [key.nth_root(v) for v in rns]
    alarm += uniform.below([rp - 1 for rp, _ in roots], key.p - 1, what="triple s mod p - 1")
    alarm += uniform.below([rq - 1 for _, rq in roots], key.q - 1, what="triple s mod q - 1")
    alarm += uniform.characters(rns, key.p, key.q, what="triple circuit-private s^n")

    (_, plaintexts, _, pooled), cts = seen["client_encrypt"]
    assert not pooled and len(cts) == 2 * size
    s = randomness._cache[("owner", _gmp.mpz(key.p), _gmp.mpz(key.q), pc.CLIENT_TABLE_WINDOW)]
    assert s.table_window == pc.CLIENT_TABLE_WINDOW and s._bases is not None
    exps = [key.owner_exponents(key.randomizer(c, m), s._bases)
            for c, m in zip(cts[:256], plaintexts[:256])]
    alarm += uniform.below([a for a, _ in exps], key.p - 1, what="triple client exponent a")
    alarm += uniform.below([b for _, b in exps], key.q - 1, what="triple client exponent b")
    assert alarm <= TEST_LIMIT
