"""Speed: does BN make the same MLP train in fewer steps, and at larger learning rates?"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from viz import plots

from ..training import History, load, mlp, train
from . import Figure, Result, verdict

TARGET = 0.9
TRAINS = 0.8  # a learning rate "trains" when the final test accuracy reaches this without diverging


def _settings(quick: bool) -> dict:
    if quick:
        return {
            "lrs": {"digits": [0.1, 1.0], "mnist": [0.3]},
            "steps": {"digits": 100, "mnist": 60},
            "eval_every": 10,
            "scale_steps": 80,
            "hidden": 64,
        }
    return {
        "lrs": {"digits": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0], "mnist": [0.03, 0.3, 3.0]},
        "steps": {"digits": 400, "mnist": 300},
        "eval_every": 20,
        "scale_steps": 300,
        "hidden": 128,
    }


def _curve(h: History) -> dict:
    return {
        "steps": h.steps,
        "test_acc": h.test_acc,
        "diverged": h.diverged,
        "diverged_at_step": len(h.loss) if h.diverged else None,
        "final_acc": h.final_acc,
        "steps_to_90": h.steps_to(TARGET),
    }


def run(quick: bool, seed: int, out: Path, progress: bool = True) -> Result:
    cfg = _settings(quick)
    batch, hidden = 64, cfg["hidden"]
    numbers: dict = {"batch_size": batch, "target": TARGET, "trains_threshold": TRAINS, "datasets": {}}
    wins = comparisons = 0
    lr_ok = True
    for name, lrs in cfg["lrs"].items():
        split = load(name, seed)
        runs: dict = {}
        for lr in lrs:
            for bn in (False, True):
                model = mlp([split.n_features, hidden, hidden, 10], bn=bn, seed=seed)
                label = "BN" if bn else "no BN"
                h = train(
                    model,
                    split,
                    steps=cfg["steps"][name],
                    batch_size=batch,
                    lr=lr,
                    seed=seed,
                    eval_every=cfg["eval_every"],
                    desc=f"speed {name} lr={lr} {label}",
                    progress=progress,
                )
                runs.setdefault(str(lr), {})[label] = _curve(h)
        largest = {}
        for label in ("no BN", "BN"):
            ok = [
                lr for lr in lrs if not runs[str(lr)][label]["diverged"] and runs[str(lr)][label]["final_acc"] >= TRAINS
            ]
            largest[label] = max(ok) if ok else None
        for lr in lrs:
            s_no, s_bn = (runs[str(lr)][k]["steps_to_90"] for k in ("no BN", "BN"))
            if s_no is None and s_bn is None:
                continue
            comparisons += 1
            wins += s_bn is not None and (s_no is None or s_bn < s_no)
        lr_ok &= (largest["BN"] or 0) >= (largest["no BN"] or 0)
        numbers["datasets"][name] = {"steps": cfg["steps"][name], "runs": runs, "largest_lr_that_trains": largest}
        plots.accuracy_curves(runs, out / f"speed_{name}", title=f"{name}: test accuracy vs step", target=TARGET)

    # the lecture's picture: one feature 0..1, another 0..1000 (pixel ranges spread evenly on a log scale)
    scales = np.random.default_rng(seed).permutation(np.geomspace(1, 1000, 64))
    scale_runs: dict = {}
    for standardize in (False, True):
        split = load("digits", seed, standardize=standardize, scales=scales)
        for bn in (False, True):
            label = f"{'BN' if bn else 'no BN'}, {'standardized' if standardize else 'raw'} inputs"
            model = mlp([64, hidden, hidden, 10], bn=bn, seed=seed)
            h = train(
                model,
                split,
                steps=cfg["scale_steps"],
                batch_size=batch,
                lr=0.1,
                seed=seed,
                eval_every=cfg["eval_every"],
                desc=f"speed scales {label}",
                progress=progress,
            )
            scale_runs[label] = _curve(h)
    numbers["scales"] = {"lr": 0.1, "feature_range_max": [float(scales.min()), float(scales.max())], "runs": scale_runs}
    plots.steps_to_target({n: d["runs"] for n, d in numbers["datasets"].items()}, out / "speed_steps", target=TARGET)
    plots.curves(
        {
            k + (f" (diverged at step {v['diverged_at_step']})" if v["diverged"] else ""): (v["steps"], v["test_acc"])
            for k, v in scale_runs.items()
        },
        out / "speed_scales",
        title="digits with features scaled 1..1000, lr 0.1",
        ylabel="test accuracy",
        ylim=(0, 1),
    )

    passed = int(comparisons > 0 and wins >= 2 * comparisons / 3) + int(lr_ok)
    finding = (
        f"BN reached {TARGET:.0%} test accuracy first in {wins} of {comparisons} (dataset, learning rate) "
        f"pairs; largest learning rate that trains: "
        + "; ".join(
            f"{n} {d['largest_lr_that_trains']['BN']} with BN vs {d['largest_lr_that_trains']['no BN']} without"
            for n, d in numbers["datasets"].items()
        )
        + "."
    )
    numbers.update({"bn_wins": wins, "comparisons": comparisons, "bn_largest_lr_at_least_as_large": lr_ok})
    raw = {k: v["final_acc"] for k, v in scale_runs.items()}
    figures = [
        Figure(
            f"speed_{n}",
            f"{n}: test accuracy while training, with and without BN",
            f"Each panel is one learning rate of plain SGD (batch {batch}); the dashed line is {TARGET:.0%}. "
            + "Final test accuracy with BN / without: "
            + ", ".join(
                f"lr {lr}: {r['BN']['final_acc']:.3f} / {r['no BN']['final_acc']:.3f}" for lr, r in d["runs"].items()
            )
            + ".",
        )
        for n, d in numbers["datasets"].items()
    ]
    figures.append(
        Figure(
            "speed_steps",
            f"Steps to reach {TARGET:.0%} test accuracy",
            f"Steps until test accuracy first reached {TARGET:.0%} at each learning rate (missing: never). " + finding,
        )
    )
    figures.append(
        Figure(
            "speed_scales",
            "Features of wildly different scales",
            "Digits with the 64 pixels (0..1) multiplied by factors spread from 1 to 1000, trained at lr 0.1, with and "
            "without standardizing the inputs and with and without BN. Final test accuracy: "
            + ", ".join(f"{k} {v:.3f}" for k, v in raw.items())
            + ".",
        )
    )
    return Result(
        "speed",
        "BN makes training faster: fewer steps to a target accuracy, and larger learning rates.",
        verdict(passed, 2),
        f"Two checks: (1) BN reaches {TARGET:.0%} in fewer steps than no BN in at least 2/3 of the "
        f"(dataset, learning rate) pairs where either reaches it; (2) on every dataset the largest learning "
        f"rate that trains (no divergence, final test accuracy >= {TRAINS:.0%}) is at least as large with BN. "
        "Both pass: supported; none: not supported; otherwise mixed.",
        finding,
        numbers,
        figures,
        seed,
        quick,
    )
