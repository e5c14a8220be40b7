"""Smoothness: does BN make the loss landscape smoother, and does "noisy BN" still train about as fast as BN?

Santurkar et al. 2018. Fig. 4: at points along training, move from the weights w along the gradient g of the
current mini-batch by step sizes eta over a span, and record the range of the loss L(w - eta g), the largest
change of the gradient ||grad L(w - eta g) - grad L(w)|| ("gradient predictiveness") and the largest
||grad L(w - eta g) - grad L(w)|| / ||eta g|| ("effective beta-smoothness"); BN makes all three smaller.
Fig. 2: "noisy BN" -- each BN followed by a shift and scale drawn anew every step, so the next layer's input
distribution has a non-zero mean and a non-unit variance that keep changing -- trains about as fast as BN.
Here: a deep MLP (6 hidden layers, He init so that it trains without BN too) on digits trained by plain SGD at
lr 0.3 without BN, with BN and with noisy BN, over several seeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinygrad_bn import Tensor, grad, jit, nn, optim

from ..training import accuracy, load, minibatches, mlp
from . import Figure, Result

if TYPE_CHECKING:
    from ..runner import Runner

LABELS = {"none": "no BN", "bn": "BN", "noisy": "noisy BN"}
SAME_SPEED = 0.03  # "about as fast": mean test accuracy over training within this of BN's
SAME_SPEED_WHY = "a tenth of the gap between BN and no BN in mean test accuracy over training (about 0.3 here)"


def landscape(model: nn.Module, xb: np.ndarray, yb: np.ndarray, etas: np.ndarray) -> dict:
    """Along the gradient of the batch (xb, yb): range of the loss, largest gradient change, effective beta.

    The model (weights and BN running statistics) is left as it was.
    """
    params = list(model.parameters())
    snapshot = model.state_dict()
    start = [p.data.copy() for p in params]

    def loss_and_grads() -> tuple[float, list[np.ndarray]]:
        loss = model(Tensor(xb)).cross_entropy(yb)
        return float(loss.data), [g.data.astype(np.float64) for g in grad(loss, params)]

    loss0, g0 = loss_and_grads()
    gnorm = np.sqrt(sum((g**2).sum() for g in g0))
    losses, changes = [loss0], []
    for eta in etas:
        for p, w, g in zip(params, start, g0):
            p.data[...] = w - eta * g
        loss, gs = loss_and_grads()
        losses.append(loss)
        changes.append(float(np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(gs, g0)))))
    model.load_state_dict(snapshot)
    changes_arr = np.array(changes)
    finite = np.isfinite(losses).all() and np.isfinite(changes_arr).all()
    return {
        "loss_range": float(np.ptp(losses)) if finite else float("inf"),
        "grad_change": float(changes_arr.max()) if finite else float("inf"),
        "beta": float((changes_arr / (etas * max(gnorm, 1e-30))).max()) if finite else float("inf"),
    }


def one_run(*, seed: int, norm: str, steps: int, every: int, lr: float, hidden: int, depth: int, probe: bool) -> dict:
    """Train one configuration, probing the landscape (when ``probe``) and the test accuracy every ``every`` steps."""
    split = load("digits", seed)
    model = mlp([split.n_features] + [hidden] * depth + [10], norm=norm, init="he", seed=seed)
    opt = optim.SGD(model.parameters(), lr=lr)
    stream = minibatches(split.X_train, split.y_train, 64, np.random.default_rng(seed))
    etas = lr * np.geomspace(0.25, 4, 5)
    rec: dict = {"steps": [], "test_acc": [], "loss_range": [], "grad_change": [], "beta": []}
    model.train()
    train_step = jit(lambda x, y: model(x).cross_entropy(y))  # forward and backward, replayed (bit-identical)
    for step in range(1, steps + 1):
        xb, yb = next(stream)
        if probe and (step % every == 0 or step == 1):
            for k, v in landscape(model, xb, yb, etas).items():
                rec[k].append(v)
        opt.zero_grad()
        train_step(xb, yb)
        opt.step()
        if step % every == 0:
            rec["steps"].append(step)
            rec["test_acc"].append(accuracy(model, split.X_test, split.y_test))
    rec["mean_test_acc"] = float(np.mean(rec["test_acc"]))
    rec["etas"] = etas.tolist()
    return rec


def run(*, quick: bool, seeds: list[int], seed: int, out: Path, runner: Runner) -> Result:
    from .. import plots, stats  # here, not at the top: worker processes import this module for its runs

    ss = seeds
    task = {"steps": 60 if quick else 200, "every": 20, "lr": 0.3, "hidden": 64 if quick else 128, "depth": 6}
    found = iter(
        runner.map(
            one_run,
            [{"seed": s, "norm": n, "probe": n != "noisy", **task} for n in LABELS for s in ss],
            desc="smoothness",
        )
    )
    runs = {label: [next(found) for _ in ss] for label in LABELS.values()}

    def log_ratio(key: str) -> list[float]:
        return [float(np.log(np.mean(a[key]) / np.mean(b[key]))) for a, b in zip(runs["no BN"], runs["BN"])]

    def speed(label: str) -> list[float]:
        return [r["mean_test_acc"] for r in runs[label]]

    checks = [
        stats.mean_effect(
            log_ratio("loss_range"),
            unit="log(no BN / BN)",
            seed=seed,
            claim="with BN the loss varies less along the gradient (range of the loss over the step "
            "sizes, mean over training)",
        ),
        stats.mean_effect(
            log_ratio("grad_change"),
            unit="log(no BN / BN)",
            seed=seed,
            claim="with BN the gradient changes less along the gradient (gradient predictiveness)",
        ),
        stats.mean_effect(
            log_ratio("beta"),
            unit="log(no BN / BN)",
            seed=seed,
            claim="with BN the effective beta-smoothness is smaller",
        ),
        stats.paired(
            speed("noisy BN"),
            speed("BN"),
            unit="mean test accuracy over training",
            direction="within",
            margin=SAME_SPEED, reason=SAME_SPEED_WHY,
            seed=seed,
            claim=f"noisy BN trains about as fast as BN (within {SAME_SPEED} of its mean test accuracy over training)",
        ),
        stats.paired(
            speed("noisy BN"),
            speed("no BN"),
            unit="mean test accuracy over training",
            seed=seed,
            claim="noisy BN trains faster than no BN (mean test accuracy over training)",
        ),
    ]
    probed = [label for label in LABELS.values() if runs[label][0]["loss_range"]]
    steps_probed = [1] + runs["BN"][0]["steps"]  # probed at the first step and every `every` steps

    def band(label: str, key: str) -> list[tuple[float, float, float]]:
        values = np.log10(np.array([r[key] for r in runs[label]]))
        return [tuple(10 ** np.array(stats.interval(values[:, i], seed=seed)[:3])) for i in range(values.shape[1])]

    plots.interval_lines(
        {
            title: {label: (steps_probed, band(label, key)) for label in probed}
            for title, key in (
                ("range of the loss along the gradient", "loss_range"),
                ("gradient predictiveness", "grad_change"),
                ("effective beta-smoothness", "beta"),
            )
        },
        out / "smoothness_landscape",
        xlabel="step",
        ylabel="value (log scale)",
        logy=True,
    )
    x = runs["BN"][0]["steps"]
    plots.interval_lines(
        {
            "test accuracy while training": {
                label: (x, [stats.interval(col, seed=seed, bounds=stats.ACCURACY)[:3]
                            for col in np.array([r["test_acc"] for r in rs]).T])
                for label, rs in runs.items()
            }
        },
        out / "smoothness_noisy_bn",
        xlabel="step",
        ylabel="test accuracy",
    )
    means = {
        label: {k: float(np.mean([np.mean(r[k]) for r in rs])) for k in ("loss_range", "grad_change", "beta")}
        for label, rs in runs.items()
        if label in probed
    }
    numbers = {
        "seeds": ss,
        "settings": task,
        "step_sizes": runs["BN"][0]["etas"],
        "mean_over_training": means,
        "mean_test_acc": {label: float(np.mean(speed(label))) for label in runs},
        "runs": runs,
    }
    figures = [
        Figure(
            "smoothness_landscape",
            "The loss landscape along the gradient, with and without BN (Santurkar, Fig. 4)",
            f"Every {task['every']} steps of plain SGD (lr {task['lr']}, batch 64) on digits: moving along the "
            f"batch's gradient by step sizes {', '.join(f'{e:.3g}' for e in runs['BN'][0]['etas'])}, the range of "
            "the loss, the largest change of the gradient and the largest gradient change per unit moved; "
            f"geometric mean and 95% interval over {len(ss)} seeds, log scale. Mean over training, no BN / BN: "
            + ", ".join(f"{k} {means['no BN'][k]:.3g} / {means['BN'][k]:.3g}" for k in means["BN"])
            + ".",
        ),
        Figure(
            "smoothness_noisy_bn",
            "Noisy BN trains about as fast as BN (Santurkar, Fig. 2)",
            "Test accuracy while training, mean and 95% interval over seeds; noisy BN shifts and scales each "
            "unit after BN by a random amount drawn every step (shift in [-1, 1], scale in [0.5, 1.5]). Mean "
            "test accuracy over training: "
            + ", ".join(f"{label} {v:.3f}" for label, v in numbers["mean_test_acc"].items())
            + ". The y axis does not start at zero.",
        ),
    ]
    finding = "; ".join(f"{c.claim.split(' (')[0]}: {c.short()}" for c in checks) + "."
    return Result(
        name="smoothness",
        claim="BN makes the loss landscape smoother along the gradient, and BN with injected noise "
        "that shifts the distribution every step still trains about as fast as BN and faster than no BN "
        "(Santurkar et al. 2018).",
        checks=checks,
        finding=finding,
        numbers=numbers,
        figures=figures,
    )
