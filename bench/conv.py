"""Conv2d forward+backward and a CNN training step, tinygrad_bn beside PyTorch eager: ``python -m bench.conv``.

Conv: (64, 16, 28, 28) input, 32 3x3 filters, padding 1, float32. Step: the MNIST model of
examples/train_cnn.py (Conv-BN2d-ReLU-MaxPool x2, Flatten, Linear) on a batch of 64, SGD with momentum.
Ours runs eagerly and through ``tinygrad_bn.jit``; peak memory is numpy's allocations during one eager call
(tracemalloc), ours only.
"""

from __future__ import annotations

import argparse
import os
import tracemalloc

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from tinygrad_bn import Tensor, jit, nn, optim  # noqa: E402

from .timing import blocks  # noqa: E402


def _ours(batch: int, replay: bool = False):
    """Our conv step and CNN training step; with ``replay`` both run through ``tinygrad_bn.jit``."""
    rng = np.random.default_rng(0)
    conv = nn.Conv2d(16, 32, 3, padding=1, generator=0)
    x = Tensor(rng.standard_normal((batch, 16, 28, 28)).astype(np.float32), requires_grad=True)
    conv_loss = jit(lambda a: conv(a).sum()) if replay else lambda a: _backward(conv(a).sum())

    def conv_step() -> None:
        conv_loss(x)

    from examples.train_cnn import make_cnn
    model = make_cnn(True, 28, (16, 32))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xb = Tensor(rng.standard_normal((batch, 1, 28, 28)).astype(np.float32))
    yb = Tensor(rng.integers(0, 10, batch))
    loss_of = jit(lambda a, b: model(a).cross_entropy(b)) if replay else \
        lambda a, b: _backward(model(a).cross_entropy(b))

    def train_step() -> None:
        opt.zero_grad()
        loss_of(xb, yb)
        opt.step()
    return conv_step, train_step


def _backward(loss: Tensor) -> Tensor:
    loss.backward()
    return loss


def _torch(batch: int):
    import torch
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 32, 3, padding=1)
    x = torch.randn(batch, 16, 28, 28, requires_grad=True)

    def conv_step() -> None:
        conv(x).sum().backward()

    tnn = torch.nn
    model = tnn.Sequential(tnn.Conv2d(1, 16, 3, padding=1, bias=False), tnn.BatchNorm2d(16), tnn.ReLU(),
                           tnn.MaxPool2d(2), tnn.Conv2d(16, 32, 3, padding=1, bias=False), tnn.BatchNorm2d(32),
                           tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(32 * 7 * 7, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xb, yb = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))

    def train_step() -> None:
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return conv_step, train_step


def _peak(fn) -> float:
    """MiB numpy allocated at most during one call of ``fn``."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main(argv: list[str] | None = None) -> str:
    """Time both workloads at ``--threads`` BLAS threads and return a Markdown table."""
    p = argparse.ArgumentParser(prog="python -m bench.conv", description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        ours, replayed, theirs = _ours(args.batch), _ours(args.batch, replay=True), _torch(args.batch)
        rows = ["| workload | tinygrad_bn | tinygrad_bn (jit) | PyTorch eager | ratio | ratio (jit) | "
                "our peak numpy memory |", "|---|---|---|---|---|---|---|"]
        for i, name in enumerate(("Conv2d fwd+bwd", "CNN train step")):
            t = blocks({"ours": ours[i], "jit": replayed[i], "torch": theirs[i]}, repeats=args.repeats)
            rows.append(f"| {name} | {t['ours'] * 1e3:.1f} ms | {t['jit'] * 1e3:.1f} ms | {t['torch'] * 1e3:.1f} ms | "
                        f"{t['ours'] / t['torch']:.2f}x | {t['jit'] / t['torch']:.2f}x | {_peak(ours[i]):.0f} MiB |")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    report = "\n".join(rows) + (f"\n\nbatch {args.batch}, {args.threads} BLAS threads, medians of {args.repeats}, "
                                 f"load average {load} (1, 5, 15 min)")
    print(report)
    return report


if __name__ == "__main__":
    main()
