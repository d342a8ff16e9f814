"""Key files: :meth:`PublicKey.save`, :meth:`PrivateKey.save` and :func:`load_key`.

A key file holds one key in the binary form of
:mod:`hecrypt.paillier.serialization` (what ``hecrypt keygen`` writes) or, for
a path ending in ``.json``, its JSON form. :func:`load_key` reads either form
and returns the type the file holds, so a caller never has to know which.

Private key files are created readable and writable by their owner only
(mode 0600, also when an existing file is overwritten) and written whole or
not at all (a temporary file in the same directory, renamed into place).

Leaks: a public key file holds the modulus; a private key file holds the
primes and must be kept like any private key.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from hecrypt.exceptions import InvalidKey
from hecrypt.paillier.keys import PrivateKey, PublicKey

__all__ = ["save_key", "load_key", "write_file", "KEY_FILE_LIMIT"]

#: Largest key file read (bytes): a 16,384-bit private key in JSON is below 10 kB.
KEY_FILE_LIMIT = 1 << 20


def write_file(path: str | os.PathLike[str], data: bytes, *, secret: bool = False) -> None:
    """Write ``data`` to ``path`` whole or not at all (temporary file, then rename).

    Args:
        path: destination; an existing file is replaced.
        data: the bytes.
        secret: create the file with mode 0600 (owner only); otherwise the
            usual mode for new files (0666 less the umask).

    Raises:
        OSError: the directory does not exist or cannot be written.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        if secret:
            os.fchmod(fd, 0o600)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save_key(key: PublicKey | PrivateKey, path: str | os.PathLike[str]) -> None:
    """Write ``key`` to ``path``: JSON for a ``.json`` path, else binary.

    A private key file is owner-only (0600).

    Raises:
        TypeError: not a hecrypt key.
        OSError: the file cannot be written.
    """
    if not isinstance(key, (PublicKey, PrivateKey)):
        raise TypeError(f"expected a hecrypt PublicKey or PrivateKey, not {type(key).__name__}")
    as_json = Path(path).suffix.lower() == ".json"
    data = key.to_json().encode() if as_json else key.to_bytes()
    write_file(path, data, secret=isinstance(key, PrivateKey))


def _kind(data: bytes) -> str:
    """``"public"``, ``"private"`` or ``"unknown"`` from a key file's first bytes."""
    from hecrypt.paillier import serialization as ser

    head = len(ser.MAGIC)
    if data[:head] == ser.MAGIC and len(data) > head + 1:
        return {ser.TYPE_PUBLIC_KEY: "public", ser.TYPE_PRIVATE_KEY: "private"}.get(
            data[head + 1], "unknown"
        )
    if data.lstrip()[:1] == b"{":
        if b'"hecrypt.private_key"' in data:
            return "private"
        if b'"hecrypt.public_key"' in data:
            return "public"
    return "unknown"


def load_key(
    path: str | os.PathLike[str], *, insecure_small_keys: bool = False
) -> PublicKey | PrivateKey:
    """Read a key file (binary or JSON) and return the key it holds, of its own type.

    Args:
        path: a file written by :meth:`PublicKey.save`, :meth:`PrivateKey.save`,
            ``to_bytes``/``to_json`` or ``hecrypt keygen``.
        insecure_small_keys: accept keys below 2048 bits (tests only).

    Raises:
        InvalidKey: the file is not a key file, or the key is invalid (the
            message names the file).
        OSError: the file cannot be read.
    """
    p = Path(path)
    with p.open("rb") as fh:
        data = fh.read(KEY_FILE_LIMIT + 1)
    if len(data) > KEY_FILE_LIMIT:
        raise InvalidKey(f"{p}: {len(data)}+ bytes is too large for a key file")
    kind = _kind(data)
    try:
        if kind == "private":
            if data.lstrip()[:1] == b"{":
                return PrivateKey.from_json(data, insecure_small_keys=insecure_small_keys)
            return PrivateKey.from_bytes(data, insecure_small_keys=insecure_small_keys)
        if kind == "public":
            if data.lstrip()[:1] == b"{":
                return PublicKey.from_json(data, insecure_small_keys=insecure_small_keys)
            return PublicKey.from_bytes(data, insecure_small_keys=insecure_small_keys)
    except InvalidKey as exc:
        raise InvalidKey(f"{p}: {exc}") from None
    raise InvalidKey(
        f"{p}: not a hecrypt key file (expected a public or private key, binary or JSON)"
    )
