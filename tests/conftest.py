"""Shared fixtures: keys are expensive, so each size is generated once per run."""

from __future__ import annotations

import pytest

import hecrypt
from hecrypt.paillier import PrivateKey, PublicKey


@pytest.fixture(scope="session")
def keypair_1024() -> tuple[PublicKey, PrivateKey]:
    """A 1024-bit key pair (insecure size, for tests where size does not matter)."""
    return hecrypt.generate_keypair(1024, insecure_small_keys=True)


@pytest.fixture(scope="session")
def other_keypair_1024() -> tuple[PublicKey, PrivateKey]:
    """A second, unrelated 1024-bit key pair (for key-mismatch tests)."""
    return hecrypt.generate_keypair(1024, insecure_small_keys=True)


@pytest.fixture(scope="session")
def keypair_2048() -> tuple[PublicKey, PrivateKey]:
    """A 2048-bit key pair (the default size) for end-to-end tests."""
    return hecrypt.generate_keypair(2048)
