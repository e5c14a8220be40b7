"""Covariate shift: does BN keep a layer's input distribution still, and is that why it helps?

Two measures, with and without BN, on a 3-hidden-layer sigmoid MLP (Ioffe & Szegedy 2015, Fig. 1):
the 15/50/85th percentiles of one last-hidden-layer unit's sigmoid input over training, and
Santurkar et al. (2018)'s gradient view: G is a layer's weight gradient, G' the same gradient after
every earlier layer has taken its SGD step on the same batch; ||G - G'|| and cos(G, G') measure how much
the earlier layers' updates change what this layer should do.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import viz
from tinygrad_bn import Tensor, grad, jit, nn, no_grad, optim

from ..training import accuracy, load, minibatches, mlp
from . import Figure, Result

if TYPE_CHECKING:
    from ..runner import Runner

PERCENTILES = (15, 50, 85)


def probe(model: nn.Sequential, mon: viz.Monitor, X: np.ndarray) -> None:
    """Run ``X`` through the model as training sees it, recorded by ``mon`` as its current step.

    BN normalizes with the statistics of ``X`` itself (train mode), so the view does not depend on how far
    the running statistics have caught up; the running statistics are restored afterwards.
    """
    with mon.record(), no_grad(), nn.utils.preserved_state(model):
        model(Tensor(X))


def gradient_shift(model: nn.Sequential, xb: np.ndarray, yb: np.ndarray, lr: float) -> tuple[float, float, float]:
    """Santurkar's ICS averaged over every Linear layer but the first: (||G-G'||, ||G-G'||/||G||, cos(G, G'))."""
    snapshot = model.state_dict()
    named = list(model.named_parameters())
    grads = grad(model(Tensor(xb)).cross_entropy(yb), [p for _, p in named])
    linears = [i for i, layer in enumerate(model) if isinstance(layer, nn.Linear)]
    diffs, rels, coss = [], [], []
    for i in linears[1:]:
        w = model[i].weight
        g = grads[next(k for k, (_, p) in enumerate(named) if p is w)].data.astype(np.float64)
        for (name, p), gp in zip(named, grads, strict=True):
            if int(name.split(".")[0]) < i:
                p.data -= lr * gp.data
        g2 = grad(model(Tensor(xb)).cross_entropy(yb), [w])[0].data.astype(np.float64)
        model.load_state_dict(snapshot)
        d = np.linalg.norm(g - g2)
        diffs.append(d)
        rels.append(d / max(np.linalg.norm(g), 1e-30))
        coss.append(float(g.ravel() @ g2.ravel() / max(np.linalg.norm(g) * np.linalg.norm(g2), 1e-30)))
    return float(np.mean(diffs)), float(np.mean(rels)), float(np.mean(coss))


def _shift(pcts: np.ndarray) -> np.ndarray:
    """Per unit: total movement of the percentiles between checkpoints, in units of the mean 15-85 width.

    ``pcts`` has shape (checkpoints, 3 percentiles, units).
    """
    moved = np.abs(np.diff(pcts, axis=0)).mean(axis=1).sum(axis=0)
    width = (pcts[:, -1] - pcts[:, 0]).mean(axis=0)
    return moved / np.maximum(width, 1e-12)


def one_run(*, seed: int, bn: bool, cfg: dict) -> dict:
    """Train the sigmoid MLP of one seed with or without BN, measuring both views of the shift along the way."""
    split = load("mnist", seed)
    model = mlp([split.n_features, 100, 100, 100, 10], norm="bn" if bn else "none", activation="sigmoid", seed=seed)
    opt = optim.SGD(model.parameters(), lr=cfg["lr"])
    stream = minibatches(split.X_train, split.y_train, cfg["batch"], np.random.default_rng(seed))
    probe_rng = np.random.default_rng(seed + 1)
    X_probe = split.X_test[: cfg["probe"]]
    scatter_at = set(cfg["scatter_at"])
    rec: dict = {"steps": [], "ics": [], "scatter": {}, "test_acc": []}
    # the sigmoids' inputs on the probe set, recorded by a Monitor (every=None: only the probes); the second
    # sigmoid's raw inputs, for the scatter, by a forward pre-hook
    mon = viz.Monitor(model, every=None, layers=nn.Sigmoid, count_forward=False)
    sigmoids = list(mon.layers)

    def keep_scatter(module: nn.Module, args: tuple) -> None:
        if mon.active and mon.steps in scatter_at:
            rec["scatter"][mon.steps] = args[0].data[: cfg["scatter_points"], :2].tolist()
    mon.layers[sigmoids[1]].register_forward_pre_hook(keep_scatter)
    train_step = jit(lambda x, y: model(x).cross_entropy(y))  # forward and backward, replayed (bit-identical)
    for step in range(cfg["steps"] + 1):
        if step % cfg["every"] == 0 or step in scatter_at:
            probe(model, mon, X_probe)
            if step % cfg["every"] == 0:
                rows = probe_rng.choice(len(split.y_train), cfg["batch"], replace=False)
                rec["steps"].append(step)
                rec["ics"].append(gradient_shift(model, split.X_train[rows], split.y_train[rows], cfg["lr"]))
                rec["test_acc"].append(accuracy(model, split.X_test, split.y_test))
        if step == cfg["steps"]:
            break
        xb, yb = next(stream)
        opt.zero_grad()
        train_step(xb, yb)
        opt.step()
        mon.step()
    mon.close()
    pcts = np.stack([mon.channels(sigmoids[-1], f"input_q{p}")[1] for p in PERCENTILES], axis=1)
    pcts = pcts[[i for i, s in enumerate(mon.channels(sigmoids[-1], "input_q50")[0]) if s in rec["steps"]]]
    shift = _shift(pcts)
    ics = np.array(rec["ics"])[1:]  # from the first step on (at step 0 both nets are untouched)
    return {
        "steps": rec["steps"],
        "unit0_percentiles": pcts[:, :, 0].T.tolist(),
        "shift_unit0": float(shift[0]),
        "shift_layer_mean": float(shift.mean()),
        "ics_l2": ics[:, 0].tolist(),
        "ics_relative": ics[:, 1].tolist(),
        "ics_cos": ics[:, 2].tolist(),
        "ics_l2_mean": float(ics[:, 0].mean()),
        "ics_relative_mean": float(ics[:, 1].mean()),
        "ics_cos_mean": float(ics[:, 2].mean()),
        "scatter": rec["scatter"],
        "test_acc": rec["test_acc"],
        "final_test_acc": rec["test_acc"][-1],
    }


def run(*, quick: bool, seeds: list[int], seed: int, out: Path, runner: Runner) -> Result:
    from .. import plots, stats  # here, not at the top: worker processes import this module for its runs

    steps = 60 if quick else 600
    cfg = {
        "steps": steps,
        "batch": 60,
        "lr": 0.5,
        "every": steps // (10 if quick else 15),
        "probe": 300 if quick else 500,
        "scatter_points": 200,
        "scatter_at": [0, steps // 10, steps // 3, steps],
    }
    ss = seeds
    labels = {"no BN": False, "BN": True}
    found = iter(
        runner.map(
            one_run, [{"seed": s, "bn": bn, "cfg": cfg} for bn in labels.values() for s in ss], desc="covariate-shift"
        )
    )
    per_seed = {label: [next(found) for _ in ss] for label in labels}
    runs = {label: rs[0] for label, rs in per_seed.items()}  # seed 0's run is drawn
    no, bn = runs["no BN"], runs["BN"]

    def each(label: str, key: str) -> list[float]:
        return [r[key] for r in per_seed[label]]

    def mean(label: str, key: str) -> float:
        return float(np.mean(each(label, key)))

    checks = [
        stats.paired(
            each("no BN", "shift_layer_mean"),
            each("BN", "shift_layer_mean"),
            unit="15-85 widths",
            seed=seed,
            kind="sanity",  # BN's gamma and beta set its output's moments: this cannot fail with BN
            claim="Ioffe & Szegedy: BN keeps the last hidden layer's sigmoid inputs stiller "
            "(percentile movement over training, no BN - BN)",
        ),
        stats.paired(
            each("no BN", "ics_relative_mean"),
            each("BN", "ics_relative_mean"),
            unit="||G - G'||/||G||",
            seed=seed,
            claim="Santurkar's gradient view: BN reduces the shift ||G - G'||/||G|| (no BN - BN)",
        ),
        stats.paired(
            each("BN", "ics_cos_mean"),
            each("no BN", "ics_cos_mean"),
            unit="cosine",
            seed=seed,
            claim="Santurkar's gradient view: with BN, G' points more nearly along G (cos, BN - no BN)",
        ),
    ]

    plots.percentile_bands(
        {k: (r["steps"], r["unit0_percentiles"]) for k, r in runs.items()},
        out / "covariate_shift_percentiles",
        percentiles=PERCENTILES,
    )
    plots.scatter_grid(
        {k: r["scatter"] for k, r in runs.items()}, out / "covariate_shift_scatter", xlabel="z[2]_1", ylabel="z[2]_2"
    )
    ics_steps = no["steps"][1:]
    plots.panels(
        {
            "||G - G'|| (mean over layers 2..4)": {k: (ics_steps, r["ics_l2"]) for k, r in runs.items()},
            "cos(G, G')": {k: (ics_steps, r["ics_cos"]) for k, r in runs.items()},
        },
        out / "covariate_shift_ics",
        xlabel="step",
        logy=[True, False],
    )
    finding = (
        f"Over {len(ss)} seeds the last hidden layer's sigmoid inputs moved {mean('no BN', 'shift_layer_mean'):.2f} "
        f"widths over training without BN and {mean('BN', 'shift_layer_mean'):.2f} with BN "
        f"({checks[0].outcome}); Santurkar's ||G - G'||/||G|| was {mean('no BN', 'ics_relative_mean'):.3f} without "
        f"and {mean('BN', 'ics_relative_mean'):.3f} with BN ({checks[1].outcome}), cosine "
        f"{mean('no BN', 'ics_cos_mean'):.3f} vs {mean('BN', 'ics_cos_mean'):.3f} ({checks[2].outcome})."
    )
    numbers = {
        "settings": cfg,
        "seeds": ss,
        "runs": runs,
        "per_seed": {
            label: {
                key: each(label, key)
                for key in ("shift_layer_mean", "ics_relative_mean", "ics_cos_mean", "final_test_acc")
            }
            for label in labels
        },
    }
    figures = [
        Figure(
            "covariate_shift_percentiles",
            "One unit's sigmoid input over training (Ioffe & Szegedy, Fig. 1)",
            f"The 15th, 50th and 85th percentiles of unit 1 of the last hidden layer over {cfg['probe']} test images, "
            f"at {len(no['steps'])} points of training (lr {cfg['lr']}, batch {cfg['batch']}, seed {seed}). Averaged "
            f"over the layer's 100 units and {len(ss)} seeds, the percentiles moved "
            f"{mean('no BN', 'shift_layer_mean'):.2f} times the 15-85 width without BN and "
            f"{mean('BN', 'shift_layer_mean'):.2f} with BN (this unit, seed {seed}: {no['shift_unit0']:.2f} vs "
            f"{bn['shift_unit0']:.2f}).",
        ),
        Figure(
            "covariate_shift_scatter",
            "Two units of the second hidden layer at four points of training",
            f"Each dot is one of {cfg['scatter_points']} test images' (z[2]_1, z[2]_2), the inputs of the first "
            "two sigmoids of hidden layer 2, at "
            f"steps {', '.join(map(str, cfg['scatter_at']))} (seed {seed}). Mean final test accuracy over {len(ss)} "
            f"seeds: {mean('no BN', 'final_test_acc'):.3f} without BN, {mean('BN', 'final_test_acc'):.3f} with BN.",
        ),
        Figure(
            "covariate_shift_ics",
            "Santurkar et al.'s internal covariate shift, ||G - G'|| and cos(G, G')",
            "G is a layer's weight gradient on a batch, G' the same after every earlier layer took its SGD step on "
            f"that batch; averaged over layers 2, 3 and the output layer (seed {seed}'s run). Over {len(ss)} seeds "
            f"the mean relative shift ||G - G'||/||G|| was {mean('no BN', 'ics_relative_mean'):.3f} without and "
            f"{mean('BN', 'ics_relative_mean'):.3f} with BN; mean cosine {mean('no BN', 'ics_cos_mean'):.3f} vs "
            f"{mean('BN', 'ics_cos_mean'):.3f}.",
        ),
    ]
    return Result(
        name="covariate-shift",
        claim="BN works by reducing internal covariate shift.",
        checks=checks,
        finding=finding,
        numbers=numbers,
        figures=figures,
    )
