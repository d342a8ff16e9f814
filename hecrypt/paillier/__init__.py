"""Paillier encryption: keys, encrypted numbers, fast randomness, interop.

This package is the *recipe* tier for Paillier: everything here validates
its inputs. Raw encryption with a caller-chosen ``r`` (``raw_encrypt``) and
the kernels in :mod:`hecrypt.paillier.parallel` and
:mod:`hecrypt.paillier.randomness` are low-level.
"""

from __future__ import annotations

from hecrypt.paillier.circuit import (
    precompute_circuit_private,
    rerandomize_for_key_holder,
)
from hecrypt.paillier.keys import (
    DEFAULT_KEY_BITS,
    MIN_KEY_BITS,
    PrivateKey,
    PublicKey,
    generate_keypair,
)
from hecrypt.paillier.number import EncryptedNumber
from hecrypt.paillier.packed import PackedTensor
from hecrypt.paillier.parallel import SerialExecutor
from hecrypt.paillier.tensor import EncryptedTensor, matmul

__all__ = [
    "DEFAULT_KEY_BITS",
    "MIN_KEY_BITS",
    "PublicKey",
    "PrivateKey",
    "EncryptedNumber",
    "EncryptedTensor",
    "PackedTensor",
    "SerialExecutor",
    "generate_keypair",
    "matmul",
    "precompute_circuit_private",
    "rerandomize_for_key_holder",
]
