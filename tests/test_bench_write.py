"""``--write`` of the other benchmarks touches the docs only after every check passed."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from hecrypt import bench_ss

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "# Performance\n\nText.\n\n{begin}\nold figures\n{end}\n\nFooter.\n"


def test_bench_ss_writes_only_when_every_check_passed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = tmp_path / "performance.md"
    before = BEFORE.format(begin=bench_ss.BEGIN, end=bench_ss.END)
    doc.write_text(before, encoding="utf-8")
    lines = ["| table |", "", "**Checks: 1 of 2 passed.**", "- ok: first",
             "- FAILED: digits CNN: labels (97.00% of 450 images)"]
    monkeypatch.setattr(bench_ss, "run", lambda args: (lines, False))
    assert bench_ss.main(["--write", str(doc)]) == 1
    out = capsys.readouterr().out
    assert doc.read_bytes() == before.encode("utf-8")
    assert "CHECK FAILED" in out and f"{doc} left unchanged" in out
    assert out.count("- FAILED: digits CNN: labels (97.00% of 450 images)") == 2

    monkeypatch.setattr(bench_ss, "run", lambda args: (lines[:4], True))
    assert bench_ss.main(["--write", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert "old figures" not in text and "| table |" in text
    assert text.startswith("# Performance\n\nText.") and text.endswith("Footer.\n")
    assert text.count(bench_ss.BEGIN) == 1 and text.count(bench_ss.END) == 1


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bench_script_{name}",
                                                  ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_onnx_relu_cnn_script_writes_only_when_every_check_passed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _script("bench_onnx_relu_cnn")
    doc = tmp_path / "performance.md"
    before = BEFORE.format(begin=script.BEGIN, end=script.END)
    doc.write_text(before, encoding="utf-8")
    failure = "memory, batch 100: private labels equal onnxruntime's on 90.00% of 450 images"
    monkeypatch.setattr(script, "measure", lambda args: (["| new row |"], [failure]))
    assert script.main(["--write", str(doc)]) == 1
    out = capsys.readouterr().out
    assert doc.read_bytes() == before.encode("utf-8")
    assert f"- FAILED: {failure}" in out and f"{doc} left unchanged" in out

    monkeypatch.setattr(script, "measure", lambda args: (["| new row |"], []))
    assert script.main(["--write", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert "old figures" not in text and "| new row |" in text and text.endswith("Footer.\n")


def test_onnx_relu_cnn_script_counts_a_label_disagreement_as_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import argparse

    import numpy as np

    script = _script("bench_onnx_relu_cnn")
    ref = np.eye(10)[np.arange(20) % 10]  # logits whose argmax is i % 10
    monkeypatch.setattr(script, "_data", lambda: (np.zeros((20, 64)), np.arange(20) % 10, ref))
    monkeypatch.setattr("hecrypt.models.from_onnx", lambda path: object())
    wrong = (np.arange(20) + 1) % 10  # every label off by one

    def fake_run(net: object, X: np.ndarray, batch: int, transport: str) -> dict[str, object]:
        n = len(X)
        return {"seconds": 1.0, "online_s": 0.5, "bytes": 1e3 * n, "online_bytes": 7e2 * n,
                "offline_bytes": 3e2 * n, "online_rounds": 9.0, "labels": wrong[:n]}

    monkeypatch.setattr(script, "_run", fake_run)
    lines, failures = script.measure(argparse.Namespace(batch=10, tcp=False, write=None))
    assert len(failures) == 2 and all("0.00% of 20 images, below 99%" in f for f in failures)
    assert sum(line.startswith("| memory |") for line in lines) == 2
