"""Export a small PyTorch CNN whose convolutions pad like PyTorch, not like TensorFlow.

Development tool only (needs PyTorch; nothing in hecrypt or its tests imports it)::

    pip install torch onnxscript onnx onnxruntime
    python tests/models/data/make_stride2_pad1_cnn.py

writes ``stride2_pad1_cnn.onnx`` (the torch.export-based exporter, opset 18)
next to this file. The network, as PyTorch declares it (NCHW), with seeded
random weights (no training: the tests compare outputs, not accuracy)::

    Conv2d(1, 4, 3, stride=2, padding=1) -> ReLU      # 8x8 -> 4x4, one zero row/column per side
    Conv2d(4, 3, (3, 2), padding=(1, 0)) -> ReLU      # 4x4 -> 4x3
    Flatten -> Linear(36, 5)                          # logits

TensorFlow's "same" at stride 2 on 8x8 would pad (0, 1) per axis; PyTorch's
``padding=1`` pads (1, 1), so these convolutions import as explicit padding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

OUT = Path(__file__).with_name("stride2_pad1_cnn.onnx")


def main() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(4, 3, (3, 2), padding=(1, 0)), nn.ReLU(),
        nn.Flatten(), nn.Linear(36, 5),
    ).eval()
    x = torch.randn(7, 1, 8, 8)
    with torch.no_grad():
        expected = net(x).numpy()
    torch.onnx.export(net, (torch.zeros(1, 1, 8, 8),), str(OUT), input_names=["image"],
                      output_names=["logits"], dynamic_shapes=({0: torch.export.Dim("N")},),
                      opset_version=18, external_data=False)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(OUT), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": x.numpy()})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
