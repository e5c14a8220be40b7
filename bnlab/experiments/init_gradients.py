"""Init gradients: do gradients explode with depth in BN networks without skip connections at initialization?

Yang et al. 2019 (A Mean Field Theory of Batch Normalization): in wide fully connected BN networks at
initialization the gradient grows geometrically from the last layer to the first, and no choice of the weight
variance removes it; without BN, He initialization keeps it flat. For ReLU their mean-field rate of the squared
gradient norm per layer is pi / (pi - 1) ~= 1.467 in the large-batch limit: BN divides the backward signal by the
batch std of W relu(x), whose variance is n sigma_w^2 (pi - 1) / (2 pi), while the forward second moment that
the weights multiply is n sigma_w^2 / 2 -- sigma_w cancels. Here: MLPs of width 256, Linear -> BN -> ReLU
(no bias) or Linear -> ReLU with He init, on real MNIST-5k batches with cross-entropy, one backward pass at
init; the growth factor is fitted to log ||dL/dW_l||^2 against the layer index over the hidden layers.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinygrad_bn import Tensor, nn

from ..training import load, mlp
from . import Figure, Result

if TYPE_CHECKING:
    from ..runner import Runner

PAPER_RATE = math.pi / (math.pi - 1)  # squared gradient norm per layer, ReLU, batch size -> infinity
FLAT_MARGIN = 0.05
FLAT_WHY = "a rate within 5% of 1 changes the squared norm by under 2x over 15 layers: flat for the claim"
PAPER_MARGIN = 0.1
PAPER_WHY = ("the paper's rate is for infinite width and batch; at width 256 and batch 128 finite-size "
             "corrections of a few percent are expected, 0.1 is about a quarter of the rate's distance from 1")


def one_run(*, seed: int, depth: int, width: int, batch: int, bn: bool) -> dict:
    """One backward pass at init: the squared weight-gradient norm of every Linear layer and the fitted rate."""
    split = load("mnist", seed)
    model = mlp(
        [split.n_features] + [width] * (depth - 1) + [10], norm="bn" if bn else "none", bias=False, init="he", seed=seed
    )
    linears = [m for m in model if isinstance(m, nn.Linear)]
    rng = np.random.default_rng(seed + 1)
    rows = rng.choice(len(split.y_train), batch, replace=False)
    loss = model(Tensor(split.X_train[rows])).cross_entropy(split.y_train[rows])
    loss.backward()
    sq = np.array([float((layer.weight.grad.data.astype(np.float64) ** 2).sum()) for layer in linears])
    hidden = np.arange(1, len(linears) - 1)  # the first layer sees the data, the last the loss: fit the others
    slope = float(np.polyfit(hidden, np.log(sq[hidden]), 1)[0])
    return {"grad_sq_norms": sq.tolist(), "rate": math.exp(-slope)}


def run(*, quick: bool, seeds: list[int], seed: int, out: Path, runner: Runner) -> Result:
    from .. import plots, stats  # here, not at the top: worker processes import this module for its runs

    ss = seeds
    width = 256
    depths = [10, 20] if quick else [10, 25, 50]
    batches = [8, 32] if quick else [8, 32, 128]
    configs = [(d, b, True) for d in depths for b in batches] + [(d, batches[-1], False) for d in depths]
    found = iter(
        runner.map(
            one_run,
            [{"seed": s, "depth": d, "width": width, "batch": b, "bn": bn} for d, b, bn in configs for s in ss],
            desc="init-gradients",
        )
    )
    runs = {f"{'BN' if bn else 'no BN (He)'}, depth {d}, batch {b}": [next(found) for _ in ss] for d, b, bn in configs}

    def rates(label: str) -> list[float]:
        return [r["rate"] for r in runs[label]]

    deep, big = depths[-1], batches[-1]
    bn_deep, plain_deep = f"BN, depth {deep}, batch {big}", f"no BN (He), depth {deep}, batch {big}"
    checks = [
        stats.mean_effect(
            [r - 1 for r in rates(bn_deep)],
            unit="rate - 1",
            seed=seed,
            claim=f"with BN (depth {deep}, batch {big}) the squared gradient norm grows from the last "
            "layer to the first (per-layer rate - 1)",
        ),
        stats.mean_effect(
            [r - 1 for r in rates(plain_deep)],
            unit="rate - 1",
            direction="within",
            margin=FLAT_MARGIN, reason=FLAT_WHY,
            seed=seed,
            claim=f"without BN, with He init (depth {deep}), it stays flat: rate 1 within {FLAT_MARGIN}",
        ),
        stats.mean_effect(
            [r - PAPER_RATE for r in rates(bn_deep)],
            unit="rate - pi/(pi-1)",
            direction="within",
            margin=PAPER_MARGIN, reason=PAPER_WHY,
            seed=seed,
            claim=f"the BN rate at batch {big} is Yang et al.'s pi/(pi-1) = {PAPER_RATE:.3f} within {PAPER_MARGIN}",
        ),
    ]
    summary = {label: stats.interval(rates(label), seed=seed)[:3] for label in runs}
    numbers = {
        "seeds": ss,
        "width": width,
        "depths": depths,
        "batches": batches,
        "paper_rate": PAPER_RATE,
        "rate_mean_low_high": summary,
        "runs": runs,
    }
    curves = {}
    for label in (bn_deep, plain_deep):
        sq = np.array([r["grad_sq_norms"] for r in runs[label]])
        curves[label.split(",")[0]] = (list(range(1, sq.shape[1] + 1)), np.exp(np.log(sq).mean(0)).tolist())
    plots.panels(
        {f"at init, depth {deep}, batch {big}": curves},
        out / "init_gradients_layers",
        xlabel="layer (1 = first)",
        ylabel="squared gradient norm ||dL/dW||^2",
        logy=True,
    )
    plots.interval_lines(
        {
            f"BN, depth {d}": {
                "measured": (batches, [summary[f"BN, depth {d}, batch {b}"] for b in batches]),
                "pi/(pi-1)": (batches, [(PAPER_RATE,) * 3 for _ in batches]),
            }
            for d in depths
        },
        out / "init_gradients_rate",
        xlabel="batch size",
        ylabel="per-layer growth of ||dL/dW||^2",
        logx=True,
    )
    table = ", ".join(f"{label} {m:.3f} [{lo:.3f}, {hi:.3f}]" for label, (m, lo, hi) in summary.items())
    figures = [
        Figure(
            "init_gradients_layers",
            "Gradient norms layer by layer at initialization",
            f"Squared Frobenius norm of dL/dW for each of the {deep} Linear layers of a width-{width} ReLU MLP at "
            f"init on a batch of {big} MNIST images, geometric mean over {len(ss)} seeds (log scale): with BN it "
            "grows from the last layer to the first, without BN (He init) it stays flat.",
        ),
        Figure(
            "init_gradients_rate",
            "Per-layer growth rate against the batch size, beside the paper's value",
            f"The growth factor per layer of ||dL/dW||^2 (fitted over the hidden layers), mean and 95% interval "
            f"over {len(ss)} seeds, for each depth and batch size, with Yang et al.'s large-batch ReLU value "
            f"pi/(pi-1) = {PAPER_RATE:.3f} dashed. The y axis does not start at zero. All rates: {table}.",
        ),
    ]
    finding = (
        f"Per-layer growth of the squared gradient norm at init: with BN {summary[bn_deep][0]:.3f} "
        f"[{summary[bn_deep][1]:.3f}, {summary[bn_deep][2]:.3f}] (depth {deep}, batch {big}; the paper's "
        f"pi/(pi-1) = {PAPER_RATE:.3f}), without BN {summary[plain_deep][0]:.3f}; with BN at batch "
        + ", ".join(f"{b}: {summary[f'BN, depth {deep}, batch {b}'][0]:.3f}" for b in batches)
        + "."
    )
    return Result(
        name="init-gradients",
        claim="At initialization, deep BN networks without skip connections have gradients that grow "
        "geometrically from the last layer to the first (Yang et al. 2019); He-initialized networks "
        "without BN do not.",
        checks=checks,
        finding=finding,
        numbers=numbers,
        figures=figures,
    )
