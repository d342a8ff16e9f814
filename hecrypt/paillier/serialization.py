"""Binary and JSON forms of keys, encrypted numbers and encrypted batches.

Every form is versioned and self-describing; loaders validate every field
and raise a :class:`~hecrypt.exceptions.HecryptError` subclass whose message
states the rule that was broken:

* :class:`~hecrypt.exceptions.InvalidKey` for key data (bad header, size
  policy, ``p * q != n``, ...),
* :class:`~hecrypt.exceptions.InvalidCiphertext` for encrypted numbers and
  batches (bad header, truncation, ``c`` outside ``(0, n^2)`` or not a unit,
  scale out of bounds, ...),
* :class:`~hecrypt.exceptions.KeyMismatchError` when the data names another
  key than the one given to the loader.

Binary layout (all integers big-endian; the full description, with sizes,
is in ``docs/formats.md``)::

    header      magic b"HECR" | version u8 (= 1) | type u8
    public key  header(0x01) | len u16 | n
    private key header(0x81) | len u16 | n | len u16 | p | len u16 | q
    number      header(0x02) | fingerprint 8 | scale u16 | c (2*|n| bytes)
                [| len u16 | bound]   (absent: bound = max_int)
    batch       header(0x03) | fingerprint 8 | count u32 | mode u8
                | scale u16 (mode 0) or count x scale u16 (mode 1)
                [| len u16 | bound]   (when mode has the flag 0x10)
                | count x c (2*|n| bytes each)
    tensor      header(0x04) | fingerprint 8 | scale u16 | len u16 | bound
                | ndim u8 | ndim x dim u32 | prod(dims) x c (2*|n| bytes each,
                C order)
    packed      header(0x05) | fingerprint 8 | slot_bits u16 | slots u16
                | headroom u16 | mask_bits u16 | count u16 | len u16 | bound
                | scale u16 | weight scale u16 | records u32 | rank u8
                | columns u32 | chunks x columns x c (2*|n| bytes each)

``|n|`` is the byte length of the modulus, so a ciphertext always takes
exactly ``2*|n|`` bytes (528 bytes at 2048 bits) and a number takes 16 bytes
more. Key integers are stored in minimal form (no leading zero byte).

JSON objects carry a ``"kind"`` (``"hecrypt.public_key"``,
``"hecrypt.private_key"``, ``"hecrypt.encrypted_number"``,
``"hecrypt.encrypted_batch"``) and a ``"version"``; integers are standard
base64 of the same big-endian bytes.

Private keys are secret. Their binary type tag has the high bit set
(``0x81``) and their JSON carries ``"kind": "hecrypt.private_key"`` and
``"secret": true``. Store them as you would any private key: readable only
by their owner, never sent to the other party, never logged.

Leaks: a serialized number or batch reveals the key fingerprint, the scale
of each value, the number of values, and nothing about the values
themselves provided the ciphertexts are fresh. Encrypted numbers that are
homomorphic results (not fresh) are therefore re-randomized before they are
written, unless the caller passes ``rerandomize=False`` explicitly (only for
data that stays with the key owner or is re-randomized later).

The forms live in four modules, and every name is re-exported here:
:mod:`hecrypt.paillier.framing` (constants, headers, readers, field
checks), :mod:`hecrypt.paillier.key_forms` (keys),
:mod:`hecrypt.paillier.number_forms` (numbers and batches) and
:mod:`hecrypt.paillier.tensor_forms` (tensors and packed tensors).
"""

from __future__ import annotations

from hecrypt.paillier.framing import _FINGERPRINT_LEN as _FINGERPRINT_LEN
from hecrypt.paillier.framing import _HEADER_LEN as _HEADER_LEN
from hecrypt.paillier.framing import _KIND_BATCH as _KIND_BATCH
from hecrypt.paillier.framing import _KIND_NUMBER as _KIND_NUMBER
from hecrypt.paillier.framing import _KIND_PRIVATE as _KIND_PRIVATE
from hecrypt.paillier.framing import _KIND_PUBLIC as _KIND_PUBLIC
from hecrypt.paillier.framing import _SCALE_PER_ITEM as _SCALE_PER_ITEM
from hecrypt.paillier.framing import _SCALE_UNIFORM as _SCALE_UNIFORM
from hecrypt.paillier.framing import _TYPE_NAMES as _TYPE_NAMES
from hecrypt.paillier.framing import _WITH_BOUND as _WITH_BOUND
from hecrypt.paillier.framing import FORMAT_VERSION as FORMAT_VERSION
from hecrypt.paillier.framing import MAGIC as MAGIC
from hecrypt.paillier.framing import MAX_BATCH_SIZE as MAX_BATCH_SIZE
from hecrypt.paillier.framing import MAX_SCALE as MAX_SCALE
from hecrypt.paillier.framing import MAX_TENSOR_NDIM as MAX_TENSOR_NDIM
from hecrypt.paillier.framing import TYPE_ENCRYPTED_BATCH as TYPE_ENCRYPTED_BATCH
from hecrypt.paillier.framing import TYPE_ENCRYPTED_NUMBER as TYPE_ENCRYPTED_NUMBER
from hecrypt.paillier.framing import TYPE_ENCRYPTED_TENSOR as TYPE_ENCRYPTED_TENSOR
from hecrypt.paillier.framing import TYPE_PACKED_TENSOR as TYPE_PACKED_TENSOR
from hecrypt.paillier.framing import TYPE_PRIVATE_KEY as TYPE_PRIVATE_KEY
from hecrypt.paillier.framing import TYPE_PUBLIC_KEY as TYPE_PUBLIC_KEY
from hecrypt.paillier.framing import _as_bytes as _as_bytes
from hecrypt.paillier.framing import _b64 as _b64
from hecrypt.paillier.framing import _check_fingerprint as _check_fingerprint
from hecrypt.paillier.framing import _check_public_key_arg as _check_public_key_arg
from hecrypt.paillier.framing import _check_scale as _check_scale
from hecrypt.paillier.framing import _dumps as _dumps
from hecrypt.paillier.framing import _DuplicateField as _DuplicateField
from hecrypt.paillier.framing import _Error as _Error
from hecrypt.paillier.framing import _fingerprint_bytes as _fingerprint_bytes
from hecrypt.paillier.framing import _header as _header
from hecrypt.paillier.framing import _json_ciphertext as _json_ciphertext
from hecrypt.paillier.framing import _json_int as _json_int
from hecrypt.paillier.framing import _json_key_int as _json_key_int
from hecrypt.paillier.framing import _json_str as _json_str
from hecrypt.paillier.framing import _load_json as _load_json
from hecrypt.paillier.framing import _minimal_bytes as _minimal_bytes
from hecrypt.paillier.framing import _no_duplicates as _no_duplicates
from hecrypt.paillier.framing import _read_bound as _read_bound
from hecrypt.paillier.framing import _read_ciphertexts as _read_ciphertexts
from hecrypt.paillier.framing import _read_fingerprint as _read_fingerprint
from hecrypt.paillier.framing import _read_header as _read_header
from hecrypt.paillier.framing import _Reader as _Reader
from hecrypt.paillier.framing import _reject_constant as _reject_constant
from hecrypt.paillier.framing import _unb64 as _unb64
from hecrypt.paillier.framing import ciphertext_width as ciphertext_width
from hecrypt.paillier.key_forms import private_key_from_bytes as private_key_from_bytes
from hecrypt.paillier.key_forms import private_key_from_json as private_key_from_json
from hecrypt.paillier.key_forms import private_key_to_bytes as private_key_to_bytes
from hecrypt.paillier.key_forms import private_key_to_json as private_key_to_json
from hecrypt.paillier.key_forms import public_key_from_bytes as public_key_from_bytes
from hecrypt.paillier.key_forms import public_key_from_json as public_key_from_json
from hecrypt.paillier.key_forms import public_key_to_bytes as public_key_to_bytes
from hecrypt.paillier.key_forms import public_key_to_json as public_key_to_json
from hecrypt.paillier.number_forms import _batch_arg as _batch_arg
from hecrypt.paillier.number_forms import _bound_bytes as _bound_bytes
from hecrypt.paillier.number_forms import _bound_json as _bound_json
from hecrypt.paillier.number_forms import _check_number_arg as _check_number_arg
from hecrypt.paillier.number_forms import _check_number_bound as _check_number_bound
from hecrypt.paillier.number_forms import _fresh_batch as _fresh_batch
from hecrypt.paillier.number_forms import _json_bound as _json_bound
from hecrypt.paillier.number_forms import _load_batch_item as _load_batch_item
from hecrypt.paillier.number_forms import _load_number as _load_number
from hecrypt.paillier.number_forms import encrypted_batch_from_bytes as encrypted_batch_from_bytes
from hecrypt.paillier.number_forms import encrypted_batch_from_json as encrypted_batch_from_json
from hecrypt.paillier.number_forms import encrypted_batch_to_bytes as encrypted_batch_to_bytes
from hecrypt.paillier.number_forms import encrypted_batch_to_json as encrypted_batch_to_json
from hecrypt.paillier.number_forms import encrypted_number_from_bytes as encrypted_number_from_bytes
from hecrypt.paillier.number_forms import encrypted_number_from_json as encrypted_number_from_json
from hecrypt.paillier.number_forms import encrypted_number_to_bytes as encrypted_number_to_bytes
from hecrypt.paillier.number_forms import encrypted_number_to_json as encrypted_number_to_json
from hecrypt.paillier.tensor_forms import encrypted_tensor_from_bytes as encrypted_tensor_from_bytes
from hecrypt.paillier.tensor_forms import encrypted_tensor_to_bytes as encrypted_tensor_to_bytes
from hecrypt.paillier.tensor_forms import packed_tensor_from_bytes as packed_tensor_from_bytes
from hecrypt.paillier.tensor_forms import packed_tensor_to_bytes as packed_tensor_to_bytes

__all__ = [
    "MAGIC",
    "FORMAT_VERSION",
    "MAX_SCALE",
    "MAX_BATCH_SIZE",
    "TYPE_PUBLIC_KEY",
    "TYPE_PRIVATE_KEY",
    "TYPE_ENCRYPTED_NUMBER",
    "TYPE_ENCRYPTED_BATCH",
    "public_key_to_bytes",
    "public_key_from_bytes",
    "public_key_to_json",
    "public_key_from_json",
    "private_key_to_bytes",
    "private_key_from_bytes",
    "private_key_to_json",
    "private_key_from_json",
    "encrypted_number_to_bytes",
    "encrypted_number_from_bytes",
    "encrypted_number_to_json",
    "encrypted_number_from_json",
    "encrypted_batch_to_bytes",
    "encrypted_batch_from_bytes",
    "encrypted_batch_to_json",
    "encrypted_batch_from_json",
    "encrypted_tensor_to_bytes",
    "encrypted_tensor_from_bytes",
    "TYPE_ENCRYPTED_TENSOR",
    "MAX_TENSOR_NDIM",
    "ciphertext_width",
    "TYPE_PACKED_TENSOR",
    "packed_tensor_to_bytes",
    "packed_tensor_from_bytes",
]
