"""Rendering: time to capture, analyse (noise paths) and render the graph of a deep BN MLP; the models the
explorer bench and the browser tests open (a ResNet-20, a CNN with dropout)."""

from __future__ import annotations

import time

import numpy as np

import viz
from tinygrad_bn import Tensor, manual_seed, nn


def bn_mlp(layers: int, width: int = 16, batch: int = 8, seed: int = 0) -> Tensor:
    """The loss of an MLP with ``layers`` blocks Linear -> BatchNorm1d -> ReLU, after backward(retain_grads)."""
    blocks: list[nn.Module] = []
    for _ in range(layers):
        blocks += [nn.Linear(width, width, generator=seed), nn.BatchNorm1d(width), nn.ReLU()]
    model = nn.Sequential(*blocks, nn.Linear(width, 10, generator=seed))
    rng = np.random.default_rng(seed)
    x = Tensor(rng.standard_normal((batch, width)).astype(np.float32), name="x")
    loss = model(x).cross_entropy(rng.integers(0, 10, batch))
    loss.backward(retain_grads=True)
    return loss


class Block(nn.Module):
    """ResNet's basic block: two 3x3 convolutions with BatchNorm and a shortcut (a 1x1 convolution when the shape
    changes)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
                      if stride != 1 or cin != cout else None)

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(self.bn1(self.conv1(x)).relu()))
        return (out + (self.short(x) if self.short is not None else x)).relu()


class ResNet20(nn.Module):
    """The CIFAR ResNet-20 layout: a stem, three stages of three blocks, a linear classifier (narrow: ``width``)."""

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        stages, cin = [], width
        for i, cout in enumerate((width, 2 * width, 4 * width)):
            stages.append(nn.Sequential(*[Block(cin if k == 0 else cout, cout, 2 if i and not k else 1)
                                          for k in range(3)]))
            cin = cout
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(4 * width, 10)

    def forward(self, x: Tensor) -> Tensor:
        out = self.layer3(self.layer2(self.layer1(self.bn1(self.conv1(x)).relu())))
        return self.linear(out.mean(axis=(2, 3)))


def resnet20(seed: int = 0):
    """The captured graph of one training step of :class:`ResNet20` on a random (4, 3, 8, 8) batch."""
    manual_seed(seed)
    x = Tensor(np.random.default_rng(seed).standard_normal((4, 3, 8, 8)).astype(np.float32))
    return viz.capture(ResNet20(), input=x, target=np.arange(4) % 10)


def cnn(seed: int = 0):
    """The captured graph of one training step of a small CNN with BatchNorm2d first and dropout."""
    manual_seed(seed)
    model = nn.Sequential(nn.BatchNorm2d(1), nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Dropout(0.3, generator=seed), nn.Linear(4 * 4 * 4, 10))
    x = Tensor(np.random.default_rng(seed).standard_normal((16, 1, 8, 8)).astype(np.float32))
    return viz.capture(model, input=x, target=np.arange(16) % 10)


def measure(layers: int, every_node: bool = True, engine: str = "auto") -> dict[str, float | int | str]:
    """Seconds to capture, analyse and render (``depth=None``: every node drawn, else the default overview)."""
    loss = bn_mlp(layers)
    t0 = time.perf_counter()
    g = viz.capture(loss)
    t1 = time.perf_counter()
    report = viz.noise_paths(g)
    t2 = time.perf_counter()
    out = viz.render(g, depth=None if every_node else "auto", engine=engine)
    t3 = time.perf_counter()
    return {"nodes": g.number_of_nodes(), "entries": len(report.entries), "capture": t1 - t0,
            "analyse": t2 - t1, "render": t3 - t2, "total": t3 - t0, "engine": out.engine}
