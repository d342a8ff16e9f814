"""The guide's self-contained examples run verbatim (copied out of docs/guide.md)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import numpy as np

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide.md"


def example(heading: str) -> str:
    """The first ```python block after ``heading`` in the guide."""
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index(heading)
    found = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert found is not None, heading
    return found.group(1)


def run(code: str) -> tuple[dict[str, Any], str]:
    env: dict[str, Any] = {"__name__": "guide_example"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(GUIDE), "exec"), env)  # our own documentation
    return env, out.getvalue()


def test_classic_three_party_example() -> None:
    from hecrypt.hybrid.polynomials import sigmoid_poly

    env, printed = run(example("### Scripts: describe a computation"))
    value = env["result"].value
    assert value.shape == (20, 1)
    expected = sigmoid_poly()(env["records"] @ env["weights"])
    assert np.max(np.abs(value - expected)) < 1e-3
    report = env["prot"].report
    assert {"server", "client", "dealer", "total"} <= set(report)
    assert report["dealer"]["online_bytes_sent"] == 0  # the dealer works offline only
    assert "total" in printed and "dealer" in printed


def test_parties_example() -> None:
    env, printed = run(example("## Parties, channels and transports"))
    assert env["results"] == {"server": 2, "client": 41}
    assert "offline" in printed and "online" in printed

