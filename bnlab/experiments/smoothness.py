"""Smoothness: does BN make the loss landscape smoother, and does "noisy BN" still train about as fast as BN?

Santurkar et al. 2018. Fig. 4: at points along training, move from the weights w along the gradient of the current
mini-batch and record the range of the loss, the largest change of the gradient ("gradient predictiveness") and
the largest change per unit moved ("effective beta-smoothness"); BN makes all three smaller. BN's gradients are
smaller, so moving by eta * g would compare different distances: here both networks move by the same distances
in parameter space along the unit gradient direction, and the gradient norm is reported beside. The top
eigenvalue of the batch loss's Hessian, by power iteration on exact Hessian-vector products (double backward),
measures the curvature itself. Fig. 2: "noisy BN" -- every activation after BN perturbed by noise of non-zero mean
and non-unit variance whose distribution changes every step -- trains about as fast as BN.
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
DISTANCES = [0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28]  # spans the SGD step lengths lr*|g| of both networks
ITERATIONS = 50  # Hessian-vector products at most per probe; warm-started from the previous probe's eigenvector
TOL = 1e-3  # power iteration stops when the Rayleigh quotient changes by less than this (relative)


def landscape(
    model: nn.Module,
    xb: np.ndarray,
    yb: np.ndarray,
    distances: np.ndarray,
    rng: np.random.Generator,
    v0: list[np.ndarray] | None,
    iterations: int,
) -> tuple[dict, list[np.ndarray]]:
    """Along the batch's gradient direction, at the same distances in parameter space for every model: the range of
    the loss, the largest gradient change and the effective beta; the gradient's norm; and the Hessian's top
    eigenvalue by power iteration on Hessian-vector products (double backward), started from ``v0`` (the previous
    probe's eigenvector) or at random.

    The model (weights and BN running statistics) is left as it was. Returns the record and the eigenvector.
    """
    params = list(model.parameters())
    snapshot = model.state_dict()
    start = [p.data.copy() for p in params]

    def loss_and_grads() -> tuple[float, list[np.ndarray]]:
        loss = model(Tensor(xb)).cross_entropy(yb)
        return float(loss.data), [g.data.astype(np.float64) for g in grad(loss, params)]

    loss0, g0 = loss_and_grads()
    gnorm = float(np.sqrt(sum((g**2).sum() for g in g0)))
    losses, changes = [loss0], []
    for d in distances:
        for p, w, g in zip(params, start, g0):
            p.data[...] = w - d * g / max(gnorm, 1e-30)
        loss, gs = loss_and_grads()
        losses.append(loss)
        changes.append(float(np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(gs, g0)))))
    for p, w in zip(params, start):
        p.data[...] = w
    eigenvalue, v, converged = top_eigenvalue(
        model, xb, yb, v0 or [rng.standard_normal(w.shape) for w in start], iterations
    )
    model.load_state_dict(snapshot)
    changes_arr = np.array(changes)
    finite = np.isfinite(losses).all() and np.isfinite(changes_arr).all()
    return {
        "loss_range": float(np.ptp(losses)) if finite else float("inf"),
        "grad_change": float(changes_arr.max()) if finite else float("inf"),
        "beta": float((changes_arr / distances).max()) if finite else float("inf"),
        "grad_norm": gnorm,
        "top_eigenvalue": eigenvalue,
        "converged": converged,
    }, v


def top_eigenvalue(
    model: nn.Module, xb: np.ndarray, yb: np.ndarray, v: list[np.ndarray], iterations: int, tol: float = TOL
) -> tuple[float, list[np.ndarray], bool]:
    """The largest-magnitude eigenvalue of the Hessian of the batch loss by power iteration, each product ``H v``
    the gradient of ``<grad L, v>`` (``grad(..., create_graph=True)`` then ``grad``). Stops when the Rayleigh
    quotient changes by less than ``tol`` (relative). Returns (eigenvalue, its vector, whether it converged)."""
    params = list(model.parameters())
    eigenvalue, previous = float("nan"), float("nan")
    for _ in range(iterations):
        norm = np.sqrt(sum((a**2).sum() for a in v))
        v = [a / norm for a in v]
        gs = grad(model(Tensor(xb)).cross_entropy(yb), params, create_graph=True)
        hv = [
            h.data.astype(np.float64) for h in grad(sum((g * a.astype(g.dtype)).sum() for g, a in zip(gs, v)), params)
        ]
        previous, eigenvalue = eigenvalue, float(sum((h * a).sum() for h, a in zip(hv, v)))
        v = hv
        if abs(eigenvalue - previous) <= tol * abs(eigenvalue):
            return eigenvalue, v, True
    return eigenvalue, v, False


def one_run(
    *,
    seed: int,
    norm: str,
    steps: int,
    every: int,
    probe_every: int,
    lr: float,
    hidden: int,
    depth: int,
    probe: bool,
    distances: list[float],
    iterations: int,
) -> dict:
    """Train one configuration: the test accuracy every ``every`` steps and, when ``probe``, the landscape and the
    Hessian at step 1 and every ``probe_every`` steps."""
    split = load("digits", seed)
    model = mlp([split.n_features] + [hidden] * depth + [10], norm=norm, init="he", seed=seed)
    opt = optim.SGD(model.parameters(), lr=lr)
    stream = minibatches(split.X_train, split.y_train, 64, np.random.default_rng(seed))
    rng = np.random.default_rng([seed, 1])
    keys = ("loss_range", "grad_change", "beta", "grad_norm", "top_eigenvalue", "converged")
    rec: dict = {"steps": [], "test_acc": [], "probed": [], **{k: [] for k in keys}}
    model.train()
    train_step = jit(lambda x, y: model(x).cross_entropy(y))  # forward and backward, replayed (bit-identical)
    v = None
    for step in range(1, steps + 1):
        xb, yb = next(stream)
        if probe and (step % probe_every == 0 or step == 1):
            found, v = landscape(model, xb, yb, np.array(distances), rng, v, iterations)
            for k in keys:
                rec[k].append(found[k])
            rec["probed"].append(step)
        opt.zero_grad()
        train_step(xb, yb)
        opt.step()
        if step % every == 0:
            rec["steps"].append(step)
            rec["test_acc"].append(accuracy(model, split.X_test, split.y_test))
    rec["mean_test_acc"] = float(np.mean(rec["test_acc"]))
    return rec


def run(*, quick: bool, seeds: list[int], seed: int, out: Path, runner: Runner) -> Result:
    from .. import plots, stats  # here, not at the top: worker processes import this module for its runs

    ss = seeds
    task = {
        "steps": 60 if quick else 200,
        "every": 20,
        "probe_every": 30 if quick else 50,
        "lr": 0.3,
        "hidden": 64 if quick else 128,
        "depth": 6,
        "distances": DISTANCES,
        "iterations": ITERATIONS,
    }
    found = iter(
        runner.map(
            one_run,
            [{"seed": s, "norm": n, "probe": n != "noisy", **task} for n in LABELS for s in ss],
            desc="smoothness",
        )
    )
    runs = {label: [next(found) for _ in ss] for label in LABELS.values()}

    def log_ratio(key: str, at: slice = slice(None)) -> list[float]:
        return [
            float(np.mean(np.log(np.abs(a[key][at]))) - np.mean(np.log(np.abs(b[key][at]))))
            for a, b in zip(runs["no BN"], runs["BN"])
        ]

    def speed(label: str) -> np.ndarray:
        return np.array([r["mean_test_acc"] for r in runs[label]])

    kept = (speed("noisy BN") - speed("no BN")) / (speed("BN") - speed("no BN"))
    along = f"at distances {DISTANCES[0]:g}..{DISTANCES[-1]:g} along the batch's gradient direction, the same for both"
    checks = [
        stats.mean_effect(
            log_ratio("loss_range"),
            unit="log(no BN / BN)",
            seed=seed,
            claim=f"with BN the loss varies less along the gradient (range of the loss {along}; "
            "geometric mean over training)",
        ),
        stats.mean_effect(
            log_ratio("grad_change"),
            unit="log(no BN / BN)",
            seed=seed,
            claim=f"with BN the gradient changes less along the gradient (gradient predictiveness, {along})",
        ),
        stats.mean_effect(
            log_ratio("beta"),
            unit="log(no BN / BN)",
            seed=seed,
            claim=f"with BN the effective beta-smoothness is smaller (largest gradient change per unit "
            f"distance, {along})",
        ),
        stats.mean_effect(
            log_ratio("top_eigenvalue", slice(0, 1)),
            unit="log(no BN / BN)",
            seed=seed,
            claim="with BN the Hessian's top eigenvalue is smaller at initialisation (largest |eigenvalue| "
            "of the batch loss's Hessian, power iteration on Hessian-vector products)",
        ),
        stats.mean_effect(
            log_ratio("top_eigenvalue"),
            unit="log(no BN / BN)",
            seed=seed,
            claim="with BN the Hessian's top eigenvalue is smaller over training (geometric mean over the probes)",
        ),
        stats.paired(
            speed("noisy BN"),
            speed("no BN"),
            unit="mean test accuracy over training",
            seed=seed,
            bounds=stats.DIFFERENCE,
            claim="noisy BN trains faster than no BN (mean test accuracy over training)",
        ),
        stats.mean_effect(
            kept - 0.5,
            unit="fraction of BN's advantage - 1/2",
            seed=seed,
            claim="noisy BN keeps most of BN's speed advantage over no BN ((noisy - no BN) / (BN - no BN), "
            "mean test accuracy over training, more than one half)",
        ),
        stats.paired(
            speed("noisy BN"),
            speed("BN"),
            unit="mean test accuracy over training",
            seed=seed,
            bounds=stats.DIFFERENCE,
            claim="the injected noise costs BN no speed (noisy BN - BN, mean test "
            "accuracy over training; the paper sees no difference, a negative effect is its cost)",
        ),
        stats.exact(
            float(np.mean([c for label in ("BN", "no BN") for r in runs[label] for c in r["converged"]])) - 0.95,
            kind="sanity",
            unit="fraction of probes - 0.95",
            claim=f"power iteration converged (Rayleigh quotient within {TOL:g}, relative, in at most "
            f"{ITERATIONS} products) at 95% of the probes or more",
        ),
    ]
    probed = [label for label in LABELS.values() if runs[label][0]["probed"]]
    steps_probed = runs["BN"][0]["probed"]

    def band(label: str, key: str) -> list[tuple[float, float, float]]:
        values = np.log10(np.abs(np.array([r[key] for r in runs[label]])))
        return [tuple(10 ** np.array(stats.interval(values[:, i], seed=seed)[:3])) for i in range(values.shape[1])]

    panels = (
        ("range of the loss along the gradient", "loss_range"),
        ("gradient predictiveness", "grad_change"),
        ("effective beta-smoothness", "beta"),
        ("Hessian's top |eigenvalue|", "top_eigenvalue"),
        ("gradient norm", "grad_norm")
    )
    plots.interval_lines(
        {title: {label: (steps_probed, band(label, key)) for label in probed} for title, key in panels},
        out / "smoothness_landscape",
        xlabel="step",
        ylabel=[
            "loss range",
            "max |g(w - d u) - g(w)|",
            "per unit distance",
            "|eigenvalue|",
            "|g|",
            "distance in parameter space",
        ],
        logy=True,
    )
    x = runs["BN"][0]["steps"]
    plots.interval_lines(
        {
            "test accuracy while training": {
                label: (
                    x,
                    [
                        stats.interval(col, seed=seed, bounds=stats.ACCURACY)[:3]
                        for col in np.array([r["test_acc"] for r in rs]).T
                    ],
                )
                for label, rs in runs.items()
            }
        },
        out / "smoothness_noisy_bn",
        xlabel="step",
        ylabel="test accuracy",
    )
    means = {
        label: {
            k: float(np.exp(np.mean([np.mean(np.log(np.abs(r[k]))) for r in rs])))
            for k, _ in ((key, t) for t, key in panels)
        }
        for label, rs in runs.items()
        if label in probed
    }
    numbers = {
        "seeds": ss,
        "settings": task,
        "geometric_mean_over_training": means,
        "mean_test_acc": {label: float(np.mean(speed(label))) for label in runs},
        "fraction_of_bn_advantage_kept_by_noisy_bn": float(np.mean(kept)),
        "runs": runs,
    }
    figures = [
        Figure(
            "smoothness_landscape",
            "The loss landscape along the gradient and the Hessian's top eigenvalue, with and without BN "
            "(Santurkar, Fig. 4)",
            f"At step 1 and every {task['probe_every']} steps of plain SGD (lr {task['lr']}, batch 64) on digits: "
            "moving along the batch's gradient direction by the same distances "
            f"{', '.join(f'{d:g}' for d in DISTANCES)} "
            "in parameter space for both networks, the range of the loss, the largest change of the gradient and the "
            "largest change per unit distance; the top |eigenvalue| of the batch loss's Hessian (power iteration on "
            "Hessian-vector products); the gradient norm (the SGD step moves lr |g|). Geometric mean and 95% "
            f"interval over {len(ss)} seeds, log scale. Geometric mean over training, no BN / BN: "
            + ", ".join(f"{k} {means['no BN'][k]:.3g} / {means['BN'][k]:.3g}" for k in means["BN"])
            + ".",
        ),
        Figure(
            "smoothness_noisy_bn",
            "Noisy BN against BN and no BN (Santurkar, Fig. 2)",
            "Test accuracy while training, mean and 95% interval over seeds; noisy BN perturbs every activation of "
            "every example after BN by a random scale and shift whose distribution changes every step (per unit and "
            "step a scale centre in [0.5, 1.5] and a shift centre in [-1, 1], per example a spread of 0.1). Mean "
            "test accuracy over training: "
            + ", ".join(f"{label} {v:.3f}" for label, v in numbers["mean_test_acc"].items())
            + f"; noisy BN keeps {np.mean(kept):.0%} of BN's advantage over no BN. The y axis does not start at zero.",
        ),
    ]
    evidence = [c for c in checks if c.kind == "evidence"]
    finding = "; ".join(f"{c.claim.split(' (')[0]}: {c.short()}" for c in evidence) + "."
    return Result(
        name="smoothness",
        claim="BN makes the loss landscape smoother (the loss and its gradient change less over the same distance "
        "along the gradient, a smaller top Hessian eigenvalue), and BN with injected noise that moves the "
        "distribution every step still trains about as fast as BN and faster than no BN (Santurkar et al. 2018).",
        checks=checks,
        finding=finding,
        numbers=numbers,
        figures=figures,
    )
