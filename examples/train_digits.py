"""Train the same MLP on scikit-learn's 8x8 digits with and without BatchNorm; print both test accuracies.

    python examples/train_digits.py            # full setting (a few seconds per model)
    python examples/train_digits.py --quick    # the short setting the test runs
"""

from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

from tinygrad_bn import Tensor, data, jit, manual_seed, nn, no_grad, optim

HIDDEN = 64


def make_mlp(batch_norm: bool, seed: int = 0) -> nn.Sequential:
    """64 -> 64 -> 64 -> 10 with ReLU; with ``batch_norm`` a BatchNorm1d before each ReLU (no bias there)."""
    layers: list[nn.Module] = []
    width = 64
    for i in range(2):
        layers.append(nn.Linear(width, HIDDEN, bias=not batch_norm, generator=seed + i))
        if batch_norm:
            layers.append(nn.BatchNorm1d(HIDDEN))
        layers.append(nn.ReLU())
        width = HIDDEN
    layers.append(nn.Linear(width, 10, generator=seed + 2))
    return nn.Sequential(*layers)


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows classified correctly, in eval mode."""
    model.eval()
    with no_grad():
        pred = model(Tensor(X)).data.argmax(axis=1)
    return float((pred == y).mean())


def train(model: nn.Module, X: np.ndarray, y: np.ndarray, epochs: int, batch_size: int = 32, lr: float = 0.05,
          seed: int = 0, desc: str = "") -> None:
    """Mini-batch SGD with momentum 0.9 on the cross-entropy, the learning rate decaying linearly to 0."""
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    schedule = optim.lr_scheduler.LambdaLR(opt, lambda epoch: 1 - epoch / epochs)
    step = jit(lambda xb, yb: model(xb).cross_entropy(yb))  # forward and backward, replayed after two calls
    model.train()
    bar = tqdm(range(epochs), desc=desc, leave=False)
    for epoch in bar:
        for xb, yb in data.batches(X, y, batch_size, shuffle=True, seed=seed + epoch, drop_last=True):
            opt.zero_grad()
            loss = step(xb, yb)
            opt.step()
        schedule.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")


def main(quick: bool = False, seed: int = 0) -> dict[str, float]:
    """Train both models and return their test accuracies, ``{"batchnorm": ..., "plain": ...}``."""
    manual_seed(seed)
    X, y = data.load_digits()
    X_train, X_test, y_train, y_test = data.train_test_split(X, y, test_fraction=0.2, seed=seed)
    X_train, X_test = (a.astype(np.float32) for a in data.standardize(X_train, X_test))
    epochs = 3 if quick else 30
    results = {}
    for name, bn in (("batchnorm", True), ("plain", False)):
        model = make_mlp(bn, seed)
        train(model, X_train, y_train, epochs, seed=seed, desc=name)
        results[name] = accuracy(model, X_test, y_test)
        print(f"{name:>9}: test accuracy {results[name]:.2%} after {epochs} epochs")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 epochs instead of 30")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.quick, args.seed)
