"""Draw one training step of models whose first layer is BatchNorm: the pictures in the README and the docs.

Writes (default into docs/, PNG, small enough to commit) and prints the noise analysis:
- batchnorm.png: Linear then BatchNorm1d after backward, as ``viz.render`` draws it by default: the
  BatchNorm's primitive ops with the batch mean entering additively (orange) and the batch std
  multiplicatively (blue), the Linear layer and the loss one box each (the README's first picture);
- viz_cnn_overview.png: a small CNN on the 8x8 digits by default: every module and the loss one titled
  box (class, arguments, shapes, the noise kinds inside as badges, the largest gradient norm), the
  first normalizer open;
- viz_mlp_bn.png: an MLP with BatchNorm1d first: the batch statistics of a raw input that needs no
  gradient, which only ``viz.capture(model, input=x)`` (recording every op) can see;
- explorer_cnn.html: the CNN's explorer, embedded live in the "Seeing noise" guide;
- compare_cnn.html: the CNN against its twin with GroupNorm in BatchNorm2d's place (``viz.compare``),
  embedded live in the guide too;
- explorer.png and compare.png (PNG only, need Chromium and Playwright): the explorer's first view of the
  CNN at 1400x900 with its first noise entry lit, and the comparison's first view.

    python examples/render_model.py [--out DIR] [--format png|svg]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import viz
from tinygrad_bn import Tensor, data, manual_seed, nn

ENTRY = "button[data-entry='0']"
"""The explorer's first noise entry."""


def make_model(norm: nn.Module | None = None) -> nn.Module:
    """BatchNorm2d (or ``norm``) on the raw 8x8 digits, a convolution, ReLU, pooling, dropout and a linear
    classifier."""
    return nn.Sequential(norm or nn.BatchNorm2d(1), nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
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
    for name, graph in (("viz_cnn_overview", cnn), ("viz_mlp_bn", g), ("batchnorm", layer)):
        path = out / f"{name}.{fmt}"
        viz.render(graph, path, format=fmt, show_values=False)
        if fmt == "png":
            _shrink(path)
        print(f"wrote {path}")
    page = viz.explore(cnn, title="a CNN with BatchNorm2d first and dropout")
    print(f"wrote {page.save(out / 'explorer_cnn.html')}")
    manual_seed(0)  # the same weights and dropout mask as the CNN's
    twin = viz.capture(make_model(nn.GroupNorm(1, 1)), input=images, target=y[rows])
    both = viz.compare(cnn, twin, labels=("BatchNorm2d", "GroupNorm"), title="a CNN: BatchNorm2d vs GroupNorm")
    print(both.diff)
    print(f"wrote {both.save(out / 'compare_cnn.html')}")
    if fmt == "png":
        print(f"wrote {first_view(page, out / 'explorer.png', click=ENTRY)}")
        print(f"wrote {first_view(both, out / 'compare.png')}")


def _shrink(path: Path) -> None:
    """Reduce a PNG to 256 colours, so it is small enough to commit (Pillow, via matplotlib)."""
    from PIL import Image

    with Image.open(path) as im:
        im.convert("RGB").quantize(256, method=Image.Quantize.MAXCOVERAGE).save(path, optimize=True)


def first_view(page: viz.Explorer | viz.Comparison, path: Path, click: str | None = None) -> Path:
    """A screenshot of the first view of ``page`` at 1400x900, after clicking ``click`` (a CSS selector)."""
    import tempfile

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        page_file = page.save(Path(tmp) / "page.html")
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        tab = browser.new_page(viewport={"width": 1400, "height": 900})
        tab.goto(page_file.as_uri())
        tab.wait_for_selector(f".{'tgbn-cmp' if isinstance(page, viz.Comparison) else 'tgbn-x'}[data-ready='1']")
        if click:
            tab.click(click)
            tab.wait_for_function("document.querySelector('button.entry.on') !== null")
            tab.wait_for_selector(".tgbn-x[data-ready='1']")
        tab.screenshot(path=path)
        browser.close()
    _shrink(path)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"), help="folder for the pictures (default: docs)")
    parser.add_argument("--format", default="png", choices=["png", "svg"], help="picture format (png needs dot)")
    args = parser.parse_args()
    main(args.out, args.format)
