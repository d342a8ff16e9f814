"""End to end at the default key size: keygen, batch encryption, arithmetic, batch decryption."""

from __future__ import annotations

import numpy as np

from hecrypt.paillier import PrivateKey, PublicKey, parallel

KeyPair = tuple[PublicKey, PrivateKey]


def test_end_to_end_2048(keypair_2048: KeyPair) -> None:
    pk, sk = keypair_2048
    assert pk.n_bits == 2048

    rng = np.random.default_rng(20240601)
    count = parallel.MIN_PARALLEL_ITEMS + 32  # large enough for the default process pool
    x = rng.normal(0.0, 100.0, count)
    w = rng.uniform(-2.0, 2.0, count)
    bias = 0.75

    # the client encrypts with the private key's fast path, anyone can with the public key
    by_owner = sk.encrypt_batch(x)
    by_public = pk.encrypt_batch(x)
    assert len(by_owner) == len(by_public) == count
    assert all(c.is_fresh and c.scale == 32 for c in by_owner + by_public)
    assert {c.ciphertext for c in by_owner}.isdisjoint({c.ciphertext for c in by_public})

    # elementwise: w*x from one batch plus x from the other, minus a constant
    ys = [wi * a + b - 1 for wi, a, b in zip(w.tolist(), by_owner, by_public)]
    # a dot product with a bias: what a linear model computes on encrypted features
    score = sum(wi * a for wi, a in zip(w.tolist(), by_public)) + bias
    # integers mixed in: exact at scale 0, aligned exactly with the float scale
    counts = pk.encrypt_batch(list(range(-10, 10)))
    shifted = [c * 3 + a for c, a in zip(counts, by_owner)]

    out = sk.decrypt_batch([*ys, score, *shifted])
    got_ys, got_score, got_shifted = out[:count], out[count], out[count + 1 :]

    np.testing.assert_allclose(got_ys, w * x + x - 1, rtol=0, atol=1e-6)
    assert abs(got_score - (float(np.dot(w, x)) + bias)) < 1e-6
    want_shifted = [3 * i + a for i, a in zip(range(-10, 10), x[:20].tolist())]
    np.testing.assert_allclose(got_shifted, want_shifted, rtol=0, atol=1e-9)

    # round trips of the inputs themselves, through both batch paths
    for batch in (by_owner, by_public):
        np.testing.assert_allclose(sk.decrypt_batch(batch), x, rtol=0, atol=2.0**-33)
    assert sk.decrypt_batch(counts) == list(range(-10, 10))

    # results are not fresh; re-randomizing keeps the values
    assert not score.is_fresh
    fresh = score.rerandomized()
    assert fresh.is_fresh and fresh.ciphertext != score.ciphertext
    assert sk.decrypt(fresh) == got_score
