"""Train the shipped digits CNN (hecrypt/models/data/digits_cnn.npz).

Development tool only: needs PyTorch (``pip install torch``) and
scikit-learn; hecrypt itself never imports torch. Run from the repository
root, with hecrypt importable (``pip install -e .`` or ``PYTHONPATH=.``)::

    python scripts/train_digits_cnn.py            # writes hecrypt/models/data/digits_cnn.npz
    python scripts/train_digits_cnn.py --out /tmp/net.npz --epochs 10

What it does:

* data: scikit-learn's 8x8 digits (1797 images, values 0..16), split with
  ``train_test_split(test_size=0.25, random_state=0, stratify=y)``
  (1347 training, 450 test images); the test images are never used in
  training or model selection;
* network (channels-last, as saved): Conv2D(4, 3x3, same) -> sigmoid7 ->
  Conv2D(8, 3x3, same) -> sigmoid7 -> AveragePooling2D(2) -> Flatten ->
  Dense(32) -> sigmoid7 -> Dense(10) logits, where sigmoid7 is
  ``hecrypt.hybrid.polynomials.sigmoid_poly()`` (degree 7 on [-8, 8]) --
  the training forward pass uses the polynomial itself, the function the
  private evaluation computes;
* inputs are scaled by 1/16 during training; the scaling is folded into the
  first convolution's kernel when saving, so the shipped network takes raw
  pixel values 0..16;
* augmentation: each training image is shifted by up to one pixel in each
  direction (zeros fill in);
* a penalty, the sum over each image's activation inputs ``z`` of
  ``relu(|z| - 5.5)^2``, keeps them well
  inside [-8, 8]; the script prints the ranges seen on the training and test
  images and refuses to save a network whose ranges leave the interval;
* the first ``--warmup`` epochs use the exact sigmoid (a polynomial network
  trained from scratch easily diverges: inputs that leave the interval blow
  up); the remaining epochs train the polynomial network itself;
* Adam, cross-entropy, weight decay, gradient clipping, fixed seeds; float32 in torch, then the
  exported network is checked against the torch model in float64 numpy.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from hecrypt.hybrid.polynomials import sigmoid_poly
from hecrypt.models import (
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Flatten,
    Sequential,
)

ROOT = Path(__file__).resolve().parent.parent

SPLIT = {"test_size": 0.25, "random_state": 0, "stratify": True}
SCALE = 1.0 / 16.0
MARGIN = 5.5


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The documented split: (X_train, X_test, y_train, y_test), X raw (N, 8, 8) in 0..16."""
    digits = load_digits()
    return train_test_split(digits.images, digits.target, test_size=SPLIT["test_size"],
                            random_state=SPLIT["random_state"], stratify=digits.target)


class PolyAct(nn.Module):
    """The polynomial activation, evaluated in the scaled variable for stability."""

    def __init__(self) -> None:
        super().__init__()
        self.poly = sigmoid_poly()
        scale, coeffs = self.poly.scaled_coeffs()
        self.scale = scale
        self.coeffs = coeffs
        self.inputs: list[torch.Tensor] = []
        self.exact = False

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.inputs.append(z)
        if self.exact:
            return torch.sigmoid(z)
        t = z / self.scale
        acc = torch.zeros_like(t)
        for c in reversed(self.coeffs):
            acc = acc * t + c
        return acc


class Net(nn.Module):
    def __init__(self, f1: int, f2: int, hidden: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, f1, 3, padding=1)
        self.conv2 = nn.Conv2d(f1, f2, 3, padding=1)
        self.pool = nn.AvgPool2d(2)
        self.fc1 = nn.Linear(16 * f2, hidden)
        self.fc2 = nn.Linear(hidden, 10)
        self.acts = nn.ModuleList([PolyAct() for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (N, 1, 8, 8) scaled
        for a in self.acts:
            a.inputs.clear()
        h = self.acts[0](self.conv1(x))
        h = self.acts[1](self.conv2(h))
        h = self.pool(h)
        h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # channels-last flatten, as Keras
        h = self.acts[2](self.fc1(h))
        return self.fc2(h)

    def penalty(self, margin: float) -> torch.Tensor:
        total = torch.zeros(())
        for a in self.acts:
            for z in a.inputs:
                excess = torch.relu(z.abs() - margin).pow(2)
                total = total + excess.reshape(z.shape[0], -1).sum(dim=1).mean()
        return total


def to_sequential(net: Net, description: str) -> Sequential:
    """The trained network in hecrypt's layout, input scaling folded into conv1."""
    def np64(t: torch.Tensor) -> np.ndarray:
        return t.detach().to(torch.float64).numpy()

    poly = sigmoid_poly()
    k1 = np64(net.conv1.weight).transpose(2, 3, 1, 0) * SCALE
    k2 = np64(net.conv2.weight).transpose(2, 3, 1, 0)
    return Sequential([
        Conv2D(k1.shape[3], 3, padding="same", input_shape=(8, 8, 1), kernel=k1,
               bias=np64(net.conv1.bias)),
        Activation("sigmoid", approx=poly),
        Conv2D(k2.shape[3], 3, padding="same", kernel=k2, bias=np64(net.conv2.bias)),
        Activation("sigmoid", approx=poly),
        AveragePooling2D(2),
        Flatten(),
        Dense(net.fc1.out_features, kernel=np64(net.fc1.weight).T, bias=np64(net.fc1.bias)),
        Activation("sigmoid", approx=poly),
        Dense(10, kernel=np64(net.fc2.weight).T, bias=np64(net.fc2.bias)),
    ], description=description)


def shift(x: torch.Tensor, gen: torch.Generator, max_shift: int) -> torch.Tensor:
    """Augmentation: move each image by up to ``max_shift`` pixels, filling with zeros."""
    if max_shift == 0:
        return x
    n = x.shape[0]
    padded = nn.functional.pad(x, (max_shift,) * 4)
    dy = torch.randint(-max_shift, max_shift + 1, (n,), generator=gen)
    dx = torch.randint(-max_shift, max_shift + 1, (n,), generator=gen)
    out = torch.empty_like(x)
    for a in range(-max_shift, max_shift + 1):
        for b in range(-max_shift, max_shift + 1):
            sel = (dy == a) & (dx == b)
            r, c = max_shift - a, max_shift - b
            out[sel] = padded[sel, :, r:r + 8, c:c + 8]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "hecrypt/models/data/digits_cnn.npz")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--filters", type=int, nargs=2, default=(4, 8))
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--penalty", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shift", type=int, default=1, help="augmentation: max shift in pixels")
    ap.add_argument("--margin", type=float, default=MARGIN)
    ap.add_argument("--warmup", type=int, default=100,
                    help="epochs with the exact sigmoid before switching to the polynomial")
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    X_train, X_test, y_train, y_test = data()
    xt = torch.tensor(X_train[:, None] * SCALE, dtype=torch.float32)
    yt = torch.tensor(y_train, dtype=torch.long)
    net = Net(args.filters[0], args.filters[1], args.hidden)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        for a in net.acts:
            a.exact = epoch < args.warmup
        net.train()
        perm = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), 64):
            idx = perm[start:start + 64]
            opt.zero_grad()
            logits = net(shift(xt[idx], gen, args.shift))
            loss = (nn.functional.cross_entropy(logits, yt[idx])
                    + args.penalty * net.penalty(args.margin))
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
        sched.step()
        if epoch % 50 == 0 or epoch == args.epochs - 1:
            with torch.no_grad():
                acc = (net(xt).argmax(1) == yt).float().mean().item()
            print(f"epoch {epoch:4d} loss {loss.item():.4f} train accuracy {acc:.4f}")

    description = json.dumps({
        "name": "hecrypt digits CNN",
        "data": "sklearn.datasets.load_digits, raw pixel values 0..16 (input scaling 1/16 "
                "folded into the first kernel)",
        "split": "train_test_split(test_size=0.25, random_state=0, stratify=y)",
        "trained_by": "scripts/train_digits_cnn.py",
        "args": {k: (list(v) if isinstance(v, tuple) else v)
                 for k, v in vars(args).items() if k != "out"},
    }, sort_keys=True)
    model = to_sequential(net, description)

    with torch.no_grad():
        torch_logits = net(torch.tensor(X_test[:, None] * SCALE, dtype=torch.float32)).numpy()
    logits = model.predict(X_test)
    print(f"max |hecrypt float64 - torch float32| on test logits: "
          f"{np.abs(logits - torch_logits).max():.2e}")
    train_acc = float((model.predict(X_train).argmax(1) == y_train).mean())
    test_acc = float((logits.argmax(1) == y_test).mean())
    print(f"plaintext accuracy: train {train_acc:.4f}, test {test_acc:.4f} "
          f"({len(y_test)} test images)")
    lo, hi = model.layers[1].approx.interval  # type: ignore[attr-defined]
    ok = True
    for name, X in (("train", X_train), ("test", X_test)):
        for i, a, b in model.polynomial_input_ranges(X):
            print(f"  {name}: inputs of activation layer {i} in [{a:.3f}, {b:.3f}]")
            ok &= lo <= a and b <= hi
    if not ok:
        print("activation inputs leave the polynomial's interval: not saved", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(f"saved {args.out} ({args.out.stat().st_size} bytes)")
    print(model.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
