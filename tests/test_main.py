"""The ``hecrypt`` command line: the demo is the README's main job."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hecrypt.__main__ import main


def test_demo_runs_end_to_end_and_matches_plaintext() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hecrypt", "demo"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "2048-bit key pair" in out
    assert "all results match the plaintext computation" in out
    diff = float(out.split("difference")[1].split()[0])
    assert diff < 1e-6


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
