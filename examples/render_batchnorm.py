"""Where does batch normalization's noise enter? Draw it.

Writes two SVGs (default into out/):
- batchnorm.svg: Linear -> BatchNorm1d on a mini-batch of digits, after backward: the batch mean
  enters additively, the batch std multiplicatively, and every tensor shows its gradient;
- bn_vs_layernorm.svg: the same layer with BatchNorm and with LayerNorm side by side: LayerNorm
  normalizes each example over its features, so no batch noise enters its graph at all.
The noise analysis that colours them is printed too.

    python examples/render_batchnorm.py [--out DIR] [--engine auto|dot|wasm]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import viz
from tinygrad_bn import Tensor, data, nn


class Pair(nn.Module):
    """The same Linear layer followed by BatchNorm in one branch and by LayerNorm in the other."""

    def __init__(self, features: int, classes: int) -> None:
        super().__init__()
        self.batchnorm = nn.Sequential(nn.Linear(features, classes, generator=0), nn.BatchNorm1d(classes))
        self.layernorm = nn.Sequential(nn.Linear(features, classes, generator=0), nn.LayerNorm(classes))

    def forward(self, x: Tensor, labels: np.ndarray) -> tuple[Tensor, Tensor]:
        return self.batchnorm(x).cross_entropy(labels), self.layernorm(x).cross_entropy(labels)


def main(out: Path, engine: str) -> None:
    X, y = data.load_digits()
    rows = np.random.default_rng(0).choice(len(X), size=16, replace=False)
    x, labels = Tensor((X[rows] - 8.0) / 8.0, dtype=np.float32, name="digits"), y[rows]

    layer = nn.Sequential(nn.Linear(64, 10, generator=0), nn.BatchNorm1d(10))
    loss = layer(x).cross_entropy(labels)
    loss.backward(retain_grads=True)
    print("batchnorm.svg:", viz.noise_paths(viz.capture(loss)), sep="\n")
    viz.render(loss, out / "batchnorm.svg", engine=engine)

    bn_loss, ln_loss = Pair(64, 10)(x, labels)
    bn_loss.backward(retain_grads=True)
    ln_loss.backward(retain_grads=True)
    print("bn_vs_layernorm.svg:", viz.noise_paths(viz.capture([bn_loss, ln_loss])), sep="\n")
    viz.render([bn_loss, ln_loss], out / "bn_vs_layernorm.svg", engine=engine, rankdir="TB")
    print(f"wrote {out / 'batchnorm.svg'} and {out / 'bn_vs_layernorm.svg'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the SVGs (default: out)")
    parser.add_argument("--engine", default="auto", choices=["auto", "dot", "wasm"], help="Graphviz engine")
    args = parser.parse_args()
    main(args.out, args.engine)
