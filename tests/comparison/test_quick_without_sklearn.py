"""``hecrypt compare --quick`` without scikit-learn still compares the linear model."""

from __future__ import annotations

import argparse

import pytest

from hecrypt import models
from hecrypt.comparison import cli


def test_quick_skips_the_digit_image_when_its_data_cannot_be_loaded(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_sklearn(*args: object, **kwargs: object) -> None:
        raise ImportError("the digits test split needs scikit-learn (pip install hecrypt[sklearn])")

    monkeypatch.setattr(models, "digits_split", no_sklearn)
    args = argparse.Namespace(quick=True, task="logistic")
    workloads = cli._workloads(args)
    assert [w.params.get("task") for w in workloads] == ["logistic"]
    assert "no digit image in --quick" in capsys.readouterr().err
