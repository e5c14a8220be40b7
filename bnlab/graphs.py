"""The graphs the report draws with ``viz``: a small BN network with its gradients, BN beside dropout, the
training timeline of one covariate-shift run (interactive explorers), the BN network against its LayerNorm
twin and a trained BN network in train mode against eval mode (compare pages)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import viz
from tinygrad_bn import Tensor, manual_seed, nn, optim

from .training import load, minibatches, mlp, train


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


def _small_net(norm: type, seed: int) -> nn.Sequential:
    manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), norm(3), nn.ReLU(), nn.Dropout(0.5), nn.Linear(3, 2))


def bn_vs_layernorm(seed: int = 0) -> viz.Comparison:
    """The small BN network of :func:`network_graph` against the same network with LayerNorm in BatchNorm's
    place, one training step each on the same batch of 8 (the same initial weights and dropout masks)."""
    x = np.random.default_rng(seed).normal(size=(8, 4)).astype(np.float32)
    target = np.arange(8) % 2
    graphs = []
    for norm in (nn.BatchNorm1d, nn.LayerNorm):
        model = _small_net(norm, seed)
        manual_seed(seed)  # the same dropout mask in both
        graphs.append(viz.capture(model, input=x, target=target))
    return viz.compare(*graphs, labels=("BatchNorm", "LayerNorm"), title="BatchNorm vs LayerNorm")


def train_vs_eval(quick: bool = False, seed: int = 0) -> viz.Comparison:
    """A BN MLP trained on digits as in the test-time experiment (64-128-128-10, 80 or 300 steps), one step on
    32 test examples in train mode (batch statistics) against eval mode (running statistics)."""
    split = load("digits", seed)
    hidden = 64 if quick else 128
    model = mlp([split.n_features, hidden, hidden, 10], norm="bn", seed=seed)
    steps = 80 if quick else 300
    train(model, split, steps=steps, batch_size=64, lr=0.1, momentum=0.9, seed=seed, eval_every=steps, progress=False)
    return viz.compare(model, mode=("train", "eval"), input=split.X_test[:32], target=split.y_test[:32],
                       labels=("train mode", "eval mode"), title="a trained BN network: train mode vs eval mode")


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
