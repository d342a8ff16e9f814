"""Generate fixed Paillier test vectors (p, q, r, m, c) with an independent check.

Run from the repository root::

    python tests/vectors/make_vectors.py

The script does not import hecrypt. Primes come from a pure-Python
Miller-Rabin search, ciphertexts from the textbook formula
``c = g^m * r^n mod n^2`` with ``g = n + 1`` (built-in ``pow``), and every
vector is checked by textbook decryption ``m = L(c^lambda mod n^2) * mu mod n``
with ``L(x) = (x - 1) / n``, ``lambda = lcm(p - 1, q - 1)`` and
``mu = L(g^lambda mod n^2)^-1 mod n``. When the ``phe`` package is installed
the ciphertexts are also checked against its raw encryption.

Each vector records the residue ``m``, the randomness ``r``, the ciphertext
``c``, a fixed-point ``scale`` and the signed integer ``value`` that ``m``
encodes (``m`` itself up to ``n // 3``, ``m - n`` from ``n - n // 3``), or
``null`` where ``m`` lies outside the valid band and decoding must fail.
Integers are written as decimal strings.
"""

from __future__ import annotations

import json
import math
import secrets
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("paillier_vectors.json")
KEY_BITS = (1024, 2048)
MR_ROUNDS = 40
_SMALL = [p for p in range(3, 2000) if all(p % d for d in range(2, math.isqrt(p) + 1))]


def is_probable_prime(x: int) -> bool:
    if x < 2:
        return False
    for s in _SMALL:
        if x % s == 0:
            return x == s
    d, k = x - 1, 0
    while d % 2 == 0:
        d //= 2
        k += 1
    for _ in range(MR_ROUNDS):
        a = 2 + secrets.randbelow(x - 3)
        y = pow(a, d, x)
        if y in (1, x - 1):
            continue
        for _ in range(k - 1):
            y = y * y % x
            if y == x - 1:
                break
        else:
            return False
    return True


def random_prime(bits: int) -> int:
    """A prime of exactly ``bits`` bits with the two top bits set."""
    top = (1 << (bits - 1)) | (1 << (bits - 2)) | 1
    while True:
        candidate = secrets.randbits(bits) | top
        if is_probable_prime(candidate):
            return candidate


def textbook_encrypt(n: int, m: int, r: int) -> int:
    nsq = n * n
    return pow(n + 1, m, nsq) * pow(r, n, nsq) % nsq


def textbook_decrypt(p: int, q: int, c: int) -> int:
    n = p * q
    nsq = n * n
    lam = math.lcm(p - 1, q - 1)
    mu = pow((pow(n + 1, lam, nsq) - 1) // n, -1, n)
    return (pow(c, lam, nsq) - 1) // n * mu % n


def signed_value(m: int, n: int) -> int | None:
    max_int = n // 3
    if m <= max_int:
        return m
    if m >= n - max_int:
        return m - n
    return None


def random_unit(n: int) -> int:
    while True:
        r = secrets.randbelow(n)
        if r > 1 and math.gcd(r, n) == 1:
            return r


def make_key(bits: int) -> dict[str, Any]:
    while True:
        p, q = random_prime(bits // 2), random_prime(bits - bits // 2)
        n = p * q
        if p != q and n.bit_length() == bits and math.gcd(n, (p - 1) * (q - 1)) == 1:
            break
    p, q = min(p, q), max(p, q)
    max_int = n // 3
    plain: list[tuple[int, int]] = [  # (residue m, scale)
        (0, 0),
        (1, 0),
        (2, 0),
        (n - 1, 0),  # -1
        (n - 2, 0),  # -2
        (12345678901234567890, 0),
        (n - 12345678901234567890, 0),
        (max_int, 0),  # the top of the band
        (n - max_int, 0),  # the bottom of the band
        (max_int + 1, 0),  # just outside: overflow
        (n - max_int - 1, 0),
        (n // 2, 0),
        (secrets.randbelow(max_int), 0),
        (n - secrets.randbelow(max_int), 0),
        (3 << 31, 32),  # 1.5 at 32 fractional bits
        (n - (5 << 30), 32),  # -1.25
        ((1 << 32) // 10, 32),  # 0.1 rounded down at 32 bits
        (n - 1, 32),  # -2^-32
        (7, 3),  # 0.875
    ]
    randoms = [1, n - 1] + [random_unit(n) for _ in range(len(plain) - 2)]
    vectors = []
    for (m, scale), r in zip(plain, randoms):
        c = textbook_encrypt(n, m, r)
        assert c == (1 + m * n) * pow(r, n, n * n) % (n * n)  # g = n + 1: g^m = 1 + m*n
        assert textbook_decrypt(p, q, c) == m
        value = signed_value(m, n)
        vectors.append(
            {
                "m": str(m),
                "r": str(r),
                "c": str(c),
                "scale": scale,
                "value": None if value is None else str(value),
            }
        )
    lam = math.lcm(p - 1, q - 1)
    return {
        "bits": bits,
        "p": str(p),
        "q": str(q),
        "n": str(n),
        "lambda": str(lam),
        "mu": str(pow((pow(n + 1, lam, n * n) - 1) // n, -1, n)),
        "vectors": vectors,
    }


def check_with_phe(data: dict[str, Any]) -> bool:
    """Cross-check ciphertexts with phe's raw encryption, if phe is installed."""
    try:
        from phe import paillier
    except ImportError:
        return False
    for key in data["keys"]:
        n = int(key["n"])
        pk = paillier.PaillierPublicKey(n)
        sk = paillier.PaillierPrivateKey(pk, int(key["p"]), int(key["q"]))
        for v in key["vectors"]:
            m, r, c = int(v["m"]), int(v["r"]), int(v["c"])
            assert pk.raw_encrypt(m, r_value=r) == c
            assert sk.raw_decrypt(c) == m
    return True


def main() -> int:
    data: dict[str, Any] = {
        "description": (
            "Paillier test vectors with g = n + 1: c = g^m * r^n mod n^2. "
            "Integers are decimal strings. 'value' is the signed integer encoded by m "
            "(null: outside the valid band [-n//3, n//3], decoding must fail); the "
            "decoded number is value / 2^scale."
        ),
        "generator": "tests/vectors/make_vectors.py",
        "keys": [make_key(bits) for bits in KEY_BITS],
    }
    phe_checked = check_with_phe(data)
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    count = sum(len(k["vectors"]) for k in data["keys"])
    print(
        f"wrote {count} vectors to {OUT} (phe cross-check: {'yes' if phe_checked else 'skipped'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
