"""Hybrid Paillier / additive secret sharing protocols.

The entry point for users is :func:`private_predict` (three-party inference
with a dealer; see docs/guide.md). The pieces: :mod:`~hecrypt.hybrid.ring`
(Z_2^64 fixed point), :mod:`~hecrypt.hybrid.shares` (one party's share),
:mod:`~hecrypt.hybrid.triples` (Beaver triples, the dealer),
:mod:`~hecrypt.hybrid.protocols` (products, truncation, polynomials),
:mod:`~hecrypt.hybrid.inference` (models in shares) and
:mod:`~hecrypt.hybrid.parties` (the client, server and dealer programs).
"""

from __future__ import annotations

from typing import Any

__all__ = ["private_predict", "PredictionResult"]


def __getattr__(name: str) -> Any:
    # imported on first use: the parties module pulls in the model classes
    if name in ("private_predict", "PredictionResult"):
        from hecrypt.hybrid import parties

        return getattr(parties, name)
    raise AttributeError(f"module 'hecrypt.hybrid' has no attribute {name!r}")
