"""Exceptions raised by hecrypt.

Every error the library raises on purpose derives from :class:`HecryptError`.
Subclasses that refine a builtin error also derive from it, so code written
against the builtins (``except ValueError``) keeps working.
"""

from __future__ import annotations

__all__ = [
    "HecryptError",
    "KeyMismatchError",
    "EncodingOverflowError",
    "InvalidCiphertext",
    "InvalidKey",
    "ProtocolError",
]


class HecryptError(Exception):
    """Base class of every error raised by hecrypt."""


class KeyMismatchError(HecryptError, ValueError):
    """Operands or inputs belong to different Paillier keys."""


class EncodingOverflowError(HecryptError, OverflowError):
    """A value does not fit the plaintext space (or a packing slot)."""


class InvalidCiphertext(HecryptError, ValueError):
    """A ciphertext is malformed, out of range, or not a unit modulo n^2."""


class InvalidKey(HecryptError, ValueError):
    """A key is malformed, inconsistent, or below the size policy."""


class ProtocolError(HecryptError, RuntimeError):
    """A two-party protocol received a message it cannot accept."""
