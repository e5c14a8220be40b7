"""Rendering: time to capture, analyse (noise paths) and render the graph of a deep BN MLP."""

from __future__ import annotations

import time

import numpy as np

import viz
from tinygrad_bn import Tensor, nn


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


def measure(layers: int, max_nodes: int | None = None, engine: str = "auto") -> dict[str, float | int | str]:
    """Seconds to capture, analyse and render (``max_nodes=None``: every node drawn) with Graphviz ``engine``."""
    loss = bn_mlp(layers)
    t0 = time.perf_counter()
    g = viz.capture(loss)
    t1 = time.perf_counter()
    report = viz.noise_paths(g)
    t2 = time.perf_counter()
    out = viz.render(g, max_nodes=max_nodes, engine=engine)
    t3 = time.perf_counter()
    return {"nodes": g.number_of_nodes(), "entries": len(report.entries), "capture": t1 - t0,
            "analyse": t2 - t1, "render": t3 - t2, "total": t3 - t0, "engine": out.engine}
