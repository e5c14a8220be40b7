"""The graphs the report draws with ``viz``: a small BN network with its gradients, BN beside dropout, and the
training timeline of one covariate-shift run (interactive explorers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import viz
from tinygrad_bn import Tensor, manual_seed, nn, optim

from .training import load, minibatches, mlp


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
    return {"noise_entries": _entries(loss), "engine": rendering.engine,
            "explorer": viz.explore(rendering.graph, focus="1", title="BN network graph")}


def covariate_shift_timeline(quick: bool = False, seed: int = 0) -> viz.Explorer:
    """The explorer of one covariate-shift run with BN: its training graph at four steps.

    The covariate-shift experiment's network and settings (784-100-100-100-10 sigmoid MLP with BN on
    MNIST, SGD with lr 0.5, batches of 60) for 90 steps (``quick``) or 600, snapshotted at 0, 1/3,
    2/3 and the end, so the slider shows values and gradients moving while BN holds its outputs still.
    """
    steps = 90 if quick else 600
    split = load("mnist", seed)
    model = mlp([split.n_features, 100, 100, 100, 10], norm="bn", activation="sigmoid", seed=seed)
    opt = optim.SGD(model.parameters(), lr=0.5)
    stream = minibatches(split.X_train, split.y_train, 60, np.random.default_rng(seed))
    timeline = viz.Timeline()
    for step in range(steps + 1):
        xb, yb = next(stream)
        loss = model(Tensor(xb, name="images")).cross_entropy(yb)
        opt.zero_grad()
        keep = step in (0, steps // 3, 2 * steps // 3, steps)
        loss.backward(retain_grads=keep)
        if keep:
            timeline.snapshot(loss, label=f"step {step}")
        opt.step()
    return viz.explore(timeline, title="covariate-shift run with BN: training timeline")


def noise_graph(path: Path, seed: int = 0) -> dict:
    """Render one BN layer followed by dropout (no loss, no gradients): the two BN noise paths beside the mask's."""
    manual_seed(seed)
    model = nn.Sequential(nn.BatchNorm1d(3), nn.Dropout(0.5))
    x = Tensor(np.random.default_rng(seed).normal(size=(8, 3)).astype(np.float32), name="x", requires_grad=True)
    y = model(x)
    rendering = viz.render(y, path, show_grads=False)
    return {"noise_entries": _entries(y), "engine": rendering.engine}
