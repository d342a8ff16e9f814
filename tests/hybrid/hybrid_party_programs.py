"""Party programs for the process tests (a plain module: spawned children import it)."""

from __future__ import annotations

import os
import time

import numpy as np

from hecrypt.hybrid.channels import Party


def dies_after_one(p: Party) -> None:
    p.send("b", 1)
    time.sleep(0.2)
    os._exit(3)


def raises(p: Party) -> None:
    p.recv("b")
    raise ValueError("bad input")


def talks_to_a(p: Party) -> object:
    p.send("a", np.arange(4, dtype=np.uint64))
    return p.recv("a"), p.recv("a")


def waits_for_a(p: Party) -> object:
    return p.recv("a")
