"""Speed: does BN make the same MLP train in fewer steps, and at larger learning rates?

The same MLP with and without BN, plain SGD at batch 64, several learning rates on digits and MNIST-5k, and
digits with its pixels rescaled by factors from 1 to 1000; every configuration over several seeds (the runs
of one seed share the initial weights and the batches, so the comparisons are paired).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..training import CHANCE, DIVERGED, counted, load, mlp, train
from . import Figure, Result

if TYPE_CHECKING:
    from ..runner import Runner

TARGET = 0.9
LABELS = {"none": "no BN", "bn": "BN"}


def _settings(quick: bool) -> dict:
    if quick:
        return {
            "lrs": {"digits": [0.3, 3.0], "mnist": [0.3]},
            "steps": {"digits": 60, "mnist": 30},
            "every": 10,
            "check_lr": 0.3,
            "scale_steps": 40,
            "hidden": 64,
        }
    return {
        "lrs": {"digits": [0.03, 0.3, 3.0], "mnist": [0.3, 3.0]},
        "steps": {"digits": 200, "mnist": 150},
        "every": 10,
        "check_lr": 0.3,
        "scale_steps": 150,
        "hidden": 128,
    }


def one_run(
    *,
    dataset: str,
    lr: float,
    norm: str,
    seed: int,
    steps: int,
    every: int,
    hidden: int,
    scaled: bool = False,
    standardize: bool = True,
) -> dict:
    """Train one MLP and return its test-accuracy curve, whether it diverged (and where) and its steps to 90%."""
    scales = np.random.default_rng(seed).permutation(np.geomspace(1, 1000, 64)) if scaled else None
    split = load(dataset, seed, standardize=standardize, scales=scales)
    model = mlp([split.n_features, hidden, hidden, 10], norm=norm, seed=seed)
    h = train(model, split, steps=steps, batch_size=64, lr=lr, seed=seed, eval_every=every, progress=False)
    return {
        "steps": h.steps,
        "test_acc": h.test_acc,
        "diverged": h.diverged,
        "diverged_at_step": len(h.loss) if h.diverged else None,
        "divergence": h.divergence,  # "diverged at step k (first non-finite value at op ... in module ...)"
        "final_acc": DIVERGED if h.diverged else h.final_acc,
        "steps_to_90": h.steps_to(TARGET),
    }


def _mean_curve(runs: list[dict]) -> dict:
    """Seed 0's curve for the figure with the share of seeds that diverged."""
    first = dict(runs[0])
    first["diverged"] = any(r["diverged"] for r in runs)
    first["diverged_share"] = float(np.mean([r["diverged"] for r in runs]))
    return first


def run(*, quick: bool, seeds: list[int], seed: int, out: Path, runner: Runner) -> Result:
    from .. import plots, stats  # here, not at the top: worker processes import this module for its runs

    cfg = _settings(quick)
    ss = seeds
    base = {"every": cfg["every"], "hidden": cfg["hidden"]}
    tasks = [
        {"dataset": d, "lr": lr, "norm": norm, "seed": s, "steps": cfg["steps"][d], **base}
        for d, lrs in cfg["lrs"].items()
        for lr in lrs
        for norm in LABELS
        for s in ss
    ]
    scale_configs = {
        "no BN, raw inputs": ("none", False),
        "BN, raw inputs": ("bn", False),
        "no BN, standardized inputs": ("none", True),
    }
    tasks += [
        {
            "dataset": "digits",
            "lr": 0.1,
            "norm": norm,
            "seed": s,
            "steps": cfg["scale_steps"],
            "scaled": True,
            "standardize": std,
            **base,
        }
        for norm, std in scale_configs.values()
        for s in ss
    ]
    found = iter(runner.map(one_run, tasks, desc="speed"))
    runs: dict = {}
    for d, lrs in cfg["lrs"].items():
        for lr in lrs:
            for norm in LABELS:
                runs.setdefault(d, {}).setdefault(str(lr), {})[LABELS[norm]] = [next(found) for _ in ss]
    scale_runs = {label: [next(found) for _ in ss] for label in scale_configs}

    budget = {d: cfg["steps"][d] + cfg["every"] for d in cfg["steps"]}  # "never reached" counts as one past the end

    def steps_to(d: str, lr: float, label: str) -> list[float]:
        return [r["steps_to_90"] or budget[d] for r in runs[d][str(lr)][label]]

    def final(rs: list[dict]) -> list[float]:
        return [counted(r, "final_acc") for r in rs]

    lr0 = cfg["check_lr"]
    checks = [
        stats.paired(
            steps_to("digits", lr0, "no BN"),
            steps_to("digits", lr0, "BN"),
            unit="steps",
            seed=seed,
            claim=f"digits, lr {lr0}: BN reaches {TARGET:.0%} test accuracy in fewer steps (no BN - BN; "
            f"never counts as {budget['digits']})",
        ),
    ]
    for d, lrs in cfg["lrs"].items():
        top = max(lrs)
        checks.append(
            stats.paired(
                final(runs[d][str(top)]["BN"]),
                final(runs[d][str(top)]["no BN"]),
                unit="test accuracy",
                seed=seed,
                claim=f"{d}, lr {top}: BN trains at a large learning rate (final test accuracy BN - no BN; a "
                f"diverged run counts as {CHANCE})",
            )
        )
    checks.append(
        stats.paired(
            final(scale_runs["BN, raw inputs"]),
            final(scale_runs["no BN, raw inputs"]),
            unit="test accuracy",
            seed=seed,
            claim="digits with pixels scaled 1..1000, lr 0.1: BN copes with raw inputs (final accuracy, BN - no BN)",
        )
    )

    numbers = {
        "batch_size": 64,
        "target": TARGET,
        "seeds": ss,
        "settings": cfg,
        "runs": runs,
        "scale_runs": scale_runs,
        "mean_final_acc": {
            d: {lr: {k: float(np.mean(final(v))) for k, v in r.items()} for lr, r in dr.items()}
            for d, dr in runs.items()
        },
        "diverged_share": {
            d: {lr: {k: float(np.mean([x["diverged"] for x in v])) for k, v in r.items()} for lr, r in dr.items()}
            for d, dr in runs.items()
        },
    }
    for d, dr in runs.items():
        plots.accuracy_curves(
            {lr: {k: _mean_curve(v) for k, v in r.items()} for lr, r in dr.items()},
            out / f"speed_{d}",
            title=f"{d}: test accuracy vs step (seed {seed})",
            target=TARGET,
        )
    plots.steps_to_target(
        {d: {lr: {k: _mean_curve(v) for k, v in r.items()} for lr, r in dr.items()} for d, dr in runs.items()},
        out / "speed_steps",
        target=TARGET,
    )
    plots.curves(
        {
            k + (f" (diverged at step {v[0]['diverged_at_step']})" if v[0]["diverged"] else ""): (
                v[0]["steps"],
                v[0]["test_acc"],
            )
            for k, v in scale_runs.items()
        },
        out / "speed_scales",
        title=f"digits with features scaled 1..1000, lr 0.1 (seed {seed})",
        ylabel="test accuracy",
        ylim=(0, 1),
    )

    def describe(rs: list[dict]) -> str:
        share = np.mean([r["diverged"] for r in rs])
        text = f"{np.mean(final(rs)):.3f}"
        return text + (f" ({share:.0%} of seeds diverged)" if share else "")

    figures = [
        Figure(
            f"speed_{d}",
            f"{d}: test accuracy while training, with and without BN",
            f"Each panel is one learning rate of plain SGD (batch 64), seed {seed}'s run; the dashed line is "
            f"{TARGET:.0%}. Mean final test accuracy over {len(ss)} seeds with BN / without: "
            + ", ".join(f"lr {lr}: {describe(r['BN'])} / {describe(r['no BN'])}" for lr, r in dr.items())
            + ".",
        )
        for d, dr in runs.items()
    ]
    figures.append(
        Figure(
            "speed_steps",
            f"Steps to reach {TARGET:.0%} test accuracy",
            f"Steps until test accuracy first reached {TARGET:.0%} at each learning rate, seed {seed} "
            "(missing: never). The y axis does not start at zero.",
        )
    )
    figures.append(
        Figure(
            "speed_scales",
            "Features of wildly different scales",
            "Digits with the 64 pixels (0..1) multiplied by factors spread from 1 to 1000, trained at lr 0.1 (seed "
            f"{seed}'s curves). Mean final test accuracy over {len(ss)} seeds: "
            + ", ".join(f"{k} {describe(v)}" for k, v in scale_runs.items())
            + "."
            + "".join(f" {k}, seed {seed}: {v[0]['divergence']}." for k, v in scale_runs.items() if v[0]["divergence"]),
        )
    )
    finding = "; ".join(f"{c.claim.split(':')[0]}: {c.short()}" for c in checks) + "."
    return Result(
        name="speed",
        claim="BN makes training faster: fewer steps to a target accuracy, and larger learning rates.",
        checks=checks,
        finding=finding,
        numbers=numbers,
        figures=figures,
    )
