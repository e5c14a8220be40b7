"""Draw one training step of models whose first layer is BatchNorm: the pictures in the README.

Writes (default into docs/, PNG, small enough to commit) and prints the noise analysis:
- viz_cnn_overview.png: a small CNN on the 8x8 digits, every module and the loss collapsed to one
  titled node each (``depth=0``): class, description, shapes, the noise kinds inside and the largest
  gradient norm;
- batchnorm.png: Linear then BatchNorm1d after backward, every op drawn (the README's first picture);
- viz_mlp_bn.png: an MLP with BatchNorm1d first, every op drawn: the batch mean enters additively
  (orange) and the batch std multiplicatively (blue), from a raw input that needs no gradient, which
  only ``viz.capture(model, input=x)`` (recording every op) can see; the loss is one box.

    python examples/render_model.py [--out DIR] [--format png|svg]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import viz
from tinygrad_bn import Tensor, data, manual_seed, nn


def make_model() -> nn.Module:
    """BatchNorm2d on the raw 8x8 digits, a convolution, ReLU, pooling, dropout and a linear classifier."""
    return nn.Sequential(nn.BatchNorm2d(1), nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Dropout(0.2, generator=0), nn.Linear(4 * 4 * 4, 10))


def main(out: Path, fmt: str) -> None:
    manual_seed(0)
    X, y = data.load_digits()
    rows = np.random.default_rng(0).choice(len(X), size=16, replace=False)
    images = Tensor(((X[rows] - 8.0) / 8.0).reshape(16, 1, 8, 8), dtype=np.float32, name="digits")
    cnn = viz.capture(make_model(), input=images, target=y[rows])
    print("viz_cnn_overview:", viz.noise_paths(cnn), sep="\n")
    mlp = nn.Sequential(nn.BatchNorm1d(64), nn.Linear(64, 10, generator=0))
    pixels = Tensor((X[rows] - 8.0) / 8.0, dtype=np.float32, name="digits")
    g = viz.capture(mlp, input=pixels, target=y[rows])
    print("viz_mlp_bn:", viz.noise_paths(g), sep="\n")
    layer = viz.capture(nn.Sequential(nn.Linear(64, 10, generator=0), nn.BatchNorm1d(10)), input=pixels,
                        target=y[rows])
    for name, graph, depth in (("viz_cnn_overview", cnn, 0), ("viz_mlp_bn", g, None), ("batchnorm", layer, None)):
        path = out / f"{name}.{fmt}"
        viz.render(graph, path, depth=depth, format=fmt, show_values=False)
        if fmt == "png":
            _shrink(path)
        print(f"wrote {path}")


def _shrink(path: Path) -> None:
    """Scale a PNG to 3/4 and reduce it to 256 colours, so it is small enough to commit (Pillow, via matplotlib)."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").resize((im.width * 3 // 4, im.height * 3 // 4), Image.LANCZOS)
    small.quantize(256, method=Image.Quantize.MAXCOVERAGE).save(path, optimize=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"), help="folder for the pictures (default: docs)")
    parser.add_argument("--format", default="png", choices=["png", "svg"], help="picture format (png needs dot)")
    args = parser.parse_args()
    main(args.out, args.format)
