"""Run python-paillier's own unit tests against :mod:`hecrypt.compat.phe`.

Usage::

    python _phe_suite_runner.py TEST_FILE [TEST_FILE ...]

Before the test files are loaded, ``phe``, ``phe.paillier`` and
``phe.encoding`` in :data:`sys.modules` are replaced by shims backed by
:mod:`hecrypt.compat.phe`, and an import hook refuses (and records) every
other ``phe.*`` import, so the real package cannot run. The test files are
loaded from where they are installed, run with :mod:`unittest`, and one JSON
object with the counts and the import checks is printed on stdout (the
unittest report goes to stderr).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import json
import sys
import time
import types
import unittest
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_BLOCKED: list[str] = []


class _RefusePhe(importlib.abc.MetaPathFinder):
    """Refuse any ``phe`` module that is not one of the shims."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname == "phe" or fullname.startswith("phe."):
            _BLOCKED.append(fullname)
            raise ModuleNotFoundError(f"the real {fullname} is blocked in this run", name=fullname)
        return None


def _phe_loaded() -> list[str]:
    return sorted(k for k in sys.modules if k == "phe" or k.startswith("phe."))


def install_shims() -> types.ModuleType:
    """Map ``phe``, ``phe.paillier`` and ``phe.encoding`` to hecrypt's module."""
    from hecrypt.compat import phe as compat

    package = types.ModuleType("phe", "python-paillier names, served by hecrypt.compat.phe")
    package.__path__ = []  # a package without a directory: no real submodule can load
    for name in compat.__all__:
        setattr(package, name, getattr(compat, name))
    package.paillier = compat  # type: ignore[attr-defined]
    package.encoding = compat  # type: ignore[attr-defined]
    sys.modules["phe"] = package
    sys.modules["phe.paillier"] = compat
    sys.modules["phe.encoding"] = compat
    sys.meta_path.insert(0, _RefusePhe())
    return compat


def _load(path: Path) -> types.ModuleType:
    name = f"_phe_suite_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _describe(entries: Sequence[tuple[Any, str]]) -> list[dict[str, str]]:
    return [{"test": test.id(), "traceback": text[-3000:]} for test, text in entries]


def main(argv: Sequence[str]) -> int:
    """Run the given phe test files and print the JSON report."""
    files = [Path(a).resolve() for a in argv]
    if not files:
        print("usage: _phe_suite_runner.py TEST_FILE [TEST_FILE ...]", file=sys.stderr)
        return 2
    phe_dir = files[0].parent.parent

    import hecrypt.compat.phe  # noqa: F401  # must not pull in the real phe

    preloaded = _phe_loaded()
    compat = install_shims()

    start = time.perf_counter()
    modules = [_load(f) for f in files]
    loader = unittest.TestLoader()
    suite = unittest.TestSuite(loader.loadTestsFromModule(m) for m in modules)
    discovered = suite.countTestCases()
    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=1)
    result = runner.run(suite)
    seconds = time.perf_counter() - start

    test_files = {str(f) for f in files}
    real_phe_files = sorted(
        str(getattr(m, "__file__", ""))
        for m in list(sys.modules.values())
        if getattr(m, "__file__", None)
        and Path(str(m.__file__)).resolve().is_relative_to(phe_dir)
        and str(Path(str(m.__file__)).resolve()) not in test_files
    )
    report = {
        "discovered": discovered,
        "run": result.testsRun,
        "failures": len(result.failures),
        "errors": len(result.errors),
        "skipped": len(result.skipped),
        "expected_failures": len(result.expectedFailures),
        "unexpected_successes": len(result.unexpectedSuccesses),
        "seconds": round(seconds, 2),
        "phe_modules_before_shims": preloaded,
        "phe_modules": _phe_loaded(),
        "blocked_imports": sorted(set(_BLOCKED)),
        "real_phe_files_loaded": real_phe_files,
        "phe_util_loaded": "phe.util" in sys.modules,
        "paillier_module": sys.modules["phe.paillier"].__name__,
        "paillier_file": str(getattr(sys.modules["phe.paillier"], "__file__", "")),
        "encoding_module": sys.modules["phe.encoding"].__name__,
        "compat_file": str(compat.__file__),
        "failure_details": _describe(result.failures) + _describe(result.errors),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
