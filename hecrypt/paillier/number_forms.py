"""Binary and JSON forms of encrypted numbers and batches of them under one key.

Writers re-randomize numbers that are not fresh (homomorphic results)
unless told ``rerandomize=False``; a batch draws that randomness in one go.
Loaders validate every ciphertext (range and unit), the scales and the
public bound, and mark nothing fresh. Layouts are described in
:mod:`hecrypt.paillier.serialization` and ``docs/formats.md``.

Leaks: the key fingerprint, the number of values, each scale and the
public bound; nothing about the values when the ciphertexts are fresh.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hecrypt.exceptions import InvalidCiphertext, KeyMismatchError
from hecrypt.paillier.framing import (
    _KIND_BATCH,
    _KIND_NUMBER,
    _SCALE_PER_ITEM,
    _SCALE_UNIFORM,
    _WITH_BOUND,
    FORMAT_VERSION,
    MAX_BATCH_SIZE,
    MAX_SCALE,
    TYPE_ENCRYPTED_BATCH,
    TYPE_ENCRYPTED_NUMBER,
    _b64,
    _check_fingerprint,
    _check_public_key_arg,
    _check_scale,
    _dumps,
    _fingerprint_bytes,
    _header,
    _json_ciphertext,
    _json_int,
    _json_str,
    _load_json,
    _read_bound,
    _read_ciphertexts,
    _read_fingerprint,
    _read_header,
    ciphertext_width,
)
from hecrypt.paillier.keys import PublicKey
from hecrypt.paillier.number import EncryptedNumber, validate_ciphertext


# ============================================================== number checks
def _check_number_arg(x: Any) -> EncryptedNumber:
    if not isinstance(x, EncryptedNumber):
        raise TypeError(f"expected a hecrypt EncryptedNumber, not {type(x).__name__}")
    if x.scale > MAX_SCALE:
        raise ValueError(
            f"scale {x.scale} is above the serializable limit of {MAX_SCALE} fractional bits"
        )
    return x


def _load_number(
    public_key: PublicKey, c: int, scale: int, bound: int | None = None
) -> EncryptedNumber:
    c = validate_ciphertext(public_key, c)
    return EncryptedNumber._make(public_key, c, scale, False, bound)


def _bound_bytes(bound: int) -> bytes:
    """``len u16 | bound`` in minimal big-endian form (length 0 for 0)."""
    raw = bound.to_bytes((bound.bit_length() + 7) // 8, "big")
    return len(raw).to_bytes(2, "big") + raw


def _check_number_bound(bound: int, public_key: PublicKey) -> int:
    if bound > public_key.max_int:
        raise InvalidCiphertext(
            f"a bound of {bound.bit_length()} bits exceeds the {public_key.max_int.bit_length()}"
            "-bit plaintext band of the key"
        )
    return bound


def _bound_json(bound: int) -> str:
    return format(bound, "x")


def _json_bound(value: Any, public_key: PublicKey) -> int:
    """A bound written by :func:`_bound_json`: lowercase hex digits, no leading zero."""
    if not isinstance(value, str):
        raise InvalidCiphertext(f"field 'bound' must be a JSON string, not {type(value).__name__}")
    limit = (public_key.max_int.bit_length() + 3) // 4
    if (
        not value
        or len(value) > limit
        or (len(value) > 1 and value[0] == "0")
        or any(ch not in "0123456789abcdef" for ch in value)
    ):
        raise InvalidCiphertext(
            f"field 'bound' must be at most {limit} lowercase hex digits without a leading zero"
        )
    return _check_number_bound(int(value, 16), public_key)


def _fresh_batch(xs: list[EncryptedNumber], public_key: PublicKey) -> list[EncryptedNumber]:
    """Re-randomize the non-fresh numbers, drawing their randomness in one go."""
    stale = [i for i, x in enumerate(xs) if not x.is_fresh]
    if not stale:
        return xs
    rs = public_key._take_randomness(len(stale))
    nsq = public_key._nsq
    out = list(xs)
    for i, r in zip(stale, rs):
        x = xs[i]
        out[i] = EncryptedNumber._make(public_key, x._c * r % nsq, x._scale, True, x._bound)
    return out


def _batch_arg(
    xs: Iterable[EncryptedNumber], public_key: PublicKey | None
) -> tuple[list[EncryptedNumber], PublicKey]:
    items = [_check_number_arg(x) for x in xs]
    if public_key is not None:
        pk = _check_public_key_arg(public_key)
    elif items:
        pk = items[0].public_key
    else:
        raise ValueError("an empty batch needs public_key= to name the key it belongs to")
    for x in items:
        if x.public_key is not pk and x.public_key != pk:
            raise KeyMismatchError(
                f"a batch holds numbers under one key: found {x.public_key.fingerprint} "
                f"among numbers under {pk.fingerprint}"
            )
    if len(items) > MAX_BATCH_SIZE:
        raise ValueError(f"a batch holds at most {MAX_BATCH_SIZE} numbers")
    return items, pk


# ========================================================== encrypted numbers
def encrypted_number_to_bytes(x: EncryptedNumber, *, rerandomize: bool = True) -> bytes:
    """Binary form of one encrypted number.

    Layout: header (type 0x02) ``| fingerprint (8) | scale u16 | c | len u16
    | bound`` with ``c`` in exactly ``2*|n|`` bytes and the public bound on
    ``|m|`` in minimal form (data written without the bound still loads, with
    the widest bound ``max_int``).

    Args:
        x: the number to write.
        rerandomize: re-randomize ``x`` first if it is not fresh (default).
            Pass False only for data that stays with the key owner.

    Leaks: the key fingerprint, the scale and the bound.
    """
    x = _check_number_arg(x)
    if rerandomize:
        x = x.fresh()
    pk = x.public_key
    return b"".join(
        (
            _header(TYPE_ENCRYPTED_NUMBER),
            _fingerprint_bytes(pk),
            x.scale.to_bytes(2, "big"),
            x.ciphertext.to_bytes(ciphertext_width(pk), "big"),
            _bound_bytes(x.bound),
        )
    )


def encrypted_number_from_bytes(data: bytes, public_key: PublicKey) -> EncryptedNumber:
    """Load and validate a number written by :func:`encrypted_number_to_bytes`.

    The result is not marked fresh: it is re-randomized if it is sent on.

    Raises:
        InvalidCiphertext: bad header or type tag, truncated or trailing
            data, scale above :data:`MAX_SCALE`, ``c`` outside ``(0, n^2)``
            or sharing a factor with ``n``.
        KeyMismatchError: the data was made under another key.
    """
    pk = _check_public_key_arg(public_key)
    r = _read_header(data, TYPE_ENCRYPTED_NUMBER, InvalidCiphertext)
    _read_fingerprint(r, pk)
    scale = _check_scale(r.uint(2, "scale"), InvalidCiphertext)
    c = r.uint(ciphertext_width(pk), "ciphertext")
    bound = None
    if r.pos < len(r.data):
        bound = _check_number_bound(_read_bound(r), pk)
    r.finish()
    return _load_number(pk, c, scale, bound)


def encrypted_number_to_json(x: EncryptedNumber, *, rerandomize: bool = True) -> str:
    """JSON form of one encrypted number.

    ``{"kind": "hecrypt.encrypted_number", "version": 1, "key": fingerprint,
    "scale": int, "ciphertext": base64 of 2*|n| bytes, "bound": hex}``.
    Re-randomizes first as :func:`encrypted_number_to_bytes` does. The
    ``"bound"`` (lowercase hex) is optional when loading (default ``max_int``).
    """
    x = _check_number_arg(x)
    if rerandomize:
        x = x.fresh()
    pk = x.public_key
    return _dumps(
        {
            "kind": _KIND_NUMBER,
            "version": FORMAT_VERSION,
            "key": pk.fingerprint,
            "scale": x.scale,
            "ciphertext": _b64(x.ciphertext.to_bytes(ciphertext_width(pk), "big")),
            "bound": _bound_json(x.bound),
        }
    )


def encrypted_number_from_json(text: str | bytes, public_key: PublicKey) -> EncryptedNumber:
    """Load and validate a number written by :func:`encrypted_number_to_json`.

    Raises:
        InvalidCiphertext: not JSON, wrong kind or version, missing, unknown
            or ill-typed fields, scale out of bounds, ciphertext of the wrong
            width, out of range or not a unit.
        KeyMismatchError: the data was made under another key.
    """
    pk = _check_public_key_arg(public_key)
    fields = ("kind", "version", "key", "scale", "ciphertext")
    what = "encrypted number"
    obj = _load_json(text, _KIND_NUMBER, fields, InvalidCiphertext, what, ("bound",))
    _check_fingerprint(_json_str(obj["key"], "key", InvalidCiphertext), pk, what)
    scale = _check_scale(_json_int(obj["scale"], "scale", InvalidCiphertext), InvalidCiphertext)
    c = _json_ciphertext(obj["ciphertext"], "ciphertext", ciphertext_width(pk))
    bound = _json_bound(obj["bound"], pk) if "bound" in obj else None
    return _load_number(pk, c, scale, bound)


# ========================================================== encrypted batches
def encrypted_batch_to_bytes(
    xs: Iterable[EncryptedNumber],
    *,
    rerandomize: bool = True,
    public_key: PublicKey | None = None,
) -> bytes:
    """Binary form of a list of encrypted numbers under one key.

    Layout: header (type 0x03) ``| fingerprint (8) | count u32 | mode u8``,
    then the scales (mode 0: one ``u16`` shared by all; mode 1: ``count``
    ``u16``, written when scales differ), then ``count`` ciphertexts of
    exactly ``2*|n|`` bytes. With one scale that is
    ``21 + count * 2*ceil(bits(n)/8)`` bytes.

    Args:
        xs: the numbers, all under the same key.
        rerandomize: re-randomize the non-fresh numbers first (default);
            their randomness is drawn in one batch (from the key's pool when
            it has one, see :meth:`PublicKey.precompute`).
        public_key: the key, required only for an empty batch; when given,
            every number must be under it.

    Raises:
        KeyMismatchError: the numbers are not all under one key.
        ValueError: an empty batch without ``public_key``.

    Leaks: the key fingerprint, the count and the scales.
    """
    items, pk = _batch_arg(xs, public_key)
    if rerandomize:
        items = _fresh_batch(items, pk)
    scales = {x.scale for x in items}
    width = ciphertext_width(pk)
    out = [_header(TYPE_ENCRYPTED_BATCH), _fingerprint_bytes(pk), len(items).to_bytes(4, "big")]
    if len(scales) <= 1:
        out += [
            bytes((_SCALE_UNIFORM | _WITH_BOUND,)),
            (scales.pop() if scales else 0).to_bytes(2, "big"),
        ]
    else:
        out += [bytes((_SCALE_PER_ITEM | _WITH_BOUND,))]
        out += [x.scale.to_bytes(2, "big") for x in items]
    out.append(_bound_bytes(max((x.bound for x in items), default=0)))
    out += [x.ciphertext.to_bytes(width, "big") for x in items]
    return b"".join(out)


def encrypted_batch_from_bytes(data: bytes, public_key: PublicKey) -> list[EncryptedNumber]:
    """Load and validate a batch written by :func:`encrypted_batch_to_bytes`.

    Every ciphertext is validated (range and unit); none is marked fresh.

    Raises:
        InvalidCiphertext: bad header or type tag, an unknown scale mode, a
            scale out of bounds, a length that does not match the count, or
            an invalid ciphertext (its index is named).
        KeyMismatchError: the data was made under another key.
    """
    pk = _check_public_key_arg(public_key)
    r = _read_header(data, TYPE_ENCRYPTED_BATCH, InvalidCiphertext)
    _read_fingerprint(r, pk)
    count = r.uint(4, "count")
    flags = r.uint(1, "scale mode")
    mode = flags & ~_WITH_BOUND
    # Nothing is allocated per item before the length is known to match the
    # count: a hostile count cannot make the loader reserve memory.
    scales: list[int] | None = None
    scale = 0
    if mode == _SCALE_UNIFORM:
        scale = _check_scale(r.uint(2, "scale"), InvalidCiphertext)
    elif mode == _SCALE_PER_ITEM:
        raw = r.take(2 * count, "scales")
        scales = [
            _check_scale(int.from_bytes(raw[i : i + 2], "big"), InvalidCiphertext)
            for i in range(0, 2 * count, 2)
        ]
    else:
        raise InvalidCiphertext(
            f"unknown scale mode {mode}: 0 (one scale) and 1 (one per number) are defined"
        )
    bound = _check_number_bound(_read_bound(r), pk) if flags & _WITH_BOUND else None
    cs = _read_ciphertexts(r, pk, count, "batch")
    return [
        EncryptedNumber._make(pk, c, scale if scales is None else scales[i], False, bound)
        for i, c in enumerate(cs)
    ]


def _load_batch_item(
    pk: PublicKey, c: int, scale: int, index: int, bound: int | None = None
) -> EncryptedNumber:
    try:
        return _load_number(pk, c, scale, bound)
    except InvalidCiphertext as exc:
        raise InvalidCiphertext(f"ciphertext {index} of the batch: {exc}") from None


def encrypted_batch_to_json(
    xs: Iterable[EncryptedNumber],
    *,
    rerandomize: bool = True,
    public_key: PublicKey | None = None,
) -> str:
    """JSON form of a list of encrypted numbers under one key.

    ``{"kind": "hecrypt.encrypted_batch", "version": 1, "key": fingerprint,
    "scale": int or [int, ...], "ciphertexts": [base64, ...]}``; ``"scale"``
    is a list (one per number) only when the scales differ. Arguments and
    re-randomization as :func:`encrypted_batch_to_bytes`.
    """
    items, pk = _batch_arg(xs, public_key)
    if rerandomize:
        items = _fresh_batch(items, pk)
    scales = [x.scale for x in items]
    width = ciphertext_width(pk)
    scale: int | list[int] = scales if len(set(scales)) > 1 else (scales[0] if scales else 0)
    return _dumps(
        {
            "kind": _KIND_BATCH,
            "version": FORMAT_VERSION,
            "key": pk.fingerprint,
            "scale": scale,
            "ciphertexts": [_b64(x.ciphertext.to_bytes(width, "big")) for x in items],
            "bound": _bound_json(max((x.bound for x in items), default=0)),
        }
    )


def encrypted_batch_from_json(text: str | bytes, public_key: PublicKey) -> list[EncryptedNumber]:
    """Load and validate a batch written by :func:`encrypted_batch_to_json`.

    Raises:
        InvalidCiphertext: as :func:`encrypted_number_from_json`, plus a
            ``"scale"`` list whose length differs from the ciphertexts'.
        KeyMismatchError: the data was made under another key.
    """
    pk = _check_public_key_arg(public_key)
    fields = ("kind", "version", "key", "scale", "ciphertexts")
    what = "encrypted batch"
    obj = _load_json(text, _KIND_BATCH, fields, InvalidCiphertext, what, ("bound",))
    bound = _json_bound(obj["bound"], public_key) if "bound" in obj else None
    _check_fingerprint(_json_str(obj["key"], "key", InvalidCiphertext), pk, what)
    cts = obj["ciphertexts"]
    if not isinstance(cts, list):
        raise InvalidCiphertext(
            f"field 'ciphertexts' must be a JSON array, not {type(cts).__name__}"
        )
    raw_scale = obj["scale"]
    if isinstance(raw_scale, list):
        if len(raw_scale) != len(cts):
            raise InvalidCiphertext(
                f"field 'scale' lists {len(raw_scale)} scales for {len(cts)} ciphertexts"
            )
        scales = [
            _check_scale(_json_int(s, f"scale[{i}]", InvalidCiphertext), InvalidCiphertext)
            for i, s in enumerate(raw_scale)
        ]
    else:
        one = _check_scale(_json_int(raw_scale, "scale", InvalidCiphertext), InvalidCiphertext)
        scales = [one] * len(cts)
    width = ciphertext_width(pk)
    out = []
    for i, (value, scale) in enumerate(zip(cts, scales)):
        c = _json_ciphertext(value, f"ciphertexts[{i}]", width)
        out.append(_load_batch_item(pk, c, scale, i, bound))
    return out
