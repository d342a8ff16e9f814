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
    "ValueBoundError",
    "InvalidCiphertext",
    "InvalidKey",
    "ProtocolError",
    "ModelFormatError",
    "UnsupportedModelError",
    "InvalidFeatures",
    "FeatureMismatchError",
    "ParameterError",
]


class HecryptError(Exception):
    """Base class of every error raised by hecrypt."""


class KeyMismatchError(HecryptError, ValueError):
    """Operands or inputs belong to different Paillier keys."""


class EncodingOverflowError(HecryptError, OverflowError):
    """A value does not fit the plaintext space (or a packing slot)."""


class ValueBoundError(HecryptError, ValueError):
    """Data exceed the public bound declared for them (``value_bound``) once encoded."""


class InvalidCiphertext(HecryptError, ValueError):
    """A ciphertext is malformed, out of range, or not a unit modulo n^2."""


class InvalidKey(HecryptError, ValueError):
    """A key is malformed, inconsistent, or below the size policy."""


class ProtocolError(HecryptError, RuntimeError):
    """A two-party protocol received a message it cannot accept."""


class ModelFormatError(HecryptError, ValueError):
    """A saved model file is malformed, inconsistent, or of an unknown version."""


class UnsupportedModelError(HecryptError, TypeError):
    """A model cannot be scored privately (not linear), or lacks the requested output."""


class InvalidFeatures(HecryptError, ValueError):
    """Input records are not a finite 2-D numeric array within the public value bound."""


class FeatureMismatchError(InvalidFeatures):
    """Records have another number of features than the model expects."""


class ParameterError(HecryptError, ValueError):
    """A parameter is outside what the library accepts (for example below a security floor)."""
