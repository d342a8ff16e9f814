"""``python -m hecrypt.bench``: the benchmark's own entry point."""

from __future__ import annotations

import sys

from hecrypt.bench.runner import main

if __name__ == "__main__":
    sys.exit(main())
