"""Train the small ReLU + max-pooling CNN for scikit-learn's 8x8 digits and export it to ONNX.

Development tool only (needs PyTorch; nothing in hecrypt or its tests imports it)::

    pip install torch onnxscript scikit-learn onnx onnxruntime
    python tests/models/data/make_digits_relu_cnn.py

writes ``digits_relu_cnn.onnx`` (PyTorch's default, torch.export-based
exporter, opset 18) and ``digits_relu_cnn_legacy.onnx`` (the TorchScript
exporter, opset 17) next to this file: the same weights, the two graph shapes
users' files come in. The network, as PyTorch
declares it (NCHW)::

    Conv2d(1, 8, 3, padding=1) -> BatchNorm2d(8) -> ReLU -> MaxPool2d(2)    # 8x4x4
    Conv2d(8, 16, 3, padding=1) -> ReLU -> MaxPool2d(2)                     # 16x2x2
    Flatten -> Linear(64, 32) -> ReLU -> Dropout(0.1) -> Linear(32, 10)     # logits

Data: ``load_digits()``, ``train_test_split(X, y, test_size=0.25,
random_state=0)``, unstratified (the split the tests and
``scripts/bench_onnx_relu_cnn.py`` measure this network on; it differs from
``hecrypt.models.digits_split()``, which stratifies); the 8x8
images are fed as (N, 1, 8, 8) with their raw values 0..16 (training divides
by 16 and the export folds that scaling into the first convolution's weights).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

OUT = Path(__file__).with_name("digits_relu_cnn.onnx")
OUT_LEGACY = Path(__file__).with_name("digits_relu_cnn_legacy.onnx")
EPOCHS = 40


def build() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 10),
    )


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(2)
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    xtr = torch.tensor(Xtr / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    xte = torch.tensor(Xte / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    ttr = torch.tensor(ytr, dtype=torch.long)
    net = build()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(EPOCHS):
        net.train()
        order = torch.randperm(len(xtr))
        for start in range(0, len(xtr), 64):
            idx = order[start:start + 64]
            opt.zero_grad()
            loss = loss_fn(net(xtr[idx]), ttr[idx])
            loss.backward()
            opt.step()
        schedule.step()
        if epoch % 10 == 9:
            net.eval()
            with torch.no_grad():
                acc = (net(xte).argmax(1).numpy() == yte).mean()
            print(f"epoch {epoch + 1}: loss {loss.item():.4f}, test accuracy {acc:.4f}")
    net.eval()
    with torch.no_grad():
        net[0].weight.mul_(1.0 / 16.0)  # the exported model takes raw 0..16 pixels
        expected = net(xte * 16.0).argmax(1).numpy()
    print(f"exported model, raw pixels: test accuracy {(expected == yte).mean():.4f}")
    dummy = torch.zeros(1, 1, 8, 8)
    torch.onnx.export(net, (dummy,), str(OUT), input_names=["image"], output_names=["logits"],
                      dynamic_shapes=({0: torch.export.Dim("N")},), opset_version=18,
                      external_data=False)
    torch.onnx.export(net, (dummy,), str(OUT_LEGACY), input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}},
                      opset_version=17, dynamo=False)
    for path in (OUT, OUT_LEGACY):  # each file reproduces the PyTorch labels
        np.testing.assert_array_equal(_onnx_labels(path, Xte), expected)
        print(f"wrote {path} ({path.stat().st_size} bytes)")


def _onnx_labels(path: Path, X: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, {"image": X.reshape(-1, 1, 8, 8).astype(np.float32)})[0]
    return np.asarray(out).argmax(1)


if __name__ == "__main__":
    main()
