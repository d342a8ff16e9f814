"""Party processes: ending them after a failed start."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from hecrypt.hybrid import processes
from hecrypt.hybrid.runner import run_parties


def _noop(party: Any) -> None:
    return None


def test_stop_processes_skips_a_process_that_never_started() -> None:
    never = multiprocessing.get_context("spawn").Process(target=_noop, args=(None,))
    processes.stop_processes([never])  # joining it would fail: it was never started
    assert never.pid is None


def test_a_failed_start_raises_its_own_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: object) -> None:
        raise OSError("no more processes")

    monkeypatch.setattr(multiprocessing.context.SpawnProcess, "start", refuse)
    with pytest.raises(OSError, match="no more processes"):
        run_parties({"client": _noop, "server": _noop}, transport="tcp", timeout=5)
