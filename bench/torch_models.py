"""viz on a PyTorch ResNet-18: ``python -m bench.torch_models [--repeats N] [--load]``.

Times ``viz.capture`` of one training step (export, decompositions, the run, every intermediate's
gradient, the graph) of ``examples/torch_resnet18.py`` on a batch of 8 images at 3x64x64, the noise
analysis, and writing the explorer page (``viz.explore(g, path)``); ``--load`` also opens the page in
headless Chromium (``bench.explorer``) and times it to the first fitted picture. Targets (issue 22):
capture with gradients < 15 s, page written < 10 s. Prints a Markdown table, median and range.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

import viz
from examples.torch_resnet18 import ResNet18

TARGETS = {"capture with gradients": 15.0, "explorer page written": 10.0}


def measure(folder: Path, batch: int = 8, size: int = 64) -> tuple[dict[str, float], dict[str, object], Path]:
    """Seconds per stage for one ResNet-18 step, facts about the graph, and the page written (into ``folder``)."""
    torch.manual_seed(0)
    model = ResNet18(num_classes=10)
    x, y = torch.randn(batch, 3, size, size), torch.arange(batch) % 10
    t0 = time.perf_counter()
    g = viz.capture(model, input=x, target=y)
    t1 = time.perf_counter()
    report = viz.noise_paths(g)
    t2 = time.perf_counter()
    path = folder / "resnet18.html"
    viz.explore(g, path, title="ResNet-18")
    t3 = time.perf_counter()
    facts = {"nodes": g.number_of_nodes(), "entries": len(report.entries), "HTML MiB": path.stat().st_size / 2**20}
    return ({"capture with gradients": t1 - t0, "noise analysis": t2 - t1, "explorer page written": t3 - t2},
            facts, path)


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1e3:.0f} ms"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.torch_models", description=__doc__)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--load", action="store_true", help="also time opening the page in headless Chromium")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        rows = _table(args.repeats, args.load, Path(folder))
    print("\n".join(rows))


def _table(repeats: int, load: bool, folder: Path) -> list[str]:
    runs, facts, path = [], {}, None
    for _ in range(repeats):
        seconds, facts, path = measure(folder)
        runs.append(seconds)
    rows = [f"ResNet-18, batch 8 at 3x64x64: {facts['nodes']} graph nodes, {facts['entries']} noise entries, "
            f"explorer page {facts['HTML MiB']:.2f} MiB", "",
            "| stage | median | range | target |", "|---|---|---|---|"]
    for stage in runs[0]:
        xs = [r[stage] for r in runs]
        med = statistics.median(xs)
        target = TARGETS.get(stage)
        verdict = f"< {target:g} s: {'met' if med < target else 'MISSED'}" if target else ""
        rows.append(f"| {stage} | {_s(med)} | {_s(min(xs))}-{_s(max(xs))} | {verdict} |")
    if load and path is not None:
        from .explorer import load_seconds

        times, shown = load_seconds(path, repeats)
        rows.append(f"| page opened to fitted picture ({shown}) | {statistics.median(times):.2f} s | "
                    f"{min(times):.2f}-{max(times):.2f} s | |")
    return rows


if __name__ == "__main__":
    main()
