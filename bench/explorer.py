"""Explorer page load: seconds from opening the file to the first fitted picture, in headless Chromium.

``python -m bench.explorer [--repeats N]`` writes the explorer of BN MLPs (6 blocks, about 200 nodes;
68 blocks, about 2,000 nodes) and opens each in a fresh page of Debian's Chromium (Playwright),
timing until the graph is laid out (Graphviz in WebAssembly) and fitted. A 2,000-node graph opens
collapsed to the deepest depth under 300 nodes (as ``viz.render`` draws it); its fully expanded
layout is timed too. Prints a Markdown table: nodes shown, HTML size, median and min seconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import viz

from .render_graphs import bn_mlp

CASES = (("6-block BN MLP", 6, 300), ("68-block BN MLP", 68, 300), ("68-block BN MLP, all expanded", 68, None))


def load_seconds(path: Path, repeats: int) -> tuple[list[float], str]:
    """Seconds from ``goto`` to the explorer's first fitted layout, one fresh page per repeat."""
    from playwright.sync_api import sync_playwright

    times, shown = [], ""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            start = time.perf_counter()
            page.goto(path.as_uri())
            page.wait_for_selector(".tgbn-x[data-ready='1']", timeout=300_000)
            times.append(time.perf_counter() - start)
            shown = page.text_content(".status")
            page.close()
        browser.close()
    return times, shown


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.explorer", description=__doc__)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    rows = ["| graph | nodes shown | HTML | load to fitted picture (median, min) |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, blocks, max_nodes in CASES:
            path = Path(tmp) / f"{blocks}-{max_nodes}.html"
            viz.explore(bn_mlp(blocks), path, max_nodes=max_nodes)
            times, shown = load_seconds(path, args.repeats)
            rows.append(f"| {name} | {shown} | {path.stat().st_size / 2**20:.2f} MiB | "
                        f"{statistics.median(times):.2f} s, {min(times):.2f} s |")
            print(rows[-1], flush=True)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
