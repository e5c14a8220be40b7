"""Explorer pages at scale, in headless Chromium at 1400x900: writing, first readable view, opening a box.

``python -m bench.explorer [--repeats N] [--quick]`` writes the explorer of the README's MLP, a
ResNet-20, a 60-block BN MLP and random plain-op DAGs of 20,000 and 100,000 nodes (``--quick``: the
first three), then opens each in a fresh page of Debian's Chromium (Playwright) and times: writing the
page (``viz.explore(...).save``), its size, the first view (from ``goto`` to the laid-out overview,
with the median height of the label text visible then), opening the first collapsed box (click to
laid out), and the longest task that held the page's main thread meanwhile (a ``longtask``
PerformanceObserver: anything over 50 ms, "under 50 ms" when there was none). Prints a Markdown table (medians
over the repeats).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import numpy as np

import viz
from tinygrad_bn import Tensor, nn

from .render_graphs import bn_mlp, resnet20
from .render_scaling import random_graph

LONG_TASKS = """window.longest = 0; new PerformanceObserver((list) => { for (const e of list.getEntries())
  window.longest = Math.max(window.longest, e.duration); }).observe({ type: 'longtask', buffered: true });"""
TEXT = """() => { const pane = document.querySelector('.pane'), r = pane.getBoundingClientRect();
  const h = [...pane.querySelector(':scope > svg').querySelectorAll('text')].map((t) => t.getBoundingClientRect())
    .filter((b) => b.width > 0 && b.right > r.left && b.left < r.right && b.bottom > r.top && b.top < r.bottom)
    .map((b) => b.height).sort((a, b) => a - b);
  return h[Math.floor(h.length / 2)]; }"""


def readme_mlp() -> nx.DiGraph:
    x = Tensor(np.random.default_rng(0).standard_normal((64, 20)).astype(np.float32))
    model = nn.Sequential(nn.Linear(20, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 3))
    return viz.capture(model, input=x, target=np.arange(64) % 3)


CASES: list[tuple[str, Callable[[], nx.DiGraph]]] = [
    ("README MLP", readme_mlp), ("ResNet-20", resnet20), ("60-block BN MLP", lambda: viz.capture(bn_mlp(60))),
    ("random DAG, 20k", lambda: viz.capture(random_graph(20_000))),
    ("random DAG, 100k", lambda: viz.capture(random_graph(100_000)))]


def open_page(browser, path: Path) -> dict[str, float]:
    """Seconds to the first view and to open a box, the text height then, and the longest main-thread task."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.add_init_script(LONG_TASKS)
    start = time.perf_counter()
    page.goto(path.as_uri())
    page.wait_for_selector(".tgbn-x[data-ready='1']", timeout=600_000)
    first = time.perf_counter() - start
    text = page.evaluate(TEXT)
    box = page.eval_on_selector_all(".pane > svg g.node.group", "gs => gs.map(g => g.id.slice(2))")
    opened = float("nan")
    if box:
        start = time.perf_counter()
        page.eval_on_selector(f"#n-{box[0]}", "g => g.dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        page.wait_for_function("document.querySelector('.tgbn-x').dataset.ready === '1'", timeout=600_000)
        opened = time.perf_counter() - start
    longest = page.evaluate("window.longest")
    page.close()
    return {"first": first, "text": text, "open": opened, "longest": longest}


def main(argv: list[str] | None = None) -> None:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(prog="python -m bench.explorer", description=__doc__)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="only the three models")
    args = p.parse_args(argv)
    rows = ["| graph | nodes | write | HTML | first view | label text | open a box | longest main-thread task |",
            "|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        for name, make in CASES[:3] if args.quick else CASES:
            g = make()
            path = Path(tmp) / "page.html"
            start = time.perf_counter()
            viz.explore(g, path)
            write = time.perf_counter() - start
            runs = [open_page(browser, path) for _ in range(args.repeats)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            longest = f"{med['longest']:.0f} ms" if med["longest"] else "under 50 ms"
            rows.append(f"| {name} | {g.number_of_nodes():,} | {write:.1f} s | {path.stat().st_size / 1e6:.1f} MB | "
                        f"{med['first']:.2f} s | {med['text']:.0f} px | {med['open']:.2f} s | {longest} |")
            print(rows[-1], flush=True)
        browser.close()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
