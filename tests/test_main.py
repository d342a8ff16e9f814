"""The ``hecrypt`` command line: the demo is the README's main job."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hecrypt.__main__ import main


def _row(out: str, name: str) -> list[str]:
    line = next(ln for ln in out.splitlines() if ln.startswith(f"  {name}  "))
    return line[len(name) + 2 :].split()


def test_demo_scores_real_data_privately_and_matches_plaintext() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hecrypt", "demo"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "2048-bit key pair" in out
    assert "all encrypted predictions match the plaintext model" in out
    # records, max |plain - enc|, metric, plaintext, encrypted, ms/record, bytes sent, back
    reg = _row(out, "diabetes")
    assert reg[0] == "111" and reg[2] == "R^2"
    assert float(reg[1]) < 1e-5  # predictions are around 150: relative error < 1e-7
    assert abs(float(reg[3]) - float(reg[4])) < 1e-4 and float(reg[4]) > 0.3
    cls = _row(out, "breast cancer")
    assert cls[0] == "143" and cls[2] == "accuracy"
    assert float(cls[1]) < 1e-6  # class probabilities
    assert cls[3] == cls[4] and float(cls[4]) > 0.9
    for row in (reg, cls):
        assert 0 < float(row[5]) < 1000
        sent, back = (int(v.replace(",", "")) for v in row[6:8])
        assert sent > back > 512  # at least one 2048-bit ciphertext each way
    # the shipped digits CNN, two parties without a dealer (hybrid mode)
    assert "private (hybrid)" in out and "the private labels match the plaintext network" in out
    assert "client  offline" in out and "server  offline" in out and "        online" in out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
