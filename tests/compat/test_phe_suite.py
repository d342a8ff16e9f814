"""python-paillier's own unit tests, run against hecrypt.compat.phe.

The test files ship in phe's wheel (``phe/tests/paillier_test.py`` and
``phe/tests/math_test.py``); they are located where phe is installed, never
copied, and run in a fresh interpreter whose ``phe``, ``phe.paillier`` and
``phe.encoding`` are shims over :mod:`hecrypt.compat.phe` (see
``_phe_suite_runner.py``). The real package is blocked in that interpreter.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import hecrypt

RUNNER = Path(__file__).with_name("_phe_suite_runner.py")
SUITE_FILES = ("paillier_test.py", "math_test.py")
#: phe 1.5.0 ships 188 + 2 tests in these files; newer releases may add some.
MIN_TESTS = 190
TIMEOUT_SECONDS = 540


def _phe_tests_dir() -> Path:
    """The installed ``phe/tests`` directory, found without importing phe."""
    spec = importlib.util.find_spec("phe")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("python-paillier (phe) is not installed: pip install '.[test]'")
    tests_dir = Path(next(iter(spec.submodule_search_locations))) / "tests"
    missing = [f for f in SUITE_FILES if not (tests_dir / f).is_file()]
    if missing:
        pytest.fail(f"this phe installation does not ship its tests: {missing}")
    return tests_dir


@pytest.fixture(scope="module")
def suite_report() -> dict[str, Any]:
    """Run phe's suite once in a subprocess and return the runner's JSON report."""
    tests_dir = _phe_tests_dir()
    env = dict(os.environ)
    # the hecrypt under test, and nothing else, ahead of site-packages
    env["PYTHONPATH"] = str(Path(hecrypt.__file__).resolve().parent.parent)
    proc = subprocess.run(
        [sys.executable, str(RUNNER), *(str(tests_dir / f) for f in SUITE_FILES)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        cwd=str(RUNNER.parent),
        env=env,
        check=False,
    )
    assert proc.returncode == 0, f"runner failed:\n{proc.stderr[-5000:]}"
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    report["stderr_tail"] = proc.stderr[-5000:]
    return report


def test_phe_suite_passes(suite_report: dict[str, Any]) -> None:
    r = suite_report
    details = "\n\n".join(f"{d['test']}\n{d['traceback']}" for d in r["failure_details"])
    assert r["failures"] == 0 and r["errors"] == 0, details or r["stderr_tail"]
    assert r["unexpected_successes"] == 0
    assert r["skipped"] == 0 and r["expected_failures"] == 0
    assert r["run"] == r["discovered"]
    assert r["discovered"] >= MIN_TESTS > 50


def test_phe_suite_never_touches_real_phe(suite_report: dict[str, Any]) -> None:
    r = suite_report
    assert r["phe_modules_before_shims"] == []  # importing hecrypt.compat.phe pulls in no phe
    assert r["phe_modules"] == ["phe", "phe.encoding", "phe.paillier"]
    assert r["blocked_imports"] == []
    assert r["real_phe_files_loaded"] == []
    assert r["phe_util_loaded"] is False
    assert r["paillier_module"] == r["encoding_module"] == "hecrypt.compat.phe"
    assert Path(r["paillier_file"]).resolve() == Path(r["compat_file"]).resolve()
    assert Path(r["compat_file"]).resolve().parent.name == "compat"
