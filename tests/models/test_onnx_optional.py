"""onnx is an optional extra: hecrypt and hecrypt.models import and work without it."""

from __future__ import annotations

import subprocess
import sys

# A fresh interpreter in which ``import onnx`` (and onnxruntime) fails, as on a machine
# where the extra is not installed.
_PROGRAM = """
import sys
sys.modules["onnx"] = None
sys.modules["onnxruntime"] = None
import numpy as np
import hecrypt
import hecrypt.hybrid
import hecrypt.models
from hecrypt.models import Dense, Sequential, calibrate, from_onnx
net = Sequential([Dense(2, input_shape=(3,), kernel=np.ones((3, 2)), bias=np.zeros(2))])
assert net.predict(np.ones((1, 3))).tolist() == [[3.0, 3.0]]
assert calibrate(net, np.ones((4, 3))).samples == 4
try:
    from_onnx(b"anything")
except ImportError as exc:
    assert 'hecrypt[onnx]' in str(exc), exc
else:
    raise SystemExit("from_onnx worked without onnx")
print("ok")
"""


def test_hecrypt_imports_and_works_without_onnx() -> None:
    done = subprocess.run([sys.executable, "-c", _PROGRAM], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
