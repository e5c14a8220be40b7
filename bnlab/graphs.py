"""The graphs the report draws with ``viz``: a small BN network with its gradients, and BN beside dropout."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import viz
from tinygrad_bn import Tensor, manual_seed, nn


def _entries(target: Tensor) -> list[str]:
    """The noise entry points ``viz.noise_paths`` finds in the graph of ``target``, as short phrases."""
    g = viz.capture(target)
    return [
        f"{e['kind']} at {e['op']} (from the {e['source_kind']} {g.nodes[e['source_op']]['op']})"
        for e in viz.noise_paths(g).entries
    ]


def network_graph(path: Path, seed: int = 0) -> dict:
    """Render Linear, BN, ReLU, Dropout, Linear and cross-entropy on a batch of 8, with gradients, to ``path``."""
    manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Dropout(0.5), nn.Linear(3, 2))
    x = Tensor(np.random.default_rng(seed).normal(size=(8, 4)).astype(np.float32), name="x")
    loss = model(x).cross_entropy(np.arange(8) % 2)
    loss.backward(retain_grads=True)
    rendering = viz.render(loss, path)
    return {"noise_entries": _entries(loss), "engine": rendering.engine}


def noise_graph(path: Path, seed: int = 0) -> dict:
    """Render one BN layer followed by dropout (no loss, no gradients): the two BN noise paths beside the mask's."""
    manual_seed(seed)
    model = nn.Sequential(nn.BatchNorm1d(3), nn.Dropout(0.5))
    x = Tensor(np.random.default_rng(seed).normal(size=(8, 3)).astype(np.float32), name="x", requires_grad=True)
    y = model(x)
    rendering = viz.render(y, path, show_grads=False)
    return {"noise_entries": _entries(y), "engine": rendering.engine}
