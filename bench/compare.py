"""The compare page at scale, in headless Chromium at 1400x900: two graphs of about 2,000 nodes each.

``python -m bench.compare [--repeats N] [--layers L]`` captures an MLP of ``L`` blocks Linear -> norm ->
ReLU (default 68: just over 2,000 nodes) once with BatchNorm1d and once with LayerNorm, on the same batch
with a loss, and times: the comparison (``viz.diff``) and the page written (``viz.compare(...).save``,
which includes the diff), its size, and the first view in a fresh page of Debian's Chromium (from
``goto`` to both explorers laid out and in step). Targets (issue 23): page written < 5 s, first view
< 2 s. Prints a Markdown table (medians over the repeats).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import networkx as nx
import numpy as np

import viz
from tinygrad_bn import nn


def norm_mlp(layers: int, norm: type, width: int = 16, batch: int = 8, seed: int = 0) -> nx.DiGraph:
    """One training step of ``layers`` blocks Linear -> ``norm`` -> ReLU and a classifier, captured."""
    blocks: list[nn.Module] = []
    for _ in range(layers):
        blocks += [nn.Linear(width, width, generator=seed), norm(width), nn.ReLU()]
    model = nn.Sequential(*blocks, nn.Linear(width, 10, generator=seed))
    rng = np.random.default_rng(seed)
    return viz.capture(model, input=rng.standard_normal((batch, width)).astype(np.float32),
                       target=rng.integers(0, 10, batch))


def first_view(browser, path: Path) -> float:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    start = time.perf_counter()
    page.goto(path.as_uri())
    page.wait_for_selector(".tgbn-cmp[data-ready='1']", timeout=600_000)
    seconds = time.perf_counter() - start
    page.close()
    return seconds


def main(argv: list[str] | None = None) -> None:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--layers", type=int, default=68)
    args = p.parse_args(argv)
    a, b = norm_mlp(args.layers, nn.BatchNorm1d), norm_mlp(args.layers, nn.LayerNorm)
    rows = ["| graphs | nodes | diff | page written | HTML | first view |", "|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        path = Path(tmp) / "compare.html"
        diffs, writes = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            viz.diff(a, b)
            diffs.append(time.perf_counter() - start)
            start = time.perf_counter()
            viz.compare(a, b, path, labels=("BatchNorm", "LayerNorm"))
            writes.append(time.perf_counter() - start)
        views = [first_view(browser, path) for _ in range(args.repeats)]
        size = path.stat().st_size / 1e6
        browser.close()
    rows.append(f"| {args.layers}-block MLP, BatchNorm1d vs LayerNorm | {a.number_of_nodes():,} and "
                f"{b.number_of_nodes():,} | {statistics.median(diffs):.2f} s | {statistics.median(writes):.2f} s | "
                f"{size:.1f} MB | "
                f"{statistics.median(views):.2f} s |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
