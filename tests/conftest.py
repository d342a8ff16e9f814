"""Shared fixtures: keys are expensive, so each size is generated once per run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import hecrypt
from hecrypt.paillier import PrivateKey, PublicKey


def load_test_module(name: str) -> ModuleType:
    """Import the helper module ``tests/<name>.py`` once.

    ``tests/`` is not a package (the suite runs with ``--import-mode=importlib``),
    so helpers are loaded by path and handed to tests through fixtures.
    """
    qualified = f"hecrypt_tests_{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    spec = importlib.util.spec_from_file_location(qualified, Path(__file__).with_name(f"{name}.py"))
    if spec is None or spec.loader is None:  # pragma: no cover - the file is part of the suite
        raise ImportError(f"cannot load tests/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    spec.loader.exec_module(module)
    return module


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


@pytest.fixture(scope="session")
def uniformity() -> ModuleType:
    """The exact statistical checks of tests/uniformity.py."""
    return load_test_module("uniformity")


@pytest.fixture(scope="session")
def uniform(uniformity: ModuleType) -> Any:
    """Statistical checks whose false-alarm bounds add up in one ledger for the whole
    run; the ledger asserts the run's total stays at most 2^-30."""
    return uniformity.Checks(uniformity.Ledger())


@pytest.fixture(scope="session")
def smooth_key() -> Any:
    """A 1024-bit key with smooth p - 1 and q - 1 (tests/smooth_key.py): the
    exponents and roots behind its randomness can be read back."""
    return load_test_module("smooth_key").SmoothKey.generate()
