"""Train a small CNN (Conv-BN2d-ReLU-MaxPool blocks) on 8x8 digits and MNIST-5k, with and without BatchNorm2d.

    python examples/train_cnn.py                       # both datasets, full setting
    python examples/train_cnn.py --dataset digits      # one dataset
    python examples/train_cnn.py --quick               # the short setting the test runs
    python examples/train_cnn.py --blas-threads 2      # BLAS threads (default 1: faster for these small GEMMs)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from tinygrad_bn import Tensor, data, jit, manual_seed, nn, no_grad, optim
from tinygrad_bn.optim import lr_scheduler

DATASETS = {"digits": (data.load_digits, 8, 16.0), "mnist": (data.load_mnist_5k, 28, 255.0)}
SETTINGS = {"digits": dict(channels=(32, 64), epochs=15), "mnist": dict(channels=(16, 32), epochs=4)}


def make_cnn(batch_norm: bool, side: int, channels: tuple[int, ...] = (16, 32), seed: int = 0) -> nn.Sequential:
    """Blocks of Conv2d(3x3, padding 1) [-> BatchNorm2d] -> ReLU -> MaxPool2d(2), then Flatten -> Linear(10)."""
    layers: list[nn.Module] = []
    c = 1
    for i, out in enumerate(channels):
        layers.append(nn.Conv2d(c, out, 3, padding=1, bias=not batch_norm, generator=seed + i))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out))
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
        c, side = out, side // 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * side * side, 10, generator=seed + len(channels)))


def load(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Images (N, 1, side, side) float32, standardized with the training pixels' mean and std; 80/20 split."""
    loader, side, top = DATASETS[name]
    X, y = loader()
    X_train, X_test, y_train, y_test = data.train_test_split(X / top, y, test_fraction=0.2, seed=seed)
    mean, std = X_train.mean(), X_train.std()
    return tuple(((a - mean) / std).reshape(-1, 1, side, side).astype(np.float32) for a in (X_train, X_test)) + (
        y_train, y_test)  # type: ignore[return-value]


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray, batch_size: int = 500) -> float:
    """Fraction of images classified correctly, in eval mode."""
    model.eval()
    with no_grad():
        pred = np.concatenate([model(Tensor(X[i:i + batch_size])).data.argmax(axis=1)
                               for i in range(0, len(X), batch_size)])
    return float((pred == y).mean())


def train(model: nn.Module, X: np.ndarray, y: np.ndarray, epochs: int, batch_size: int = 32, lr: float = 0.02,
          seed: int = 0) -> None:
    """SGD with momentum 0.9 on the cross-entropy, the learning rate decaying linearly to 0 over the epochs."""
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    schedule = lr_scheduler.LambdaLR(opt, lambda epoch: 1 - epoch / epochs)
    loss_fn = nn.CrossEntropyLoss()
    step = jit(lambda xb, yb: loss_fn(model(xb), yb))  # forward and backward, replayed after two calls
    model.train()
    for epoch in range(epochs):
        for xb, yb in data.batches(X, y, batch_size, shuffle=True, seed=seed + epoch, drop_last=True):
            opt.zero_grad()
            step(xb, yb)
            opt.step()
        schedule.step()


def main(datasets: tuple[str, ...] = ("digits", "mnist"), quick: bool = False, seed: int = 0,
         blas_threads: int | None = 1) -> dict[str, float]:
    """Train with and without BN on each dataset; returns test accuracies keyed ``"<dataset> <batchnorm|plain>"``.

    Args:
        datasets: which of "digits" and "mnist".
        quick: three epochs on 256 training images (the test's setting).
        seed: seeds the split, the init and the batch order.
        blas_threads: BLAS threads (None: numpy's default). One is the default: this model's GEMMs are
            small, and two OpenBLAS threads spent 5-10x the CPU time and, on a loaded machine, up to 13x
            the wall time (see docs/guides/performance.md).

    Returns:
        The test accuracies.
    """
    results = {}
    with threadpool_limits(blas_threads, user_api="blas"):
        for name in datasets:
            X_train, X_test, y_train, y_test = load(name, seed)
            if quick:
                X_train, y_train = X_train[:256], y_train[:256]
            epochs = 3 if quick else SETTINGS[name]["epochs"]
            for label, bn in (("batchnorm", True), ("plain", False)):
                manual_seed(seed)
                model = make_cnn(bn, X_train.shape[-1], SETTINGS[name]["channels"], seed=seed)
                start = time.perf_counter()
                train(model, X_train, y_train, epochs, seed=seed)
                results[f"{name} {label}"] = acc = accuracy(model, X_test, y_test)
                print(f"{name:>6} {label:>9}: test accuracy {acc:.2%} after {epochs} epochs on {len(y_train)} "
                      f"images ({time.perf_counter() - start:.1f} s)")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), action="append", help="default: both")
    parser.add_argument("--quick", action="store_true", help="three epochs on 256 images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS threads (default 1)")
    args = parser.parse_args()
    main(tuple(args.dataset or DATASETS), args.quick, args.seed, args.blas_threads)
