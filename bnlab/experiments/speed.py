"""Speed: does BN make the same MLP train in fewer steps, and at larger learning rates?

The same MLP with and without BN, plain SGD at batch 64 on digits, each at five learning rates. Each method is
compared at its own best learning rate, chosen per seed on a validation split carved from the training set (the
highest final validation accuracy; ties: the larger area under the validation curve), never on the test set
(the inputs are standardized with the statistics of the whole training set, validation rows included).
A run whose loss becomes non-finite (or exceeds 1e4) diverged; a run that diverged or ended at chance (final
validation accuracy below 0.2, e.g. every ReLU dead after a too-large step) failed. Both are reported as rates over
seeds with their exact (Clopper-Pearson) intervals; a diverged run is never chosen nor given an accuracy.
Beside them, BN on raw inputs (the 64 pixels multiplied by factors spread from 1 to 1000, not standardized)
against no BN on standardized inputs, and no BN on the raw inputs. One seed: one split, one initialization, one
batch order for every method and learning rate, so the comparisons are paired.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..training import DIVERGED, Split, load, mlp, train
from . import Figure, Result

if TYPE_CHECKING:
    from ..runner import Runner

TARGET, BATCH, VALIDATION = 0.9, 64, 0.2
COLLAPSED = 0.2  # a final validation accuracy below it (chance is 0.1) means the run failed to train
METHODS = {"no BN": ("none", True), "BN": ("bn", True), "BN, raw inputs": ("bn", False),
           "no BN, raw inputs": ("none", False)}  # label: (norm, standardized inputs)
MARGIN = 0.02
REASON = ("two points of test accuracy (about 7 of the 360 test digits): a smaller difference would not change which "
          "preprocessing a student chooses")
SETTINGS = {  # quick / full
    True: {"lrs": [0.3, 3.0], "steps": 40, "every": 10, "hidden": 32},
    False: {"lrs": [0.03, 0.1, 0.3, 1.0, 3.0], "steps": 120, "every": 10, "hidden": 32},
}


def carve(split: Split, seed: int) -> tuple[Split, tuple[np.ndarray, np.ndarray]]:
    """Split off ``VALIDATION`` of the training rows (drawn with ``seed``) as a validation set."""
    order = np.random.default_rng(seed).permutation(len(split.y_train))
    n = int(round(VALIDATION * len(order)))
    val, rest = order[:n], order[n:]
    return (Split(split.X_train[rest], split.y_train[rest], split.X_test, split.y_test),
            (split.X_train[val], split.y_train[val]))


def one_run(*, norm: str, standardized: bool, lr: float, seed: int, steps: int, every: int, hidden: int) -> dict:
    """Train one MLP; its validation and test accuracy curves, whether it diverged (and where) or failed, steps to
    90%."""
    scales = None if standardized else np.random.default_rng(seed).permutation(np.geomspace(1, 1000, 64))
    split, validation = carve(load("digits", seed, standardize=standardized, scales=scales), seed)
    model = mlp([split.n_features, hidden, hidden, 10], norm=norm, seed=seed)
    h = train(model, split, steps=steps, batch_size=BATCH, lr=lr, seed=seed, eval_every=every, progress=False,
              validation=validation)
    return {
        "steps": h.steps, "test_acc": h.test_acc, "val_acc": h.val_acc, "diverged": h.diverged,
        "divergence": h.divergence,  # "diverged at step k (first non-finite value at op ... in module ...)"
        "failed": h.diverged or h.val_acc[-1] < COLLAPSED,
        "final_test_acc": DIVERGED if h.diverged else h.final_acc,
        "final_val_acc": DIVERGED if h.diverged else h.val_acc[-1],
        "steps_to_90": None if h.diverged else h.steps_to(TARGET),
    }


def best(runs: dict[float, dict]) -> float | None:
    """The learning rate of the run (one per lr) with the highest final validation accuracy, ties broken by the
    larger mean validation accuracy over training; None when every run diverged."""
    fine = {lr: r for lr, r in runs.items() if not r["diverged"]}
    return max(fine, key=lambda lr: (fine[lr]["final_val_acc"], np.mean(fine[lr]["val_acc"])), default=None)


def rate(k: int, n: int) -> tuple[float, float, float]:
    """``k / n`` with its exact (Clopper-Pearson) 95% interval."""
    from scipy import stats

    ci = stats.binomtest(k, n).proportion_ci(0.95, method="exact")
    return k / n, float(ci.low), float(ci.high)


def run(*, quick: bool, seeds: list[int], seed: int, out: Path, runner: Runner) -> Result:
    from .. import plots, stats  # here, not at the top: worker processes import this module for its runs

    cfg = SETTINGS[quick]
    lrs, budget = cfg["lrs"], cfg["steps"] + cfg["every"]  # "never reached 90%" counts as one evaluation past the end
    tasks = [{"norm": norm, "standardized": std, "lr": lr, "seed": s, "steps": cfg["steps"], "every": cfg["every"],
              "hidden": cfg["hidden"]} for norm, std in METHODS.values() for lr in lrs for s in seeds]
    found = iter(runner.map(one_run, tasks, desc="speed"))
    runs = {m: {lr: [next(found) for _ in seeds] for lr in lrs} for m in METHODS}  # runs[method][lr][seed index]
    chosen = {m: [best({lr: runs[m][lr][i] for lr in lrs}) for i in range(len(seeds))] for m in METHODS}

    def at_best(m: str, key: str) -> list:
        return [None if lr is None else runs[m][lr][i][key] for i, lr in enumerate(chosen[m])]

    def steps_to(m: str) -> list[float]:
        return [s or budget for s in at_best(m, "steps_to_90")]

    diverged = {m: {lr: sum(r["diverged"] for r in runs[m][lr]) for lr in lrs} for m in METHODS}
    failed = {m: {lr: sum(r["failed"] for r in runs[m][lr]) for lr in lrs} for m in METHODS}
    largest = {m: [max((lr for lr in lrs if not runs[m][lr][i]["failed"]), default=None) for i in range(len(seeds))]
               for m in METHODS}  # per seed the largest learning rate at which the method trained
    top = lrs[-1]
    only_plain = sum(a["failed"] and not b["failed"] for a, b in zip(runs["no BN"][top], runs["BN"][top]))
    only_bn = sum(b["failed"] and not a["failed"] for a, b in zip(runs["no BN"][top], runs["BN"][top]))
    failure_claim = (f"at lr {top:g} no BN fails (diverges or ends at chance) where BN does not, rather than the "
                     "reverse (seeds where exactly one failed: the fraction where it was no BN - 1/2; exact McNemar)")
    both = [i for i in range(len(seeds)) if largest["BN"][i] and largest["no BN"][i]]
    raw = [a - b for a, b in zip(at_best("BN, raw inputs", "final_test_acc"), at_best("no BN", "final_test_acc"))
           if a is not None and b is not None]
    checks = [
        stats.paired(steps_to("no BN"), steps_to("BN"), unit="steps", seed=seed,
                     claim=f"each at its best learning rate, BN reaches {TARGET:.0%} test accuracy in fewer steps "
                     f"(no BN - BN; never counts as {budget})"),
        stats.paired(np.log10([largest["BN"][i] for i in both]), np.log10([largest["no BN"][i] for i in both]),
                     unit="log10 learning rate", seed=seed,
                     claim="BN trains at larger learning rates (per seed the largest lr of the grid at which the "
                     "run did not fail, log10 BN's - log10 no BN's)"),
        stats.proportion(only_plain, only_plain + only_bn, claim=failure_claim) if only_plain + only_bn else
        stats.exact(0.0, unit="fraction - 1/2", claim=failure_claim + "; no seed failed with exactly one"),
        stats.mean_effect(raw, unit="test accuracy", seed=seed, direction="within", margin=MARGIN, reason=REASON,
                          bounds=stats.DIFFERENCE,
                          claim=f"BN on raw inputs (pixels scaled by 1..1000) is as accurate as no BN on standardized "
                          f"inputs, each at its best learning rate (BN raw - no BN standardized, within {MARGIN})"),
    ]

    def band(values: list[float], bounds: tuple[float, float] | None = stats.ACCURACY) -> tuple[float, float, float]:
        return stats.interval(values, seed=seed, bounds=bounds)[:3]

    curves = {}
    for m in ("BN", "no BN", "BN, raw inputs"):
        picked = [runs[m][lr][i] for i, lr in enumerate(chosen[m]) if lr is not None]
        steps = picked[0]["steps"]
        curves[m] = (steps, [band([r["test_acc"][k] for r in picked]) for k in range(len(steps))])
    rates = {m: (lrs, [rate(failed[m][lr], len(seeds)) for lr in lrs]) for m in METHODS}
    val_bands = {m: ([lr for lr in lrs if diverged[m][lr] < len(seeds)],
                     [band([r["final_val_acc"] for r in runs[m][lr] if not r["diverged"]]) for lr in lrs
                      if diverged[m][lr] < len(seeds)]) for m in METHODS if min(diverged[m].values()) < len(seeds)}
    plots.interval_lines({"each method at its best learning rate": curves}, out / "speed_curves", xlabel="step",
                         ylabel="test accuracy")
    plots.interval_lines({"final validation accuracy (runs that did not diverge)": val_bands,
                          "failure rate: diverged or ended at chance": rates}, out / "speed_lr",
                         xlabel="learning rate (log scale)", ylabel=["validation accuracy", "share of seeds failed"],
                         logx=True)

    def mean_of(m: str, key: str) -> float:  # over the seeds with a run that did not diverge
        return float(np.mean([v for v in at_best(m, key) if v is not None]))

    picked_text = "; ".join(f"{m}: " + ", ".join(f"lr {lr:g} x{chosen[m].count(lr)}" for lr in lrs
                                                 if chosen[m].count(lr)) for m in METHODS if any(chosen[m]))
    rate_text = "; ".join(f"{m}: " + ", ".join(f"lr {lr:g} {failed[m][lr]} ({diverged[m][lr]})" for lr in lrs)
                          for m in METHODS)
    numbers = {
        "batch_size": BATCH, "target": TARGET, "seeds": seeds, "settings": cfg, "validation_fraction": VALIDATION,
        "chosen_lr": chosen, "largest_lr_trained": largest, "diverged": diverged, "failed": failed,
        "collapsed_below": COLLAPSED,
        "divergence_rate_low_high": {m: {str(lr): rate(diverged[m][lr], len(seeds)) for lr in lrs} for m in METHODS},
        "failure_rate_low_high": {m: dict(zip(map(str, x), pts)) for m, (x, pts) in rates.items()},
        "mean_at_best": {m: {k: mean_of(m, k) for k in ("final_test_acc", "final_val_acc")} for m in METHODS
                         if any(chosen[m])},
        "mean_steps_to_90_at_best": {m: float(np.mean(steps_to(m))) for m in ("BN", "no BN", "BN, raw inputs")},
        "curves_mean_low_high": {m: dict(zip(map(str, x), pts)) for m, (x, pts) in curves.items()},
        "runs": {m: {str(lr): rs for lr, rs in r.items()} for m, r in runs.items()},
    }
    accuracy_text = ", ".join(f"{m} {v['final_test_acc']:.3f}" for m, v in numbers["mean_at_best"].items())
    figures = [
        Figure("speed_curves", "Test accuracy while training, each method at its own best learning rate",
               f"Plain SGD, batch {BATCH}, {cfg['steps']} steps; per seed the learning rate of {lrs} with the best "
               f"final validation accuracy (a {VALIDATION:.0%} split of the training set), then its test-accuracy "
               f"curve; mean and 95% interval over {len(seeds)} seeds; the y axis does not start at zero. Chosen: "
               f"{picked_text}. Mean final test accuracy at the chosen lr: {accuracy_text}. Mean steps to "
               f"{TARGET:.0%}: " + ", ".join(f"{m} {v:.0f}" for m, v in numbers["mean_steps_to_90_at_best"].items())
               + f" (never: {budget})."),
        Figure("speed_lr", "Validation accuracy and divergence against the learning rate",
               "Left: final validation accuracy of the runs that did not diverge (mean, 95% interval). Right: the "
               f"share of the {len(seeds)} seeds whose run failed (diverged, or a final validation accuracy below "
               f"{COLLAPSED}), with its exact (Clopper-Pearson) interval. Failed (of them diverged) out of "
               f"{len(seeds)}: {rate_text}. Raw inputs: the 64 pixels multiplied by factors from 1 to 1000, not "
               "standardized."),
    ]
    finding = "; ".join(f"{c.claim.split(' (')[0]}: {c.short()}" for c in checks) + "."
    return Result(
        name="speed",
        claim="BN makes training faster: fewer steps to a target accuracy, and larger learning rates; and it copes "
        "with unstandardized inputs.",
        checks=checks,
        finding=finding,
        numbers=numbers,
        figures=figures,
    )
