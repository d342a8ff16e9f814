"""hecrypt: private machine learning on the Paillier cryptosystem.

The names exported here are the safe recipes::

    import hecrypt
    public_key, private_key = hecrypt.generate_keypair()      # 2048-bit
    x = public_key.encrypt(3.5)
    y = (x + 2) * 4                                           # on ciphertexts
    private_key.decrypt(y)                                    # 22.0
    private_key.save("me.key")                                # owner-only file
    private_key = hecrypt.load_key("me.key")                  # PrivateKey or PublicKey

Protocol internals (raw encryption, randomness kernels, executors) live in
submodules documented as low-level.
"""

from __future__ import annotations

from hecrypt.comparison import compare
from hecrypt.exceptions import (
    EncodingOverflowError,
    HecryptError,
    InvalidCiphertext,
    InvalidKey,
    KeyMismatchError,
    ProtocolError,
)
from hecrypt.paillier import (
    EncryptedNumber,
    EncryptedTensor,
    PackedTensor,
    PrivateKey,
    PublicKey,
    generate_keypair,
)
from hecrypt.paillier.keyfiles import load_key
from hecrypt.scoring import ScoringClient

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "generate_keypair",
    "load_key",
    "PublicKey",
    "PrivateKey",
    "EncryptedNumber",
    "EncryptedTensor",
    "PackedTensor",
    "ScoringClient",
    "compare",
    "HecryptError",
    "KeyMismatchError",
    "EncodingOverflowError",
    "InvalidCiphertext",
    "InvalidKey",
    "ProtocolError",
]
